"""The cells `make exact-cells` tags for exact comparison are ones that may be compared exactly."""
import nbformat

from tools import portability
from utils.course import ROOT, pack_notebooks


def test_only_comparable_cells_are_compared_exactly():
    wrong = [f"{path.relative_to(ROOT)} code cell {index}"
             for path in pack_notebooks()
             for index, cell in enumerate(c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
             if portability.TAG in cell.metadata.get("tags", []) and not portability.comparable(cell)]
    assert not wrong, f"tagged {portability.TAG} but the setup, Colab or an NBVAL-comment cell: {wrong}"
