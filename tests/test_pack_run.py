"""`make run`'s runner: status, claims and memory per notebook, and a failing exit for a failed claim."""
import json

import nbformat
import pytest

from tools import run as pack_run

pytestmark = pytest.mark.kernel   # starts kernels: not in `make check`


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def test_report_lists_every_claim_and_fails_on_a_broken_one(tmp_path):
    good = notebook(tmp_path / "01_good.ipynb", "import utils\nutils.setup(seed=0)",
                    'utils.claim("two is more than one", 2.0, ">", 1)\nutils.check("pi", 3.14159, "≈", 3.14, tol=0.01)')
    bad = notebook(tmp_path / "02_bad.ipynb", "import utils\nutils.setup(seed=0)",
                   'utils.claim("holds first", 1.0, "<", 2)', 'utils.claim("wrong", 5.0, "<", 1)', "print('never')")
    crash = notebook(tmp_path / "03_crash.ipynb", "raise SystemExit('kernel gone')")
    out = tmp_path / "build"
    assert pack_run.main([str(good), str(bad), str(crash), "--out", str(out), "--workers", "2"]) == 1

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    entries = {entry["notebook"].rsplit("/", 1)[-1]: entry for entry in report["notebooks"]}
    assert entries["01_good.ipynb"]["status"] == "passed"
    assert entries["01_good.ipynb"]["claims"] == [
        {"cell": 1, "kind": "claim", "statement": "two is more than one", "measured": 2.0, "op": ">", "threshold": 1.0,
         "tol": None, "verdict": "holds"},
        {"cell": 1, "kind": "check", "statement": "pi", "measured": 3.14, "op": "≈", "threshold": 3.14, "tol": 0.01,
         "verdict": "holds"}]
    assert entries["02_bad.ipynb"]["status"] == "failed"
    assert [c["verdict"] for c in entries["02_bad.ipynb"]["claims"]] == ["holds", "failed"]
    assert entries["02_bad.ipynb"]["claims"][1]["measured"] == 5.0
    assert entries["02_bad.ipynb"]["error"].startswith("ClaimError: Claim failed: wrong")
    assert entries["03_crash.ipynb"]["status"] == "failed"
    assert entries["01_good.ipynb"]["peak_memory_mib"] > 200  # TensorFlow loaded
    assert 20 < entries["03_crash.ipynb"]["peak_memory_mib"] < 200  # a bare kernel: its own peak, not its parent's
    assert report["passed"] == 1
    page = (out / "report.html").read_text(encoding="utf-8")
    assert "1 of 3 notebooks passed" in page and "notebooks/02_bad.html" in page
    assert (out / "notebooks" / "01_good.html").exists()
