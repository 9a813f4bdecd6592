"""Grading one submission: run the lab's cells in a kernel, the test cells here, and save the result."""
import base64
import json
import tempfile
import time
from pathlib import Path

from tools.grading.kernel import STATUS, Kernel, clean
from tools.labs import grade_id, role
from utils.labkit import RESULT_MARK, Checks, SubmissionError, pack, unpack

MAX_NOTEBOOK_BYTES = 20 * 2**20


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
        exec(compile(code, "<test>", "exec"), {"lab": lab, "np": numpy, "__name__": "labtest"})
    except AssertionError as failure:
        return {"passed": False, "message": clean(failure) or "a check failed"}
    except SubmissionError as failure:
        return {"passed": False, "message": clean(failure)}
    except Exception as failure:   # the student's value broke the test's arithmetic, e.g. a wrong shape
        why = f"the test could not use your result: {type(failure).__name__}: {failure}"
        return {"passed": False, "message": clean(why)}
    return {"passed": True, "message": ""}

