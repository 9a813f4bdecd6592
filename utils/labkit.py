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
import json
import re
import sys
import textwrap

import numpy as np

RESULT_MARK = "<<labkit-result>>"

# Values travel between the grader and a kernel in this format, never as pickle. Its limits hold
# whatever the bytes say: no decompression, no recursion, a bounded depth and count of items.
WIRE_MAGIC = b"labkit-value-1\n"
MAX_VALUE_BYTES = 16 * 2**20      # a packed value, arrays included
MAX_DEPTH = 64                    # lists and dicts inside each other
MAX_ITEMS = 200_000               # lists, dicts, strings, Nones and arrays in one value
_DTYPE = re.compile(r"[<>|=][biufcSU][0-9]{1,3}")


class SubmissionError(Exception):
    """The student's code could not produce a value (it raised, or a name is missing)."""


def _text(item, where="a string"):
    """`item` if it is valid text; a string with a lone surrogate cannot be written as UTF-8."""
    try:
        item.encode("utf-8")
    except UnicodeEncodeError:
        raise TypeError(f"{where} contains a character that is not valid text (a lone surrogate "
                        f"such as \\ud800); return ordinary strings") from None
    return item


def pack(value):
    """Bytes for a value made of arrays, numbers, strings, None, lists and dicts (no pickle).

    Tuples become lists, dict keys strings, numbers 0-d arrays. TypeError for anything else, a value
    nested deeper than MAX_DEPTH, with more than MAX_ITEMS items or larger than MAX_VALUE_BYTES.
    The bytes are a header (a flat JSON list of items, in order) and the data of the strings and arrays.
    """
    nodes, chunks, size = [], [], 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if len(nodes) >= MAX_ITEMS:
            raise TypeError(f"the value has more than {MAX_ITEMS:,} items")
        if isinstance(item, (dict, list, tuple)):
            if depth >= MAX_DEPTH:
                raise TypeError(f"the value is nested deeper than {MAX_DEPTH} levels")
            if len(item) > MAX_ITEMS:
                raise TypeError(f"the value has more than {MAX_ITEMS:,} items")
        if isinstance(item, dict):
            nodes.append(["d", len(item)])
            for key, val in reversed(list(item.items())):
                stack.append((val, depth + 1))
                stack.append((str(key), depth + 1))
        elif isinstance(item, (list, tuple)):
            nodes.append(["l", len(item)])
            stack.extend((val, depth + 1) for val in reversed(item))
        elif isinstance(item, str):
            data = _text(str(item)).encode("utf-8")
            nodes.append(["s", len(data)])
            chunks.append(data)
            size += len(data)
        elif item is None:
            nodes.append(["n"])
        else:
            array = np.asarray(item)
            if array.dtype.kind not in "biufcSU":
                raise TypeError(f"cannot send a value of type {type(item).__name__}; "
                                "return numbers, arrays, strings, lists or dicts")
            size += array.nbytes
            if size > MAX_VALUE_BYTES:
                break
            nodes.append(["a", array.dtype.str, list(array.shape)])
            chunks.append(array.tobytes())
        if size > MAX_VALUE_BYTES:
            break
    if size > MAX_VALUE_BYTES:
        raise TypeError(f"the value is larger than {MAX_VALUE_BYTES // 2**20} MiB")
    header = json.dumps(nodes).encode("ascii")
    return b"".join([WIRE_MAGIC, len(header).to_bytes(8, "little"), header] + chunks)


def unpack(data):
    """The value `pack` encoded. ValueError (with a reason) for bytes that are not such a value,
    whatever they contain: nothing is unpickled, decompressed or decoded recursively, and the
    result is never much larger than the bytes given."""
    data = memoryview(data)
    if len(data) > MAX_VALUE_BYTES + 2**20:
        raise ValueError(f"the value is larger than {MAX_VALUE_BYTES // 2**20} MiB")
    if bytes(data[:len(WIRE_MAGIC)]) != WIRE_MAGIC or len(data) < len(WIRE_MAGIC) + 8:
        raise ValueError("not a packed value")
    start = len(WIRE_MAGIC) + 8
    end = start + int.from_bytes(data[len(WIRE_MAGIC):start], "little")
    if end > len(data):
        raise ValueError("the value is cut short")
    header = bytes(data[start:end])
    # Each item is a list of its own and an array's shape one more: more brackets than that, and the
    # header would be nested, or longer than MAX_ITEMS, before JSON is even read.
    if header.count(b"[") > 2 * MAX_ITEMS + 1:
        raise ValueError(f"the value's structure is unreadable (more than {MAX_ITEMS:,} items)")
    try:
        nodes = json.loads(header.decode("ascii"))
    except (ValueError, RecursionError):
        raise ValueError("the value's structure is unreadable") from None
    if not isinstance(nodes, list) or not 0 < len(nodes) <= MAX_ITEMS:
        raise ValueError("the value's structure is unreadable")
    offset = end

    def take(nbytes):
        nonlocal offset
        if nbytes > len(data) - offset:
            raise ValueError("the value is cut short")
        offset += nbytes
        return data[offset - nbytes:offset]

    def array(node):
        if len(node) != 3 or not isinstance(node[1], str) or not _DTYPE.fullmatch(node[1]):
            raise ValueError("an array of an unknown type")
        shape = node[2]
        if (not isinstance(shape, list) or len(shape) > 32
                or not all(type(n) is int and 0 <= n <= MAX_VALUE_BYTES for n in shape)):
            raise ValueError("an array of an impossible shape")
        dtype = np.dtype(node[1])
        if dtype.itemsize == 0:
            raise ValueError("an array of an unknown type")
        nbytes = dtype.itemsize * int(np.prod(shape, dtype=object))
        return np.frombuffer(take(nbytes), dtype=dtype).reshape(tuple(shape)).copy()

    def text(node):
        if len(node) != 2 or type(node[1]) is not int or node[1] < 0:
            raise ValueError("a string of an impossible length")
        try:
            return str(take(node[1]), "utf-8")
        except UnicodeDecodeError:
            raise ValueError("a string that is not valid text (UTF-8)") from None

    def leaf(node):
        kind = node[0]
        if kind == "s":
            return text(node)
        if kind == "n" and len(node) == 1:
            return None
        if kind == "a":
            return array(node)
        raise ValueError("an item of an unknown kind")

    # Containers under construction: [container, items still to come, pending dict key].
    done, result, stack = False, None, []
    for node in nodes:
        if not isinstance(node, list) or not node or not isinstance(node[0], str):
            raise ValueError("an item of an unknown kind")
        if node[0] in ("l", "d"):
            if len(node) != 2 or type(node[1]) is not int or not 0 <= node[1] <= MAX_ITEMS:
                raise ValueError("a list or dict of an impossible length")
            item = [] if node[0] == "l" else {}
        else:
            item = leaf(node)
        if stack:
            parent = stack[-1]
            if isinstance(parent[0], list):
                parent[0].append(item)
            elif parent[2] is None:
                if not isinstance(item, str):
                    raise ValueError("a dict key that is not a string")
                parent[2] = item
                continue
            else:
                parent[0][parent[2]] = item
                parent[2] = None
            parent[1] -= 1
        elif not done:
            done, result = True, item
        else:
            raise ValueError("items after the end of the value")
        if node[0] in ("l", "d") and node[1]:
            if len(stack) >= MAX_DEPTH:
                raise ValueError(f"the value is nested deeper than {MAX_DEPTH} levels")
            stack.append([item, node[1], None])
        while stack and stack[-1][1] == 0:
            stack.pop()
    if stack or not done or offset != len(data):
        raise ValueError("the value is cut short or has bytes left over")
    return result


def evaluate_here(expr, namespace, inputs, plain=True):
    """Evaluate `expr` in `namespace` with `inputs` bound, as sendable plain values.

    `expr` is an expression, or several lines whose last one is an expression (like a notebook
    cell): the lines before it run first, in a scope of their own, and the last one is the value.
    With plain=False the value is returned as computed (the caller packs it).
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
        raise SubmissionError(f"`{_shown(expr)}` raised {_error_text(error)}") from None
    if not plain:
        return value
    try:
        return unpack(pack(value))
    except Exception as error:
        raise SubmissionError(f"`{_shown(expr)}`: {_error_text(error, with_type=False)}") from None


def readable(obj):
    """str(obj) as valid text (lone surrogates escaped), also when str() itself fails."""
    try:
        text = str(obj)
    except Exception:
        text = "(a message that could not be read)"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _error_text(error, with_type=True):
    """`Type: message` for an exception whose str() may itself fail or hold invalid text."""
    text = readable(error)
    return f"{type(error).__name__}: {text}" if with_type else text


def _shown(expr):
    """An expression or block, on one line, for a message."""
    return "; ".join(line.strip() for line in textwrap.dedent(expr).strip().splitlines())


def probe(expr, inputs_b64, nonce=""):
    """Kernel side of grading: evaluate `expr` in __main__ and print the packed result on one line,
    RESULT_MARK + nonce + ":" + base64. The grader reads only that line (the last one with its nonce)."""
    import __main__
    inputs = unpack(base64.b64decode(inputs_b64))
    try:
        value = evaluate_here(expr, vars(__main__), inputs, plain=False)
        try:
            packed = pack({"value": value})
        except Exception as error:
            raise SubmissionError(f"`{_shown(expr)}`: {_error_text(error, with_type=False)}") from None
    except SubmissionError as error:
        packed = pack({"error": _error_text(error, with_type=False)})
    print(f"{RESULT_MARK}{nonce}:{base64.b64encode(packed).decode('ascii')}", flush=True)


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
