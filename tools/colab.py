"""The Colab route: one bootstrap cell, the first code cell of every notebook and lab of the pack.

On Colab it fetches the pack (its `utils`, data and labs) into the runtime and puts it on the path, so
that the setup cell's `import utils` works in a notebook opened from GitHub; anywhere else it does
nothing (no network, no output). Colab's own TensorFlow is used: `utils.setup()` then says how it
differs from the tested one, and the notebook runs.

    python -m tools.colab           # insert or update the cell everywhere (idempotent), then the baseline
    python -m tools.colab --check   # exit 1 where a notebook lacks the cell or has another version of it

The cell's source is written here once (`cell_source`), with the pack's public repository, REPOSITORY,
in its one place: change the constant, then run the command. Inserting the cell renumbers the execution
counts as a fresh top-to-bottom run would (the cell prints nothing outside Colab), so no notebook needs
re-running; the claims baseline, keyed by code cell, is rewritten, and the student versions regenerated.
"""
import argparse
import copy
import sys

from utils.course import ROOT, pack_notebooks

# The pack's public Git repository. A placeholder until the maintainers publish the pack: fill it in,
# then run `python -m tools.colab`.
REPOSITORY = "https://github.com/YOUR-ORGANISATION/YOUR-COURSE-REPOSITORY.git"
FOLDER = "course-pack"   # the clone, in Colab's working folder (/content)
CELL_ID = "colab-setup"
FIRST_LINE = "# On Colab only: fetch the course"
SETUP_START = "import utils\nutils.setup("
# In a lab, the cell is a given cell like the setup cell: locked, and run by the graders as in the source.
LAB_METADATA = {"nbgrader": {"grade": False, "grade_id": CELL_ID, "locked": True, "schema_version": 3,
                             "solution": False}}


def cell_source(repository=REPOSITORY, folder=FOLDER):
    """The bootstrap cell: guarded by Colab's own module, which Colab imports into every kernel."""
    return f"""{FIRST_LINE} (its code, data and labs) and put it on the path. Elsewhere: nothing.
import sys
if "google.colab" in sys.modules:
    import os
    import subprocess
    PACK = "{repository}"
    if not os.path.isdir("{folder}"):
        subprocess.run(["git", "clone", "--quiet", "--depth", "1", PACK, "{folder}"], check=True)
    sys.path.insert(0, os.path.abspath("{folder}"))"""


def is_bootstrap(cell):
    return cell.get("cell_type") == "code" and (cell.get("id") == CELL_ID
                                                or "".join(cell.get("source", "")).startswith(FIRST_LINE))


def with_bootstrap(notebook, is_lab):
    """The notebook with exactly one bootstrap cell, right before its setup cell; execution counts renumbered
    as in a fresh run when the notebook has outputs. Returns (notebook, changed)."""
    import nbformat
    before = nbformat.writes(notebook)
    cells = [cell for cell in notebook.cells if not is_bootstrap(cell)]
    setup = next((i for i, cell in enumerate(cells) if cell.cell_type == "code"), None)
    if setup is None or not cells[setup].source.startswith(SETUP_START):
        raise ValueError("the first code cell must be the setup cell (import utils / utils.setup)")
    cell = nbformat.v4.new_code_cell(cell_source(), metadata=copy.deepcopy(LAB_METADATA) if is_lab else {})
    cell.id = CELL_ID
    cells.insert(setup, cell)
    notebook.cells = cells
    code = [c for c in cells if c.cell_type == "code"]
    if any(c.execution_count is not None for c in code):
        for count, c in enumerate(code, start=1):
            c.execution_count = count
    return notebook, nbformat.writes(notebook) != before


def main(argv=None):
    import nbformat
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report notebooks without the current cell")
    args = parser.parse_args(argv)
    changed = []
    for path in pack_notebooks():
        notebook = nbformat.read(path, as_version=4)
        notebook, differs = with_bootstrap(notebook, is_lab=path.parent.name == "solutions")
        if differs:
            changed.append(path.relative_to(ROOT))
            if not args.check:
                nbformat.write(notebook, path)
    if args.check:
        if changed:
            print("without the current Colab cell (run `python -m tools.colab`): " + ", ".join(map(str, changed)),
                  file=sys.stderr)
        return 1 if changed else 0
    from tools import drift, labs
    for path in changed:
        print(f"wrote {path}")
    if changed:
        drift.write_baseline()
        print(f"wrote {drift.BASELINE.relative_to(ROOT)}")
    labs.main([])
    if "YOUR-ORGANISATION" in REPOSITORY:
        print("REPOSITORY in tools/colab.py is still a placeholder: the cell cannot fetch the pack on Colab yet")
    return 0


if __name__ == "__main__":
    sys.exit(main())
