"""The grading command on deliberately wrong and hostile submissions of lab 01.

Each submission is the lab's solution with one thing changed; the test states the points each
exercise must get and why. One batch grades them all, in parallel, as a teacher would.
"""
import copy
import csv
import hashlib
from pathlib import Path

import nbformat
import pytest

from tools import labs
from tools.grading import batch as grading

pytestmark = pytest.mark.kernel   # starts kernels: not in `make check`

LAB = labs.SOLUTIONS / "01_activations.ipynb"
FULL = {"ex1": 3, "ex2": 3, "ex3": 4, "ex4": 3}


def solution():
    return nbformat.read(LAB, as_version=4)


def with_answer(grade_id, code, notebook=None):
    """The solution (or `notebook`) with one exercise cell's code replaced."""
    notebook = copy.deepcopy(notebook or solution())
    cell = next(c for c in notebook.cells if labs.grade_id(c) == grade_id)
    cell.source = code
    return notebook


def without(grade_id):
    notebook = solution()
    notebook.cells = [c for c in notebook.cells if labs.grade_id(c) != grade_id]
    return notebook


def edited_locked_cells():
    """Setup and test cells changed by the student: the grader runs the originals."""
    notebook = solution()
    for cell in notebook.cells:
        if labs.grade_id(cell) == "locked-1":
            cell.source = "raise SystemExit('no setup for you')"
        elif labs.role(cell) == "test":
            cell.source = "pass"
    return notebook


def with_added_cell():
    notebook = solution()
    notebook.cells.insert(3, nbformat.v4.new_code_cell("raise RuntimeError('scratch cell')"))
    return notebook


SOLUTION_SIGMOID = "def sigmoid_derivative(z):\n    s = tf.sigmoid(tf.convert_to_tensor(z))\n    return s * (1.0 - s)\n"

# name -> (notebook or raw bytes, expected points per exercise, expected status)
CASES = {
    "solution": (solution, FULL, "graded"),
    "untouched": (lambda: labs.student_version(solution()), dict.fromkeys(FULL, 0), "graded"),
    "wrong_formula": (lambda: with_answer("ex1-answer", "def sigmoid_derivative(z):\n    return tf.sigmoid(z)\n"),
                      {**FULL, "ex1": 0}, "graded"),
    # Special-casing the visible test's inputs earns its point, and no hidden one.
    "hardcodes_visible_answers": (lambda: with_answer("ex1-answer", (
        "def sigmoid_derivative(z):\n    return np.array([0.25, 0.104994, 0.104994], 'float32')\n")),
        {**FULL, "ex1": 1}, "graded"),
    # NumPy is right in value but not differentiable with TensorFlow: the hidden gradient test fails.
    "numpy_leaky_relu": (lambda: with_answer("ex2-answer", (
        "def leaky_relu(z, negative_slope=0.01):\n    z = np.asarray(z)\n"
        "    return np.where(z > 0, z, negative_slope * z)\n")), {**FULL, "ex2": 1}, "graded"),
    # Patching the checks inside the kernel changes nothing: they do not run there.
    "patches_checks": (lambda: with_answer("ex1-answer", (
        "import numpy, utils.labkit\nnumpy.allclose = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "utils.labkit.Checks.check_close = lambda *a, **k: None\nutils.labkit.lab.check_close = lambda *a, **k: None\n"
        "def sigmoid_derivative(z):\n    return tf.zeros_like(tf.convert_to_tensor(z))\n")),
        {**FULL, "ex1": 0}, "graded"),
    # A fake result line printed by the student's code: the grader reads its own, the last one.
    "forges_result_line": (lambda: with_answer("ex1-answer", (
        "import base64, utils.labkit as k\n"
        "def sigmoid_derivative(z):\n"
        "    print(k.RESULT_MARK + base64.b64encode(k.pack({'value': [0.25, 0.104994, 0.104994]})).decode())\n"
        "    return tf.zeros_like(tf.convert_to_tensor(z))\n")), {**FULL, "ex1": 0}, "graded"),
    # The kernel runs in an empty temporary folder: no lab source, no other submission nearby.
    "looks_for_hidden_tests": (lambda: with_answer("ex1-answer", (
        "import glob, os\n"
        "assert os.listdir('.') == [], os.listdir('.')\n"
        "assert not glob.glob('../*/labs') and not glob.glob('../**/*.ipynb', recursive=True)\n"
        + SOLUTION_SIGMOID)), FULL, "graded"),
    "renamed_function": (lambda: with_answer("ex2-answer", (
        "def my_leaky_relu(z, negative_slope=0.01):\n    return tf.where(z > 0, z, negative_slope * z)\n")),
        {**FULL, "ex2": 0}, "graded"),
    # Exercise 4 uses exercise 3's function, so it fails too.
    "deleted_exercise_cell": (lambda: without("ex3-answer"), {**FULL, "ex3": 0, "ex4": 0}, "graded"),
    "edited_locked_and_test_cells": (edited_locked_cells, FULL, "graded"),
    "added_scratch_cell": (with_added_cell, FULL, "graded"),
    "huge_output": (lambda: with_answer("ex1-answer", "print('x' * 50_000_000)\n" + SOLUTION_SIGMOID), FULL, "graded"),
    # Interrupted after the cell time limit; the kernel lives on and the rest is graded.
    "infinite_loop": (lambda: with_answer("ex2-answer", "import time\nwhile True:\n    time.sleep(0.01)\n"),
                      {**FULL, "ex2": 0}, "graded"),
    # Ignores the interrupt: the kernel is stopped, and what follows scores 0.
    "ignores_interrupt": (lambda: with_answer("ex2-answer", (
        "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass\n")),
        {**FULL, "ex2": 0, "ex3": 0, "ex4": 0}, "time limit"),
    "kernel_crash": (lambda: with_answer("ex3-answer", "import os\nos._exit(1)\n"),
                     {**FULL, "ex3": 0, "ex4": 0}, "kernel died"),
    # 100 MiB written to the kernel's file descriptor 2, below sys.stderr: ipykernel forwards it as
    # output, which the grader caps (or the cell's time limit stops); the batch goes on.
    "floods_stderr": (lambda: with_answer("ex3-answer",
                                          "import os\nfor _ in range(100):\n    os.write(2, b'x' * 2**20)\n"),
                      {**FULL, "ex3": 0, "ex4": 0}, "graded"),
    "memory_hog": (lambda: with_answer("ex2-answer", "hog = np.ones((3 * 2**30) // 8)\n"),
                   {**FULL, "ex2": 0, "ex3": 0, "ex4": 0}, "memory limit"),
    "not_a_notebook": (lambda: b"{ this is not json", dict.fromkeys(FULL, 0), "unreadable"),
    "binary_garbage": (lambda: bytes(range(256)) * 10, dict.fromkeys(FULL, 0), "unreadable"),
    "json_but_no_cells": (lambda: b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "none"}',
                          dict.fromkeys(FULL, 0), "unreadable"),
}


def write_submission(folder, name, content):
    path = folder / f"{name}.ipynb"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)
    return path


def read_grades(path):
    with open(path, encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def digest(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(folder).rglob("*"))
            if p.is_file()}


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    for name, (make, _, _) in CASES.items():
        write_submission(folder, name, make())
    before = digest(folder)
    out = tmp_path_factory.mktemp("grades")
    grading.grade_folder(LAB, folder, out, workers=2, timeout=60, memory_mib=1536, cell_timeout=10)
    return folder, out, before


@pytest.mark.parametrize("name", list(CASES))
def test_submission_is_scored_as_expected(graded, name):
    _, out, _ = graded
    row = read_grades(out / "grades.csv")[name]
    _, expected, status = CASES[name]
    got = {key: int(row[f"{key} ({FULL[key]})"]) for key in FULL}
    feedback = (out / "feedback" / f"{name}.md").read_text(encoding="utf-8")
    assert (got, row["status"]) == (expected, status), feedback
    assert int(row["total (13)"]) == sum(expected.values())


def test_feedback_says_why(graded):
    _, out, _ = graded
    def text(name):
        return (out / "feedback" / f"{name}.md").read_text(encoding="utf-8")
    assert "NotImplementedError" in text("untouched")
    assert "missing from your notebook" in text("deleted_exercise_cell")
    assert "name 'leaky_relu' is not defined" in text("renamed_function")
    assert "time limit (10 s per cell" in text("infinite_loop")
    assert "memory limit (1536 MiB)" in text("memory_hog")
    assert "died" in text("kernel_crash")
    assert "could not be read" in text("not_a_notebook")
    assert "were not run" in text("added_scratch_cell")
    # After grading, a failed hidden check says what it checked and what came back.
    assert ("✗ `ex2-hidden` (2 pt): TensorFlow's gradient is 1 for z > 0 and 0.3 for z < 0: got None"
            in text("numpy_leaky_relu"))
    assert max(p.stat().st_size for p in (out / "feedback").iterdir()) < 20_000


def test_submissions_are_never_modified(graded):
    folder, _, before = graded
    assert digest(folder) == before


def test_grading_twice_gives_the_same_files(tmp_path):
    folder = tmp_path / "submissions"
    folder.mkdir()
    for name in ("wrong_formula", "not_a_notebook"):   # passes, failures with numbers, and an unreadable file
        write_submission(folder, name, CASES[name][0]())
    runs = []
    for out in (tmp_path / "a", tmp_path / "b"):
        grading.grade_folder(LAB, folder, out, workers=2)
        runs.append(digest(out))
    assert runs[0] == runs[1]


def test_students_are_found_in_flat_and_nbgrader_layouts(tmp_path):
    for rel in ("alice.ipynb", "bob/lab01/01_activations.ipynb", "carol/a.ipynb", "carol/b.ipynb",
                ".ipynb_checkpoints/alice-checkpoint.ipynb", "notes.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("{}")
    assert list(grading.find_submissions(tmp_path)) == ["alice", "bob", "carol/a", "carol/b"]


def test_shards_split_the_folder_and_merge_back(tmp_path):
    (tmp_path / "in").mkdir()
    for name in ("a", "b", "c"):
        write_submission(tmp_path / "in", name, b"not a notebook")
    grading.grade_folder(LAB, tmp_path / "in", tmp_path / "s1", shard=(1, 2))
    grading.grade_folder(LAB, tmp_path / "in", tmp_path / "s2", shard=(2, 2))
    assert set(read_grades(tmp_path / "s1" / "grades.csv")) == {"a", "c"}
    grading.merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "all")
    grading.grade_folder(LAB, tmp_path / "in", tmp_path / "whole")
    assert (tmp_path / "all" / "grades.csv").read_text() == (tmp_path / "whole" / "grades.csv").read_text()
    assert sorted(p.name for p in (tmp_path / "all" / "feedback").iterdir()) == ["a.md", "b.md", "c.md"]


def test_command_line_reports_a_missing_lab_or_folder(tmp_path, capsys):
    with pytest.raises(SystemExit, match="no single lab matches '99'"):
        grading.main(["grade", "99", str(tmp_path)])
    with pytest.raises(SystemExit):
        grading.main(["grade", "01", str(tmp_path / "nowhere")])
    assert "no folder of submissions" in capsys.readouterr().err
