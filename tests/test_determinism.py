"""Two fresh runs of a notebook give the same checked outputs (what strict nbval compares)."""
from pathlib import Path

import nbformat
import pytest

from tools.run import execute

pytestmark = pytest.mark.kernel   # starts kernels: not in `make check`

# Lab 04's solution: seeded weights, shuffled batches, training and batch statistics, in about 8 s.
NOTEBOOK = Path(__file__).resolve().parent.parent / "labs" / "solutions" / "04_batch_normalization.ipynb"


def checked_outputs(nb):
    """Per code cell whose output nbval compares: its text outputs (streams, text/plain, Markdown)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.source.startswith("# NBVAL_IGNORE_OUTPUT"):
            continue
        # A busy machine can split one print into several stream outputs; nbval joins them too.
        texts.append("".join(out.text for out in cell.outputs if out.output_type == "stream"))
        for out in cell.outputs:
            if "data" in out:
                texts += [out.data.get("text/plain", ""), out.data.get("text/markdown", "")]
    return texts


def run():
    run = execute(NOTEBOOK, timeout=300)
    assert run.error is None, run.error
    return run.notebook


def test_a_notebook_run_twice_gives_identical_checked_outputs():
    first, second = checked_outputs(run()), checked_outputs(run())
    assert any("✓" in text for text in first)  # the claims are among what is compared
    assert first == second
    assert first == checked_outputs(nbformat.read(NOTEBOOK, as_version=4))  # and equal the committed outputs
