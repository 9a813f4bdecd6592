"""Benchmark the pack: each notebook's time and memory alone, against the fixed cost of every notebook.

    .venv/bin/python benchmarks/run.py [NOTEBOOK ...]        (make benchmark, or make benchmark NB=...)

Notebooks run one at a time, each in a fresh kernel, so that the timings do not disturb each other.
The fixed cost is what every notebook pays before teaching anything: starting a kernel and running
the setup cell (`import utils`, which imports TensorFlow, then `utils.setup()`), measured on a notebook
holding only that cell, three times, in the same run. The budget is a ratio to it, since machines
differ: each notebook at most BUDGET times the fixed cost.

Writes benchmarks/results.json (read by notebook 00's map and the README's tables) and the table
between the markers in benchmarks/README.md. With NOTEBOOK arguments only those are re-measured; the
fixed cost always is.
"""
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import drift  # noqa: E402
from tools.run import execute  # noqa: E402
from utils.course import pack_notebooks  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results.json"
README = ROOT / "benchmarks" / "README.md"
BEGIN, END = "<!-- benchmark table: written by make benchmark -->", "<!-- end of benchmark table -->"
BUDGET = 12   # each notebook alone, at most this many times the fixed cost


def fixed_cost(scratch, repeats=3):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import utils\nutils.setup(seed=0)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = scratch / "00_fixed_cost.ipynb"
    nbformat.write(nb, path)
    runs = [execute(path, timeout=120) for _ in range(repeats)]   # kernel start to shutdown
    return {"wall_s": round(statistics.median(r.wall_s for r in runs), 2),
            "cpu_s": round(statistics.median(r.cpu_s for r in runs), 2),
            "peak_memory_mib": round(statistics.median(r.peak_kib for r in runs) / 1024)}


def key(path):
    return Path(path).resolve().relative_to(ROOT).as_posix()


def table(results):
    fixed = results["fixed_cost"]
    lines = [f"Measured {results['date']} on {results['machine']}.", "",
             "| notebook | wall time alone (s) | × fixed cost | kernel CPU time (s) | peak memory (MiB) | status |",
             "|---|---|---|---|---|---|"]
    for name, entry in results["notebooks"].items():
        ratio = entry["wall_s"] / fixed["wall_s"]
        flag = f" **over {BUDGET}×**" if ratio > BUDGET else ""
        lines.append(f"| {name} | {entry['wall_s']:.1f} | {ratio:.1f}{flag} | {entry['cpu_s']:.1f} | "
                     f"{entry['peak_memory_mib']} | {entry['status']} |")
    lines.append(f"| *fixed cost: kernel + setup cell only (median of 3)* | {fixed['wall_s']:.1f} | 1 | "
                 f"{fixed['cpu_s']:.1f} | {fixed['peak_memory_mib']} | |")
    total = sum(entry["wall_s"] for entry in results["notebooks"].values())
    lines += ["", f"Total {total:.0f} s for {len(results['notebooks'])} notebooks one after another; the budget "
                  f"is {BUDGET}× the fixed cost ({BUDGET * fixed['wall_s']:.0f} s here) for each."]
    return "\n".join(lines)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    chosen = [Path(a).resolve() for a in argv] or pack_notebooks()
    results = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() and argv else {"notebooks": {}}
    with tempfile.TemporaryDirectory() as scratch:
        results["fixed_cost"] = fixed_cost(Path(scratch))
    for path in chosen:
        run = execute(path)
        results["notebooks"][key(path)] = {"wall_s": round(run.wall_s, 1), "cpu_s": round(run.cpu_s, 1),
                                           "peak_memory_mib": round(run.peak_kib / 1024),
                                           "status": "passed" if run.error is None else f"failed: {run.error}"}
        print(f"{key(path)}: {run.wall_s:.1f} s, {run.cpu_s:.1f} s CPU", flush=True)
    order = [key(p) for p in pack_notebooks()]
    results["notebooks"] = {k: results["notebooks"][k] for k in order if k in results["notebooks"]}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    results["machine"] = f"{drift.cpu_name()}, {cores} usable cores, Python {platform.python_version()}"
    import datetime
    results["date"] = datetime.date.today().isoformat()
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    text = README.read_text(encoding="utf-8")
    if BEGIN in text and END in text:
        text = text[:text.index(BEGIN) + len(BEGIN)] + "\n" + table(results) + "\n" + text[text.index(END):]
        README.write_text(text, encoding="utf-8")
    print(table(results))
    return 0 if all(e["status"] == "passed" for e in results["notebooks"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
