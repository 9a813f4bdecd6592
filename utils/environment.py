"""Notebook set-up: version check, seeds with op determinism, one plot style."""
import os
import sys

import matplotlib as mpl

import utils
from utils.claims import clear_claims

REQUIRED_TF = "2.21"
REQUIRED_KERAS_MAJOR = "3"
MIN_PYTHON = (3, 10)
ALLOW_OTHER_VERSIONS = "COURSE_ALLOW_OTHER_VERSIONS"  # set to 1 to try a TF upgrade

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
    """The running Python, TensorFlow or Keras is not the one the course was tested with."""


def check_versions(tf_version, keras_version, python_version=sys.version_info[:2]):
    """Raise VersionError with a fix-it message unless the versions are the tested ones.

    Setting the environment variable COURSE_ALLOW_OTHER_VERSIONS=1 skips the
    TensorFlow/Keras check (for maintainers trying an upgrade).
    """
    fix = ("Start the course with `make lab` (or run `make test`): it builds .venv from "
           "requirements.txt with the tested versions.")
    if tuple(python_version) < MIN_PYTHON:
        raise VersionError(f"This course needs Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer; "
                           f"this kernel runs Python {python_version[0]}.{python_version[1]}. {fix}")
    if os.environ.get(ALLOW_OTHER_VERSIONS) == "1":
        return
    if not str(keras_version).startswith(REQUIRED_KERAS_MAJOR + "."):
        raise VersionError(f"This course needs Keras {REQUIRED_KERAS_MAJOR} (through tf.keras); "
                           f"found Keras {keras_version}. {fix}")
    if str(tf_version).split(".")[:2] != REQUIRED_TF.split("."):
        raise VersionError(f"This course was tested with TensorFlow {REQUIRED_TF}.x; found "
                           f"TensorFlow {tf_version}. {fix} To try another version on purpose, "
                           f"set {ALLOW_OTHER_VERSIONS}=1.")


def setup(seed=0):
    """Prepare a notebook: check versions, seed everything with op determinism, set plot style.

    Also turns TensorFlow's graph optimizer off, which only pays off for large models.

    Call it in the first code cell, right after `import utils`.
    """
    import tensorflow as tf

    check_versions(tf.__version__, tf.keras.version())
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
    keras_major = tf.keras.version().split(".")[0]
    at_full = ", full scale" if scale() == "full" else ""
    print(f"TensorFlow {tf_minor}, Keras {keras_major}, seed {seed}, op determinism on{at_full}.")
