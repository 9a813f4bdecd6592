"""Interactive explorers: the same plotting function, behind sliders and menus.

A notebook first calls an explorer's function with its default inputs, which draws a static figure
that every reader (and nbval) sees; then ``explore(function, name=control, ...)`` puts the same
function behind widgets, in a cell marked ``# NBVAL_IGNORE_OUTPUT``. Only the arguments named get a
control, each bounded to the values given; the others keep their defaults, and what the function
returns is not shown. Moving a control redraws the figure when the control is released.

The cell's stored output renders everywhere: besides the live widgets it carries a PNG of the figure at
the defaults, which JupyterLab shows where widgets cannot render (a notebook not yet run, or not
trusted, as in a fresh clone), as do GitHub's and nbviewer's previews. Works in plain JupyterLab,
VS Code and Colab with ipywidgets (in the course's requirements; no extension step).
"""
import base64
import contextlib
import inspect
import io
import numbers

import matplotlib.pyplot as plt
import numpy as np

ACTIVATIONS = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
}
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def control(name, spec, value):
    """A widget for one argument, starting at `value`: a tuple (low, high[, step]) gives a slider, a list
    of strings or a dict a menu, a list of numbers a slider over those values (pass lists, not tuples,
    of choices). A default outside the range or the choices is refused: a control offers only values
    that make sense, and starts where the static figure above it was drawn."""
    import ipywidgets as widgets
    style = {"description_width": "initial"}
    if isinstance(spec, widgets.Widget):
        return spec
    if isinstance(spec, dict) or (isinstance(spec, (list, tuple)) and spec and not all(map(_is_number, spec))):
        choices = list(spec.values()) if isinstance(spec, dict) else list(spec)
        if value not in choices:
            raise ValueError(f"{name}: the default {value!r} is not one of the choices {choices}")
        return widgets.Dropdown(options=spec, value=value, description=name, style=style)
    if isinstance(spec, tuple) and len(spec) in (2, 3) and all(map(_is_number, spec)):
        low, high, *step = spec
        integer = all(isinstance(v, int) for v in spec)
        step = step[0] if step else (1 if integer else (high - low) / 100)
        if not low < high or step <= 0:
            raise ValueError(f"{name}: give low < high and a positive step, not {spec}")
        if not low <= value <= high:
            raise ValueError(f"{name}: the default {value!r} is outside {low}…{high}")
        slider = widgets.IntSlider if integer else widgets.FloatSlider
        return slider(value=value, min=low, max=high, step=step, description=name, continuous_update=False,
                      style=style)
    if isinstance(spec, list) and spec:   # numbers to choose among
        if value not in spec:
            raise ValueError(f"{name}: the default {value!r} is not one of the choices {spec}")
        return widgets.SelectionSlider(options=spec, value=value, description=name, continuous_update=False,
                                       style=style)
    raise TypeError(f"{name}: give (low, high[, step]), a list, a dict or a widget, not {spec!r}")


def snapshot(function, values):
    """Call `function(**values)`; return the PNGs of the figures it drew and the text it printed.

    Backend-independent: `plt.show` is replaced during the call by one that renders the new figures
    to PNG (as Jupyter's inline backend does, trimmed to their content) and closes them.
    """
    before, pngs, text = set(plt.get_fignums()), [], io.StringIO()

    def show(*_args, **_kwargs):
        for number in sorted(set(plt.get_fignums()) - before):
            figure = plt.figure(number)
            buffer = io.BytesIO()
            figure.savefig(buffer, format="png", bbox_inches="tight")
            pngs.append(buffer.getvalue())
            plt.close(figure)

    original = plt.show
    plt.show = show
    try:
        with contextlib.redirect_stdout(text):
            function(**values)
        show()   # figures drawn but never shown
    finally:
        plt.show = original
    return pngs, text.getvalue()


class Explorer:
    """What `explore` shows: the controls (`controls`, by name) above the figure (`output`).

    `mimebundle()` is the cell's output: the live widgets, and the figure at the defaults as a PNG and a
    line of text for where widgets do not render. `explore()` has shown it already, so showing the
    value of the call again (a cell that ends without `;`) adds nothing.
    """

    def __init__(self, function, controls, defaults):
        import ipywidgets as widgets
        from IPython.display import Image, display
        self.function, self.controls, self.defaults = function, controls, defaults
        self.output = widgets.Output()
        pngs, text = snapshot(function, self.values())
        self.fallback = pngs[0] if pngs else None
        with self.output:
            for png in pngs:
                display(Image(png))
            print(text, end="")
        for widget in controls.values():
            widget.observe(self.redraw, names="value")
        self.box = widgets.VBox([*controls.values(), self.output])

    def values(self):
        return {**self.defaults, **{name: widget.value for name, widget in self.controls.items()}}

    def redraw(self, _change=None):
        from IPython.display import Image, display
        pngs, text = snapshot(self.function, self.values())
        with self.output:
            self.output.clear_output(wait=True)
            for png in pngs:
                display(Image(png))
            print(text, end="")

    def mimebundle(self):
        names = ", ".join(self.controls)
        bundle = {WIDGET_VIEW: {"version_major": 2, "version_minor": 0, "model_id": self.box.model_id},
                  "text/plain": f"Explorer of {self.function.__name__} ({names}): run the notebook to use "
                                "its controls"}
        if self.fallback:
            bundle["image/png"] = base64.b64encode(self.fallback).decode("ascii")
        return bundle

    def _ipython_display_(self):
        pass


def explore(function, **controls):
    """Show `function` with one control per keyword, starting from the function's defaults; the other
    arguments keep their defaults. Returns the `Explorer` (already shown)."""
    from IPython.display import display
    defaults = {name: p.default for name, p in inspect.signature(function).parameters.items()
                if p.default is not inspect.Parameter.empty}
    missing = set(controls) - set(defaults)
    if missing:
        raise TypeError(f"{function.__name__} needs a default value for {', '.join(sorted(missing))}")
    widgets = {name: control(name, spec, defaults[name]) for name, spec in controls.items()}
    explorer = Explorer(function, widgets, defaults)
    display(explorer.mimebundle(), raw=True)
    return explorer


def signal_through_depth(depth=20, std_factor=1.41, activation="relu", width=256, seed=0):
    """Draw the size of the signal through `depth` dense layers of `width` units.

    Kernels are N(0, (std_factor / √width)²), so std_factor √2 ≈ 1.41 is He's scale and 1 is
    LeCun's; biases are 0; inputs are 512 standard-normal vectors. Left: the standard deviation of
    each layer's output (log scale); right: the distribution of the first and last layer's outputs.
    Returns the per-layer standard deviations.
    """
    if depth < 1 or width < 1 or not std_factor > 0 or activation not in ACTIVATIONS:
        raise ValueError(f"need depth ≥ 1, width ≥ 1, std_factor > 0 and an activation among "
                         f"{', '.join(ACTIVATIONS)}; got {depth}, {width}, {std_factor}, {activation!r}")
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
