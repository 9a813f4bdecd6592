"""The route for teachers who grade with nbgrader: our student versions carry nbgrader's lock flags and
checksums, and nbgrader's own generate_assignment and autograde, run on a lab, give the expected marks, or
a clear error where the grading kernel cannot import `utils` (instead of 0 marks and exit status 0).

The nbgrader runs need nbgrader 0.9.6 (Python 3.11 or newer), which `make test-integration` installs into
build/venvs/nbgrader over the pinned environment; NBGRADER_PYTHON names another interpreter that has it.
"""
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import labs, nbgrader_course
from utils import course

ROOT = Path(__file__).resolve().parent.parent
NBGRADER_PYTHON = Path(os.environ.get("NBGRADER_PYTHON", ROOT / "build" / "venvs" / "nbgrader" / "bin" / "python"))
STUDENT_VERSIONS = [labs.student_path(path) for path in course.lab_sources()]


@pytest.mark.parametrize("path", STUDENT_VERSIONS, ids=lambda p: p.stem)
def test_given_cells_are_locked_as_nbgrader_locks_them(path):
    for cell in nbformat.read(path, as_version=4).cells:
        kind = labs.role(cell)
        flags = (cell.metadata.get("editable", True), cell.metadata.get("deletable", True))
        assert flags == {"text": (True, True), "answer": (True, False)}.get(kind, (False, False)), (cell.id, kind)
        if kind != "text":
            assert cell.metadata.nbgrader["checksum"] == labs.nbgrader_checksum(cell)
            assert cell.metadata.nbgrader["cell_type"] == "code"


def test_our_checksum_is_nbgraders():
    """nbgrader 0.9.6's generate_assignment gave this checksum to lab 01's setup cell (locked-1)."""
    setup = next(cell for cell in nbformat.read(STUDENT_VERSIONS[0], as_version=4).cells
                 if labs.grade_id(cell) == "locked-1")
    assert labs.nbgrader_checksum(setup) == "366c740982685ebebed598028ac525c5"


def _nbgrader_or_skip():
    if sys.version_info < (3, 11):
        pytest.skip("nbgrader 0.9.6 needs Python 3.11 or newer")
    if not NBGRADER_PYTHON.exists():
        pytest.fail(f"no nbgrader at {NBGRADER_PYTHON}: `make test-integration` installs it")


def nbgrader(folder, *args, kernel_finds_the_pack=True):
    """Run nbgrader's command line in a course folder; the grading kernel (nbgrader's own Python) finds the
    pack only through PYTHONPATH here, as a kernel outside the pack's .venv would."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{NBGRADER_PYTHON.parent}{os.pathsep}{env.get('PATH', '')}"   # nbgrader runs `alembic`
    if kernel_finds_the_pack:
        env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([str(NBGRADER_PYTHON), "-m", "nbgrader", *args], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=900)


def grades(folder):
    assert nbgrader(folder, "export").returncode == 0
    with open(folder / "grades.csv", encoding="utf-8") as file:
        return {row["student_id"]: (float(row["raw_score"]), float(row["max_score"])) for row in csv.DictReader(file)}


def submit(folder, student, notebook):
    target = folder / "submitted" / student / "lab01" / notebook.name
    target.parent.mkdir(parents=True)
    shutil.copyfile(notebook, target)



@pytest.mark.integration
@pytest.mark.kernel
def test_nbgrader_generates_our_student_version_and_autogrades_a_lab(tmp_path):
    _nbgrader_or_skip()
    folder = nbgrader_course.make_course(tmp_path / "course")
    generated = nbgrader(folder, "generate_assignment", "lab01", "--create")
    assert generated.returncode == 0, generated.stderr[-3000:]
    source = course.lab_sources()[0]
    released = nbformat.read(folder / "release" / "lab01" / source.name, as_version=4)
    ours = nbformat.read(labs.student_path(source), as_version=4)
    assert [cell.id for cell in released.cells] == [cell.id for cell in ours.cells]
    for theirs, mine in zip(released.cells, ours.cells):
        for key in ("editable", "deletable"):
            assert theirs.metadata.get(key) == mine.metadata.get(key), (mine.id, key)
        drop = ("checksum",)
        assert ({k: v for k, v in theirs.metadata.get("nbgrader", {}).items() if k not in drop}
                == {k: v for k, v in mine.metadata.get("nbgrader", {}).items() if k not in drop}), mine.id
        if theirs.source == mine.source and "nbgrader" in mine.metadata:
            assert theirs.metadata.nbgrader.checksum == mine.metadata.nbgrader.checksum, mine.id
    # nbgrader's own checksum of every cell of every student version is the one we wrote
    script = ("import json, sys, nbformat\nfrom nbgrader.utils import compute_checksum\n"
              "print(json.dumps([[c.metadata.nbgrader['checksum'] == compute_checksum(c) for c in "
              "nbformat.read(p, as_version=4).cells if 'nbgrader' in c.metadata] for p in sys.argv[1:]]))")
    checked = subprocess.run([str(NBGRADER_PYTHON), "-c", script, *map(str, STUDENT_VERSIONS)],
                             capture_output=True, text=True, timeout=300)
    assert checked.returncode == 0, checked.stderr
    assert all(all(row) and row for row in json.loads(checked.stdout))

    submit(folder, "solution", source)
    submit(folder, "untouched", labs.student_path(source))
    cheat = tmp_path / "cheat" / source.name   # a wrong exercise 1 that disables the check it would fail
    cheat.parent.mkdir()
    notebook = nbformat.read(source, as_version=4)
    next(cell for cell in notebook.cells if labs.grade_id(cell) == "ex1-answer").source = (
        "lab.check_close = lambda *args, **kwargs: None\n\ndef sigmoid_derivative(z):\n    return 0 * z\n")
    nbformat.write(notebook, cheat)
    submit(folder, "cheat", cheat)
    graded = nbgrader(folder, "autograde", "lab01", "--create")
    assert graded.returncode == 0, graded.stderr[-3000:]
    points = sum(e.points for e in labs.exercises(nbformat.read(source, as_version=4)))
    # nbgrader runs the tests in the student's kernel: the patched check passes the wrong answer
    assert grades(folder) == {"solution": (points, points), "untouched": (0.0, points), "cheat": (points, points)}
    ours = subprocess.run([sys.executable, "-m", "tools.grading", "grade", "01", str(cheat.parent), "--out",
                           str(tmp_path / "ours")], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert ours.returncode == 0, ours.stderr[-3000:]
    with open(tmp_path / "ours" / "grades.csv", encoding="utf-8") as file:
        header, row = list(csv.reader(file))
    total = next(i for i, name in enumerate(header) if name.startswith("total"))
    ex1 = labs.exercises(nbformat.read(source, as_version=4))[0].points
    assert float(row[total]) == points - ex1   # ours asserts outside the kernel: exercise 1 scores 0


@pytest.mark.integration
@pytest.mark.kernel
def test_a_grading_kernel_without_utils_is_a_clear_error_not_zero_marks(tmp_path):
    _nbgrader_or_skip()
    folder = nbgrader_course.make_course(tmp_path / "course")
    assert nbgrader(folder, "generate_assignment", "lab01", "--create").returncode == 0
    submit(folder, "solution", course.lab_sources()[0])
    graded = nbgrader(folder, "autograde", "lab01", "--create", kernel_finds_the_pack=False)
    assert graded.returncode != 0
    log = graded.stdout + graded.stderr
    assert "CourseKernelError: the grading kernel cannot import the course pack's `utils`" in log
    assert "No module named 'utils'" in log and "pip install -r requirements-nbgrader.txt" in log
    assert not (folder / "autograded" / "solution" / "lab01").exists()   # nbgrader kept no graded notebook
