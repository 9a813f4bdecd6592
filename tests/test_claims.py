import math

import pytest

import utils
from utils import claims, report


def test_a_claim_that_holds_prints_measured_value_and_threshold(capsys):
    utils.claim("ratio is small", 0.0012345, "<", 0.01)
    out = capsys.readouterr().out
    assert out == "✓ ratio is small: measured 0.00123 (< 0.01)\n"
    assert claims.checked_claims()[-1].passed


def test_a_failed_claim_names_statement_measured_value_and_threshold():
    with pytest.raises(utils.ClaimError) as failure:
        utils.claim("ReLU learns", 0.512, ">", 0.8)
    message = str(failure.value)
    assert "ReLU learns" in message
    assert "measured 0.512" in message
    assert "> 0.8" in message
    assert isinstance(failure.value, AssertionError)  # a plain assert-failure to pytest and nbval


@pytest.mark.parametrize("op, threshold, holds", [
    ("<", 1.0, False), ("<=", 1.0, True), (">", 1.0, False), (">=", 1.0, True),
    ("<", 1.5, True), (">", 0.5, True)])
def test_comparison_operators_at_and_around_the_threshold(op, threshold, holds):
    if holds:
        utils.claim(f"1 {op} {threshold}", 1.0, op, threshold)
    else:
        with pytest.raises(utils.ClaimError):
            utils.claim(f"1 {op} {threshold}", 1.0, op, threshold)


def test_approximate_claims_use_the_tolerance(capsys):
    utils.claim("near a quarter", 0.2500004, "≈", 0.25, tol=1e-6)
    assert "(≈ 0.25 ± 1e-06)" in capsys.readouterr().out
    with pytest.raises(utils.ClaimError, match=r"≈ 0.25 ± 1e-06"):
        utils.claim("near a quarter", 0.2502, "≈", 0.25, tol=1e-6)


@pytest.mark.parametrize("op", ["<", ">", "<=", ">="])
def test_nan_never_satisfies_a_claim(op):
    with pytest.raises(utils.ClaimError, match="measured nan"):
        utils.claim("diverged run", math.nan, op, 0.0)


def test_values_that_round_alike_are_shown_with_more_digits():
    with pytest.raises(utils.ClaimError, match=r"measured 0\.1001, but the claim needs < 0\.1$"):
        utils.claim("just above", 0.1001, "<", 0.1)


def test_malformed_claims_are_rejected():
    with pytest.raises(ValueError, match="op must be one of"):
        utils.claim("x", 1, "==", 1)
    with pytest.raises(ValueError, match="tol"):
        utils.claim("x", 1, "≈", 1)
    with pytest.raises(ValueError, match="tol"):
        utils.claim("x", 1, "<", 2, tol=0.1)


def test_summary_lists_each_claim_once_with_verdicts(monkeypatch):
    shown = []
    monkeypatch.setattr(report, "display", lambda markdown: shown.append(markdown.data))
    monkeypatch.setattr(claims, "_CHECKED", {})
    utils.claim("first |z|", 3.0, ">", 1)
    utils.claim("first |z|", 4.0, ">", 1)  # re-running a cell replaces its row
    with pytest.raises(utils.ClaimError):
        utils.claim("second", 3.0, "<", 1)
    utils.claim("worded alike", 0.9, ">", 0.5)
    utils.claim("worded alike", 0.2, "<", 0.5)  # a different claim: both rows stay
    utils.claims_summary()
    table = shown[0].splitlines()
    assert table[0] == "| claim | measured | needed | verdict |"
    assert table[2] == "| first \\|z\\| | 4 | > 1 | holds |"
    assert table[3] == "| second | 3 | < 1 | **FAILED** |"
    assert table[4:] == ["| worded alike | 0.9 | > 0.5 | holds |", "| worded alike | 0.2 | < 0.5 | holds |"]


def test_show_table_rounds_numbers(monkeypatch):
    import numpy as np

    shown = []
    monkeypatch.setattr(report, "display", lambda markdown: shown.append(markdown.data))
    utils.show_table(["name", "value"], [["a", np.float32(0.123456)], ["b", 12345678]])
    assert shown[0].splitlines()[2:] == ["| a | 0.123 |", "| b | 1.23e+07 |"]
