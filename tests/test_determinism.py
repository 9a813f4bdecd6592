"""Two fresh runs of a notebook give the same checked outputs (what strict nbval compares)."""
import copy
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "08_hyperparameter_search.ipynb"


def checked_outputs(nb):
    """Per code cell whose output nbval compares: its text outputs (streams, text/plain, Markdown)."""
    texts = []
    for cell in nb.cells:
        if cell.cell_type != "code" or cell.source.startswith("# NBVAL_IGNORE_OUTPUT"):
            continue
        for out in cell.outputs:
            if out.output_type == "stream":
                texts.append(out.text)
            elif "data" in out:
                texts += [out.data.get("text/plain", ""), out.data.get("text/markdown", "")]
    return texts


def run(nb):
    nb = copy.deepcopy(nb)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}},
                   record_timing=False).execute()
    return nb


def test_a_notebook_run_twice_gives_identical_checked_outputs():
    source = nbformat.read(NOTEBOOK, as_version=4)
    first, second = checked_outputs(run(source)), checked_outputs(run(source))
    assert any("✓" in text for text in first)  # the claims are among what is compared
    assert first == second
    assert first == checked_outputs(source)  # and both equal the committed outputs
