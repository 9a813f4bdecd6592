"""The two plots most notebooks need: per-layer values and training histories."""
import matplotlib.pyplot as plt
import numpy as np


def plot_per_layer(series, ylabel, title=None, log=True, ax=None, colors=None):
    """One line per variant: `series` maps a label to one value per layer (layer 1 first).

    `colors` optionally maps labels to colours, to keep a variant's colour across plots.
    """
    if ax is None:
        _, ax = plt.subplots()
    for label, values in series.items():
        ax.plot(np.arange(1, len(values) + 1), values, marker="o", markersize=3, label=label,
                color=(colors or {}).get(label))
    ax.set_xlabel("layer (1 = next to the input)")
    ax.set_ylabel(ylabel)
    if log:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax.figure


def plot_history(histories, metrics=("loss", "accuracy")):
    """Training (solid) and held-out (dashed) curves per metric for each labelled history."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4 * len(metrics) + 1.5, 3.4),
                             squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        for i, (label, history) in enumerate(histories.items()):
            epochs = np.arange(1, len(history[metric]) + 1)
            color = f"C{i}"
            ax.plot(epochs, history[metric], color=color, label=f"{label} train")
            if f"test_{metric}" in history:
                ax.plot(epochs, history[f"test_{metric}"], color=color, linestyle="--",
                        label=f"{label} held-out")
        ax.set_xlabel("epoch")
        ax.set_title(metric)
    axes[0][-1].legend(fontsize=8)
    fig.tight_layout()
    return fig
