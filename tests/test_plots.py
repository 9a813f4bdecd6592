import io

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


def _frames(png):
    """The frames of an animated PNG as RGB arrays, composed as a browser shows them."""
    from PIL import Image
    image = Image.open(io.BytesIO(png))
    frames = []
    for k in range(image.n_frames):
        image.seek(k)
        frames.append(np.asarray(image.convert("RGB")).astype(int))
    return frames


def test_the_animation_encoder_gives_back_every_frame_exactly():
    from utils import animation
    rng = np.random.default_rng(0)
    palette = [(0, 0, 0)] + [tuple(rng.integers(0, 256, 3)) for _ in range(9)]
    frames = [rng.integers(1, 10, (6, 8))]
    for _ in range(4):   # a few pixels change per frame, or none
        frame = frames[-1].copy()
        frame[rng.integers(0, 6, 3), rng.integers(0, 8, 3)] = rng.integers(1, 10, 3)
        frames.append(frame)
    frames.append(frames[-1].copy())
    decoded = _frames(animation._apng(frames, palette, [100] * len(frames)))
    assert len(decoded) == len(frames)
    for got, indices in zip(decoded, frames):
        assert np.array_equal(got, np.asarray(palette)[indices])


def test_animate_paths_moves_one_marker_per_path_step_by_step():
    paths = {"a": np.array([[0.0, 0.0], [0.5, 0.0], [1.0, 0.0]]), "b <&>": np.array([[0.0, 1.0], [0.5, 0.5]])}
    animation = utils.animate_paths(lambda x, y: x ** 2 + y ** 2, paths, xlim=(-1, 2), ylim=(-1, 2),
                                    levels=[0.5, 1, 2], title="t")
    assert animation.png.startswith(b"\x89PNG") and b"acTL" in animation.png and len(animation.png) < 200_000
    assert repr(animation) == "Animation, 2 steps: a, b <&>"   # the text/plain of the output: no object repr
    frames = _frames(animation.png)
    assert len(frames) == 3                                       # one frame per step, the shorter path padded
    first, second = (np.argwhere((frames[k] != frames[k + 1]).any(axis=2)) for k in (0, 1))
    assert len(first) and len(second)
    assert second[:, 1].mean() > first[:, 1].mean()               # in step 2 only "a" moves, to the right
    again = utils.animate_paths(lambda x, y: x ** 2 + y ** 2, paths, xlim=(-1, 2), ylim=(-1, 2),
                                levels=[0.5, 1, 2], title="t")
    assert again.png == animation.png                             # deterministic


def test_a_diverging_path_stops_at_the_edge():
    paths = {"diverges": np.array([[0.0, 0.0], [10.0, -5.0], [np.inf, np.nan]])}
    frames = _frames(utils.animate_paths(lambda x, y: x ** 2 + y ** 2, paths, xlim=(-1, 1), ylim=(-1, 1),
                                         levels=[0.5]).png)
    assert len(frames) == 3
