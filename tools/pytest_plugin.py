"""The pytest side of the pack's regression contract, loaded for every run (pyproject's addopts).

`make test` runs nbval in lax mode: a notebook's cells all run and every claim asserts, but only
cells tagged `nbval-check-output` (outputs that do not depend on training or on the order of float
sums) are compared digit for digit. Every claim and check a cell prints is compared with
tests/claims_baseline.json instead (tools/drift.py): a value that moved further than any CPU ever
moved it fails its cell, and the terminal summary (and build/drift.md) lists every claim that moved.
"""
import collections
import json
import pathlib

import pytest

from tools import drift

ROOT = pathlib.Path(__file__).resolve().parent.parent
SLOW_SECONDS = 120   # a failing test that took longer says so: a loaded machine is a likely cause


def pytest_addoption(parser):
    group = parser.getgroup("course")
    group.addoption("--drift-report", default=None, help="write the claims drift table here (default build/drift.md)")
    group.addoption("--claims-baseline", default=None,
                    help=f"the baseline to hold claims to (default {drift.BASELINE})")
    group.addoption("--exactness-report", default=None,
                    help="write, per notebook cell, whether its outputs equal the stored ones (JSON)")


def _is_notebook_cell(item):
    return hasattr(item, "cell_num") and str(item.fspath).endswith(".ipynb")


def _notebook_key(item):
    path = pathlib.Path(str(item.fspath)).resolve()
    return path.relative_to(ROOT).as_posix() if path.is_relative_to(ROOT) else path.as_posix()


def pytest_collection_modifyitems(session, config, items):
    for item in items:
        if _is_notebook_cell(item):
            item.output_timeout = 60   # nbval waits 5 s for a cell's last output; a loaded machine needs more


_BASELINE = {}


def pytest_configure(config):
    _BASELINE.clear()
    _BASELINE.update(drift.read_baseline(config.getoption("claims_baseline") or drift.BASELINE))


def _baseline():
    return _BASELINE



@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.duration > SLOW_SECONDS:
        report.sections.append(("slow", f"This test took {report.duration:.0f} s, more than {SLOW_SECONDS} s: "
                                        "was the machine busy with other work?"))
    if call.when != "call" or not _is_notebook_cell(item) or item.test_outputs is None:
        return
    from nbval.plugin import coalesce_streams
    notebook = _notebook_key(item)
    stored = [r for r in _baseline()["notebooks"].get(notebook, []) if r["cell"] == item.cell_num]
    rows = drift.compare(stored, drift.records_in_outputs(item.test_outputs))
    report.user_properties.append(("claims", {"notebook": notebook, "cell": item.cell_num, "rows": rows}))
    if item.config.getoption("exactness_report"):
        equal = item.compare_outputs(item.test_outputs, coalesce_streams(item.cell.outputs))
        report.user_properties.append(("exact", {"notebook": notebook, "cell": item.cell_num, "equal": equal}))
    wrong = [row for row in rows if row["verdict"] not in ("holds", "failed")]
    if wrong and report.passed:
        report.outcome = "failed"
        report.longrepr = "\n".join(
            [f"{notebook}, code cell {item.cell_num}: claims no longer match the baseline",
             drift.TABLE_HEAD] + [drift.fmt_row(row) for row in wrong]
            + [f"A claim that gives up more than {drift.MAX_USED:.0%} of its margin lost more than any CPU, "
               "thread count or kernel library took "
               "(benchmarks/README.md). If the change is intended, store the notebook anew: "
               f"make notebooks NB={notebook}"])


def _drift_summary(terminalreporter):
    cells = [value for reports in terminalreporter.stats.values() for report in reports
             for key, value in getattr(report, "user_properties", []) if key == "claims"]
    if not cells:
        return
    by_notebook = collections.defaultdict(list)
    for cell in sorted(cells, key=lambda c: (c["notebook"], c["cell"])):
        by_notebook[cell["notebook"]] += cell["rows"]
    header = drift.versions_line(_baseline()["made_with"], drift.environment())
    lines = [f"# Claims drift\n\n{header}.\n\nA value's *margin used* is how far it moved towards its threshold, "
             "as a share "
             f"of the room the baseline left (negative: it moved away); more than {drift.MAX_USED:.0%} fails.\n"]
    write = terminalreporter.write_line
    terminalreporter.section("claims drift")
    write(header)
    for notebook, rows in by_notebook.items():
        moved = [row for row in rows if row["baseline"] != row["now"] or row["verdict"] != "holds"]
        finite = [row["used"] for row in rows if row.get("used") is not None and row["used"] != float("inf")]
        summary = (f"{notebook}: {sum(r['kind'] == 'claim' for r in rows)} claims, "
                   f"{sum(r['kind'] == 'check' for r in rows)} checks; {len(moved)} moved"
                   + (f"; most margin used: {max(finite):+.0%}" if moved and finite else ""))
        write(summary)
        lines.append(f"## {summary}\n")
        if moved:
            table = [drift.TABLE_HEAD] + [drift.fmt_row(row) for row in moved]
            lines += table + [""]
            for line in table[2:]:
                write("    " + line)
    option = terminalreporter.config.getoption("drift_report")
    path = pathlib.Path(option) if option else ROOT / "build" / "drift.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    path.with_suffix(".json").write_text(json.dumps(by_notebook, indent=1, ensure_ascii=False, default=str) + "\n",
                                         encoding="utf-8")
    write(f"drift table: {path}")
    exact_option = terminalreporter.config.getoption("exactness_report")
    if exact_option:
        exact = [value for reports in terminalreporter.stats.values() for report in reports
                 for key, value in getattr(report, "user_properties", []) if key == "exact"]
        pathlib.Path(exact_option).write_text(json.dumps(sorted(exact, key=lambda e: (e["notebook"], e["cell"])),
                                                         indent=1) + "\n", encoding="utf-8")


def pytest_terminal_summary(terminalreporter):
    """Print how long each notebook took under nbval (kernel start and all cells), and the claims drift."""
    _drift_summary(terminalreporter)
    seconds = collections.defaultdict(float)
    for reports in terminalreporter.stats.values():
        for report in reports:
            path = getattr(report, "nodeid", "").split("::")[0]
            if path.endswith(".ipynb"):
                seconds[path] += getattr(report, "duration", 0.0)
    if seconds:
        terminalreporter.section("notebook durations")
        for path in sorted(seconds):
            terminalreporter.write_line(f"{seconds[path]:6.1f} s  {path}")
