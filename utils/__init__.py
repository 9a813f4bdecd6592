"""Shared helpers for the course notebooks, labs and tests.

Import this package before TensorFlow: importing it sets the two environment
variables that make TensorFlow's start-up silent (see ``utils.environment``).
Every notebook starts with::

    import utils
    utils.setup()
"""
import os

# Must happen before the first `import tensorflow` in the process.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"   # C++ runtime: fatal messages only
# Plain (non-oneDNN) CPU kernels: no start-up notice, and the numbers the stored outputs were
# made with (oneDNN orders float sums differently, which moves results in the 3rd digit).
os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"

from utils.animation import animate_paths  # noqa: E402
from utils.claims import ClaimError, claim, claims_summary  # noqa: E402
from utils.data import DataError, Digits, load_full_dataset, load_mnist_sample  # noqa: E402
from utils.environment import VersionError, check_versions, setup  # noqa: E402
from utils.layers import Maxout  # noqa: E402
from utils.models import evaluate, make_mlp, make_optimizer, train, train_models, train_seeds  # noqa: E402
from utils.plots import plot_history, plot_per_layer  # noqa: E402
from utils.probes import (activation_stats, backprop_stats, gradient_norms, layer_outputs,  # noqa: E402
                          predict_in_training_mode, unchanged_state, value_and_derivative)  # noqa: E402
from utils.report import fmt, show_table  # noqa: E402

__all__ = [
    "ClaimError", "DataError", "Digits", "Maxout", "VersionError",
    "activation_stats", "animate_paths", "backprop_stats", "check_versions", "claim", "claims_summary", "evaluate", "fmt",
    "gradient_norms",
    "layer_outputs", "load_full_dataset", "load_mnist_sample", "make_mlp", "make_optimizer", "plot_history", "plot_per_layer",
    "predict_in_training_mode", "unchanged_state",
    "setup", "show_table", "train", "train_models", "train_seeds", "value_and_derivative",
]
