"""Tables in notebook outputs: Markdown, numbers rounded so stored outputs are stable."""
from IPython.display import Markdown, display


def fmt(value, digits=3):
    """A number with `digits` significant digits; anything else as text (| escaped)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{value:.{digits}g}"
    if hasattr(value, "dtype") and value.dtype.kind in "fiu":  # NumPy scalars
        return f"{float(value):.{digits}g}"
    return str(value).replace("|", "\\|")


def show_table(columns, rows, digits=3):
    """Display rows (sequences of cells) under `columns` as a Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))
