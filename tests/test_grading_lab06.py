"""The grading command on wrong submissions of lab 06 that only its hidden tests can tell apart.

Lab 01's hostile table (tests/test_grading.py) covers the grader's defences; these cases cover what
lab 06's own checks must catch: a visible answer hard-coded, a residual block without its shortcut
(which also takes the experiment's result away), and an answer that contradicts the measurement.
"""
import csv

import nbformat
import pytest

from tools import labs
from tools.grading import batch as grading

pytestmark = pytest.mark.kernel   # starts kernels: not in `make check`

LAB = labs.SOLUTIONS / "06_deep_networks.ipynb"
FULL = {"ex1": 3, "ex2": 4, "ex3": 3, "ex4": 3}


def with_answer(grade_id, code):
    """The solution with one exercise cell's code replaced."""
    notebook = nbformat.read(LAB, as_version=4)
    next(c for c in notebook.cells if labs.grade_id(c) == grade_id).source = code
    return notebook


NO_SHORTCUT = '''class ResidualBlock(tf.keras.layers.Layer):
    def __init__(self, width, kernel_initializer="he_normal", **kwargs):
        super().__init__(**kwargs)
        self.dense = tf.keras.layers.Dense(width, kernel_initializer=kernel_initializer)

    def call(self, z):
        return self.dense(tf.nn.relu(z))
'''

# name -> (notebook, expected points per exercise)
CASES = {
    # (the solution's full marks: tests/test_labs.py)
    # The visible test's global norm 13 clipped to 6.5, special-cased: its point and no hidden one.
    "hardcodes_visible_clip": (lambda: with_answer("ex3-answer", (
        "def clip_by_global_norm(grads, clip):\n"
        "    return [np.array([1.5, 2.0]), np.array([0.0, 6.0])]\n")), {**FULL, "ex3": 1}),
    # Without the shortcut the block is a plain layer: exercise 2 fails, and exercise 4's 'residual'
    # network no longer learns, so only its visible (bookkeeping) point remains.
    "block_without_shortcut": (lambda: with_answer("ex2-answer", NO_SHORTCUT), {**FULL, "ex2": 0, "ex4": 1}),
    "answer_against_the_measurement": (lambda: with_answer("ex4-interpretation", 'answer = "c"\n'),
                                       {**FULL, "ex4": 1}),
}


@pytest.fixture(scope="module")
def grades(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for name, (make, _) in CASES.items():
        nbformat.write(make(), folder / f"{name}.ipynb")
    out = tmp_path_factory.mktemp("grades")
    grading.grade_folder(LAB, folder, out, workers=2, limits=grading.Limits(memory_mib=2048, cell_cpu=120))
    with open(out / "grades.csv", encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}, out


@pytest.mark.parametrize("name", list(CASES))
def test_submission_is_scored_as_expected(grades, name):
    rows, out = grades
    got = {key: int(rows[name][f"{key} ({FULL[key]})"]) for key in FULL}
    assert got == CASES[name][1], (out / "feedback" / f"{name}.md").read_text(encoding="utf-8")
