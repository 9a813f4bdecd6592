"""Lab sources, their student versions, and the check API the tests are written with."""
import re

import nbformat
import numpy as np
import pytest

from tools import labs
from tools.grading import batch as grading
from utils import course, labkit

SOURCES = course.lab_sources()


def test_there_is_a_lab_per_theme():
    assert [p.stem for p in SOURCES] == ["01_activations", "02_initialization", "03_dropout",
                                         "04_batch_normalization", "05_optimizers", "06_deep_networks"]


def test_student_versions_are_in_sync_with_their_sources():
    assert labs.main(["--check"]) == 0, "run `make labs` and commit the student versions"


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_lab_follows_the_conventions(path):
    source = nbformat.read(path, as_version=4)
    exercises = labs.exercises(source)
    assert 3 <= len(exercises) <= 6
    for exercise in exercises:
        assert exercise.tests.get(f"{exercise.key}-visible", 0) >= 1, f"{exercise.key}: no visible test"
        assert exercise.tests.get(f"{exercise.key}-hidden", 0) >= 1, f"{exercise.key}: no hidden test"
    table = re.findall(r"^\| (\d) \| .+ \| (\d+) \|$", source.cells[0].source, re.MULTILINE)
    assert table == [(e.key[2:], str(e.points)) for e in exercises], "the intro's table of points is out of date"
    student = nbformat.read(labs.student_path(path), as_version=4)
    text = "\n".join(cell.source for cell in student.cells)
    for marker in ("### BEGIN", "### END", "lab.check_between(ratios", "reference("):
        assert marker not in text
    assert all(not cell.get("outputs") for cell in student.cells)
    kept = [cell.id for cell in source.cells if labs.SOLUTION_ONLY not in cell.metadata.get("tags", [])]
    assert [cell.id for cell in student.cells] == kept


@pytest.mark.kernel
@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.stem)
def test_solution_scores_full_marks_and_the_untouched_student_version_zero(path, tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "solution.ipynb").write_bytes(path.read_bytes())
    (tmp_path / "in" / "untouched.ipynb").write_bytes(labs.student_path(path).read_bytes())
    grading.grade_folder(path, tmp_path / "in", tmp_path / "out", workers=2)
    exercises = labs.exercises(nbformat.read(path, as_version=4))
    rows = {row[0]: row for row in grading.csv.reader(open(tmp_path / "out" / "grades.csv", encoding="utf-8"))}
    full = [str(e.points) for e in exercises]
    feedback = (tmp_path / "out" / "feedback" / "solution.md").read_text(encoding="utf-8")
    assert rows["solution"][1:-1] == full + [str(sum(map(int, full)))], feedback
    assert rows["untouched"][1:] == ["0"] * (len(full) + 1) + ["graded"]


def test_student_version_stubs_answers_and_keeps_the_indentation():
    source = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Exercise 1: double"),
        nbformat.v4.new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n    ### END SOLUTION\n",
                                  metadata={"nbgrader": {"solution": True, "grade_id": "ex1-answer"}}),
        nbformat.v4.new_code_cell("lab.check(1)\n### BEGIN HIDDEN TESTS\nlab.check(2)\n### END HIDDEN TESTS",
                                  metadata={"nbgrader": {"grade": True, "grade_id": "ex1-visible", "points": 2}}),
    ])
    student = labs.student_version(source)
    stub = '    raise NotImplementedError("ex1-answer: replace this line with your code")\n'
    assert student.cells[1].source == 'def double(x):\n    # YOUR CODE HERE\n' + stub
    assert student.cells[2].source == ("lab.check(1)\n"
                                       "# Hidden tests run when your lab is graded (2 points for this cell).")


@pytest.mark.parametrize("code, message", [
    ("### BEGIN SOLUTION\nx = 1\n", "an answer cell needs ### BEGIN SOLUTION"),
    ("### END SOLUTION\nx = 1\n### BEGIN SOLUTION\n", "### END SOLUTION without ### BEGIN SOLUTION"),
    ("x = 1\n", "an answer cell needs ### BEGIN SOLUTION"),
])
def test_malformed_lab_sources_are_refused(code, message):
    source = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Exercise 1: x"),
        nbformat.v4.new_code_cell(code, metadata={"nbgrader": {"solution": True, "grade_id": "ex1-answer"}}),
        nbformat.v4.new_code_cell("pass", metadata={"nbgrader": {"grade": True, "grade_id": "ex1-visible",
                                                                 "points": 1}}),
    ])
    with pytest.raises(labs.LabError, match=message):
        labs.student_version(source)


def test_values_travel_as_plain_data_only():
    value = {"a": [np.arange(3), "text", None, 2.5], "b": (np.float32(1), True)}
    back = labkit.unpack(labkit.pack(value))
    assert back["a"][1:] == ["text", None, 2.5] and np.array_equal(back["a"][0], np.arange(3))
    assert back["b"] == [1.0, True]
    with pytest.raises(TypeError, match="cannot send a value of type object"):
        labkit.pack(object())


def test_checks_say_what_was_expected_and_what_came():
    checks = labkit.Checks()
    checks.verbose = False
    with pytest.raises(AssertionError, match=r"f\(x\): expected shape \(2,\), got shape \(3,\)"):
        checks.check_close([1, 2, 3], [1, 2], "f(x)")
    with pytest.raises(AssertionError, match="largest difference at index"):
        checks.check_close([1.0, 2.5], [1.0, 2.0], "f(x)")
    with pytest.raises(AssertionError, match="got None"):
        checks.check_close(None, [1.0], "f(x)")
    with pytest.raises(AssertionError, match="expected between 0 and 1, got 2"):
        checks.check_between(2, 0, 1, "p")
