"""What a student sees in a lab notebook's kernel when a visible test fails: the check's one-line message,
not a traceback through utils/labkit.py; and the cell still fails, as nbgrader and nbval need."""
import nbformat
import pytest
from nbclient import NotebookClient

pytestmark = pytest.mark.kernel   # starts a kernel: not in `make check`

CELLS = [
    "from utils.labkit import lab\nimport numpy as np",
    'lab.check_close(lab.value("x * 2", x=np.array([1.0, 2.0])), [2.0, 5.0], "double(x)")',
    'lab.value("leaky_relu(z)", z=1.0)',
    'lab.check(True, "a test that passes")',
    'def f():\n    assert 1 == 2, "the student\'s own assertion"\nf()',
]


def test_a_failed_check_shows_its_message_in_one_line():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in CELLS])
    NotebookClient(notebook, kernel_name="python3", allow_errors=True, timeout=120).execute()
    outputs = [cell.outputs for cell in notebook.cells]
    assert outputs[0] == []
    failed = outputs[1][0]
    assert failed.output_type == "error" and failed.ename == "AssertionError"
    assert failed.traceback == ["\x1b[0;31m✗ double(x): expected [2., 5.] (shape (2,)), got [2., 4.] (shape (2,)) "
                                "(largest difference at index (1,))\x1b[0m"]
    missing = outputs[2][0]
    assert missing.ename == "SubmissionError"
    assert missing.traceback == ["\x1b[0;31m✗ `leaky_relu(z)` raised NameError: name 'leaky_relu' is not defined"
                                 "\x1b[0m"]
    assert outputs[3][0].text == "✓ a test that passes\n"
    own = outputs[4][0]   # an error that is not a check's keeps its whole traceback
    assert own.ename == "AssertionError" and len(own.traceback) > 1
    assert any("f()" in line for line in own.traceback)


def test_a_failed_check_stops_run_all():
    from nbclient.exceptions import CellExecutionError
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code) for code in CELLS[:2]]
                                        + [nbformat.v4.new_code_cell("print('not reached')")])
    with pytest.raises(CellExecutionError, match=r"✗ double\(x\): expected"):
        NotebookClient(notebook, kernel_name="python3", timeout=120).execute()
    assert notebook.cells[2].outputs == []
