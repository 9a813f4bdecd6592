"""Benchmark the pack: per-notebook wall time and peak memory, and the fixed cost of each.

    .venv/bin/python benchmarks/run.py        (or: make benchmark)

Notebooks run one at a time, each in a fresh kernel, so the timings are not disturbed by each
other. The fixed cost is what every notebook pays before teaching anything: starting a kernel
and running the setup cell (`import utils`, which imports TensorFlow, then `utils.setup()`),
measured on a notebook holding only that cell, three times. Prints a Markdown table to paste
into benchmarks/README.md with the machine it was measured on.
"""
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tools import run as pack_run  # noqa: E402
from utils.course import pack_notebooks  # noqa: E402


def fixed_cost(scratch, repeats=3):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import utils\nutils.setup(seed=0)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = scratch / "00_fixed_cost.ipynb"
    nbformat.write(nb, path)
    runs = [pack_run.execute(path, timeout=120) for _ in range(repeats)]   # kernel start to shutdown
    return statistics.median(run[2] for run in runs), round(statistics.median(run[3] for run in runs) / 1024)


def main():
    notebooks = pack_notebooks()
    with tempfile.TemporaryDirectory() as scratch:
        fixed_wall, fixed_peak = fixed_cost(Path(scratch))
    rows = []
    for path in notebooks:
        _, error, wall, peak_kib = pack_run.execute(path)
        name = path.name if path.parent.name == "notebooks" else path.relative_to(ROOT).as_posix()
        rows.append((name, wall, round(peak_kib / 1024), "passed" if error is None else f"failed: {error}"))
    total = sum(row[1] for row in rows)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"machine: {platform.machine()}, {cores} usable cores, Python {platform.python_version()}\n")
    print("| notebook | wall time (s), kernel start to shutdown | peak memory (MiB) | status |\n|---|---|---|---|")
    for name, wall, peak, status in rows:
        print(f"| {name} | {wall:.1f} | {peak} | {status} |")
    print(f"| *fixed cost: kernel + setup cell only (median of 3)* | {fixed_wall:.1f} | {fixed_peak} | |")
    print(f"\ntotal {total:.1f} s for {len(rows)} notebooks run one after another; fixed cost "
          f"{fixed_wall * len(rows):.1f} s of it ({fixed_wall * len(rows) / total:.0%})")
    return 0 if all(row[3] == "passed" for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
