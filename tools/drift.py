"""The claims baseline, and how far a run's measured values drift from it.

Every claim and check line a notebook prints (`utils.claim`, `utils.check`) carries its measured
value and threshold. The committed notebooks' lines are the baseline, kept in one reviewable file,
tests/claims_baseline.json, together with the versions and CPU that made them. A run is compared
with it claim by claim:

    margin used = (how far the value moved towards its threshold) / (how far the baseline was from it)

measured on a log scale where the value and threshold lie an order of magnitude or more apart (a
ratio of 1e-8 against < 1e-5 has three decades of margin), and against the tolerance left for "≈";
a value that moved away from its threshold used a negative share. A claim that fails fails its
cell anyway; one that gives up more than MAX_USED of its margin also fails, since no change of CPU,
thread count or kernel library took that much (`make test-portability` measures it; the figures
are in benchmarks/README.md). Every value that moved is listed, whichever way it went.

    python -m tools.drift baseline      # rewrite the baseline from the committed notebooks (make notebooks does)
    python -m tools.drift check         # exit 1 when the baseline and the committed notebooks disagree
"""
import argparse
import json
import math
import platform
import re
import sys
from pathlib import Path

from utils.course import ROOT, pack_notebooks

BASELINE = ROOT / "tests" / "claims_baseline.json"
MAX_USED = 0.5   # the bound on `margin_used`; chosen from the perturbation runs (benchmarks/README.md)

LINE = re.compile(r"^(?P<mark>✓ |· check: )(?P<statement>.*): measured (?P<measured>\S+) "
                  r"\((?P<op>[<≤>≥≈]) (?P<threshold>\S+)(?: ± (?P<tol>\S+))?\)$")
FAILED = re.compile(r"(?P<kind>Claim|Check) failed: (?P<statement>.*)\n\s+measured (?P<measured>\S+), but the "
                    r"(?:claim|check) needs (?P<op>[<≤>≥≈]) (?P<threshold>\S+)(?: ± (?P<tol>\S+))?")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
OPS = {"<": "<", "≤": "<=", ">": ">", "≥": ">=", "≈": "≈"}


def _record(match, kind, verdict):
    tol = match.group("tol")
    return {"kind": kind, "statement": match.group("statement"), "measured": float(match.group("measured")),
            "op": OPS[match.group("op")], "threshold": float(match.group("threshold")),
            "tol": None if tol is None else float(tol), "verdict": verdict}


def records_in_outputs(outputs):
    """The claims and checks one cell's outputs report, in order (failed ones from its error)."""
    found = []
    for output in outputs:
        if output.get("output_type") == "stream":
            text = output.get("text", "")
            for line in ("".join(text) if isinstance(text, list) else text).splitlines():
                match = LINE.match(line)
                if match:
                    found.append(_record(match, "claim" if match.group("mark") == "✓ " else "check", "holds"))
        elif output.get("output_type") == "error":
            match = FAILED.search(ANSI.sub("", output.get("evalue", "")))
            if match:
                found.append(_record(match, match.group("kind").lower(), "failed"))
    return found


def records_in(notebook):
    """{code cell index: records} for a notebook (a dict as read from JSON, or an nbformat node)."""
    cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    return {index: found for index, cell in enumerate(cells) if (found := records_in_outputs(cell.get("outputs", [])))}


def margin_used(base, now, op, threshold, tol=None):
    """The share of the baseline's margin a value gave up moving from `base` to `now`.

    Positive when it moved towards its threshold (1 would put it on the threshold), negative when
    it moved away; measured on a log scale where value and threshold lie a decade or more apart.
    """
    if now == base:
        return 0.0
    if not (math.isfinite(now) and math.isfinite(base)):
        return math.inf
    if op == "≈":
        room, lost = tol - abs(base - threshold), abs(now - threshold) - abs(base - threshold)
    else:
        scale = _identity
        decades_apart = base and threshold and max(abs(base / threshold), abs(threshold / base)) >= 10
        if decades_apart and (base > 0) == (threshold > 0):
            scale = _log
        below = op in ("<", "<=")   # the value must stay below its threshold
        room = abs(scale(base) - scale(threshold))
        lost = (scale(now) - scale(base)) if below else (scale(base) - scale(now))
    if room > 0:
        return lost / room
    return 0.0 if lost <= 0 else math.inf


def _identity(value):
    return value


def _log(value):
    return math.log10(value) if value > 0 else (-math.inf if value == 0 else math.nan)


def environment():
    """The versions and CPU that the numbers depend on."""
    import keras
    import numpy
    import tensorflow as tf
    return {"python": platform.python_version(), "tensorflow": tf.__version__, "keras": keras.__version__,
            "numpy": numpy.__version__, "machine": platform.machine(), "cpu": cpu_name()}


def cpu_name():
    """The CPU's model name and its widest vector extension (Linux; the platform's name elsewhere)."""
    try:
        info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags_line = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
    flags = set(flags_line.group(1).split()) if flags_line else set()
    vector = next((name for name in ("avx512f", "avx2", "avx", "sse4_2") if name in flags), "")
    return f"{model.group(1).strip() if model else platform.machine()}{f' ({vector})' if vector else ''}"


def read_baseline(path=BASELINE):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def baseline_from_notebooks(made_with):
    """The baseline the committed notebooks hold."""
    entries = {}
    for path in pack_notebooks():
        found = records_in(json.loads(path.read_text(encoding="utf-8")))
        entries[path.relative_to(ROOT).as_posix()] = [
            {"cell": cell, **{k: v for k, v in record.items() if k != "verdict"}}
            for cell, records in found.items() for record in records]
    return {"made_with": made_with, "notebooks": entries}


def write_baseline(path=BASELINE):
    """Write the baseline with one claim per line, so that a change reads as a one-line diff."""
    data = baseline_from_notebooks(environment())
    parts = [f'{{"made_with": {json.dumps(data["made_with"])},', ' "notebooks": {']
    for n, (notebook, records) in enumerate(data["notebooks"].items()):
        lines = ",\n".join(f"   {json.dumps(record, ensure_ascii=False)}" for record in records)
        parts.append(f"  {json.dumps(notebook)}: [\n{lines}\n  ]" + ("," if n < len(data["notebooks"]) - 1 else ""))
    parts.append(" }\n}\n")
    Path(path).write_text("\n".join(parts), encoding="utf-8")
    return data


def compare(baseline_records, now_records):
    """Pair one cell's baseline records with a run's, in order; one row per claim or check."""
    rows = []
    for i in range(max(len(baseline_records), len(now_records))):
        base = baseline_records[i] if i < len(baseline_records) else None
        now = now_records[i] if i < len(now_records) else None
        row = {"statement": (now or base)["statement"], "kind": (now or base)["kind"],
               "baseline": base and base["measured"], "now": now and now["measured"],
               "needed": needed(now or base), "verdict": now["verdict"] if now else "missing"}
        if base is None:
            row.update(verdict="not in the baseline", used=math.inf)
        elif now is None:
            row["used"] = math.inf
        elif (base["statement"], base["op"], base["threshold"], base["tol"]) != \
                (now["statement"], now["op"], now["threshold"], now["tol"]):
            row.update(verdict="differs from the baseline's statement or threshold", used=math.inf)
        else:
            row["used"] = margin_used(base["measured"], now["measured"], base["op"], base["threshold"], base["tol"])
            if row["verdict"] == "holds" and not row["used"] <= MAX_USED:
                row["verdict"] = f"used more than {MAX_USED:.0%} of its margin"
        rows.append(row)
    return rows


def needed(record):
    shown = {"<=": "≤", ">=": "≥"}.get(record["op"], record["op"])
    return f"{shown} {record['threshold']:g}" + (f" ± {record['tol']:g}" if record["tol"] is not None else "")


def fmt_row(row):
    def number(value):
        return "—" if value is None else f"{value:.4g}"
    used = row.get("used")
    share = "—" if used is None or not math.isfinite(used) else f"{used:+.0%}"
    cells = [row["statement"], number(row["baseline"]), number(row["now"]), row["needed"], share, row["verdict"]]
    return "| " + " | ".join(cells) + " |"


TABLE_HEAD = "| claim | baseline | now | needed | margin used | verdict |\n|---|---|---|---|---|---|"


def versions_line(made_with, now):
    """One line saying what made the baseline and what runs now, naming the versions that differ."""
    changed = [f"{key} {made_with.get(key)} → {now.get(key)}" for key in ("tensorflow", "keras", "numpy", "python")
               if made_with.get(key) != now.get(key)]
    base = ", ".join(f"{k} {made_with.get(k)}" for k in ("tensorflow", "keras", "numpy", "python"))
    text = f"baseline made with {base} on {made_with.get('cpu')}; this run on {now.get('cpu')}"
    return text + (f"; VERSIONS DIFFER: {'; '.join(changed)}" if changed else "; same versions")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("baseline", "check"))
    args = parser.parse_args(argv)
    if args.command == "baseline":
        data = write_baseline()
        count = sum(len(records) for records in data["notebooks"].values())
        print(f"wrote {BASELINE.relative_to(ROOT)}: {count} claims and checks of {len(data['notebooks'])} notebooks")
        return 0
    stored = read_baseline()
    if baseline_from_notebooks(stored["made_with"]) != stored:
        print(f"{BASELINE.relative_to(ROOT)} does not match the committed notebooks: run `make notebooks`",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
