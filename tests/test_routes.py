"""The routes to the course outside `make lab`: VS Code (or any Jupyter client) with the pack's .venv as
kernel, from any working folder; and Colab, through the bootstrap cell that tools/colab.py puts first in
every notebook. (Another TensorFlow: tests/test_routes_other_tf.py, in make test-integration.)"""
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tools import colab
from utils import course

ROOT = Path(__file__).resolve().parent.parent


def run_python(code, cwd, **env):
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **env})


def test_the_bootstrap_cell_does_nothing_outside_colab(tmp_path):
    code = ("import sys\npath = list(sys.path)\n" + colab.cell_source()
            + "\nassert sys.path == path and 'subprocess' not in dir()\nprint('untouched')")
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "untouched\n" and result.stderr == ""
    assert list(tmp_path.iterdir()) == []   # nothing fetched


@pytest.mark.kernel
def test_on_colab_the_bootstrap_cell_fetches_the_pack_and_import_utils_works(tmp_path):
    """Colab simulated: its module present, the repository a local clone's URL (offline)."""
    if subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True).returncode:
        pytest.skip("the pack is not a git repository here")
    fake_colab = "import sys, types\nsys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    cell = colab.cell_source(repository=ROOT.as_uri())
    check = ("\nimport utils, pathlib\nprint(pathlib.Path(utils.__file__).parent.parent.name)\n"
             "print(len(utils.load_mnist_sample().x_train) > 0)")
    first = run_python(fake_colab + cell + check, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.split() == [colab.FOLDER, "True"]   # utils from the clone, with its data
    assert (tmp_path / colab.FOLDER / "notebooks" / "00_start_here.ipynb").exists()
    again = run_python(fake_colab + cell + cell + check, tmp_path)   # re-running the cell fetches nothing again
    assert again.returncode == 0 and again.stdout == first.stdout, again.stderr


def test_the_colab_cell_is_inserted_once_before_the_setup_cell_and_counts_stay_a_fresh_run():
    lecture = nbformat.read(ROOT / "notebooks" / "00_start_here.ipynb", as_version=4)
    once, changed = colab.with_bootstrap(lecture, is_lab=False)
    twice, changed_again = colab.with_bootstrap(nbformat.from_dict(once), is_lab=False)
    assert not changed_again and nbformat.writes(once) == nbformat.writes(twice)
    code = [cell for cell in once.cells if cell.cell_type == "code"]
    assert code[0].source == colab.cell_source() and code[1].source.startswith(colab.SETUP_START)
    assert sum(colab.is_bootstrap(cell) for cell in once.cells) == 1
    assert [cell.execution_count for cell in code] == list(range(1, len(code) + 1))
    assert code[0].outputs == []   # what a fresh run outside Colab gives
    lab = nbformat.read(ROOT / "labs" / "solutions" / "01_activations.ipynb", as_version=4)
    lab_cell = next(cell for cell in colab.with_bootstrap(lab, is_lab=True)[0].cells if colab.is_bootstrap(cell))
    assert lab_cell.metadata["nbgrader"]["locked"] and lab_cell.metadata["nbgrader"]["grade_id"] == colab.CELL_ID


def test_every_notebook_and_lab_has_the_current_colab_cell():
    """Fails until `python -m tools.colab` has been run after the cell or REPOSITORY changed."""
    assert colab.main(["--check"]) == 0, "run `python -m tools.colab`"
    for path in course.lab_sources():
        from tools import labs
        student = nbformat.read(labs.student_path(path), as_version=4)
        assert [cell.source for cell in student.cells if colab.is_bootstrap(cell)] == [colab.cell_source()]


def test_the_repository_url_has_one_place():
    """The URL the cell clones is REPOSITORY in tools/colab.py, which the README names; nowhere else."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "tools/colab.py" in readme and "REPOSITORY" in readme
    for path in [*ROOT.glob("utils/*.py"), *ROOT.glob("tools/**/*.py"), ROOT / "README.md", ROOT / "Makefile"]:
        if path.name != "colab.py":
            assert colab.REPOSITORY not in path.read_text(encoding="utf-8"), path


@pytest.mark.kernel
def test_a_plain_jupyter_client_from_another_folder_runs_a_notebook(tmp_path):
    """VS Code's route: a notebook opened anywhere, run by a kernel of the pack's .venv. `import utils`
    resolves through the venv's course.pth, not through the working folder."""
    notebook = nbformat.read(ROOT / "notebooks" / "00_start_here.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell("import pathlib\nprint(pathlib.Path(utils.__file__).parent)"))
    copy = tmp_path / "elsewhere" / "00_start_here.ipynb"
    copy.parent.mkdir()
    nbformat.write(notebook, copy)
    script = ("import sys, nbformat\nfrom nbclient import NotebookClient\n"
              "nb = nbformat.read(sys.argv[1], as_version=4)\n"
              "NotebookClient(nb, kernel_name='python3', timeout=300).execute()\nnbformat.write(nb, sys.argv[1])")
    result = subprocess.run([sys.executable, "-c", script, str(copy)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=600, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert result.returncode == 0, result.stderr[-2000:]
    ran = nbformat.read(copy, as_version=4)
    texts = ["".join(o.get("text", "")) for cell in ran.cells if cell.cell_type == "code" for o in cell.outputs]
    assert any(text.startswith("TensorFlow 2.21, Keras 3, seed 0") for text in texts)
    assert texts[-1].strip() == str(ROOT / "utils")
    assert not [o for cell in ran.cells if cell.cell_type == "code" for o in cell.outputs
                if o.output_type == "error" or o.get("name") == "stderr"]
