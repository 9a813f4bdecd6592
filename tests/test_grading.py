"""The grading command on a real lab (lab 01, with TensorFlow): what is specific to its exercises.

Each submission is the solution with a few things changed; the test states the points each exercise
must get and why. They are graded in one batch, through the command line, from a relative path that
goes through a symbolic link, as a teacher would type it. Attacks on the sandbox and odd files are in
test_grading_sandbox.py (a small lab without TensorFlow, so that they cost a second each); every
solution's full marks and every untouched student version's zero are in test_labs.py.
"""
import copy
import csv
import hashlib
import os
from pathlib import Path

import nbformat
import pytest

from tools import labs
from tools.grading import batch as grading
from tools.grading import sandbox

pytestmark = [pytest.mark.kernel,
              pytest.mark.skipif(sandbox.check_bwrap(grading.ROOT) is not None,
                                 reason="bubblewrap cannot make a sandbox here")]

LAB = labs.SOLUTIONS / "01_activations.ipynb"
FULL = {"ex1": 3, "ex2": 3, "ex3": 4, "ex4": 3}


def solution():
    return nbformat.read(LAB, as_version=4)


def with_answers(notebook=None, **answers):
    """The solution (or `notebook`) with exercise cells' code replaced: ex1="..." replaces ex1-answer."""
    notebook = copy.deepcopy(notebook or solution())
    for cell in notebook.cells:
        key = (labs.grade_id(cell) or "").replace("-answer", "")
        if key in answers:
            cell.source = answers[key]
    return notebook


def without(notebook, grade_id):
    notebook.cells = [c for c in notebook.cells if labs.grade_id(c) != grade_id]
    return notebook


def edited_locked_cells_and_a_scratch_cell():
    """Setup and test cells changed and a cell added by the student: the grader runs the originals only."""
    notebook = solution()
    for cell in notebook.cells:
        if labs.grade_id(cell) == "locked-1":
            cell.source = "raise SystemExit('no setup for you')"
        elif labs.role(cell) == "test":
            cell.source = "pass"
    notebook.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('scratch cell')"))
    return notebook


# name -> (notebook, expected points per exercise, text the feedback must contain)
CASES = {
    # Special-casing the visible test's inputs earns its point and no hidden one; NumPy is right in value
    # but not differentiable with TensorFlow, so ex2's hidden gradient test fails.
    "hardcodes_and_uses_numpy": (lambda: with_answers(
        ex1="def sigmoid_derivative(z):\n    return np.array([0.25, 0.104994, 0.104994], 'float32')\n",
        ex2="def leaky_relu(z, negative_slope=0.01):\n    z = np.asarray(z)\n"
            "    return np.where(z > 0, z, negative_slope * z)\n"),
        {**FULL, "ex1": 1, "ex2": 1},
        "✗ `ex2-hidden` (2 pt): TensorFlow's gradient is 1 for z > 0 and 0.3 for z < 0: got None"),
    # The course's own helpers answer exercises 1 and 3 in one call each; they are withheld when graded.
    "calls_the_course_helpers": (lambda: with_answers(
        ex1="def sigmoid_derivative(z):\n    return utils.value_and_derivative(tf.sigmoid, z)[1]\n",
        ex3="def kernel_gradient_norms(model, x, y):\n    return utils.gradient_norms(model, x, y)\n"),
        {**FULL, "ex1": 0, "ex3": 0, "ex4": 0},
        "raised ImportError: utils.probes is not available when this lab is graded"),
    # A wrong formula, and a deleted exercise cell (exercise 4 uses exercise 3's function, so it fails too).
    "wrong_formula_and_deleted_cell": (lambda: without(with_answers(
        ex1="def sigmoid_derivative(z):\n    return tf.sigmoid(z)\n"), "ex3-answer"),
        {**FULL, "ex1": 0, "ex3": 0, "ex4": 0}, "this exercise cell is missing from your notebook"),
    "edited_locked_cells_and_a_scratch_cell": (edited_locked_cells_and_a_scratch_cell, FULL, "were not run"),
}


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    base = tmp_path_factory.mktemp("class")
    folder = base / "submitted"
    folder.mkdir()
    for name, (make, _, _) in CASES.items():
        nbformat.write(make(), folder / f"{name}.ipynb")
    before = digest(folder)
    os.symlink(folder, base / "link")
    # As typed in a shell: relative paths, the submissions folder through a link.
    relative = os.path.relpath(base, grading.ROOT)
    cwd = os.getcwd()
    os.chdir(grading.ROOT)
    try:
        assert grading.main(["grade", "01", f"{relative}/link", "--out", f"{relative}/out", "--workers", "2"]) == 0
    finally:
        os.chdir(cwd)
    return folder, base / "out", before


@pytest.mark.parametrize("name", list(CASES))
def test_submission_is_scored_as_expected(graded, name):
    _, out, _ = graded
    with open(out / "grades.csv", encoding="utf-8") as handle:
        row = {r["student"]: r for r in csv.DictReader(handle)}[name]
    _, expected, says = CASES[name]
    feedback = (out / "feedback" / f"{name}.md").read_text(encoding="utf-8")
    got = {key: int(row[f"{key} ({FULL[key]})"]) for key in FULL}
    assert (got, row["status"]) == (expected, "graded"), feedback
    assert int(row["total (13)"]) == sum(expected.values())
    assert says in feedback, feedback


def test_submissions_are_never_modified(graded):
    folder, _, before = graded
    assert digest(folder) == before


def test_grading_twice_gives_the_same_files(graded, tmp_path):
    folder, out, _ = graded
    (tmp_path / "in").mkdir()
    name = "wrong_formula_and_deleted_cell"
    (tmp_path / "in" / f"{name}.ipynb").write_bytes((folder / f"{name}.ipynb").read_bytes())
    grading.grade_folder(LAB, tmp_path / "in", tmp_path / "again", workers=1)
    again = (tmp_path / "again" / "feedback" / f"{name}.md").read_bytes()
    assert again == (out / "feedback" / f"{name}.md").read_bytes()


def test_students_are_found_in_flat_and_nbgrader_layouts(tmp_path):
    for rel in ("alice.ipynb", "bob/lab01/01_activations.ipynb", "carol/a.ipynb", "carol/b.ipynb",
                ".ipynb_checkpoints/alice-checkpoint.ipynb", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    assert list(grading.find_submissions(tmp_path)) == ["alice", "bob", "carol/a", "carol/b"]


def test_command_line_reports_a_missing_lab_or_folder(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no single lab matches '99'"):
        grading.main(["grade", "99", str(tmp_path)])
    with pytest.raises(SystemExit):
        grading.main(["grade", "01", str(tmp_path / "nowhere")])
    assert "no folder of submissions" in capsys.readouterr().err
