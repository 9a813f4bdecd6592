"""The checks that lab test cells are written with.

A test cell asks for values computed by the student's code with ``lab.value`` and checks them
with ``lab.check_close`` / ``lab.check``::

    got = lab.value("leaky_relu(z, 0.2)", z=np.array([-2.0, 0.0, 3.0], "float32"))
    lab.check_close(got, [-0.4, 0.0, 3.0], "leaky_relu(z, 0.2) at z = -2, 0, 3")

In the notebook (``lab`` from this module) the expression is evaluated in the notebook's own
namespace, for instant feedback. When a submission is graded (``tools.grading``), the same test
code runs in the grader's process: only ``lab.value`` reaches into the student's kernel, and
its result comes back as plain arrays, strings, lists and dicts. The assertions never run
where the student's code could change them.
"""
import ast
import base64
import io
import json
import sys
import textwrap

import numpy as np

RESULT_MARK = "<<labkit-result>>"


class SubmissionError(Exception):
    """The student's code could not produce a value (it raised, or a name is missing)."""


def pack(value):
    """Bytes for a value made of arrays, numbers, strings, None, lists and dicts (no pickle)."""
    arrays = []

    def encode(item):
        if isinstance(item, dict):
            return {"dict": {str(key): encode(val) for key, val in item.items()}}
        if isinstance(item, (list, tuple)):
            return {"list": [encode(val) for val in item]}
        if isinstance(item, str):
            return {"str": item}
        if item is None:
            return {"none": True}
        array = np.asarray(item)
        if array.dtype == object:
            raise TypeError(f"cannot send a value of type {type(item).__name__}; "
                            "return numbers, arrays, strings, lists or dicts")
        arrays.append(array)
        return {"array": len(arrays) - 1}

    structure = encode(value)
    buffer = io.BytesIO()
    np.savez(buffer, structure=np.array(json.dumps(structure)),
             **{f"a{i}": array for i, array in enumerate(arrays)})
    return buffer.getvalue()


def unpack(data):
    """The value `pack` encoded; never unpickles."""
    with np.load(io.BytesIO(data), allow_pickle=False) as stored:
        arrays = {name: stored[name] for name in stored.files}

    def decode(item):
        if "dict" in item:
            return {key: decode(val) for key, val in item["dict"].items()}
        if "list" in item:
            return [decode(val) for val in item["list"]]
        if "str" in item:
            return item["str"]
        if "none" in item:
            return None
        return arrays[f"a{int(item['array'])}"]

    return decode(json.loads(str(arrays.pop("structure"))))


def evaluate_here(expr, namespace, inputs):
    """Evaluate `expr` in `namespace` with `inputs` bound, as sendable plain values.

    `expr` is an expression, or several lines whose last one is an expression (like a notebook
    cell): the lines before it run first, in a scope of their own, and the last one is the value.
    """
    scope = dict(namespace)
    scope["lab_tools"] = sys.modules[__name__]   # e.g. lab_tools.gradient(fn, x) in an expression
    scope.update(inputs)
    try:
        body = ast.parse(textwrap.dedent(expr).strip())
        if not body.body or not isinstance(body.body[-1], ast.Expr):
            raise SyntaxError("the last line must be an expression: the value to check")
        last = ast.Expression(body.body.pop().value)
        exec(compile(body, "<lab.value>", "exec"), scope)
        value = eval(compile(last, "<lab.value>", "eval"), scope)
    except Exception as error:
        raise SubmissionError(f"`{_shown(expr)}` raised {type(error).__name__}: {error}") from None
    try:
        return unpack(pack(value))
    except TypeError as error:
        raise SubmissionError(f"`{_shown(expr)}`: {error}") from None


def _shown(expr):
    """An expression or block, on one line, for a message."""
    return "; ".join(line.strip() for line in textwrap.dedent(expr).strip().splitlines())


def probe(expr, inputs_b64):
    """Kernel side of grading: evaluate `expr` in __main__ and print the packed result."""
    import __main__
    inputs = unpack(base64.b64decode(inputs_b64))
    try:
        payload = {"value": evaluate_here(expr, vars(__main__), inputs)}
    except SubmissionError as error:
        payload = {"error": str(error)}
    print(RESULT_MARK + base64.b64encode(pack(payload)).decode("ascii"))


def _describe(array):
    array = np.asarray(array)
    text = np.array2string(array, precision=4, threshold=8, edgeitems=2, separator=", ")
    return text if array.ndim == 0 else f"{text} (shape {array.shape})"


class Checks:
    """Assertions shared by the notebook and the grader; a failure says what and by how much."""

    verbose = True

    def _passed(self, what):
        if self.verbose:
            print(f"✓ {what}")

    def check(self, condition, what, detail=""):
        """Pass when `condition` is true."""
        if not bool(condition):
            raise AssertionError(f"{what}: not true{': ' + detail if detail else ''}")
        self._passed(what)

    def check_close(self, got, expected, what, rtol=1e-5, atol=1e-6):
        """Pass when `got` has the shape of `expected` and matches it elementwise."""
        expected = np.asarray(expected, dtype=float)
        if got is None:
            raise AssertionError(f"{what}: got None instead of numbers")
        try:
            got_array = np.asarray(got, dtype=float)
        except (TypeError, ValueError):
            raise AssertionError(f"{what}: expected numbers, got {type(got).__name__}") from None
        if got_array.shape != expected.shape:
            raise AssertionError(f"{what}: expected shape {expected.shape}, got shape {got_array.shape}")
        if not np.allclose(got_array, expected, rtol=rtol, atol=atol):
            worst = np.unravel_index(np.argmax(np.abs(got_array - expected)), expected.shape)
            raise AssertionError(f"{what}: expected {_describe(expected)}, got {_describe(got_array)} "
                                 f"(largest difference at index {tuple(int(i) for i in worst)})")
        self._passed(what)

    def check_between(self, got, low, high, what):
        """Pass when the number `got` lies in [low, high]."""
        try:
            number = float(np.asarray(got, dtype=float))
        except (TypeError, ValueError):
            raise AssertionError(f"{what}: expected one number, got {_describe(got)}") from None
        if not low <= number <= high:
            raise AssertionError(f"{what}: expected between {low:g} and {high:g}, got {number:.4g}")
        self._passed(f"{what} ({number:.3g})")


class NotebookLab(Checks):
    """`lab` in a lab notebook: values come from the notebook's own namespace.

    In a notebook, a check that fails, or student code that cannot give a value, shows its one-line
    message in red instead of a traceback through this module; the cell still fails (an error
    output, Run All stops there), which is what nbgrader and nbval see. Other errors keep their
    usual traceback.
    """

    def __init__(self):
        show_failures_briefly()

    def value(self, expr, **inputs):
        """The value of `expr` computed by the student's code, with `inputs` bound as names."""
        import __main__
        return evaluate_here(expr, vars(__main__), unpack(pack(inputs)))


def _raised_here(tb):
    """Whether the innermost frame of a traceback is in this module (a check, or lab.value)."""
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and tb.tb_frame.f_code.co_filename == __file__


def _show_briefly(shell, etype, value, tb, tb_offset=None):
    """IPython's display of AssertionError and SubmissionError: one line when raised by this module."""
    if not _raised_here(tb):
        shell.showtraceback((etype, value, tb), tb_offset=tb_offset, running_compiled_code=True)
        return None
    shell._showtraceback(etype, value, [f"\x1b[0;31m✗ {value}\x1b[0m"])
    return None


def show_failures_briefly():
    """In an IPython kernel, show this module's failures as one line (NotebookLab does it on creation).
    A kernel that already has a custom exception handler keeps it, and full tracebacks."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None or shell.custom_exceptions not in ((), (AssertionError, SubmissionError)):
        return
    shell.set_custom_exc((AssertionError, SubmissionError), _show_briefly)


def gradient(fn, x):
    """d sum(fn(x)) / dx with TensorFlow, or None where fn is not differentiable with TF."""
    import tensorflow as tf
    x = tf.convert_to_tensor(x)
    with tf.GradientTape() as tape:
        tape.watch(x)
        total = tf.reduce_sum(fn(x))
    grad = tape.gradient(total, x)
    return None if grad is None else grad.numpy()



def dense_net(weights, activation):
    """A Sequential of Dense layers with the given [[kernel, bias], ...]: `activation` in the
    hidden layers, softmax at the output. Lets a test send a network to the student's code."""
    import tensorflow as tf
    layers = [tf.keras.Input((np.shape(weights[0][0])[0],))]
    for i, (kernel, _) in enumerate(weights):
        layers.append(tf.keras.layers.Dense(np.shape(kernel)[1],
                                            activation=activation if i < len(weights) - 1 else "softmax"))
    model = tf.keras.Sequential(layers)
    model.set_weights([np.asarray(array, "float32") for pair in weights for array in pair])
    return model



def dropout_linear(kernel, bias, rate, seed=0):
    """Input -> Keras Dropout(rate) -> linear Dense with the given kernel and bias."""
    import tensorflow as tf
    model = tf.keras.Sequential([tf.keras.Input((np.shape(kernel)[0],)), tf.keras.layers.Dropout(rate, seed=seed),
                                 tf.keras.layers.Dense(np.shape(kernel)[1])])
    model.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])
    return model


lab = NotebookLab()
