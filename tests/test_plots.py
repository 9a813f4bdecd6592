import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

import utils


def test_plot_per_layer_draws_one_line_per_variant_on_a_log_axis():
    fig = utils.plot_per_layer({"a": [1, 0.1, 0.01], "b": [1, 1, 1]}, ylabel="norm", title="t")
    ax = fig.axes[0]
    assert [line.get_label() for line in ax.lines] == ["a", "b"]
    assert list(ax.lines[0].get_xdata()) == [1, 2, 3]
    assert ax.get_yscale() == "log" and ax.get_title() == "t"
    plt.close(fig)


def test_plot_per_layer_keeps_given_colours():
    fig = utils.plot_per_layer({"a": [1, 2], "b": [2, 1]}, ylabel="v", colors={"b": "red"})
    assert fig.axes[0].lines[1].get_color() == "red"
    plt.close(fig)


def test_plot_per_layer_linear_axis():
    fig = utils.plot_per_layer({"a": [0, 0.5]}, ylabel="fraction", log=False)
    assert fig.axes[0].get_yscale() == "linear"
    plt.close(fig)


def test_plot_history_draws_train_and_held_out_per_metric():
    history = {"loss": [2, 1], "test_loss": [2.1, 1.5], "accuracy": [0.3, 0.6], "test_accuracy": [0.3, 0.5]}
    fig = utils.plot_history({"relu": history, "sigmoid": history})
    assert [ax.get_title() for ax in fig.axes] == ["loss", "accuracy"]
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels == ["relu train", "relu held-out", "sigmoid train", "sigmoid held-out"]
    plt.close(fig)


def test_plot_history_without_held_out_data():
    fig = utils.plot_history({"run": {"loss": [1, 0.5]}}, metrics=("loss",))
    assert len(fig.axes[0].lines) == 1
    plt.close(fig)


def test_animate_paths_moves_one_marker_per_path_step_by_step():
    paths = {"a": np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]]), "b <&>": np.array([[0.0, 1.0], [0.5, 0.5]])}
    svg = utils.animate_paths(lambda x, y: x ** 2 + y ** 2, paths, xlim=(-1, 2), ylim=(-1, 2),
                              levels=[0.5, 1, 2], title="t").data
    assert svg.count("<animateMotion") == 2 and "<script" not in svg
    assert 'keyTimes="0.0000;0.5000;1.0000"' in svg  # one frame per step, the shorter path padded
    assert 'keyPoints="0.0000;0.5000;1.0000"' in svg  # path "a": two steps of equal length
    assert "b &lt;&amp;&gt;" in svg and 'fill="#' in svg
    assert '<circle r="4" fill="#1f77b4" cx="186.7" cy="213.3">' in svg  # drawn at the start without animation
    assert 'path="M 0.0,0.0 L 93.3,0.0 L 186.7,0.0"' in svg  # motion relative to the start
    assert svg == utils.animate_paths(lambda x, y: x ** 2 + y ** 2, paths, xlim=(-1, 2), ylim=(-1, 2),
                                      levels=[0.5, 1, 2], title="t").data  # deterministic
