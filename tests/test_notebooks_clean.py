"""Static checks of the committed notebooks: what nbval does not look at, but students see."""
import json
import pathlib
import re
import subprocess
import sys

import nbformat
import pytest

from tools import colab
from utils import course
from utils.course import pack_notebooks

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = pack_notebooks()   # lecture notebooks and lab solutions
LECTURES = [path for path in NOTEBOOKS if path.parent.name == "notebooks"]
MAX_BYTES = 1_000_000
MACHINE_PATH = re.compile(r"(/home/|/root/|/tmp/|/Users/|site-packages|\.venv|[A-Z]:\\)")
OBJECT_REPR = re.compile(r" at 0x[0-9a-f]+>")


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def output_texts(cell):
    for out in cell.get("outputs", []):
        if out["output_type"] == "stream":
            yield "".join(out["text"])
        for mime, value in out.get("data", {}).items():
            if mime.startswith("text/"):
                yield "".join(value)


def test_there_are_notebooks():
    assert NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_was_run_once_top_to_bottom(path):
    counts = [c["execution_count"] for c in code_cells(load(path))]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: run `make notebooks NB={path.relative_to(ROOT)}`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_are_clean(path):
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"
    nb = load(path)
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert "widgets" not in nb["metadata"], "widget state is stored: its random ids change on every run"
    for i, cell in enumerate(code_cells(nb)):
        for out in cell.get("outputs", []):
            assert out["output_type"] != "error", f"code cell {i}: error output"
            assert out.get("name") != "stderr", f"code cell {i}: stderr output {''.join(out['text'])[:200]}"
            images = [mime for mime in out.get("data", {}) if mime.startswith("image/")]
            assert images in ([], ["image/png"]), f"code cell {i}: plots must be PNG, found {images}"
        for text in output_texts(cell):
            assert not MACHINE_PATH.search(text), f"code cell {i}: machine path in {text[:200]!r}"
            assert not OBJECT_REPR.search(text), f"code cell {i}: object repr in {text[:200]!r}"


@pytest.mark.parametrize("path", LECTURES, ids=lambda p: p.name)
def test_notebook_follows_the_course_anatomy(path):
    cells = code_cells(load(path))
    sources = ["".join(c["source"]) for c in cells]
    assert sources[0] == colab.cell_source(), "first code cell: the Colab cell (run `python -m tools.colab`)"
    assert sources.count(colab.cell_source()) == 1, "one Colab cell"
    assert sources[1].startswith("import utils\nutils.setup("), "second code cell must set up utils"
    # only the Colab cell, on Colab only, puts the pack on the path
    assert not any("sys.path" in s for s in sources[1:]), "notebooks import utils without sys.path edits"
    if path.name != "00_start_here.ipynb":   # the course map checks the pack; it teaches no effect
        assert any("utils.claim(" in s for s in sources), "a notebook asserts its claims"
    assert sources[-1].strip() == "utils.claims_summary()", "the last code cell lists the claims"
    markdown = " ".join("".join(c["source"]) for c in load(path)["cells"] if c["cell_type"] == "markdown")
    assert "Learning goals" in markdown and "Exercises" in markdown


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_readme_describes_every_notebook(path):
    assert path.name in (ROOT / "README.md").read_text(encoding="utf-8")


def test_every_notebook_on_disk_is_in_the_registry():
    on_disk = {p.relative_to(ROOT).as_posix() for folder in ("notebooks", "labs", "labs/solutions")
               for p in (ROOT / folder).glob("[0-9]*.ipynb")}
    listed = {step.path for step in course.steps()} | {step.solution for step in course.labs()}
    assert on_disk == listed, f"add to utils/course.py: {sorted(on_disk - listed)}; missing: {sorted(listed - on_disk)}"


@pytest.mark.slow
def test_notebook_diffs_are_cell_by_cell(tmp_path):
    """.gitattributes sends notebooks to nbdime (make venv registers its drivers): a changed line of source
    shows as that line, not as a JSON hunk, and a stored image does not flood the diff."""
    assert "*.ipynb diff=jupyternotebook merge=jupyternotebook" in (ROOT / ".gitattributes").read_text()
    before = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1\nprint(x)")])
    after = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 2\nprint(x)")])
    after.cells[0].outputs = [nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo" * 500})]
    nbformat.write(before, tmp_path / "a.ipynb")
    nbformat.write(after, tmp_path / "b.ipynb")
    nbdiff = pathlib.Path(sys.executable).parent / "nbdiff"
    out = subprocess.run([nbdiff, "--no-color", tmp_path / "a.ipynb", tmp_path / "b.ipynb"],
                         capture_output=True, text=True, check=True).stdout
    assert "-x = 1" in out and "+x = 2" in out, out
    assert len(out) < 2000, f"{len(out)} characters for a one-line change"
