"""Grade a folder of lab submissions: a CSV of points and a feedback file per student.

    python -m utils.grading grade LAB SUBMISSIONS [--out DIR] [--workers N]
                                  [--timeout S] [--memory MIB] [--shard K/N]
    python -m utils.grading merge OUT_DIR ... --out DIR

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
import base64
import concurrent.futures
import csv
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from utils.labs import ROOT, SOLUTIONS, exercises, grade_id, role
from utils.pack_run import kernel_memory_kib
from utils.labkit import RESULT_MARK, Checks, SubmissionError, pack, unpack

MAX_NOTEBOOK_BYTES = 20 * 2**20
MAX_OUTPUT_CHARS = 2 * 2**20      # kept per cell; the rest is counted and dropped
MAX_MESSAGE_CHARS = 600           # per line of feedback
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean(text, limit=MAX_MESSAGE_CHARS):
    """One feedback-ready line: no colour codes, memory addresses or temp paths; bounded."""
    text = ADDRESS.sub("0x…", ANSI.sub("", str(text)))
    text = re.sub(r"/[^\s'\"]*/labkit-[^\s'\"/]+", "<submission folder>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


# ---------------------------------------------------------------- the kernel side of one submission

class Outcome:
    """What running one piece of code in the kernel did."""

    def __init__(self, status, stdout="", error=""):
        self.status, self.stdout, self.error = status, stdout, error   # status: ok, error, timeout, dead, memory

    def reason(self, limits):
        return {"error": self.error,
                "timeout": f"stopped: it ran longer than the time limit ({limits['time']})",
                "dead": "the kernel died while running it (a crash, or the process was killed)",
                "memory": f"stopped: the kernel used more than the memory limit ({limits['memory']})",
                "stopped": f"not run: the kernel had been stopped earlier ({self.error})"}.get(self.status, self.status)


STATUS = {"timeout": "time limit", "dead": "kernel died", "memory": "memory limit"}


class Kernel:
    """A kernel for one submission, run in an empty temporary folder, with limits."""

    def __init__(self, workdir, deadline, memory_mib, cell_timeout):
        from jupyter_client import KernelManager
        self.deadline, self.memory_kib, self.cell_timeout = deadline, memory_mib * 1024, cell_timeout
        self.stopped = None
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT") if key in os.environ}
        home, cwd = Path(workdir, "home"), Path(workdir, "work")
        home.mkdir()
        cwd.mkdir()
        env.update(HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
                   MPLBACKEND="Agg", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), env=env, preexec_fn=_kernel_limits)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=max(5, min(120, deadline - time.monotonic())))

    def run(self, code):
        """Run code; never raises. Stops the kernel for good on a crash, a memory overrun, or a
        time-out it does not recover from."""
        if self.stopped:
            return Outcome("stopped", error=STATUS[self.stopped])
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        limit = min(time.monotonic() + self.cell_timeout, self.deadline)
        chunks, kept, error = [], 0, ""
        while True:
            now = time.monotonic()
            if now > limit:
                return self._timed_out(msg_id, now >= self.deadline)
            if not self.km.is_alive():
                return self._stop("dead")
            if self.memory_kib and kernel_memory_kib(self.km, "VmRSS") > self.memory_kib:
                return self._stop("memory")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and kept < MAX_OUTPUT_CHARS:
                text = content.get("text", "")[:MAX_OUTPUT_CHARS - kept]
                chunks.append(text)
                kept += len(text)
            elif kind == "error":
                error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return Outcome("error" if error else "ok", "".join(chunks), clean(error))

    def _timed_out(self, msg_id, whole_budget):
        """Interrupt; if the kernel comes back idle within 5 s the next cells can still run."""
        if whole_budget:
            return self._stop("timeout")
        self.km.interrupt_kernel()
        until = time.monotonic() + 5
        while time.monotonic() < until:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if (msg.get("parent_header", {}).get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"):
                return Outcome("timeout")
        return self._stop("timeout")

    def _stop(self, why):
        self.stopped = why
        self.shutdown()
        return Outcome(why)

    def shutdown(self):
        try:
            self.kc.stop_channels()
            pid = self.km.provisioner.process.pid if self.km.provisioner else None
            self.km.shutdown_kernel(now=True)
            if pid:
                os.killpg(pid, signal.SIGKILL)   # anything the student's code started
        except (OSError, RuntimeError, AttributeError):
            pass


def _kernel_limits():
    """In the kernel process before it starts: no core files, no files over 256 MiB."""
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20, 256 * 2**20))


class KernelLab(Checks):
    """`lab` for test cells run by the grader: values come from the submission's kernel."""

    verbose = False

    def __init__(self, kernel, limits):
        self.kernel, self.limits = kernel, limits

    def value(self, expr, **inputs):
        payload = base64.b64encode(pack(inputs)).decode("ascii")
        outcome = self.kernel.run(f"import utils.labkit as _labkit\n_labkit.probe({expr!r}, {payload!r})")
        if outcome.status != "ok":
            raise SubmissionError(f"`{expr}`: {outcome.reason(self.limits) or outcome.status}")
        marks = [line for line in outcome.stdout.splitlines() if line.startswith(RESULT_MARK)]
        if not marks:
            raise SubmissionError(f"`{expr}` gave no value (its output was replaced or too long)")
        try:
            result = unpack(base64.b64decode(marks[-1][len(RESULT_MARK):]))
        except Exception:
            raise SubmissionError(f"`{expr}` gave an unreadable value") from None
        if not isinstance(result, dict) or ("value" not in result and "error" not in result):
            raise SubmissionError(f"`{expr}` gave an unreadable value")
        if "error" in result:
            raise SubmissionError(clean(result["error"]))
        return result["value"]


def read_cells(path):
    """A notebook's cells as dicts with `source` joined into one string (None where malformed),
    or raise ValueError with a reason a student can act on. Reads at most MAX_NOTEBOOK_BYTES."""
    with open(path, "rb") as handle:
        data = handle.read(MAX_NOTEBOOK_BYTES + 1)
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    try:
        notebook = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("the file is not text (UTF-8): is it a notebook?") from None
    except ValueError as error:
        raise ValueError(f"the file is not a readable notebook (JSON error: {clean(error, 200)})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("the file is not a readable notebook (no list of cells)")
    if notebook.get("nbformat") != 4:
        raise ValueError(f"the notebook format is {notebook.get('nbformat')!r}, not 4: save it with JupyterLab")
    cells = []
    for cell in notebook["cells"]:
        if isinstance(cell, dict):
            source = cell.get("source", "")
            if isinstance(source, list) and all(isinstance(line, str) for line in source):
                source = "".join(source)
            cells.append({**cell, "source": source if isinstance(source, str) else None})
    return cells


def grade_one(lab_path, submission_path, result_path, timeout, memory_mib, cell_timeout):
    """Grade one submission; write the result JSON after every step, so a killed run keeps its part."""
    source = read_cells(lab_path)
    result = {"status": "graded", "notes": [], "tests": {}, "cells": {}}

    def save():
        Path(result_path).write_text(json.dumps(result), encoding="utf-8")

    try:
        submitted = read_cells(submission_path)
    except (OSError, ValueError) as error:
        result.update(status="unreadable", notes=[f"Your notebook could not be read: {error}."])
        save()
        return
    code_cells = [cell for cell in submitted if cell.get("cell_type") == "code"]
    answer_ids = {grade_id(cell) for cell in source if role(cell) == "answer"}
    answers = {}
    for cell in code_cells:
        if grade_id(cell) in answer_ids and cell["source"] is not None:
            answers.setdefault(grade_id(cell), cell["source"])
    known = {grade_id(cell) for cell in source if role(cell) != "text"}
    added = sum(1 for cell in code_cells if grade_id(cell) is None or grade_id(cell) not in known)
    if added:
        result["notes"].append(f"{added} code cell(s) you added or unmarked were not run: "
                               "only the exercise cells' code is graded.")
    deadline = time.monotonic() + timeout
    limits = {"time": f"{cell_timeout:g} s per cell, {timeout:g} s for the whole notebook",
              "memory": f"{memory_mib} MiB"}
    with tempfile.TemporaryDirectory(prefix="labkit-") as workdir:
        try:
            kernel = Kernel(workdir, deadline, memory_mib, cell_timeout)
        except Exception as error:
            result.update(status="kernel did not start", notes=[clean(error)])
            save()
            return
        lab = KernelLab(kernel, limits)
        try:
            for cell in source:
                kind, gid = role(cell), grade_id(cell)
                if kind == "fixed":
                    kernel.run(cell["source"])
                elif kind == "answer":
                    if gid not in answers:
                        result["cells"][gid] = ("this exercise cell is missing from your notebook "
                                                "(deleted, or its cell metadata was removed)")
                        continue
                    outcome = kernel.run(answers[gid])
                    if outcome.status != "ok":
                        result["cells"][gid] = outcome.reason(limits)
                elif kind == "test":
                    result["tests"][gid] = run_test(cell["source"], lab)
                    save()
            if kernel.stopped:
                result["status"] = STATUS[kernel.stopped]
        finally:
            kernel.shutdown()
    save()


def run_test(code, lab):
    """Run one test cell's code here, against the kernel; (passed, message)."""
    import numpy
    try:
        exec(compile(code, "<test>", "exec"), {"lab": lab, "np": numpy, "__name__": "labtest"})  # noqa: S102
    except AssertionError as failure:
        return {"passed": False, "message": clean(failure) or "a check failed"}
    except SubmissionError as failure:
        return {"passed": False, "message": clean(failure)}
    except Exception as failure:   # the student's value broke the test's arithmetic, e.g. a wrong shape
        return {"passed": False, "message": clean(f"the test could not use your result: {type(failure).__name__}: {failure}")}
    return {"passed": True, "message": ""}


# ---------------------------------------------------------------- the batch

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
    """The source notebook for a lab given as a path or a number like 01."""
    path = Path(name)
    if path.suffix == ".ipynb":
        if not path.is_file():
            raise SystemExit(f"no lab source at {path}")
        return path.resolve()
    matches = sorted(SOLUTIONS.glob(f"{name}_*.ipynb")) if name else []
    if len(matches) != 1:
        choices = ", ".join(p.name for p in sorted(SOLUTIONS.glob("[0-9]*.ipynb")))
        raise SystemExit(f"no single lab matches {name!r}; the labs are: {choices}")
    return matches[0]


def grade_in_worker(lab_path, submission, timeout, memory_mib, cell_timeout):
    """Run grade_one in its own process (session) and return its result, whatever happens to it."""
    with tempfile.TemporaryDirectory(prefix="labkit-result-") as scratch:
        result_path = Path(scratch, "result.json")
        command = [sys.executable, "-m", "utils.grading", "_one", str(lab_path), str(submission),
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
    text = [f"# {lab_name}: feedback for {student}", "", f"**{total} / {most} points** (status: {result['status']})", ""]
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
    workers = workers or max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
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
    parser = argparse.ArgumentParser(prog="python -m utils.grading", description=__doc__.splitlines()[0])
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


if __name__ == "__main__":
    sys.exit(main())
