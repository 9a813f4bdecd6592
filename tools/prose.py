"""Numbers in a notebook's prose that state an effect, and whether a claim or check asserts them.

The pack's promise: if the text states an effect, a cell asserts it. A sentence of Markdown states
an effect with a number when it compares ("more than 80 %", "17-fold", "within 3 points", "about
0.21"), as opposed to describing the set-up ("10 epochs", "64 units", "three seeds"). Each such number
must be the threshold or the (rounded) measured value of a claim or check printed in the same
notebook, or appear in one's statement.

An author who states a number that is not measured here (a definition, a value quoted from a paper,
the arithmetic of a formula) says so in the cell, invisibly to readers, with an HTML comment that
names the numbers and why:

    <!-- not measured here: 0.01 (the source notes' suggestion), 1/4 (the bound derived above) -->

    python -m tools.prose [NOTEBOOK ...]   # list the effect numbers no claim asserts
"""
import json
import math
import re
import sys
from pathlib import Path

from tools import drift
from utils.course import ROOT, notebooks

# Words that make a sentence a statement of an effect, and units that make a number a setting.
EFFECT = re.compile(r"(more than|less than|fewer than|at least|at most|above|below|under|over|within|about|"
                    r"roughly|nearly|almost|around|up to|≈|~|×|times|fold|%|percent|points?\b|"
                    r"faster|slower|smaller|larger|bigger|higher|lower|shrinks?|grows?|drops?|falls?|rises?|"
                    r"beats?|wins?|loses?|gains?|improves?|ahead|behind|by a factor|orders? of magnitude|decades?)",
                    re.IGNORECASE)
SETTING_UNITS = (r"epochs?|inputs?|outputs?|tries|distinct|random|training|held-out|test|validation|layers?|"
                 r"hidden layers?|units?|neurons?|seeds?|digits?|images?|examples?|steps?|"
                 r"batch(?:es)?|runs?|trials?|repeats?|pixels?|networks?|models?|configurations?|classes|"
                 r"evaluations?|pieces?|dimensions?|weights?|parameters?|passes|minutes?|hours?|s\b|seconds?|"
                 r"cells?|rows?|values?|times? as (?:many|long)|kB|MB|GB|MiB|GiB|cores?|threads?|bits?|bytes?|"
                 r"per (?:layer|class|digit)|-layer|-unit|-wide|-dimensional|-digit|×\s*\d+")
SETTING = re.compile(rf"^\s*(?:{SETTING_UNITS})", re.IGNORECASE)
REFERENCE = re.compile(r"(?:notebooks?|sections?|§|exercises?|labs?|notes?|cells?|steps?|part|chapter|"
                       r"table|figure|eq\.?|equation|version|python|tensorflow|keras|numpy)\s*$", re.IGNORECASE)
NUMBER = re.compile(r"(?<![\w.])(\d+(?:[.,]\d+)*(?:\s*[·×]\s*10\^?\{?[-−]?\d+\}?|e[-−]?\d+)?)(?![\w])")
ALLOWED = re.compile(r"<!--\s*not measured here:(.*?)-->", re.IGNORECASE | re.DOTALL)
CODE = re.compile(r"```.*?```|`[^`]*`", re.DOTALL)
MATH = re.compile(r"\$\$.+?\$\$|\$[^$]+\$", re.DOTALL)
RESULT = re.compile(r"(?:\\approx|≈)\s*([\d.]+(?:\s*\\cdot\s*10\^\{?[-−]?\d+\}?)?)\s*(?:\\,?\\%)?\s*\$*$")
SKIP_SECTIONS = ("learning goals", "exercises", "setup", "summary")


def value(text):
    """A number as written ("1,000", "4·10⁻⁸", "1e-5", "0.21") as a float; None if it is not one."""
    text = text.replace(",", "").replace("−", "-").replace(" ", "")
    power = re.match(r"^([\d.]+)[·×]10\^?\{?(-?\d+)\}?$", text)
    try:
        return float(power.group(1)) * 10 ** int(power.group(2)) if power else float(text)
    except ValueError:
        return None


def asserted_values(notebook):
    """Every number a claim or check of the notebook printed, as threshold, tolerance or measured value,
    and the numbers written in their statements."""
    values = set()
    for records in drift.records_in(notebook).values():
        for record in records:
            for number in (record["measured"], record["threshold"], record["tol"]):
                if number is not None and math.isfinite(number):
                    values.add(number)
                    values.add(-number)
            written = (value(match.group(1)) for match in NUMBER.finditer(record["statement"]))
            values.update(v for v in written if v is not None)
    return values


def matches(number, values):
    """Whether a number in the prose agrees with an asserted one to the precision it is written with."""
    if number == 0:
        return 0 in values
    for asserted in values:
        if asserted == 0:
            continue
        for scale in (1, 100, 0.01):   # "80 %" is 0.8; "0.8" may be written as 80 %
            candidate = asserted * scale
            if math.isclose(candidate, number, rel_tol=0.06) or abs(candidate - number) <= _half_unit(number):
                return True
    return False


def _half_unit(number):
    """Half a unit in the last written place: 0.21 matches 0.205 to 0.215."""
    text = f"{number:.10g}"
    decimals = len(text.split(".")[1]) if "." in text and "e" not in text else 0
    return 0.5 * 10 ** -decimals


def _math_result(match):
    """A formula is not prose; what it predicts is: "$4^{-9} \\approx 4\\cdot 10^{-6}$" reads as "≈ 4·10^-6"."""
    found = RESULT.search(match.group(0).strip("$ "))
    return f" ≈ {found.group(1).replace(chr(92) + 'cdot', '·').replace(' ', '')} " if found else " (formula) "


def effect_numbers(markdown):
    """(number text, sentence) for each number in the prose that states an effect."""
    # the numbers named in the comments, outside their parenthesised reasons ("10,000" stays one number)
    named = [re.sub(r"\([^)]*\)", " ", block) for block in ALLOWED.findall(markdown)]
    allowed_numbers = {m.group(1) for text in named for m in NUMBER.finditer(text)}
    text = MATH.sub(_math_result, ALLOWED.sub(" ", CODE.sub(" ", markdown)))
    text = re.sub(r"^#+ .*$", " ", text, flags=re.MULTILINE)            # headings
    text = re.sub(r"^\s*(?:\d+\.|[-*])\s+", " ", text, flags=re.MULTILINE)   # list markers
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)                # links: keep the words
    found = []
    for sentence in re.split(r"(?<=[.!?:;])\s+|\n\s*\n|\|", text):
        if not EFFECT.search(sentence):
            continue
        for match in NUMBER.finditer(sentence):
            after, before = sentence[match.end():], sentence[:match.start()]
            if SETTING.match(after) or REFERENCE.search(before) or match.group(1) in allowed_numbers:
                continue
            if re.match(r"^\s*([-–×]|to)\s*\d", after) or re.search(r"\d\s*[-–×]\s*$", before):   # "3–5", "64 × 64"
                continue
            if value(match.group(1)) is not None and re.fullmatch(r"(19|20)\d\d", match.group(1)):   # a year
                continue
            found.append((match.group(1), " ".join(sentence.split())))
    return found


def unasserted(path):
    """[(cell index, number, sentence)] of effect numbers in a notebook's prose that no claim asserts."""
    notebook = json.loads(Path(path).read_text(encoding="utf-8"))
    values = asserted_values(notebook)
    problems, section = [], ""
    for index, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        heading = re.findall(r"^#+\s*(.+)$", source, re.MULTILINE)
        section = heading[-1].lower() if heading else section
        if index == 0 or any(section.startswith(word) or word in section for word in SKIP_SECTIONS):
            continue
        for number, sentence in effect_numbers(source):
            if not matches(value(number), values):
                problems.append((index, number, sentence))
    return problems


def main(argv=None):
    paths = [Path(a) for a in (sys.argv[1:] if argv is None else argv)] or notebooks()
    total = 0
    for path in paths:
        for index, number, sentence in unasserted(path):
            total += 1
            print(f"{Path(path).resolve().relative_to(ROOT)} cell {index}: {number!r} in: {sentence[:160]}")
    print(f"{total} effect numbers in the prose that no claim or check asserts")
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main())
