import os
import pathlib
import subprocess
import sys

import matplotlib as mpl
import numpy as np
import pytest
import tensorflow as tf

import utils
from utils import environment


def test_tested_versions_pass():
    assert utils.check_versions(environment.REQUIRED_TF + ".0", environment.REQUIRED_KERAS_MAJOR + ".15.1",
                                (3, 11), strict=True) is None


def test_requirements_pin_the_version_setup_checks():
    requirements = (pathlib.Path(__file__).parent.parent / "requirements.txt").read_text()
    assert f"tensorflow-cpu=={environment.REQUIRED_TF}." in requirements
    assert f"keras=={environment.REQUIRED_KERAS_MAJOR}." in requirements


def test_running_versions_are_the_tested_ones():
    assert utils.check_versions(tf.__version__, tf.keras.version(), strict=True) is None


def test_regression_runs_are_strict():
    """tools/__init__.py sets the variable for every kernel the tools start; pytest loads tools first."""
    assert os.environ.get(environment.STRICT_VERSIONS) == "1" and environment.strict_versions()


def test_a_regression_run_refuses_another_tensorflow_and_says_how_to_fix(monkeypatch):
    monkeypatch.delenv(environment.ALLOW_OTHER_VERSIONS, raising=False)
    with pytest.raises(utils.VersionError) as error:
        utils.check_versions("2.20.0", "3.11.3", (3, 11), strict=True)
    message = str(error.value)
    assert "TensorFlow 2.20.0 with Keras 3.11.3" in message and "TensorFlow 2.21 and Keras 3" in message
    assert "make test" in message and "make clean venv" in message and environment.ALLOW_OTHER_VERSIONS in message


def test_a_student_with_another_tensorflow_is_warned_and_goes_on(monkeypatch):
    monkeypatch.delenv(environment.ALLOW_OTHER_VERSIONS, raising=False)
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    warning = utils.check_versions("2.20.0", "3.11.3", (3, 12), strict=False)
    assert warning.startswith("Warning: this kernel has TensorFlow 2.20.0 with Keras 3.11.3;")
    assert "numbers can differ from the stored outputs" in warning and "claim is still checked" in warning
    assert "make lab" in warning and "Colab" not in warning


def test_on_colab_the_advice_is_colabs(monkeypatch):
    monkeypatch.setitem(sys.modules, "google.colab", type(sys)("google.colab"))
    warning = utils.check_versions("2.19.0", "3.10.0", (3, 12), strict=False)
    assert "(Colab brings its own TensorFlow)" in warning and "Restart session" in warning
    assert "make lab" not in warning
    with pytest.raises(utils.VersionError, match="needs TensorFlow 2.16 or newer with Keras 3.*Restart session"):
        utils.check_versions("2.15.1", "2.15.0", (3, 12), strict=False)


def test_legacy_keras_is_refused_even_for_students(monkeypatch):
    monkeypatch.delenv(environment.ALLOW_OTHER_VERSIONS, raising=False)
    with pytest.raises(utils.VersionError, match="needs TensorFlow 2.16 or newer with Keras 3.*Keras 2.15.0"):
        utils.check_versions("2.15.1", "2.15.0", (3, 11), strict=False)


def test_old_python_is_refused_even_with_the_override(monkeypatch):
    monkeypatch.setenv(environment.ALLOW_OTHER_VERSIONS, "1")
    with pytest.raises(utils.VersionError, match="Python 3.10 or newer.*Python 3.9"):
        utils.check_versions("2.21.0", "3.15.1", (3, 9))


def test_maintainers_can_try_another_tensorflow(monkeypatch):
    monkeypatch.setenv(environment.ALLOW_OTHER_VERSIONS, "1")
    assert "TensorFlow 2.22.0" in utils.check_versions("2.22.0", "3.16.0", (3, 12), strict=True)


def test_setup_seeds_everything_and_turns_on_op_determinism(capsys):
    import random

    from tensorflow.python.framework import config as tf_config  # no public getter in TF 2.21

    def draws():
        return random.random(), np.random.rand(3).tolist(), tf.random.uniform((3,)).numpy().tolist()

    utils.setup(seed=7)
    first = draws()
    utils.setup(seed=7)
    assert draws() == first
    assert tf_config.is_op_determinism_enabled()
    assert mpl.rcParams["figure.figsize"] == list(environment.PLOT_STYLE["figure.figsize"])
    assert capsys.readouterr().out.endswith("seed 7, op determinism on.\n")


def test_setup_starts_a_fresh_claims_summary():
    utils.claim("left over from an earlier run", 1, "<", 2)
    utils.setup()
    assert utils.claims.checked_claims() == []


@pytest.mark.kernel
def test_import_and_training_are_silent_in_a_fresh_process():
    """No TensorFlow C++ log line may reach stderr: nbval would see it as an output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    script = ("import utils; utils.setup(); d = utils.load_mnist_sample(); "
              "d = d._replace(x_train=d.x_train[:256], y_train=d.y_train[:256]); "
              "[utils.train(utils.make_mlp(2, 8, seed=s), d, epochs=1) for s in range(6)]")  # 6: retracing
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = f"TensorFlow {environment.REQUIRED_TF}, Keras {environment.REQUIRED_KERAS_MAJOR}, seed 0"
    assert result.stdout == expected + ", op determinism on.\n"


@pytest.mark.kernel
def test_importing_tensorflow_first_is_pointed_out():
    script = "import tensorflow, utils; utils.setup()"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "TensorFlow was imported before `utils`" in result.stdout
    assert "numbers can differ" in result.stdout


def test_scale_is_default_unless_full_is_asked_for(monkeypatch):
    monkeypatch.delenv("COURSE_SCALE", raising=False)
    assert utils.scale() == "default" and utils.at_scale((0, 1, 2), full=(0, 1, 2, 3, 4)) == (0, 1, 2)
    monkeypatch.setenv("COURSE_SCALE", "full")
    assert utils.scale() == "full" and utils.at_scale(2000, full=20_000) == 20_000


def test_unknown_scale_is_refused_by_name(monkeypatch):
    monkeypatch.setenv("COURSE_SCALE", "huge")
    with pytest.raises(ValueError, match="COURSE_SCALE='huge': use one of default, full"):
        utils.setup()
