"""The interactive explorers: their controls, and that the figure they draw shows what the text says."""
import ipywidgets as widgets
import matplotlib
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


def test_signal_through_depth_shows_what_notebook_03_says():
    he = explorers.signal_through_depth(depth=30, std_factor=np.sqrt(2), activation="relu")
    lecun = explorers.signal_through_depth(depth=30, std_factor=1.0, activation="relu")
    assert len(he) == 30
    assert 1 / 3 < he[-1] / he[0] < 3                       # He keeps the ReLU signal's size
    ratio = lecun[-1] / lecun[0]
    assert 0.3 < ratio / 2 ** (-29 / 2) < 3                  # c = 1 halves the second moment per layer
    saturated = explorers.signal_through_depth(depth=10, std_factor=3.0, activation="tanh")
    assert saturated[-1] > 0.8                               # tanh outputs pile up near ±1
