"""Notebook set-up: version check, seeds with op determinism, one plot style.

The version check has two audiences. A student in any Jupyter with another TensorFlow 2.x (Colab's, say)
is warned that numbers may differ from the stored outputs, and the notebook runs. A regression run
(`make test`, `make run`, `make notebooks`, the grader: every kernel the tools start) and the pack's own
.venv refuse any version other than the tested one, so that an upgrade that changes a result fails loudly.
"""
import os
import sys
from pathlib import Path

import matplotlib as mpl

import utils
from utils.claims import clear_claims

REQUIRED_TF = "2.21"            # the tested version: stored outputs and the claims baseline are its
REQUIRED_KERAS_MAJOR = "3"
MIN_TF = (2, 16)                # the first TensorFlow whose tf.keras is Keras 3: older ones cannot run the pack
MIN_PYTHON = (3, 10)
ALLOW_OTHER_VERSIONS = "COURSE_ALLOW_OTHER_VERSIONS"  # set to 1 to try a TF upgrade in a regression run
STRICT_VERSIONS = "COURSE_STRICT_VERSIONS"  # 1 in regression runs: tools/__init__.py sets it for their kernels

SCALE_VARIABLE = "COURSE_SCALE"  # "default" (what nbval checks) or "full"
SCALES = ("default", "full")

PLOT_STYLE = {
    "figure.figsize": (7.5, 3.4),
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
    "lines.linewidth": 1.8,
}


def scale():
    """The budget notebooks run at: "default", or "full" where COURSE_SCALE=full (make run SCALE=full)."""
    value = os.environ.get(SCALE_VARIABLE, "default") or "default"
    if value not in SCALES:
        raise ValueError(f"{SCALE_VARIABLE}={value!r}: use one of {', '.join(SCALES)}")
    return value


def at_scale(default, full):
    """`default` at the default scale, `full` at the full scale: one line per budget in a notebook."""
    return full if scale() == "full" else default


class VersionError(RuntimeError):
    """The running Python, TensorFlow or Keras cannot run the course, or a regression run met versions
    other than the tested ones."""


def on_colab():
    """Whether this kernel runs on Google Colab (which imports its own module into every kernel)."""
    return "google.colab" in sys.modules


def in_pack_environment():
    """Whether this Python is the pack's own .venv (made by `make venv` from the pinned versions)."""
    return Path(sys.prefix).resolve() == (Path(__file__).resolve().parent.parent / ".venv").resolve()


def strict_versions():
    """Whether an untested TensorFlow must be refused: in a regression run (the tools set
    COURSE_STRICT_VERSIONS=1 for every kernel they start) and in the pack's own .venv."""
    return os.environ.get(STRICT_VERSIONS) == "1" or in_pack_environment()


def _how_to_get_the_tested_versions():
    if on_colab():
        return (f"on Colab, run `%pip install 'tensorflow=={REQUIRED_TF}.*'` in a cell, then Runtime → Restart "
                "session, and run the notebook again.")
    return ("in a clone of the pack, `make lab` builds .venv with them and opens JupyterLab; in another "
            "environment, run `pip install -r requirements.txt -c constraints.txt` in the pack's folder.")


def _tested():
    return f"TensorFlow {REQUIRED_TF} and Keras {REQUIRED_KERAS_MAJOR}"


def check_versions(tf_version, keras_version, python_version=sys.version_info[:2], strict=None):
    """Check the versions a notebook runs with; return a warning to show, or None when they are the tested ones.

    - Python older than 3.10, or a TensorFlow without Keras 3 (before 2.16): VersionError, always.
    - Another TensorFlow 2.x with Keras 3 (Colab's, a student's own Jupyter): a warning that numbers
      may differ from the stored outputs; the notebook runs and its claims still assert.
    - The same in a regression run (`strict`; by default `strict_versions()`): VersionError, unless
      COURSE_ALLOW_OTHER_VERSIONS=1 (a maintainer trying an upgrade), which gives the warning instead.
    """
    strict = strict_versions() if strict is None else strict
    found = f"TensorFlow {tf_version} with Keras {keras_version}"
    if tuple(python_version) < MIN_PYTHON:
        raise VersionError(f"This course needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; this kernel runs "
                           f"Python {python_version[0]}.{python_version[1]}. Choose a kernel with Python 3.10 to "
                           f"3.13 (in a clone of the pack: `make clean lab PYTHON=python3.12`).")
    tested = (str(tf_version).split(".")[:2] == REQUIRED_TF.split(".")
              and str(keras_version).split(".")[0] == REQUIRED_KERAS_MAJOR)
    if tested:
        return None
    allowed = os.environ.get(ALLOW_OTHER_VERSIONS) == "1"
    try:
        tf_release = tuple(int(part) for part in str(tf_version).split(".")[:2])
    except ValueError:
        tf_release = (0, 0)
    usable = tf_release[0] == 2 and tf_release >= MIN_TF and str(keras_version).split(".")[0] == "3"
    if not usable and not allowed:
        raise VersionError(f"This course needs TensorFlow {MIN_TF[0]}.{MIN_TF[1]} or newer with Keras 3 (it was "
                           f"tested with {_tested()}); this kernel has {found}. To install the tested versions: "
                           + _how_to_get_the_tested_versions())
    if strict and not allowed:
        raise VersionError(f"This kernel has {found}, but the pack's results are held to {_tested()}: its "
                           "regression runs (make test, make run, make notebooks, the grader) and its own "
                           "environment (.venv) refuse other versions. Rebuild the tested environment with "
                           f"`make clean venv`. To try another version on purpose, set {ALLOW_OTHER_VERSIONS}=1.")
    where = " (Colab brings its own TensorFlow)" if on_colab() else ""
    return (f"Warning: this kernel has {found}{where}; the course was tested with {_tested()}. The notebook "
            "runs and every claim is still checked, but numbers can differ from the stored outputs, and a "
            "claim close to its threshold may fail. For the tested versions: " + _how_to_get_the_tested_versions())


def setup(seed=0):
    """Prepare a notebook: check versions, seed everything with op determinism, set plot style.

    Also turns TensorFlow's graph optimizer off, which only pays off for large models.

    Call it in the first code cell, right after `import utils`.
    """
    import tensorflow as tf

    # Keras 3 has keras.version(); Keras 2 (TensorFlow 2.15 and older) only __version__
    keras_version = tf.keras.version() if hasattr(tf.keras, "version") else getattr(tf.keras, "__version__", "?")
    warning = check_versions(tf.__version__, keras_version)
    if warning:
        print(warning, file=sys.stderr)
    scale()  # a wrong COURSE_SCALE fails here, clearly
    clear_claims()  # a re-run notebook starts its summary afresh
    tf.keras.utils.set_random_seed(seed)  # Python, NumPy and TensorFlow generators
    tf.config.experimental.enable_op_determinism()
    # The course's models are small: TensorFlow's graph optimizer (Grappler) costs more time
    # on each newly traced function than it saves (measured: ~16% of a short training run).
    tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    # Notebooks train many small models in a row, which makes TensorFlow's Python logger warn
    # about "retracing" (with object addresses that change every run). Errors still show.
    tf.get_logger().setLevel("ERROR")
    mpl.rcParams.update(PLOT_STYLE)
    if utils.TF_IMPORTED_FIRST:
        print("Note: TensorFlow was imported before `utils`, so its start-up logs were not "
              "silenced and its oneDNN kernels are on: numbers can differ from the stored "
              "outputs. Restart the kernel and run `import utils` first.")
    tf_minor = ".".join(tf.__version__.split(".")[:2])
    keras_major = keras_version.split(".")[0]
    at_full = ", full scale" if scale() == "full" else ""
    print(f"TensorFlow {tf_minor}, Keras {keras_major}, seed {seed}, op determinism on{at_full}.")
