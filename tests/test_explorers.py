"""The interactive explorers: their controls, and that the figure they draw shows what the text says."""
import base64

import ipywidgets as widgets
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import explorers

matplotlib.use("Agg")


def test_each_kind_of_spec_gives_its_control():
    assert isinstance(explorers.control("depth", (1, 60), 20), widgets.IntSlider)
    slider = explorers.control("c", (0.25, 3.0, 0.05), 1.41)
    assert isinstance(slider, widgets.FloatSlider) and not slider.continuous_update and slider.value == 1.41
    assert isinstance(explorers.control("activation", ["relu", "tanh"], "relu"), widgets.Dropdown)
    assert isinstance(explorers.control("rate", [0.0, 0.2, 0.5], 0.5), widgets.SelectionSlider)
    with pytest.raises(TypeError, match="give \\(low, high"):
        explorers.control("x", 3, 3)


def test_explore_starts_from_the_function_defaults_and_needs_them():
    seen = []

    def draw(depth=5, activation="tanh"):
        seen.append((depth, activation))

    explorers.explore(draw, depth=(1, 10), activation=["relu", "tanh"])
    assert seen == [(5, "tanh")]     # drawn once, at the defaults, when shown
    with pytest.raises(TypeError, match="needs a default value for depth"):
        explorers.explore(lambda depth: None, depth=(1, 10))


@pytest.mark.slow
def test_signal_through_depth_shows_what_notebook_03_says():
    he = explorers.signal_through_depth(depth=30, std_factor=np.sqrt(2), activation="relu")
    lecun = explorers.signal_through_depth(depth=30, std_factor=1.0, activation="relu")
    assert len(he) == 30
    assert 1 / 3 < he[-1] / he[0] < 3                       # He keeps the ReLU signal's size
    ratio = lecun[-1] / lecun[0]
    assert 0.3 < ratio / 2 ** (-29 / 2) < 3                  # c = 1 halves the second moment per layer
    saturated = explorers.signal_through_depth(depth=10, std_factor=3.0, activation="tanh")
    assert saturated[-1] > 0.8                               # tanh outputs pile up near ±1


def test_only_the_named_arguments_get_controls_and_the_return_value_is_not_shown():
    """Notebook 03's call names depth, std_factor and activation: width and seed keep their defaults
    (interact used to add a width slider from -256 to 768), and the list of stds is not printed."""
    explorer = explorers.explore(explorers.signal_through_depth, depth=(1, 60), std_factor=(0.25, 3.0, 0.01),
                                 activation=["relu", "tanh", "sigmoid"])
    assert list(explorer.controls) == ["depth", "std_factor", "activation"]
    assert explorer.values() == {"depth": 20, "std_factor": 1.41, "activation": "relu", "width": 256, "seed": 0}
    pngs, text = explorers.snapshot(explorers.signal_through_depth, explorer.values())
    assert len(pngs) == 1 and text == ""


def test_the_stored_output_has_a_static_figure_where_widgets_do_not_render():
    explorer = explorers.explore(explorers.signal_through_depth, depth=(1, 60), activation=["relu", "tanh"])
    bundle = explorer.mimebundle()
    assert bundle[explorers.WIDGET_VIEW]["model_id"] == explorer.box.model_id
    png = base64.b64decode(bundle["image/png"])
    assert png.startswith(b"\x89PNG") and len(png) < 200_000
    assert bundle["text/plain"] == ("Explorer of signal_through_depth (depth, activation): "
                                    "run the notebook to use its controls")


def test_moving_a_control_redraws_with_its_value():
    seen = []

    def draw(rate=0.5, seed=0):
        seen.append((rate, seed))
        plt.plot([0, 1], [0, rate])
        plt.show()
        print(f"rate {rate}")

    open_before = plt.get_fignums()
    explorer = explorers.explore(draw, rate=[0.0, 0.2, 0.5], seed=[0, 1])
    explorer.controls["rate"].value = 0.2
    explorer.controls["seed"].value = 1
    assert seen == [(0.5, 0), (0.2, 0), (0.2, 1)]
    assert explorers.snapshot(draw, {"rate": 0.2})[1] == "rate 0.2\n"
    assert plt.get_fignums() == open_before   # every figure drawn was rendered and closed


@pytest.mark.parametrize("name, spec, value, message", [
    ("width", (1, 512), 0, "the default 0 is outside 1…512"),
    ("width", (512, 1), 256, "give low < high"),
    ("rate", [0.0, 0.5], 0.2, "not one of the choices"),
    ("activation", ["relu", "tanh"], "elu", "not one of the choices"),
])
def test_controls_offer_only_values_that_make_sense(name, spec, value, message):
    with pytest.raises(ValueError, match=message):
        explorers.control(name, spec, value)


def test_signal_through_depth_refuses_inputs_that_mean_nothing():
    with pytest.raises(ValueError, match="need depth ≥ 1, width ≥ 1"):
        explorers.signal_through_depth(width=0)
