"""Grading one submission, in a worker process: the lab's cells in a sandboxed kernel, the test cells here.

The worker gets the lab, the limits and the submission's bytes on its stdin (it never opens the
submissions folder), and writes its result as JSON lines on its stdout, the last one final: a pipe
that only the grader holds. It imports nothing the kernel can write: the kernel's files live in
the sandbox's own /tmp, and the worker runs in isolated mode (python -I) from a folder of its own.
"""
import base64
import json
import secrets
import sys
import tempfile
from pathlib import Path

from tools.grading.kernel import STATUS, STOPPED, Kernel, Limits, clean
from tools.grading.sandbox import CourseView
from tools.labs import answer_stubs, grade_id, role
from utils import course
from utils.labkit import Checks, SubmissionError, pack, unpack

MAX_NOTEBOOK_BYTES = 20 * 2**20


class KernelLab(Checks):
    """`lab` for test cells run by the grader: values come from the submission's kernel."""

    verbose = False

    def __init__(self, kernel, limits):
        self.kernel, self.limits = kernel, limits

    def value(self, expr, **inputs):
        payload = base64.b64encode(pack(inputs)).decode("ascii")
        nonce = secrets.token_hex(8)
        outcome = self.kernel.run(f"import utils.labkit as _labkit\n_labkit.probe({expr!r}, {payload!r}, {nonce!r})",
                                  nonce=nonce)
        if outcome.status != "ok":
            raise SubmissionError(f"`{expr}`: {outcome.reason(self.limits) or outcome.status}")
        if outcome.result is None:
            raise SubmissionError(f"`{expr}` gave no value (the kernel's output was replaced, or the value "
                                  "was larger than the grader accepts)")
        try:
            result = unpack(base64.b64decode(outcome.result, validate=True))
        except ValueError as error:
            raise SubmissionError(f"`{expr}` gave a value the grader cannot read: {error}") from None
        if not isinstance(result, dict) or set(result) not in ({"value"}, {"error"}):
            raise SubmissionError(f"`{expr}` gave a value the grader cannot read")
        if "error" in result:
            raise SubmissionError(clean(result["error"]))
        return result["value"]


def read_cells(data):
    """A notebook's cells, from its bytes, as dicts with `source` joined into one string (None where
    malformed or not valid text), or raise ValueError with a reason a student can act on."""
    if len(data) > MAX_NOTEBOOK_BYTES:
        raise ValueError(f"the file is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    if not data.strip():
        raise ValueError("the file is empty")
    try:
        notebook = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError("the file is not text (UTF-8): is it a notebook?") from None
    except RecursionError:
        raise ValueError("the file is not a readable notebook (its JSON is nested too deeply)") from None
    except ValueError as error:
        raise ValueError(f"the file is not a readable notebook (JSON error: {clean(error, 200)})") from None
    if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
        raise ValueError("the file is not a readable notebook (no list of cells)")
    if notebook.get("nbformat") != 4:
        raise ValueError(f"the notebook format is {clean(repr(notebook.get('nbformat')), 40)}, not 4: "
                         "save it with JupyterLab")
    cells = []
    for cell in notebook["cells"]:
        if isinstance(cell, dict):
            source = cell.get("source", "")
            if isinstance(source, list) and all(isinstance(line, str) for line in source):
                source = "".join(source)
            if isinstance(source, str):
                try:
                    source.encode("utf-8")
                except UnicodeEncodeError:
                    source = None
            cells.append({**cell, "source": source if isinstance(source, str) else None})
    return cells


def lab_modules(lab_path):
    """The utils modules a lab's kernel may import, from the course's registry (none beyond the
    setup's for a lab that is not in it)."""
    step = course.step_for(lab_path)
    return tuple(step.grading_utils) if step is not None else ()


def chosen_answers(lab_path, code_cells, notes):
    """({grade id: the code graded for that exercise cell}, {ids whose cells could not be read}). A cell
    copied in JupyterLab keeps its marks, so one id may come more than once: then the first cell the
    student changed from the given stub is graded, and a note says so."""
    import nbformat
    stubs = answer_stubs(nbformat.reads(Path(lab_path).read_text(encoding="utf-8"), as_version=4))
    found = {}
    for cell in code_cells:
        if grade_id(cell) in stubs:
            found.setdefault(grade_id(cell), []).append(cell["source"])
    answers, unreadable = {}, set()
    for gid, sources in found.items():
        readable = [text for text in sources if text is not None]
        changed = [text for text in readable if text.strip() != stubs[gid].strip()]
        if not readable:
            unreadable.add(gid)
            continue
        answers[gid] = (changed or readable)[0]
        if len(sources) > 1:
            notes.append(f"{len(sources)} cells are marked as the exercise cell `{gid}` (a copied cell keeps the "
                         "mark): the first one changed from the given code was graded.")
    return answers, unreadable


def grade_one(lab_path, data, limits, sandboxed=True, emit=None):
    """Grade one submission (its bytes); return the result and give it to `emit` after every test,
    so that a run stopped from outside keeps its part."""
    source = read_cells(Path(lab_path).read_bytes())
    result = {"status": "graded", "notes": [], "tests": {}, "cells": {}, "usage": {}}
    emit = emit or (lambda _: None)
    try:
        submitted = read_cells(data)
    except ValueError as error:
        result.update(status="unreadable", notes=[f"Your notebook could not be read: {error}."])
        emit(result)
        return result
    code_cells = [cell for cell in submitted if cell.get("cell_type") == "code"]
    answers, unreadable = chosen_answers(lab_path, code_cells, result["notes"])
    known = {grade_id(cell) for cell in source if role(cell) != "text"}
    added = sum(1 for cell in code_cells if grade_id(cell) is None or grade_id(cell) not in known)
    if added:
        result["notes"].append(f"{added} code cell(s) you added or unmarked were not run: "
                               "only the exercise cells' code is graded.")
    with tempfile.TemporaryDirectory(prefix="labkit-") as workdir:
        try:
            view = CourseView(course.ROOT, lab_modules(lab_path), Path(workdir, "course"))
            kernel = Kernel(workdir, view, limits, sandboxed)
        except Exception as error:
            result.update(status="kernel did not start", notes=[clean(error)])
            emit(result)
            return result
        lab, answered = KernelLab(kernel, limits), False
        try:
            for cell in source:
                kind, gid = role(cell), grade_id(cell)
                if kind == "fixed":
                    outcome = kernel.run(cell["source"])
                    if outcome.status == "error" and not kernel.stopped:
                        result["notes"].append(f"The lab's own cell `{gid or 'unnamed'}` failed: {outcome.error}")
                        # The grader's environment, not the student: only before any of the student's code ran
                        # (a submission can define its own VersionError and make a later given cell raise it).
                        if outcome.error.startswith("VersionError") and not answered:
                            result["status"] = "untested versions"
                            break
                elif kind == "answer":
                    if gid in unreadable:
                        result["cells"][gid] = ("this exercise cell could not be read (its text holds a character "
                                                "that is not valid text, such as a lone surrogate)")
                    elif gid not in answers:
                        result["cells"][gid] = ("this exercise cell is missing from your notebook "
                                                "(deleted, or its cell metadata was removed)")
                    else:
                        answered = True
                        outcome = kernel.run(answers[gid])
                        if outcome.status != "ok":
                            result["cells"][gid] = outcome.reason(limits)
                elif kind == "test":
                    result["tests"][gid] = run_test(cell["source"], lab)
                    emit(result)
            if kernel.stopped:
                result["status"] = STATUS[kernel.stopped]
                result["notes"].append("Grading stopped: " + STOPPED[kernel.stopped][1].format(**limits.describe())
                                       + "; what followed scores 0.")
        finally:
            kernel.shutdown()   # returns once every process of the submission is gone
            cpu, peak = kernel.usage()
            result["usage"] = {"cpu_s": round(cpu, 1), "peak_mib": peak}
    emit(result)
    return result


def run_test(code, lab):
    """Run one test cell's code here, against the kernel; {passed, message}."""
    import numpy
    try:
        exec(compile(code, "<test>", "exec"), {"lab": lab, "np": numpy, "__name__": "labtest"})
    except AssertionError as failure:
        return {"passed": False, "message": clean(failure) or "a check failed"}
    except SubmissionError as failure:
        return {"passed": False, "message": clean(failure)}
    except Exception as failure:   # the student's value broke the test's arithmetic, e.g. a wrong shape
        why = f"the test could not use your result: {type(failure).__name__}: {clean(failure)}"
        return {"passed": False, "message": clean(why)}
    return {"passed": True, "message": ""}


def worker_main():
    """A worker process (started by tools.grading.batch): the job on stdin, JSON result lines on stdout."""
    _die_with_parent()
    job = json.loads(sys.stdin.buffer.read())
    out = sys.stdout

    def emit(result):
        out.write(json.dumps(result, ensure_ascii=True) + "\n")
        out.flush()

    grade_one(job["lab"], base64.b64decode(job["submission"]), Limits(**job["limits"]), job["sandboxed"], emit)
    return 0


def _die_with_parent():
    """Linux: this worker (and through bwrap its sandbox) is killed when the grade command dies."""
    try:
        import ctypes
        import os
        import signal
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)   # PR_SET_PDEATHSIG
        if os.getppid() != parent:
            os._exit(1)
    except (OSError, AttributeError):
        pass
