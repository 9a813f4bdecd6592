"""Grading throughput: a class of copies of each lab's solution, with and without the sandbox.

    .venv/bin/python benchmarks/grading.py [--copies 6] [--workers N] [LAB ...]

Prints a Markdown table for benchmarks/README.md ("Grading"): wall time, submissions per minute,
and CPU time per submission: the kernel's (all processes of the submission, as the grader's
watcher counts them, the same in both modes) and the grader's own (the worker processes, with the
sandbox's set-up and the watcher). Each mode runs on the same folder, one after the other. LAB is
a number (01) or the small test lab `test`; the default is every lab.
"""
import argparse
import contextlib
import io
import os
import re
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tools.grading import batch
from utils.course import ROOT, labs

TEST_LAB = ROOT / "tests" / "fixtures" / "grading_lab.ipynb"


def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(source, copies, workers, sandboxed):
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch, "class")
        folder.mkdir()
        for i in range(copies):
            shutil.copyfile(source, folder / f"student{i:02d}.ipynb")
        cpu, start, printed = children_cpu(), time.perf_counter(), io.StringIO()
        with contextlib.redirect_stdout(printed):
            rows = batch.grade_folder(source, folder, Path(scratch, "out"), workers=workers, sandboxed=sandboxed)
        wall, cpu = time.perf_counter() - start, children_cpu() - cpu
    assert all(row[-1] == "graded" for row in rows), rows
    kernels = sum(float(s) for s in re.findall(r"\(([0-9.]+) s CPU", printed.getvalue()))
    # Without the sandbox the kernels are reaped by the workers, so the children's time includes theirs.
    return wall, kernels, cpu - (0 if sandboxed else kernels)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labs", nargs="*", help="lab numbers (01 ...) or `test`; default every lab")
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--workers", type=int, default=None)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = args.workers or cores
    sources = {step.number: ROOT / step.solution for step in labs()}
    sources["test"] = TEST_LAB
    chosen = args.labs or [step.number for step in labs()]
    lines = ["| lab | mode | wall (s) | submissions / min | kernel CPU s / submission | grader CPU s / submission |",
             "|---|---|---|---|---|---|"]
    for name in chosen:
        for sandboxed in (True, False):
            wall, kernels, grader = measure(sources[name], args.copies, workers, sandboxed)
            mode = "sandbox" if sandboxed else "--no-sandbox"
            lines.append(f"| {sources[name].stem} | {mode} | {wall:.1f} | {60 * args.copies / wall:.1f} | "
                         f"{kernels / args.copies:.2f} | {grader / args.copies:.2f} |")
            print(lines[-1], flush=True)
    print(f"\n{args.copies} copies of each solution, {workers} workers, {cores} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
