"""Run the test suite with the arithmetic perturbed, as another CPU would perturb it, and report.

    python -m tools.portability run [--only NAME ...] -- PYTEST ARGS    (make test-portability)
    python -m tools.portability tag                                     (make exact-cells)

Training results depend on the CPU's float arithmetic: which kernels run, how sums are split over
threads and blocked by cache size. Each perturbation below is a cheap stand-in for another CPU. `run`
runs the whole suite under each, one after another, and writes to build/portability/:

- NAME.md / NAME.json: that run's claims drift (tools/drift.py) and NAME.log its pytest output;
- NAME-exact.json: per notebook cell, whether its outputs equal the stored ones;
- summary.md: per perturbation, the tests that failed and the claims that used the most margin, and
  the cells whose outputs no perturbation changed.

`tag` then marks exactly those cells `nbval-check-output` (and no others; never the setup cell, whose
version line an upgrade changes), so that `make test` compares them digit for digit and leaves the
rest to the claims. The decision comes from measurement: a cell
is exact when no perturbation changed its outputs.
"""
import argparse
import json
import math
import os
import subprocess
import sys
from pathlib import Path

from tools import colab
from utils.course import ROOT, pack_notebooks

OUT = ROOT / "build" / "portability"
TAG = "nbval-check-output"


def perturbations():
    """name -> (environment changes, what it stands for)."""
    found = {
        "onednn": ({"TF_ENABLE_ONEDNN_OPTS": "1"}, "oneDNN's kernels instead of Eigen's (another kernel library)"),
        # The pack runs each operation on one thread (utils sets TF_NUM_INTRAOP_THREADS=1 by default);
        # a user may set more, and then sums are split by the machine's core count.
        "two-threads": ({"TF_NUM_INTRAOP_THREADS": "2"}, "two intra-op threads (sums split in two)"),
        "eight-threads": ({"TF_NUM_INTRAOP_THREADS": "8"}, "eight intra-op threads, as on a larger machine"),
    }
    numpy_env = {"OPENBLAS_CORETYPE": "Haswell"}
    features = _numpy_features()
    disabled = [name for name in ("X86_V4", "AVX512_ICL", "AVX512_SPR") if features.get(name)]
    if disabled:   # only features this CPU has can be turned off
        numpy_env["NPY_DISABLE_CPU_FEATURES"] = " ".join(disabled)
    found["numpy-avx2"] = (numpy_env, "NumPy and OpenBLAS limited to AVX2 code (an older CPU)")
    return found


def _numpy_features():
    try:
        from numpy._core._multiarray_umath import __cpu_features__
        return dict(__cpu_features__)
    except ImportError:
        return {}


def run(names, pytest_args):
    OUT.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, (changes, meaning) in perturbations().items():
        if names and name not in names:
            continue
        env = {**os.environ, **changes}
        command = [sys.executable, "-m", "pytest", *pytest_args, f"--drift-report={OUT / name}.md",
                   f"--exactness-report={OUT / name}-exact.json"]
        print(f"== {name}: {meaning} ({' '.join(f'{k}={v}' for k, v in changes.items())})", flush=True)
        with open(OUT / f"{name}.log", "w", encoding="utf-8") as log:
            code = subprocess.call(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        tail = (OUT / f"{name}.log").read_text(encoding="utf-8").strip().splitlines()[-1:]
        print(f"   exit {code}: {tail[0] if tail else ''}", flush=True)
        results[name] = {"exit": code, "meaning": meaning, "changes": changes, "last_line": tail[0] if tail else ""}
    write_summary(results)
    return 0 if all(r["exit"] == 0 for r in results.values()) else 1


def _load(path, default):
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else default


def write_summary(results):
    lines = ["# Portability: the suite under perturbed arithmetic", ""]
    worst = {}
    for name, result in results.items():
        drift = _load(OUT / f"{name}.json", {})
        rows = [(notebook, row) for notebook, cell_rows in drift.items() for row in cell_rows]
        used = [row["used"] for _, row in rows if _finite(row.get("used"))]
        moved = sum(row["baseline"] != row["now"] for _, row in rows)
        settings = ", ".join(f"`{k}={v}`" for k, v in result["changes"].items())
        lines.append(f"- **{name}** ({result['meaning']}; {settings}): "
                     f"exit {result['exit']}, {result['last_line'].strip('= ')}; {moved} of {len(rows)} claims and "
                     f"checks moved, the most margin used {max(used, default=0):+.0%}")
        for notebook, row in rows:
            value = row.get("used")
            key = (notebook, row["statement"])
            if _finite(value) and value > worst.get(key, (-math.inf, ""))[0]:
                worst[key] = (value, name)
    ranked = sorted(worst.items(), key=lambda item: -item[1][0])[:15]
    lines += ["", "The claims that gave up the most margin under any perturbation:", "",
              "| notebook | claim | most margin used | under |", "|---|---|---|---|"]
    lines += [f"| {Path(notebook).name} | {statement} | {used:+.0%} | {under} |"
              for (notebook, statement), (used, under) in ranked]
    exact = exact_cells(results)
    total = sum(len(cells) for cells in _all_cells().values())
    lines += ["", f"Cells whose outputs no perturbation changed: {sum(map(len, exact.values()))} of {total} code "
                  "cells (`python -m tools.portability tag` marks them `nbval-check-output`)."]
    (OUT / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


def _finite(value):
    return isinstance(value, (int, float)) and math.isfinite(value)


def _all_cells():
    cells = {}
    for path in pack_notebooks():
        notebook = json.loads(path.read_text(encoding="utf-8"))
        code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
        cells[path.relative_to(ROOT).as_posix()] = list(range(len(code)))
    return cells


def exact_cells(results=None):
    """{notebook: set of code-cell indices} whose outputs equalled the stored ones in every perturbation run."""
    names = list(results or perturbations())
    reports = [_load(OUT / f"{name}-exact.json", None) for name in names]
    if not reports or any(report is None for report in reports):
        raise SystemExit(f"run `make test-portability` first: {OUT} lacks the exactness reports of {', '.join(names)}")
    exact = {notebook: set(cells) for notebook, cells in _all_cells().items()}
    for report in reports:
        seen = {(entry["notebook"], entry["cell"]): entry["equal"] for entry in report}
        for notebook, cells in exact.items():
            exact[notebook] = {cell for cell in cells if seen.get((notebook, cell), False)}
    return exact


def _is_setup(source):  # (the Colab cell, which prints nothing outside Colab, is not tagged either)
    """The setup cell prints the TensorFlow and Keras versions: an upgrade shows once, in the drift
    report's header, not as a failed cell in every notebook."""
    return source.startswith("import utils\nutils.setup(")


def comparable(cell):
    """Whether a code cell may be compared exactly: not the setup cell (its version line changes with an
    upgrade), not the Colab cell, and not a cell whose author set nbval's options in a comment
    (# NBVAL_IGNORE_OUTPUT on an animation or a widget: nbval would take the comment and warn)."""
    return not (_is_setup(cell.source) or colab.is_bootstrap(cell) or "# NBVAL_" in cell.source)


def tag():
    import nbformat
    exact = exact_cells()
    for path in pack_notebooks():
        key = path.relative_to(ROOT).as_posix()
        notebook = nbformat.read(path, as_version=4)
        changed = 0
        for index, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
            tags = [t for t in cell.metadata.get("tags", []) if t != TAG]
            if index in exact.get(key, ()) and comparable(cell):
                tags.append(TAG)
            if tags != cell.metadata.get("tags", []):
                changed += 1
                if tags:
                    cell.metadata["tags"] = tags
                else:
                    cell.metadata.pop("tags", None)
        if changed:
            nbformat.write(notebook, path)
        print(f"{key}: {len(exact.get(key, ()))} cells compared exactly ({changed} tags changed)")
    return 0


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    pytest_args = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("run", "tag"))
    parser.add_argument("--only", nargs="*", default=[], help="run only these perturbations")
    args = parser.parse_args(argv)
    return run(args.only, pytest_args) if args.command == "run" else tag()


if __name__ == "__main__":
    sys.exit(main())
