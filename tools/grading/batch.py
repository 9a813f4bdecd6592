"""Grade a folder of lab submissions: a CSV of points and a feedback file per student.

    python -m tools.grading grade LAB SUBMISSIONS [--out DIR] [--workers N] [--shard K/N | slurm | kubernetes/N]
                                  [--cpu S] [--cell-cpu S] [--timeout S] [--cell-timeout S] [--memory MIB]
                                  [--no-sandbox]
    python -m tools.grading merge SHARD_DIR ... --out DIR

LAB is a lab's source (labs/solutions/01_activations.ipynb) or its number (01). Every ``*.ipynb``
under SUBMISSIONS is one submission; its student is its file name (alice.ipynb) or, in nbgrader's
layout (alice/lab01/01_activations.ipynb), its first folder.

How a class is graded. This process reads each submission (a regular file, never through a link)
and hands its bytes to a worker process, which runs the lab's cells in a fresh kernel inside a
bubblewrap sandbox (tools/grading/sandbox.py) and the test cells itself (submission.py), and
returns the result on a pipe only this process holds. When every worker has finished, and with it
every process its submission started, this process alone writes OUT/grades.csv (one row per
student: points per exercise, total, status) and OUT/feedback/, replacing what was there. Both
depend only on the submissions, so grading twice gives the same files. Any odd input (a link, a
pipe, an unreadable or broken file) is a row with 0 points and its reason.
"""
import argparse
import base64
import concurrent.futures
import csv
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tools.grading.kernel import Limits, clean
from tools.grading.sandbox import check_bwrap
from tools.grading.submission import MAX_NOTEBOOK_BYTES
from tools.labs import exercises
from utils.course import ROOT, labs

NO_SANDBOX_WARNING = ("WARNING: grading without a sandbox (--no-sandbox). Each submission's code runs with your "
                      "account's rights: it can read the hidden tests and other submissions, change files, "
                      "reach the network and leave processes behind. The limits on CPU time and memory still hold.")
WORKER = ("import sys; sys.path.insert(0, {root!r}); from tools.grading.submission import worker_main; "
          "sys.exit(worker_main())")


# --- the submissions ---------------------------------------------------------------------------

def find_submissions(folder):
    """{student: path}, sorted; the student is the file's stem, or its first folder (nbgrader's layout).
    Links (to files or folders) and other odd entries named *.ipynb are listed too: they are graded
    as unreadable, with the reason. Hidden files and folders (.ipynb_checkpoints) are skipped."""
    folder = Path(folder)
    found = []
    for parent, dirs, files in os.walk(folder):   # does not follow links to folders
        linked = [d for d in dirs if not d.startswith(".") and Path(parent, d).is_symlink()]
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in linked)
        found += [Path(parent, name).relative_to(folder) for name in sorted(files + linked)
                  if not name.startswith(".") and (name.endswith(".ipynb") or name in linked)]
    by_student = {}
    for rel in found:
        by_student.setdefault(rel.parts[0] if len(rel.parts) > 1 else _stem(rel), []).append(rel)
    students = {}
    for student, paths in by_student.items():
        for rel in paths:
            key = student if len(paths) == 1 else (rel.parent / _stem(rel)).as_posix()
            students[key] = folder / rel
    return dict(sorted(students.items()))


def _stem(rel):
    return rel.name[:-len(".ipynb")] if rel.name.endswith(".ipynb") else rel.name


def read_submission(path, sources=frozenset()):
    """The submission's bytes, or ValueError with the reason it cannot be graded. Never follows a
    link and never blocks on a pipe: a submission must be a regular file of at most 20 MiB, and not
    one of the files in `sources` ((device, inode) pairs: the labs' sources, hard links included)."""
    try:
        info = os.lstat(path)
    except OSError as error:
        raise ValueError(f"the file could not be opened ({error.strerror})") from None
    if stat.S_ISLNK(info.st_mode):
        kind = "folder" if Path(path).is_dir() else "file"
        raise ValueError(f"it is a symbolic link (to a {kind}), not a notebook file: hand in the notebook itself")
    if stat.S_ISDIR(info.st_mode):
        raise ValueError("it is a folder, not a notebook file")
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("it is not a regular file (a pipe, socket or device)")
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
                     | getattr(os, "O_CLOEXEC", 0))
    except OSError as error:
        raise ValueError(f"the file could not be opened ({error.strerror})") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("it is not a regular file")
        if (info.st_dev, info.st_ino) in sources:
            raise ValueError("it is the lab's own source file (a hard link to it), not a submission")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
        try:
            data = handle.read(MAX_NOTEBOOK_BYTES + 1)
        except OSError as error:
            raise ValueError(f"the file could not be read ({error.strerror})") from None
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    return data


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


# --- names that are safe in files and spreadsheets ---------------------------------------------

def display_name(student):
    """The student's name as text: undecodable bytes of a file name and control characters escaped."""
    text = student.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return re.sub(r"[\x00-\x1f\x7f]", lambda m: f"\\x{ord(m.group()):02x}", text)


_PLAIN = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_HASHED = re.compile(r".*-[0-9a-f]{16}")
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def feedback_name(student):
    """The feedback file's name (without .md): the name itself when it is plain (lower-case letters,
    digits, ., _ and -), otherwise a readable part and 16 hex digits of its SHA-256. Different students
    never get the same name, also on a file system that ignores case (only plain names go unhashed,
    and a plain name never ends like a hashed one)."""
    if _PLAIN.fullmatch(student) and not _HASHED.fullmatch(student) and not student.endswith(".") \
            and student.split(".")[0] not in _RESERVED:
        return student
    digest = hashlib.sha256(student.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", display_name(student)).strip("._-")[:60] or "student"
    return f"{readable}-{digest}"


def csv_cell(text):
    """A text cell that a spreadsheet shows as text, never runs as a formula."""
    text = str(text)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r", "|", "%") else text


# --- one submission in a worker ----------------------------------------------------------------

def grade_in_worker(lab_path, data, limits, sandboxed):
    """Grade one submission's bytes in a worker process; its result, whatever happens to the worker."""
    job = json.dumps({"lab": str(lab_path), "submission": base64.b64encode(data).decode("ascii"),
                      "limits": dataclasses.asdict(limits), "sandboxed": sandboxed}).encode("ascii")
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTHON")}
    with tempfile.TemporaryFile() as errors:
        worker = subprocess.Popen([sys.executable, "-I", "-c", WORKER.format(root=str(ROOT))], cwd="/",
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errors, env=env,
                                  start_new_session=True)
        status = None
        try:
            out, _ = worker.communicate(job, timeout=limits.wall + limits.start + 120)
            if worker.returncode != 0:
                status = f"grader error (exit {worker.returncode})"
        except subprocess.TimeoutExpired:
            status = "time limit"
            _kill_group(worker.pid)
            out, _ = worker.communicate()
        _kill_group(worker.pid)   # anything left of it (its sandbox dies with it)
        result = None
        for line in reversed(out.splitlines()):
            try:
                result = json.loads(line)
                break
            except ValueError:
                continue
        if not isinstance(result, dict):
            result = {"status": status or "grader error", "notes": [], "tests": {}, "cells": {}}
        if status:
            result["status"] = status
            if status.startswith("grader error"):
                errors.seek(max(0, errors.seek(0, os.SEEK_END) - 4096))
                lines = errors.read().decode("utf-8", "replace").strip().splitlines()
                result["notes"].append(clean(lines[-1] if lines else "the grader stopped"))
        return result


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def unreadable(reason):
    return {"status": "unreadable", "notes": [f"Your notebook could not be read: {reason}."], "tests": {},
            "cells": {}}


# --- scores, feedback and the outputs ----------------------------------------------------------

def score(lab_exercises, result):
    """Per exercise: points, max points and the feedback lines (Markdown; the submission's messages inert)."""
    scored = []
    for exercise in lab_exercises:
        lines, points = [], 0
        for gid in exercise.answers:
            if gid in result["cells"]:
                lines.append(f"your code in `{gid}`: {inert(result['cells'][gid])}")
        for gid, worth in exercise.tests.items():
            outcome = result["tests"].get(gid)
            if outcome is None:
                lines.append(f"✗ `{gid}` ({worth} pt): not run ({result['status']})")
            elif outcome["passed"]:
                points += worth
                lines.append(f"✓ `{gid}` ({worth} pt)")
            else:
                lines.append(f"✗ `{gid}` ({worth} pt): {inert(outcome['message'])}")
        scored.append((exercise, points, lines))
    return scored


def no_html(text):
    """`text` with every '<' that could open an HTML tag or comment written as &lt;, so that a viewer
    that renders the Markdown runs nothing of what a submission wrote; 'z < 0' stays as it is."""
    return re.sub(r"<(?=[A-Za-z/!?])", "&lt;", text)


def inert(text):
    """Text from a submission (its name, its errors), as Markdown that shows it and does nothing else: no
    HTML, and the characters that make links, images, emphasis, code or tables escaped, so that a message
    cannot load a remote image, show a false score in bold or hide a link."""
    text = re.sub(r"([\\`*\[\]!|~])", r"\\\1", no_html(text))
    return re.sub(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])", r"\\_", text)   # inside a word, _ is plain text


def feedback(student, lab_name, scored, result):
    """The feedback file's Markdown; what came from the submission (its name, the notes, the messages in
    `scored`) goes through inert."""
    total, most = sum(p for _, p, _ in scored), sum(e.points for e, _, _ in scored)
    text = [f"# {lab_name}: feedback for {inert(display_name(student))}", "",
            f"**{total} / {most} points** (status: {result['status']})", ""]
    text += [f"- {inert(note)}" for note in result["notes"]] + ([""] if result["notes"] else [])
    for exercise, points, lines in scored:
        text += [f"## Exercise {exercise.key[2:]}: {exercise.title} ({points} / {exercise.points})", ""]
        text += [f"- {line}" for line in lines] + [""]
    return "\n".join(text).encode("utf-8", "backslashreplace").decode("utf-8")


def header_for(lab_exercises):
    return (["student"] + [f"{e.key} ({e.points})" for e in lab_exercises]
            + [f"total ({sum(e.points for e in lab_exercises)})", "status"])


def grade_folder(lab, folder, out, workers=None, limits=None, sandboxed=True, shard=(1, 1)):
    """Grade every submission in `folder` (this shard of them); write OUT/grades.csv, OUT/feedback/ and
    OUT/shard.json; return the CSV's rows."""
    import nbformat
    limits = limits or Limits()
    if sandboxed:
        problem = check_bwrap(ROOT)
        if problem:
            raise SystemExit(problem)
    lab_path = lab_source(str(lab))
    lab_exercises = exercises(nbformat.read(lab_path, as_version=4))
    folder = Path(folder).resolve()
    everyone = find_submissions(folder)
    index, count = shard
    mine = {s: p for i, (s, p) in enumerate(everyone.items()) if i % count == index - 1}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    workers = workers or max(1, cores or 1)
    results = {}
    sources, source_paths = set(), set()
    for source in {lab_path, *(ROOT / step.solution for step in labs())}:
        try:
            info = os.stat(source)
            sources.add((info.st_dev, info.st_ino))
            source_paths.add(Path(source).resolve())
        except OSError:
            pass

    def grade(student, path):
        # A source graded where it lies (a teacher trying `SUBMISSIONS=labs/solutions`) is graded; a hard
        # link to one elsewhere is not a submission. `path` has no link in it below `folder` (resolved).
        refused = frozenset() if Path(path) in source_paths else frozenset(sources)
        try:
            data = read_submission(path, refused)
        except ValueError as error:
            return unreadable(error)
        start = time.monotonic()
        result = grade_in_worker(lab_path, data, limits, sandboxed)
        result.setdefault("usage", {})["wall_s"] = round(time.monotonic() - start, 1)
        return result

    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        futures = {pool.submit(grade, student, path): student for student, path in mine.items()}
        for future in concurrent.futures.as_completed(futures):
            student = futures[future]
            try:
                results[student] = future.result()
            except Exception as error:   # a bug of the grader's own: the row says so, the class goes on
                results[student] = {"status": "grader error", "notes": [clean(error)], "tests": {}, "cells": {}}
            usage = results[student].get("usage") or {}
            spent = (f" ({usage['cpu_s']} s CPU, {usage['peak_mib']} MiB, {usage['wall_s']} s)"
                     if "cpu_s" in usage else "")
            print(f"graded {display_name(student)}: {results[student]['status']}{spent}", flush=True)
    rows, texts = [], {}
    for student in sorted(results):
        scored = score(lab_exercises, results[student])
        texts[feedback_name(student)] = feedback(student, lab_path.stem, scored, results[student])
        rows.append([csv_cell(display_name(student))] + [points for _, points, _ in scored]
                    + [sum(p for _, p, _ in scored), results[student]["status"]])
    meta = {"lab": lab_path.stem, "shard": index, "of": count, "sandboxed": sandboxed,
            "students": hashlib.sha256("\n".join(everyone).encode("utf-8", "surrogateescape")).hexdigest(),
            "graded": len(rows)}
    write_outputs(Path(out), header_for(lab_exercises), rows, texts, meta)
    return rows


def write_outputs(out, header, rows, texts, meta):
    """Write grades.csv, feedback/ and shard.json in a staging folder inside OUT, then move them into
    place, so that OUT never holds a mix of two runs."""
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".grading-", dir=out))
    try:
        (staging / "feedback").mkdir()
        for name, text in texts.items():
            (staging / "feedback" / f"{name}.md").write_text(text, encoding="utf-8")
        write_csv(staging / "grades.csv", header, rows)
        (staging / "shard.json").write_text(json.dumps(meta, indent=1) + "\n", encoding="utf-8")
        old = out / "feedback"
        if old.is_symlink() or old.is_file():
            old.unlink()
        elif old.exists():
            old.rename(staging / "old-feedback")
        (staging / "feedback").rename(old)
        for name in ("grades.csv", "shard.json"):
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(sorted(rows, key=lambda row: str(row[0])))


def merge(folders, out):
    """One grades.csv and feedback folder from the outputs of the shards of one class."""
    header, rows, texts, metas = None, [], {}, []
    for folder in map(Path, folders):
        try:
            with open(folder / "grades.csv", encoding="utf-8") as handle:
                reader = csv.reader(handle)
                this_header = next(reader)
                these_rows = list(reader)
        except (OSError, StopIteration, UnicodeDecodeError) as error:
            raise SystemExit(f"{folder}: no readable grades.csv ({error})") from None
        if header not in (None, this_header):
            raise SystemExit(f"{folder}/grades.csv grades another lab (its columns differ)")
        header = this_header
        rows += these_rows
        try:
            metas.append(json.loads((folder / "shard.json").read_text(encoding="utf-8")))
        except (OSError, ValueError):
            metas.append(None)
        for path in sorted((folder / "feedback").glob("*.md")):
            if path.name[:-3] in texts:
                raise SystemExit(f"{path.name} is in two shards: were the same shard's outputs given twice?")
            texts[path.name[:-3]] = path.read_text(encoding="utf-8")
    if all(metas):
        problems = _shard_problems(metas)
        if problems:
            raise SystemExit("these outputs are not the shards of one grading run: " + "; ".join(problems))
    students = [row[0] for row in rows]
    if len(set(students)) != len(students):
        raise SystemExit("a student appears in two shards: were the same shard's outputs given twice?")
    meta = {**(metas[0] or {}), "shard": 1, "of": 1, "graded": len(rows), "merged": len(folders)}
    write_outputs(Path(out), header, rows, texts, meta)


def _shard_problems(metas):
    problems = []
    for key in ("lab", "of", "students"):
        if len({meta.get(key) for meta in metas}) > 1:
            what = {"lab": "different labs", "of": "different shard counts",
                    "students": "different folders of submissions"}[key]
            problems.append(what)
    count = metas[0].get("of")
    shards = sorted(meta.get("shard") for meta in metas)
    if not problems and shards != list(range(1, (count or 0) + 1)):
        missing = sorted(set(range(1, (count or 0) + 1)) - set(shards))
        problems.append(f"shards {', '.join(map(str, missing))} of {count} are missing" if missing
                        else f"a shard is given twice ({shards})")
    return problems


# --- the command line --------------------------------------------------------------------------

def parse_shard(text, environ=None):
    """(K, N), 1 <= K <= N, from K/N, or from a scheduler's environment: `slurm` (an array job's
    SLURM_ARRAY_TASK_ID, _MIN, _STEP and _COUNT) or `kubernetes/N` (an Indexed Job's 0-based
    JOB_COMPLETION_INDEX, with N its completions)."""
    environ = os.environ if environ is None else environ

    def number(name, default=None):
        value = environ.get(name, default)
        if value is None or not str(value).strip().lstrip("-").isdigit():
            raise ValueError(f"--shard {text}: ${name} is {'not set' if value is None else repr(value)}")
        return int(value)

    match = re.fullmatch(r"(\d+)/(\d+)", text)
    kube = re.fullmatch(r"(?:kubernetes|k8s)/(\d+)", text)
    if match:
        index, count = int(match.group(1)), int(match.group(2))
    elif kube:
        index, count = number("JOB_COMPLETION_INDEX") + 1, int(kube.group(1))
    elif text == "slurm":
        task, first, step = number("SLURM_ARRAY_TASK_ID"), number("SLURM_ARRAY_TASK_MIN", 0), \
            number("SLURM_ARRAY_TASK_STEP", 1)
        count = number("SLURM_ARRAY_TASK_COUNT")
        if step < 1 or (task - first) % step:
            raise ValueError(f"--shard slurm: task {task} is not on the array's grid (min {first}, step {step})")
        index = (task - first) // step + 1
    else:
        raise ValueError("--shard takes K/N with 1 <= K <= N (e.g. 2/4), slurm, or kubernetes/N")
    if not 1 <= index <= count:
        raise ValueError(f"--shard {text}: shard {index} of {count} is not between 1 and {count}")
    return index, count


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m tools.grading", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade a folder of submissions")
    defaults = Limits()
    grade.add_argument("lab", help="the lab's source notebook, or its number (01)")
    grade.add_argument("submissions", help="folder of submitted notebooks (searched recursively)")
    grade.add_argument("--out", default=None, help="output folder (default build/grades/<lab>)")
    grade.add_argument("--workers", type=int, default=None, help="submissions graded at once (default: CPUs)")
    grade.add_argument("--cpu", type=float, default=defaults.cpu,
                       help=f"CPU seconds for a whole submission, all its processes ({defaults.cpu:g})")
    grade.add_argument("--cell-cpu", type=float, default=defaults.cell_cpu,
                       help=f"CPU seconds for one cell ({defaults.cell_cpu:g})")
    grade.add_argument("--timeout", type=float, default=defaults.wall,
                       help=f"wall-clock seconds for a whole submission, a backstop ({defaults.wall:g})")
    grade.add_argument("--cell-timeout", type=float, default=defaults.cell_wall,
                       help=f"wall-clock seconds for one cell, a backstop ({defaults.cell_wall:g})")
    grade.add_argument("--memory", type=int, default=defaults.memory_mib,
                       help=f"MiB of memory for a submission, all its processes and files ({defaults.memory_mib})")
    grade.add_argument("--shard", default="1/1",
                       help="grade one of N equal parts: K/N, slurm (from an array job) or kubernetes/N "
                            "(from an Indexed Job)")
    grade.add_argument("--no-sandbox", action="store_true",
                       help="run kernels without bubblewrap (unsafe: a submission can do what your account can)")
    merged = commands.add_parser("merge", help="merge the outputs of several shards")
    merged.add_argument("folders", nargs="+")
    merged.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    if args.command == "merge":
        merge(args.folders, args.out)
        print(f"merged {len(args.folders)} shard(s): {Path(args.out) / 'grades.csv'}")
        return 0
    try:
        shard = parse_shard(args.shard)
    except ValueError as error:
        parser.error(str(error))
    if not Path(args.submissions).is_dir():
        parser.error(f"no folder of submissions at {args.submissions}")
    lab_path = lab_source(args.lab)
    out = Path(args.out).resolve() if args.out else ROOT / "build" / "grades" / lab_path.stem
    limits = Limits(cpu=args.cpu, cell_cpu=args.cell_cpu, wall=args.timeout, cell_wall=args.cell_timeout,
                    memory_mib=args.memory)
    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr, flush=True)
    rows = grade_folder(lab_path, Path(args.submissions).resolve(), out, args.workers, limits,
                        sandboxed=not args.no_sandbox, shard=shard)
    part = f" (shard {shard[0]} of {shard[1]})" if shard[1] > 1 else ""
    print(f"{len(rows)} submission(s) graded{part}: {out / 'grades.csv'} and {out / 'feedback'}/")
    if args.no_sandbox:
        print(NO_SANDBOX_WARNING, file=sys.stderr, flush=True)
    return 0
