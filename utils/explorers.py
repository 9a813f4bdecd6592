"""Interactive explorers: the same plotting function, behind sliders and menus.

A notebook first calls an explorer's function with its default inputs, which draws a static figure
that every reader (and nbval) sees; then ``explore(function, name=control, ...)`` puts the same
function behind widgets, in a cell marked ``# NBVAL_IGNORE_OUTPUT``. Moving a control redraws the
figure when the control is released. Works in plain JupyterLab with ipywidgets installed (it is in
the course's requirements; no extension step).
"""
import inspect

import matplotlib.pyplot as plt
import numpy as np

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}


def control(name, spec, value):
    """A widget for one argument: a tuple (low, high[, step]) gives a slider, a list of strings or a
    dict a menu, a list of numbers a slider over those values (pass lists, not tuples, of choices)."""
    import ipywidgets as widgets
    if isinstance(spec, widgets.Widget):
        return spec
    if isinstance(spec, dict) or (isinstance(spec, (list, tuple)) and not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)):
        return widgets.Dropdown(options=spec, value=value, description=name)
    if isinstance(spec, tuple) and len(spec) in (2, 3):
        low, high, *step = spec
        integer = all(isinstance(v, int) for v in spec)
        slider = widgets.IntSlider if integer else widgets.FloatSlider
        step = step[0] if step else (1 if integer else (high - low) / 100)
        return slider(value=value, min=low, max=high, step=step,
                      description=name, continuous_update=False)
    if isinstance(spec, list):   # numbers to choose among
        return widgets.SelectionSlider(options=spec, value=value, description=name, continuous_update=False)
    raise TypeError(f"{name}: give (low, high[, step]), a list, a dict or a widget, not {spec!r}")


def explore(function, **controls):
    """Show `function` with one control per keyword, starting from the function's defaults."""
    import ipywidgets as widgets
    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.default is not inspect.Parameter.empty}
    missing = set(controls) - set(defaults)
    if missing:
        raise TypeError(f"{function.__name__} needs a default value for {', '.join(sorted(missing))}")
    return widgets.interact(function, **{name: control(name, spec, defaults[name]) for name, spec in controls.items()})


def signal_through_depth(depth=20, std_factor=1.41, activation="relu", width=256, seed=0):
    """Draw the size of the signal through `depth` dense layers of `width` units.

    Kernels are N(0, (std_factor / √width)²), so std_factor √2 ≈ 1.41 is He's scale and 1 is
    LeCun's; biases are 0; inputs are 512 standard-normal vectors. Left: the standard deviation of
    each layer's output (log scale); right: the distribution of the first and last layer's outputs.
    Returns the per-layer standard deviations.
    """
    rng = np.random.default_rng(seed)
    phi = ACTIVATIONS[activation]
    h = rng.standard_normal((512, width))
    stds, first = [], None
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(depth):
            h = phi(h @ (rng.standard_normal((width, width)) * std_factor / np.sqrt(width)))
            stds.append(float(np.std(h)))
            first = h if first is None else first
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
    left.semilogy(np.arange(1, depth + 1), np.maximum(stds, 1e-30), "o-", markersize=3)
    finite = [v for v in stds if np.isfinite(v) and v > 0] or [1.0]
    left.set_ylim(min(1e-2, min(finite) / 3), max(1e2, max(finite) * 3))   # a flat line looks flat
    left.set(xlabel="layer", ylabel="std of the layer's output",
             title=f"{activation}, kernel std = {std_factor:.2f}/√{width}")
    for values, label in ((first, "layer 1"), (h, f"layer {depth}")):
        values = values.ravel()
        values = values[np.isfinite(values)]
        spread = np.std(values) if values.size else 0.0
        # divided by their own std, so that both shapes show whatever the scales
        right.hist(values / (spread or 1.0), bins=60, alpha=0.6, label=f"{label} (std {spread:.2g})", density=True)
    right.set(xlabel="output / that layer's std", ylabel="density", title="shape of the first and last layer's outputs")
    right.legend()
    fig.tight_layout()
    plt.show()
    return stds
