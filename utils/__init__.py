"""Shared helpers for the course notebooks, labs and tests.

Import this package before TensorFlow: importing it sets the environment variables that make
TensorFlow's start-up silent and its arithmetic the one the stored outputs were made with.
Every notebook starts with::

    import utils
    utils.setup()
"""
import importlib
import os
import sys

# Whether TensorFlow was imported before `utils` (then its start-up logs were not silenced).
TF_IMPORTED_FIRST = "tensorflow" in sys.modules

# Must happen before the first `import tensorflow` in the process.
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"   # C++ runtime: fatal messages only
# Plain (non-oneDNN) CPU kernels unless asked otherwise: the arithmetic the stored outputs were made
# with. oneDNN orders float sums differently, which moves training results in the 2nd or 3rd digit;
# `make test-portability` runs the pack with TF_ENABLE_ONEDNN_OPTS=1 on purpose.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# One thread inside each operation unless asked otherwise. How a multi-threaded kernel splits a sum
# depends on the machine's core count, so results would differ between a 2-core laptop and a 16-core
# server; the course's models are small, so one thread is as fast (measured in the README's
# "Portability"), and two notebooks tested side by side no longer compete for the same cores.
os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")

_HOME = {  # name -> the module that defines it; loaded on first use, so tools that need no
    # TensorFlow (the grader, the lab generator) start fast.
    "animate_paths": "animation",
    "explore": "explorers", "signal_through_depth": "explorers",
    "ClaimError": "claims", "check": "claims", "claim": "claims", "claims_summary": "claims",
    "DataError": "data", "Digits": "data", "load_full_dataset": "data", "load_mnist_sample": "data",
    "HealthProbe": "health", "signal_per_block": "health", "train_watched": "health", "update_ratios": "health",
    "VersionError": "environment", "check_versions": "environment", "setup": "environment",
    "at_scale": "environment", "scale": "environment",
    "Maxout": "layers",
    "LINE_STYLES": "landscapes", "plot_paths": "landscapes",
    "train_many": "loop",
    "backward_factor": "measure", "depth_profile": "measure", "elementwise_seconds": "measure",
    "final": "measure", "inactive_per_layer": "measure", "kernel_gradients": "measure",
    "reinitialize": "measure", "show_per_seed": "measure", "sign_agreement": "measure",
    "value_range": "measure",
    "evaluate": "models", "make_mlp": "models", "make_optimizer": "models", "train": "models",
    "train_models": "models", "train_seeds": "models",
    "plot_history": "plots", "plot_per_layer": "plots",
    "activation_stats": "probes", "backprop_stats": "probes", "gradient_norms": "probes",
    "layer_outputs": "probes", "predict_in_training_mode": "probes", "unchanged_state": "probes",
    "value_and_derivative": "probes",
    "ResidualBlock": "residual", "make_residual_mlp": "residual",
    "EpochProbe": "signals", "dense_preactivation": "signals", "layer_signals": "signals",
    "training_mode_accuracy": "signals",
    "run_summary": "summaries",
    "fmt": "report", "fmt_seconds": "report", "show_table": "report",
}
__all__ = sorted(_HOME)


def __getattr__(name):
    if name not in _HOME:
        raise AttributeError(f"module 'utils' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"utils.{_HOME[name]}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOME))
