"""Optimizer paths on 2-D test functions: the contour plot notebook 06 draws them on."""
import matplotlib.pyplot as plt
import numpy as np

# One line style per path, after five solid ones: nine optimizers stay apart in grey print too.
LINE_STYLES = ["-"] * 5 + ["--", "-.", ":", (0, (1, 3))]


def plot_paths(f, paths, xlim, ylim, levels, start=None, ax=None, title=None, markers=False):
    """Draw `paths` (label -> array of shape (steps + 1, 2)) over grey contours of `f` at `levels`.

    `f` takes arrays X and Y. Path i gets colour Ci and line style LINE_STYLES[i]; `start`, a
    point, is marked with a black dot; `markers=True` marks every step. Returns the axes.
    """
    if ax is None:
        _, ax = plt.subplots()
    grid_x, grid_y = np.meshgrid(np.linspace(*xlim, 150), np.linspace(*ylim, 150))
    with np.errstate(over="ignore", invalid="ignore"):
        ax.contour(grid_x, grid_y, f(grid_x, grid_y), levels=levels, colors="0.8", linewidths=0.8,
                   linestyles="solid")
    for i, (label, path) in enumerate(paths.items()):
        ax.plot(path[:, 0], path[:, 1], color=f"C{i % 10}", linestyle=LINE_STYLES[i % len(LINE_STYLES)],
                linewidth=1.2, label=label, marker="o" if markers else None, markersize=2)
    if start is not None:
        ax.plot(*start, "ko", markersize=4)
    ax.set(xlim=xlim, ylim=ylim, title=title)
    return ax
