"""Tables in notebook outputs: Markdown, numbers rounded so stored outputs are stable."""
import numbers

from IPython.display import Markdown, display


def fmt(value, digits=3):
    """A real number with `digits` significant digits; anything else as text (| escaped)."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):  # NumPy scalars too
        return f"{float(value):.{digits}g}"
    return str(value).replace("|", "\\|")


def show_table(columns, rows, digits=3):
    """Display rows (sequences of cells) under `columns` as a Markdown table."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(cell, digits) for cell in row) + " |" for row in rows]
    display(Markdown("\n".join(lines)))


def fmt_seconds(seconds):
    """A run time for a table: "≈ 23 s", or "—" when it was not measured."""
    return "—" if seconds is None else f"≈ {seconds:.0f} s"
