"""The README's tables of notebooks and labs, written from the course's registry and the benchmark.

    python -m tools.docs            # rewrite the tables between their markers in README.md
    python -m tools.docs --check    # exit 1 when README.md is out of date

Each table sits between `<!-- NAME table: written by make publish -->` and `<!-- end of NAME table -->`,
so the rows always match utils/course.py (what each step teaches) and benchmarks/results.json (how long
it takes alone).
"""
import argparse
import sys

from utils import course
from utils.report import fmt_seconds

README = course.ROOT / "README.md"


def notebooks_table():
    rows = ["| notebook | what it teaches | time alone (2-core CPU) |", "|---|---|---|"]
    for step in course.steps():
        if not step.is_lab:
            rows.append(f"| [`{step.name}`]({step.path}) | {step.details} | {fmt_seconds(course.run_seconds(step))} |")
    return "\n".join(rows)


def labs_table():
    rows = ["| student version | solution (the one source) | you write | time to run |", "|---|---|---|---|"]
    for step in course.labs():
        rows.append(f"| [`{step.name}`]({step.path}) | [`solutions/{step.name}`]({step.solution}) | {step.details} | "
                    f"{fmt_seconds(course.run_seconds(step))} |")
    return "\n".join(rows)


TABLES = {"notebooks": notebooks_table, "labs": labs_table}


def render(text):
    for name, make in TABLES.items():
        begin, end = f"<!-- {name} table: written by make publish -->", f"<!-- end of {name} table -->"
        if begin not in text or end not in text:
            raise SystemExit(f"README.md lacks the markers of the {name} table: {begin} ... {end}")
        text = text[:text.index(begin) + len(begin)] + "\n" + make() + "\n" + text[text.index(end):]
    return text


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print("README.md's tables are out of date: run `python -m tools.docs`", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
