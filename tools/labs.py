"""Lab sources and the student versions generated from them.

    python -m tools.labs            # regenerate labs/NN_name.ipynb from labs/solutions/
    python -m tools.labs --check    # exit 1 when a student version is out of date

A lab's one source is its solution notebook, labs/solutions/NN_name.ipynb. Its cells carry
nbgrader's metadata (schema 3), which is what this module and the grader read:

- answer cells (``solution: true``): the student's code goes between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION``; the student version has ``raise NotImplementedError`` there instead;
- test cells (``grade: true``, with ``points``): run for feedback in the notebook and by the
  grader; lines between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` are removed from
  the student version;
- every other code cell is locked: the grader runs the source's version of it;
- a cell tagged ``solution-only`` (what the measurements show, say) is left out of the student version.

The student version carries nbgrader's lock flags and checksums, as nbgrader's own generate_assignment
writes them: given cells (locked and test cells) are neither editable nor deletable in JupyterLab, answer
cells not deletable; each checksum lets `nbgrader validate` and autograde see a changed given cell or an
answer left as it was.

grade_ids start with the exercise, ``ex1-answer``, ``ex1-visible``, ``ex1-hidden``; each exercise
has a markdown heading ``## Exercise 1: title``.
"""
import argparse
import copy
import hashlib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

from utils.course import ROOT, lab_sources

SOLUTIONS = ROOT / "labs" / "solutions"
GRADE_ID = re.compile(r"^(ex\d+)-[a-z0-9_-]+$")
HEADING = re.compile(r"^#{2,3} Exercise (\d+): (.+)$", re.MULTILINE)
BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


class LabError(ValueError):
    """A lab source breaks the conventions above."""


@dataclass
class Exercise:
    key: str
    title: str
    answers: list = field(default_factory=list)   # grade_ids of answer cells
    tests: dict = field(default_factory=dict)     # grade_id -> points

    @property
    def points(self):
        return sum(self.tests.values())


def _nbgrader(cell):
    """A cell's nbgrader metadata; {} where it is missing or malformed (as in a broken submission)."""
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    found = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return found if isinstance(found, dict) else {}


def role(cell):
    """'answer', 'test', 'fixed' (a locked code cell) or 'text'."""
    if not isinstance(cell, dict) or cell.get("cell_type") != "code":
        return "text"
    meta = _nbgrader(cell)
    if meta.get("solution"):
        return "answer"
    if meta.get("grade"):
        return "test"
    return "fixed"


def grade_id(cell):
    gid = _nbgrader(cell).get("grade_id")
    return gid if isinstance(gid, str) else None


def exercises(source):
    """The exercises of a lab source, in order, checked against the conventions."""
    found, seen = {}, set()
    for cell in source.cells:
        if cell.cell_type == "markdown":
            for number, title in HEADING.findall(cell.source):
                found.setdefault(f"ex{number}", Exercise(f"ex{number}", title.strip()))
            continue
        kind = role(cell)
        if kind == "fixed":
            continue
        gid = grade_id(cell) or ""
        match = GRADE_ID.match(gid)
        if not match or gid in seen:
            raise LabError(f"{kind} cell needs a unique grade_id like ex1-{kind}, has {gid!r}")
        seen.add(gid)
        exercise = found.get(match.group(1))
        if exercise is None:
            raise LabError(f"{gid}: no '## Exercise {match.group(1)[2:]}: title' heading before it")
        if kind == "answer":
            if BEGIN_SOLUTION not in cell.source or END_SOLUTION not in cell.source:
                raise LabError(f"{gid}: an answer cell needs {BEGIN_SOLUTION} ... {END_SOLUTION}")
            exercise.answers.append(gid)
        else:
            points = cell.metadata["nbgrader"].get("points", 0)
            if not points or points <= 0:
                raise LabError(f"{gid}: a test cell needs points > 0")
            exercise.tests[gid] = points
    for exercise in found.values():
        if not exercise.answers or not exercise.tests:
            raise LabError(f"{exercise.key} needs at least one answer cell and one test cell")
    return list(found.values())


def _replace_blocks(text, begin, end, replacement):
    """Replace each begin...end block (marker lines included) by replacement(indent)."""
    out, inside = [], False
    for line in text.split("\n"):
        stripped = line.strip()
        if stripped == begin:
            if inside:
                raise LabError(f"nested {begin}")
            inside = True
            indent = line[:len(line) - len(line.lstrip())]
            out.extend(replacement(indent))
        elif stripped == end:
            if not inside:
                raise LabError(f"{end} without {begin}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise LabError(f"{begin} without {end}")
    return "\n".join(out)


SOLUTION_ONLY = "solution-only"   # the tag of a text cell the student must not see (a reading of results)


def nbgrader_checksum(cell):
    """nbgrader's checksum of a cell (as nbgrader.utils.compute_checksum computes it): MD5 over the source,
    the cell type, whether it is a grade, solution and locked cell, its grade_id and a grade cell's points."""
    meta = _nbgrader(cell)
    grade, solution = bool(meta.get("grade")), bool(meta.get("solution"))
    locked = not solution and (grade or bool(meta.get("locked")))
    digest = hashlib.md5(usedforsecurity=False)
    for part in (cell.source, cell.cell_type, str(grade), str(solution), str(locked), meta["grade_id"]):
        digest.update(part.encode("utf-8"))
    if grade:
        digest.update(str(float(meta["points"])).encode("utf-8"))
    return digest.hexdigest()


def lock(cell):
    """nbgrader's lock flags and checksum on a cell of a student version: a given code cell (locked or a
    test) can be neither edited nor deleted, an answer cell not deleted; text cells stay free."""
    kind = role(cell)
    if kind == "text":
        return
    cell.metadata["deletable"] = False
    if kind != "answer":
        cell.metadata["editable"] = False
    if grade_id(cell):
        cell.metadata["nbgrader"]["checksum"] = nbgrader_checksum(cell)
        cell.metadata["nbgrader"]["cell_type"] = cell.cell_type


def without_solution_only(cells):
    """The cells a student may see: those not tagged `solution-only`."""
    return [cell for cell in cells if SOLUTION_ONLY not in cell.metadata.get("tags", [])]


def student_version(source):
    """The student version of a lab source: answers stubbed, hidden tests removed, cells tagged
    `solution-only` (the interpretation of the results, say) left out, no outputs, given cells locked."""
    exercises(source)
    notebook = copy.deepcopy(source)
    notebook.cells = without_solution_only(notebook.cells)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        tags = [tag for tag in cell.metadata.get("tags", []) if not tag.startswith("nbval-")]   # the tests' business
        if tags:
            cell.metadata["tags"] = tags
        else:
            cell.metadata.pop("tags", None)
        kind = role(cell)
        if kind == "answer":
            stub = f'raise NotImplementedError("{grade_id(cell)}: replace this line with your code")'
            cell.source = _replace_blocks(cell.source, BEGIN_SOLUTION, END_SOLUTION,
                                          lambda indent, stub=stub: [f"{indent}# YOUR CODE HERE", indent + stub])
        elif kind == "test":
            points = cell.metadata["nbgrader"]["points"]
            note = f"# Hidden tests run when your lab is graded ({points} points for this cell)."
            cell.source = _replace_blocks(cell.source, BEGIN_HIDDEN, END_HIDDEN,
                                          lambda indent, note=note: [indent + note])
        lock(cell)
    return notebook


def answer_stubs(source):
    """{grade id: the answer cell's code in the student version} of a lab source (a notebook)."""
    return {grade_id(cell): cell.source for cell in student_version(source).cells if role(cell) == "answer"}


def student_path(source_path):
    return Path(source_path).parent.parent / Path(source_path).name


def main(argv=None):
    import nbformat
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report out-of-date student versions")
    args = parser.parse_args(argv)
    stale = []
    for path in lab_sources():
        text = nbformat.writes(student_version(nbformat.read(path, as_version=4))) + "\n"
        target = student_path(path)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        stale.append(target.relative_to(ROOT))
        if not args.check:
            target.write_text(text, encoding="utf-8")
            print(f"wrote {target.relative_to(ROOT)}")
    if args.check and stale:
        print("out of date (run `make labs`): " + ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
