"""Claim cells and check cells: assert a measured value against a threshold, and list what held.

    utils.claim("first/last gradient-norm ratio, sigmoid", ratio, "<", 1e-2)
    utils.check("max of sigmoid' on the grid is 1/4", slope.max(), "≈", 0.25, tol=1e-6)

A **claim** is evidence: an empirical effect that a plausible other world (an untrained model, the
other variant, another activation) would falsify. A **check** guards code: the formula, the API
or the bookkeeping does what the text says, and it cannot be otherwise unless the code is wrong.
Both print one line when they hold and raise when they do not; they print differently, and the
closing summary counts only claims:

    ✓ first/last gradient-norm ratio, sigmoid: measured 0.0012 (< 0.01)
    · check: max of sigmoid' on the grid is 1/4: measured 0.25 (≈ 0.25 ± 1e-06)

`claims_summary()` shows every claim checked in this kernel as a table, and counts the checks.
"""
import math
import operator
from dataclasses import dataclass

from utils.report import fmt, show_table

_COMPARE = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_SHOWN = {"<": "<", "<=": "≤", ">": ">", ">=": "≥", "≈": "≈"}
CLAIM_MARK, CHECK_MARK = "✓ ", "· check: "   # how each kind's line starts


class ClaimError(AssertionError):
    """A measured value did not meet the threshold its claim (or check) states."""


@dataclass
class Claim:
    statement: str
    measured: float
    op: str
    threshold: float
    tol: float | None
    passed: bool
    digits: int
    kind: str = "claim"   # "claim" (evidence) or "check" (a guard of the code)

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


def _assert(kind, statement, measured, op, threshold, tol, digits):
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
    record = Claim(statement, measured, op, threshold, tol, passed, digits, kind)
    _CHECKED[kind, statement, op, threshold, tol] = record
    if not passed:
        raise ClaimError(f"{kind.capitalize()} failed: {statement}\n"
                         f"  measured {fmt(measured, digits)}, but the {kind} needs {record.needed()}")
    mark = CLAIM_MARK if kind == "claim" else CHECK_MARK
    print(f"{mark}{statement}: measured {fmt(measured, digits)} ({record.needed()})")


def claim(statement, measured, op, threshold, *, tol=None, digits=3):
    """Assert an empirical effect: `measured op threshold` (op: <, <=, >, >=, or ≈ with `tol`).

    Values are shown with `digits` significant digits. NaN never satisfies a claim.
    """
    _assert("claim", statement, measured, op, threshold, tol, digits)


def check(statement, measured, op, threshold, *, tol=None, digits=3):
    """Assert that code or an API does what the text says; like `claim`, but not counted as evidence."""
    _assert("check", statement, measured, op, threshold, tol, digits)


def clear_claims():
    """Forget the claims and checks so far (utils.setup() does this)."""
    _CHECKED.clear()


def checked_claims(kind="claim"):
    """The claims (or, with kind="check", the checks) so far in this process, in the order first checked."""
    return [record for record in _CHECKED.values() if record.kind == kind]


def claims_summary():
    """Display a Markdown table of every claim checked in this kernel, and how many checks held."""
    claims, checks = checked_claims(), checked_claims("check")
    if claims:
        show_table(["claim", "measured", "needed", "verdict"],
                   [[c.statement, fmt(c.measured, c.digits), c.needed(),
                     "holds" if c.passed else "**FAILED**"] for c in claims])
    else:
        print("no claims in this notebook")
    if checks:
        print(f"and {sum(c.passed for c in checks)} of {len(checks)} checks of the code held (not counted as claims)")
