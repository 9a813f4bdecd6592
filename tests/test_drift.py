"""The claims baseline and the drift contract (tools/drift.py, tools/pytest_plugin.py)."""
import json
import math
import subprocess
import sys

import nbformat
import pytest

from tools import drift


@pytest.mark.parametrize("base, now, op, threshold, tol, used", [
    (0.9, 0.9, ">", 0.8, None, 0.0),
    (0.9, 0.85, ">", 0.8, None, 0.5),          # half way to the threshold
    (0.9, 0.95, ">", 0.8, None, -0.5),         # away from it
    (1e-8, 1e-7, "<", 1e-5, None, 1 / 3),      # one of three decades
    (0.2, 0.3, "<", 0.5, None, 1 / 3),
    (0.25, 0.2500005, "≈", 0.25, 1e-6, 0.5),   # half the tolerance
    (0.0, 0.0, "<=", 0.0, None, 0.0),          # an exact count that stays exact
    (0.0, 1.0, "<=", 0.0, None, math.inf),
])
def test_margin_used_is_the_share_of_the_room_given_up(base, now, op, threshold, tol, used):
    assert drift.margin_used(base, now, op, threshold, tol) == pytest.approx(used)


def test_lines_of_claims_and_checks_are_read_back_with_their_thresholds():
    outputs = [{"output_type": "stream", "name": "stdout",
                "text": "✓ ReLU learns: measured 0.921 (> 0.8)\n· check: a quarter: measured 0.25 (≈ 0.25 ± 1e-06)\n"},
               {"output_type": "error", "ename": "ClaimError",
                "evalue": "Claim failed: sigmoid learns\n  measured 0.1, but the claim needs > 0.5"}]
    records = drift.records_in_outputs(outputs)
    assert [(r["kind"], r["measured"], r["op"], r["threshold"], r["tol"], r["verdict"]) for r in records] == [
        ("claim", 0.921, ">", 0.8, None, "holds"), ("check", 0.25, "≈", 0.25, 1e-6, "holds"),
        ("claim", 0.1, ">", 0.5, None, "failed")]


def test_the_baseline_matches_the_committed_notebooks():
    assert drift.main(["check"]) == 0, "run `make notebooks`"


@pytest.mark.kernel
def test_a_claim_that_gives_up_most_of_its_margin_fails_its_cell_by_name(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("import utils\nutils.setup(seed=0)"),
        nbformat.v4.new_code_cell('utils.claim("ReLU learns (worst seed)", 0.83, ">", 0.8)\n'
                                  'utils.claim("sigmoid stays at chance", 0.09, "<", 0.2)')])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "nb.ipynb"
    nbformat.write(notebook, path)
    baseline = {"made_with": drift.environment(), "notebooks": {path.resolve().as_posix(): [
        {"cell": 1, "kind": "claim", "statement": "ReLU learns (worst seed)", "measured": 0.92, "op": ">",
         "threshold": 0.8, "tol": None},   # 0.92 -> 0.83 gives up 75 % of its margin
        {"cell": 1, "kind": "claim", "statement": "sigmoid stays at chance", "measured": 0.1, "op": "<",
         "threshold": 0.2, "tol": None}]}}   # 0.1 -> 0.09 moves away from its threshold
    (tmp_path / "baseline.json").write_text(json.dumps(baseline), encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "-c", str(drift.ROOT / "pyproject.toml"), "--nbval-lax", str(path),
               f"--claims-baseline={tmp_path / 'baseline.json'}", f"--drift-report={tmp_path / 'drift.md'}"]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=drift.ROOT)
    assert run.returncode == 1, run.stdout[-3000:]
    assert "code cell 1: claims no longer match the baseline" in run.stdout
    assert "| ReLU learns (worst seed) | 0.92 | 0.83 | > 0.8 | +75% | used more than 50% of its margin |" in run.stdout
    report = (tmp_path / "drift.md").read_text(encoding="utf-8")
    assert "| sigmoid stays at chance | 0.1 | 0.09 | < 0.2 | -10% | holds |" in report
