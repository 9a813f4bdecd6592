"""An nbgrader course folder made from the pack's labs, for teachers who grade with nbgrader.

    python -m tools.nbgrader_course FOLDER     # FOLDER/source/labNN/NN_name.ipynb and FOLDER/nbgrader_config.py

Then, in FOLDER, with nbgrader 0.9.6 (Python 3.11 or newer: `pip install -r requirements-nbgrader.txt`
into the pack's .venv, so that the grading kernel can `import utils`):

    nbgrader generate_assignment lab01 --create   # release/lab01/: the student version, as labs/ has it
    nbgrader autograde lab01                       # submitted/<student>/lab01/*.ipynb -> autograded/
    nbgrader export                                # grades.csv

nbgrader runs the lab's tests inside the student's kernel, so that kernel must import the pack's
`utils`. Where it cannot, every test cell fails with a NameError and a correct lab scores 0 while
nbgrader exits with status 0. The config written here adds a step after nbgrader's execution that stops
the grading of that submission with a clear error instead (`RequireCourseKernel`).
"""
import argparse
import sys
from pathlib import Path

import nbformat

from tools.labs import without_solution_only
from utils.course import ROOT, lab_sources

CONFIG = '''# nbgrader's settings for the course pack's labs (written by `python -m tools.nbgrader_course`).
import sys

sys.path.insert(0, {root!r})   # the pack, for the check below; the grading kernel needs it on its own path
from tools.nbgrader_course import configure  # noqa: E402

configure(get_config())  # noqa: F821 (nbgrader defines get_config in its config files)
'''
MISSING = ("the grading kernel cannot import the course pack's `utils` ({error}), so every test would fail "
           "and the lab would score 0. Run nbgrader where its kernel finds the pack: install nbgrader into "
           "the pack's .venv (`.venv/bin/pip install -r requirements-nbgrader.txt`) and run `.venv/bin/nbgrader`, "
           "or put the pack's folder on the kernel's PYTHONPATH.")


def assignment(path):
    """nbgrader's assignment name for a lab: labs/solutions/01_activations.ipynb -> lab01."""
    return f"lab{Path(path).name[:2]}"


class CourseKernelError(RuntimeError):
    """nbgrader's grading kernel could not run the pack's setup cell."""


def _require_course_kernel():
    from nbconvert.preprocessors import Preprocessor
    from traitlets import Bool

    class RequireCourseKernel(Preprocessor):
        """After nbgrader's Execute: stop when the setup cell could not import `utils` or refused the versions."""

        enabled = Bool(True)   # nbconvert's preprocessors are off unless enabled

        def preprocess(self, nb, resources):
            for cell in nb.cells:
                for output in cell.get("outputs", []):
                    if output.get("output_type") != "error":
                        continue
                    name, value = output.get("ename", ""), output.get("evalue", "")
                    if name in ("ModuleNotFoundError", "ImportError") and "utils" in value:
                        raise CourseKernelError(MISSING.format(error=f"{name}: {value}"))
                    if name == "VersionError":
                        raise CourseKernelError(f"the grading kernel refused its versions: {value}")
            return nb, resources

    return RequireCourseKernel


def configure(c):
    """Settings for nbgrader's config `c`: the course's id, a per-cell time limit for the labs' training
    cells, and the check above right after the notebook is executed."""
    from nbgrader.converters import Autograde
    from nbgrader.preprocessors import Execute
    c.CourseDirectory.course_id = "course-pack"
    c.Execute.timeout = 300
    steps = list(Autograde.class_traits()["autograde_preprocessors"].default())
    steps.insert(steps.index(Execute) + 1, _require_course_kernel())
    c.Autograde.autograde_preprocessors = steps


def make_course(folder):
    """Write FOLDER/source/labNN/ (each lab's one source, as nbgrader's source, without its `solution-only`
    cells) and FOLDER/nbgrader_config.py."""
    folder = Path(folder)
    for path in lab_sources():
        target = folder / "source" / assignment(path) / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        notebook = nbformat.read(path, as_version=4)   # nbgrader would release the solution's own reading
        notebook.cells = without_solution_only(notebook.cells)
        nbformat.write(notebook, target)
    (folder / "nbgrader_config.py").write_text(CONFIG.format(root=str(ROOT)), encoding="utf-8")
    return folder


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path, help="the nbgrader course folder to write (created if need be)")
    args = parser.parse_args(argv)
    make_course(args.folder)
    names = ", ".join(assignment(path) for path in lab_sources())
    print(f"wrote {args.folder}/nbgrader_config.py and the sources of {names}; in {args.folder}: "
          "nbgrader generate_assignment lab01 --create, then nbgrader autograde lab01")
    return 0


if __name__ == "__main__":
    sys.exit(main())
