"""Grade a folder of lab submissions: a CSV of points and a feedback file per student.

    python -m tools.grading grade LAB SUBMISSIONS [--out DIR] [--workers N]
                                  [--timeout S] [--memory MIB] [--shard K/N]
    python -m tools.grading merge OUT_DIR ... --out DIR

LAB is a lab's source (labs/solutions/01_activations.ipynb) or its number (01). Every
``*.ipynb`` under SUBMISSIONS is one submission; its student is its file name (alice.ipynb) or,
in nbgrader's layout (alice/lab01/01_activations.ipynb), its first folder.

How a submission is graded. A worker process per submission starts a fresh kernel in an empty
temporary folder, with a wall-clock limit for the whole submission and a memory limit for the
kernel. It runs the lab's cells in the source's order: the student's code from the answer cells
(found by their nbgrader grade_id), the source's own code for every other cell. Each test cell
runs in the worker, not in the kernel: ``lab.value`` asks the kernel for a value, which comes
back as plain data, and the assertions run on it here. Cells the student added are not run.
Nothing is written to the submission. A time-out, a crash, a memory overrun, a huge output or
an unreadable file each ends as a scored result with its reason; the batch goes on.

Written to OUT: grades.csv (one row per student: points per exercise, total, status) and
feedback/<student>.md. Both depend only on the submissions, so grading twice gives the same files.
"""
import argparse
import concurrent.futures
import csv
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tools.grading.kernel import clean
from tools.grading.submission import grade_one
from tools.labs import exercises
from utils.course import ROOT, labs


def find_submissions(folder):
    """{student: path}, sorted; the student is the file's stem, or its first folder (nbgrader's layout)."""
    folder = Path(folder)
    found = []
    for parent, dirs, files in os.walk(folder):   # does not follow links to folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(parent, name).relative_to(folder) for name in sorted(files)
                  if name.endswith(".ipynb") and not name.startswith(".")]
    by_student = {}
    for rel in found:
        by_student.setdefault(rel.parts[0] if len(rel.parts) > 1 else rel.stem, []).append(rel)
    students = {}
    for student, paths in by_student.items():
        for rel in paths:
            students[student if len(paths) == 1 else rel.with_suffix("").as_posix()] = folder / rel
    return dict(sorted(students.items()))


def lab_source(name):
    """The source notebook for a lab given as a path or a number like 01 (asked of the registry)."""
    path = Path(name)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise SystemExit(f"no lab source at {path}")
        return path.resolve()
    matches = [ROOT / step.solution for step in labs() if step.number == name]
    if len(matches) != 1:
        choices = ", ".join(Path(step.solution).name for step in labs())
        raise SystemExit(f"no single lab matches {name!r}; the labs are: {choices}")
    return matches[0]


def grade_in_worker(lab_path, submission, timeout, memory_mib, cell_timeout):
    """Run grade_one in its own process (session) and return its result, whatever happens to it."""
    with tempfile.TemporaryDirectory(prefix="labkit-result-") as scratch:
        result_path = Path(scratch, "result.json")
        command = [sys.executable, "-m", "tools.grading", "_one", str(lab_path), str(submission),
                   str(result_path), str(timeout), str(memory_mib), str(cell_timeout)]
        # The kernel inherits the worker's stderr: a file, not a pipe, so that whatever a submission
        # writes there cannot fill this process's memory (the kernel's file-size limit bounds it).
        with open(Path(scratch, "worker.log"), "wb") as log:
            worker = subprocess.Popen(command, cwd=scratch, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=log, start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
            try:
                worker.wait(timeout=timeout + 60)
                status = None if worker.returncode == 0 else f"grader error (exit {worker.returncode})"
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()
                status = "time limit"
        try:
            result = json.loads(result_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            result = {"status": status or "grader error", "notes": [], "tests": {}, "cells": {}}
        if status:
            result["status"] = status
            if status.startswith("grader error"):
                with open(Path(scratch, "worker.log"), "rb") as log:
                    log.seek(max(0, log.seek(0, os.SEEK_END) - 4096))
                    lines = log.read().decode("utf-8", "replace").strip().splitlines()
                result["notes"].append(clean(lines[-1] if lines else "the grader stopped"))
        return result


def score(lab_exercises, result):
    """Per exercise: points, max points and the feedback lines."""
    scored = []
    for exercise in lab_exercises:
        lines, points = [], 0
        for gid in exercise.answers:
            if gid in result["cells"]:
                lines.append(f"your code in `{gid}`: {result['cells'][gid]}")
        for gid, worth in exercise.tests.items():
            outcome = result["tests"].get(gid)
            if outcome is None:
                lines.append(f"✗ `{gid}` ({worth} pt): not run ({result['status']})")
            elif outcome["passed"]:
                points += worth
                lines.append(f"✓ `{gid}` ({worth} pt)")
            else:
                lines.append(f"✗ `{gid}` ({worth} pt): {outcome['message']}")
        scored.append((exercise, points, lines))
    return scored


def feedback(student, lab_name, scored, result):
    total, most = sum(p for _, p, _ in scored), sum(e.points for e, _, _ in scored)
    text = [f"# {lab_name}: feedback for {student}", "",
            f"**{total} / {most} points** (status: {result['status']})", ""]
    text += [f"- {note}" for note in result["notes"]] + ([""] if result["notes"] else [])
    for exercise, points, lines in scored:
        text += [f"## Exercise {exercise.key[2:]}: {exercise.title} ({points} / {exercise.points})", ""]
        text += [f"- {line}" for line in lines] + [""]
    return "\n".join(text)


def grade_folder(lab, folder, out, workers=None, timeout=120, memory_mib=2048, cell_timeout=60, shard=(1, 1)):
    """Grade every submission in `folder` (this shard of them); write OUT/grades.csv and OUT/feedback/."""
    import nbformat
    lab_path = lab_source(lab)
    lab_exercises = exercises(nbformat.read(lab_path, as_version=4))
    submissions = find_submissions(folder)
    index, count = shard
    submissions = {s: p for i, (s, p) in enumerate(submissions.items()) if i % count == index - 1}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = workers or max(1, cores or 1)
    out = Path(out)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    results = {}
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(grade_in_worker, lab_path, path, timeout, memory_mib, cell_timeout): student
                   for student, path in submissions.items()}
        for future in concurrent.futures.as_completed(futures):
            student = futures[future]
            results[student] = future.result()
            print(f"graded {student}: {results[student]['status']}", flush=True)
    rows = []
    for student in sorted(results):
        scored = score(lab_exercises, results[student])
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", student)
        (out / "feedback" / f"{name}.md").write_text(feedback(student, lab_path.stem, scored, results[student]),
                                                     encoding="utf-8")
        rows.append([student] + [points for _, points, _ in scored]
                    + [sum(p for _, p, _ in scored), results[student]["status"]])
    header = (["student"] + [f"{e.key} ({e.points})" for e in lab_exercises]
              + [f"total ({sum(e.points for e in lab_exercises)})", "status"])
    write_csv(out / "grades.csv", header, rows)
    return rows


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(sorted(rows))


def merge(folders, out):
    """One grades.csv and feedback folder from the outputs of several shards."""
    header, rows = None, []
    for folder in folders:
        with open(Path(folder) / "grades.csv", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            this_header = next(reader)
            if header not in (None, this_header):
                raise SystemExit(f"{folder}/grades.csv grades another lab (its columns differ)")
            header = this_header
            rows += list(reader)
        for feedback_file in sorted((Path(folder) / "feedback").glob("*.md")):
            (Path(out) / "feedback").mkdir(parents=True, exist_ok=True)
            (Path(out) / "feedback" / feedback_file.name).write_bytes(feedback_file.read_bytes())
    write_csv(Path(out) / "grades.csv", header, rows)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_one":   # a worker process: grade_in_worker calls this
        lab_path, submission, result_path, timeout, memory_mib, cell_timeout = argv[1:7]
        grade_one(lab_path, submission, result_path, float(timeout), int(memory_mib), float(cell_timeout))
        return 0
    parser = argparse.ArgumentParser(prog="python -m tools.grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a folder of submissions")
    grade.add_argument("lab", help="the lab's source notebook, or its number (01)")
    grade.add_argument("submissions", help="folder of submitted notebooks (searched recursively)")
    grade.add_argument("--out", default=None, help="output folder (default build/grades/<lab>)")
    grade.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: CPUs)")
    grade.add_argument("--timeout", type=float, default=120, help="seconds for a whole submission (120)")
    grade.add_argument("--cell-timeout", type=float, default=60, help="seconds for one cell (60)")
    grade.add_argument("--memory", type=int, default=2048, help="MiB of memory for a kernel (2048)")
    grade.add_argument("--shard", default="1/1", help="K/N: grade the K-th of N equal parts (for several machines)")
    merged = commands.add_parser("merge", help="merge the outputs of several shards")
    merged.add_argument("folders", nargs="+")
    merged.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "merge":
        merge(args.folders, args.out)
        return 0
    match = re.fullmatch(r"(\d+)/(\d+)", args.shard)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        parser.error("--shard takes K/N with 1 <= K <= N, e.g. 2/4")
    if not Path(args.submissions).is_dir():
        parser.error(f"no folder of submissions at {args.submissions}")
    lab_path = lab_source(args.lab)
    out = args.out or ROOT / "build" / "grades" / lab_path.stem
    rows = grade_folder(lab_path, args.submissions, out, args.workers, args.timeout, args.memory,
                        args.cell_timeout, (int(match.group(1)), int(match.group(2))))
    print(f"{len(rows)} submission(s) graded: {Path(out) / 'grades.csv'} and {Path(out) / 'feedback'}/")
    return 0

