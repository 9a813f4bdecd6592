"""Claim cells: assert a measured value against a threshold, and list what was verified.

    utils.claim("max of sigmoid'", measured, "≈", 0.25, tol=1e-6)
    utils.claim("first/last gradient-norm ratio, sigmoid", ratio, "<", 1e-2)

A claim that holds prints one line; one that fails raises ClaimError whose
message names the statement, the measured value and the threshold.
`claims_summary()` shows every claim checked in this kernel as a table.
"""
import math
import operator
from dataclasses import dataclass

from utils.report import fmt, show_table

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_SHOWN = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "≈": "≈"}


class ClaimError(AssertionError):
    """A measured value did not meet the threshold its claim states."""


@dataclass
class Claim:
    statement: str
    measured: float
    op: str
    threshold: float
    tol: float | None
    passed: bool
    digits: int

    def needed(self):
        text = f"{_SHOWN[self.op]} {fmt(self.threshold, self.digits)}"
        return text + (f" ± {fmt(self.tol, self.digits)}" if self.tol is not None else "")


# Keyed by what a claim states and needs: re-running a cell replaces its claims in the
# summary, while two different claims worded alike both appear.
_CHECKED: dict[tuple, Claim] = {}


def _distinct_digits(measured, threshold, digits):
    """Enough significant digits that a value differing from the threshold looks different."""
    while digits < 10 and measured != threshold and fmt(measured, digits) == fmt(threshold, digits):
        digits += 1
    return digits


def claim(statement, measured, op, threshold, *, tol=None, digits=3):
    """Check `measured op threshold` (op: <, <=, >, >=, or ≈ with `tol`) and report it.

    Values are shown with `digits` significant digits. NaN never satisfies a claim.
    """
    if op not in _SHOWN:
        raise ValueError(f"op must be one of {', '.join(_SHOWN)}; got {op!r}")
    if (op == "≈") != (tol is not None):
        raise ValueError("give tol exactly when op is '≈'")
    measured, threshold = float(measured), float(threshold)
    if op == "≈":
        passed = abs(measured - threshold) <= tol
    else:
        passed = _COMPARE[op](measured, threshold)
    passed = passed and not math.isnan(measured)
    if op != "≈":  # "0.1 < 0.1" must never be printed for 0.0999 < 0.1
        digits = _distinct_digits(measured, threshold, digits)
    record = Claim(statement, measured, op, threshold, tol, passed, digits)
    _CHECKED[statement, op, threshold, tol] = record
    if not passed:
        raise ClaimError(f"Claim failed: {statement}\n"
                         f"  measured {fmt(measured, digits)}, but the claim needs "
                         f"{record.needed()}")
    print(f"✓ {statement}: measured {fmt(measured, digits)} ({record.needed()})")


def clear_claims():
    """Forget the claims checked so far (utils.setup() does this)."""
    _CHECKED.clear()


def checked_claims():
    """The claims checked so far in this process, in the order first checked."""
    return list(_CHECKED.values())


def claims_summary():
    """Display a Markdown table of every claim checked in this kernel."""
    show_table(["claim", "measured", "needed", "verdict"],
               [[c.statement, fmt(c.measured, c.digits), c.needed(),
                 "holds" if c.passed else "**FAILED**"] for c in checked_claims()])
