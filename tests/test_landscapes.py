import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import utils


def test_plot_paths_draws_each_path_with_its_own_style_over_contours():
    paths = {"a": np.array([[0.0, 0.0], [1.0, 1.0]]), "b": np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])}
    ax = utils.plot_paths(lambda x, y: x**2 + y**2, paths, (-2, 2), (-1, 3), [0.5, 1, 2], start=(0, 0),
                          title="t", markers=True)
    labelled = [line for line in ax.lines if not line.get_label().startswith("_")]
    assert [line.get_label() for line in labelled] == ["a", "b"]
    np.testing.assert_array_equal(labelled[1].get_ydata(), [0.0, 1.0, 0.5])
    assert labelled[0].get_color() != labelled[1].get_color()
    assert ax.get_xlim() == (-2, 2) and ax.get_title() == "t" and ax.collections   # contours drawn
    plt.close(ax.figure)


def test_plot_paths_tolerates_overflowing_functions_and_draws_on_given_axes():
    _, ax = plt.subplots()
    assert utils.plot_paths(lambda x, y: np.exp(1e3 * x), {"a": np.zeros((2, 2))}, (0, 1), (0, 1), [1.0], ax=ax) is ax
    plt.close(ax.figure)
