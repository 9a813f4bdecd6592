"""Any Jupyter with another TensorFlow 2.x: a student is warned and the notebook runs with every claim
checked; the regression runs (make test's nbval, make run and make notebooks' runner, the grader) refuse it.

Runs in `make test-integration`, with TensorFlow 2.20 in build/venvs/tf-2.20 (requirements-other-tf.txt:
the pack's other versions, its course.pth, never the pack's .venv); OTHER_TF_PYTHON names another.
"""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from utils import course

pytestmark = [pytest.mark.integration, pytest.mark.kernel]

ROOT = Path(__file__).resolve().parent.parent
OTHER_PYTHON = Path(os.environ.get("OTHER_TF_PYTHON", ROOT / "build" / "venvs" / "tf-2.20" / "bin" / "python"))
STUDENT_RUN = ["notebooks/06_optimizers.ipynb", "labs/solutions/05_optimizers.ipynb"]  # explorer, animation, lab


@pytest.fixture(scope="module")
def other():
    if not OTHER_PYTHON.exists():
        pytest.fail(f"no other TensorFlow at {OTHER_PYTHON}: `make test-integration` installs it")
    found = subprocess.run([str(OTHER_PYTHON), "-c", "import tensorflow as tf; print(tf.__version__)"],
                           capture_output=True, text=True, timeout=300)
    assert found.returncode == 0, found.stderr
    version = found.stdout.strip()
    assert version.split(".")[:2] != course.ROOT.joinpath("requirements.txt").read_text().split(
        "tensorflow-cpu==")[1].split(".")[:2], "this route needs a TensorFlow other than the tested one"
    return version


def student_env():
    """A student's own Jupyter: none of the variables the pack's tools set."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("COURSE_", "PYTHONPATH"))}


@pytest.mark.parametrize("notebook", STUDENT_RUN)
def test_a_student_is_warned_and_the_notebook_runs_with_its_claims(other, notebook, tmp_path):
    copy = tmp_path / Path(notebook).name
    shutil.copyfile(ROOT / notebook, copy)
    script = ("import sys, nbformat\nfrom nbclient import NotebookClient\n"
              "nb = nbformat.read(sys.argv[1], as_version=4)\n"
              "NotebookClient(nb, kernel_name='python3', timeout=600).execute()\nnbformat.write(nb, sys.argv[1])")
    ran = subprocess.run([str(OTHER_PYTHON), "-c", script, str(copy)], cwd=tmp_path, env=student_env(),
                         capture_output=True, text=True, timeout=1200)
    assert ran.returncode == 0, ran.stderr[-3000:]
    cells = [cell for cell in nbformat.read(copy, as_version=4).cells if cell.cell_type == "code"]
    setup = next(cell for cell in cells if cell.source.startswith("import utils\nutils.setup("))
    warning = "".join(o.text for o in setup.outputs if o.get("name") == "stderr")
    assert warning.startswith(f"Warning: this kernel has TensorFlow {other} with Keras 3.")
    assert "numbers can differ from the stored outputs" in warning
    assert not [o for cell in cells for o in cell.outputs if o.output_type == "error"]
    if notebook.startswith("notebooks/"):   # its closing table: every claim and check, each with its verdict
        table = "".join("".join(o.get("data", {}).get("text/markdown", "")) for o in cells[-1].outputs)
        verdicts = [row.rstrip(" |").rsplit("| ", 1)[-1] for row in table.splitlines()[2:]]
        assert verdicts and set(verdicts) == {"holds"}, table


def test_make_run_and_make_notebooks_refuse_it(other, tmp_path):
    ran = subprocess.run([str(OTHER_PYTHON), "-m", "tools.run", "--out", str(tmp_path), "--workers", "1",
                          "notebooks/00_start_here.ipynb"], cwd=ROOT, env=student_env(),
                         capture_output=True, text=True, timeout=600)
    assert ran.returncode == 1
    entry = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))["notebooks"][0]
    assert entry["status"] == "failed"
    assert entry["error"].startswith(f"VersionError: This kernel has TensorFlow {other}")
    assert "make clean venv" in entry["error"]


def test_make_test_refuses_it(other):
    ran = subprocess.run([str(OTHER_PYTHON), "-m", "pytest", "-q", "--nbval-lax", "notebooks/00_start_here.ipynb"],
                         cwd=ROOT, env=student_env(), capture_output=True, text=True, timeout=600)
    assert ran.returncode != 0
    out = re.sub(r"\x1b\[[0-9;]*m", "", ran.stdout)
    assert "1 failed" in out and "VersionError" in out and f"This kernel has TensorFlow {other}" in out


@pytest.mark.xfail(strict=True, reason="the grader's kernel gets a fixed environment (tools/grading/): it must "
                   "pass COURSE_STRICT_VERSIONS=1 (utils/environment.py) for its setup cell to refuse; then remove "
                   "this mark")
def test_the_grader_refuses_it(other, tmp_path):
    source = course.lab_sources()[-1]
    (tmp_path / "in").mkdir()
    shutil.copyfile(source, tmp_path / "in" / "solution.ipynb")
    subprocess.run([str(OTHER_PYTHON), "-m", "tools.grading", "grade", source.name[:2], str(tmp_path / "in"),
                    "--out", str(tmp_path / "out")], cwd=ROOT, env=student_env(), capture_output=True, timeout=600)
    feedback = (tmp_path / "out" / "feedback" / "solution.md").read_text(encoding="utf-8")
    assert "VersionError" in feedback, feedback[:2000]
