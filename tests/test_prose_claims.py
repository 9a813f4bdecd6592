"""Every effect the notebooks' prose states with a number is asserted by a claim or check in the same
notebook (tools/prose.py says how an effect is told from a setting, and how to mark the exceptions)."""
import pytest

from tools import prose
from utils import course


@pytest.mark.parametrize("path", course.notebooks(), ids=lambda p: p.name)
def test_effect_numbers_in_the_prose_are_asserted(path):
    problems = prose.unasserted(path)
    assert not problems, "\n".join(
        [f"{path.name}: numbers that state an effect, asserted by no claim or check (assert them, or mark them "
         "<!-- not measured here: N (why) --> in the cell):"]
        + [f"  cell {index}: {number!r} in: {sentence[:200]}" for index, number, sentence in problems])


def test_the_detector_tells_effects_from_settings():
    found = [number for number, _ in prose.effect_numbers(
        "We train for 10 epochs in batches of 64. The first layer's gradient is more than 1000 times smaller. "
        "Accuracy rises by 12 points. <!-- not measured here: 0.25 (the bound derived above), 10,000 (trials) --> "
        "It is about 10,000 times smaller. "
        "It stays at most 0.25, and $4^{-9} \\approx 4\\cdot 10^{-6}$ is the prediction.")]
    assert found == ["1000", "12", "4·10^{-6}"], found
    assert prose.matches(0.8, {0.81}) and prose.matches(80, {0.8}) and not prose.matches(0.5, {0.8})
