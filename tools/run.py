"""Run notebooks headless, in parallel, and report status, time, memory and every claim.

    python -m tools.run [NOTEBOOK ...] [--out build] [--workers N]

Each notebook runs top to bottom in a fresh kernel, one worker process per notebook; the peak
memory reported is the kernel's own high-water mark (Linux /proc; 0 elsewhere). It is saved executed and rendered to HTML under
OUT/notebooks/, and is summarised in OUT/report.json and OUT/report.html: status, wall time,
peak memory of the kernel, and each claim cell's statement, measured value, threshold and
verdict, so a changed result is visible even when it still passes. The exit status is 1 when
a notebook fails or a claim does not hold. `make run` calls this on every notebook and lab solution.
"""
import argparse
import html
import json
import multiprocessing
import os
import re
import sys
import time
from pathlib import Path

from tools.processes import kernel_memory_kib
from utils.course import ROOT, pack_notebooks

HELD = re.compile(r"^✓ (?P<statement>.*): measured (?P<measured>\S+) \((?P<needed>.+)\)$")
FAILED = re.compile(r"Claim failed: (?P<statement>.*)\n\s+measured (?P<measured>\S+), but the claim needs (?P<needed>.+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def claims_in(notebook):
    """The claims a run checked, in order, from its outputs: dicts of statement, measured, needed, verdict."""
    found = []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                for line in output["text"].splitlines():
                    match = HELD.match(line)
                    if match:
                        found.append({**match.groupdict(), "verdict": "holds"})
            elif output.get("output_type") == "error":
                match = FAILED.search(ANSI.sub("", output.get("evalue", "")))
                if match:
                    found.append({**match.groupdict(), "verdict": "failed"})
    return found


def execute(path, timeout=600):
    """Run a notebook top to bottom in a fresh kernel, without raising.

    Returns (executed notebook, error or None, wall seconds from kernel start to shutdown,
    the kernel's peak memory in KiB).
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}}, record_timing=False)
    peak = [0]
    client.on_cell_executed = lambda **_: peak.append(max(peak[-1], kernel_memory_kib(client.km)))
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as failure:
        first_line = ANSI.sub("", failure.evalue).strip().splitlines()[0] if failure.evalue.strip() else ""
        error = f"{failure.ename}: {first_line}"[:500]
    except Exception as failure:  # a dead kernel, a timeout: the batch goes on
        error = f"{type(failure).__name__}: {failure}"[:500]
    return notebook, error, time.perf_counter() - start, peak[-1]


def run_one(path, out, timeout):
    """Execute one notebook; return its entry of the report. Runs in a fresh worker process."""
    import nbformat
    from nbconvert import HTMLExporter

    notebook, error, wall, peak_kib = execute(path, timeout)
    name = Path(path).stem
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / "notebooks" / f"{name}.ipynb")
    body, _ = HTMLExporter().from_notebook_node(notebook)
    (out / "notebooks" / f"{name}.html").write_text(body, encoding="utf-8")
    claims = claims_in(notebook)
    failed = error is not None or any(claim["verdict"] != "holds" for claim in claims)
    return {"notebook": str(Path(path).relative_to(ROOT)) if Path(path).is_relative_to(ROOT) else str(path),
            "status": "failed" if failed else "passed", "wall_s": round(wall, 1),
            "peak_memory_mib": round(peak_kib / 1024), "claims": claims, "error": error,
            "html": f"notebooks/{name}.html"}


def write_html(report, path):
    rows = []
    for entry in report["notebooks"]:
        held = sum(claim["verdict"] == "holds" for claim in entry["claims"])
        rows.append(f"<tr class='{entry['status']}'><td><a href='{html.escape(entry['html'])}'>"
                    f"{html.escape(entry['notebook'])}</a></td><td>{entry['status']}</td><td>{entry['wall_s']}</td>"
                    f"<td>{entry['peak_memory_mib']}</td><td>{held} / {len(entry['claims'])}</td>"
                    f"<td>{html.escape(entry['error'] or '')}</td></tr>")
    details = []
    for entry in report["notebooks"]:
        details.append(f"<h2>{html.escape(entry['notebook'])}</h2><table><tr><th>claim</th><th>measured</th>"
                       "<th>needed</th><th>verdict</th></tr>")
        details += [f"<tr class='{'passed' if c['verdict'] == 'holds' else 'failed'}'><td>{html.escape(c['statement'])}"
                    f"</td><td>{html.escape(c['measured'])}</td><td>{html.escape(c['needed'])}</td>"
                    f"<td>{c['verdict']}</td></tr>" for c in entry["claims"]]
        details.append("</table>")
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>Course run</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.failed{background:#fdd}</style>"
        f"<h1>Course run: {report['passed']} of {len(report['notebooks'])} notebooks passed</h1>"
        f"<p>{html.escape(report['environment'])}; {report['scale']} scale; {report['workers']} workers, "
        f"{report['wall_s']} s in all.</p>"
        "<table><tr><th>notebook</th><th>status</th><th>wall time (s)</th><th>peak memory (MiB)</th>"
        "<th>claims holding</th><th>error</th></tr>" + "".join(rows) + "</table>" + "".join(details),
        encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=min(cores, 4))
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args(argv)
    from utils.environment import scale
    budget = scale()   # kernels inherit COURSE_SCALE from this process; a bad value stops here
    paths = [p.resolve() for p in args.notebooks] or pack_notebooks()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers, maxtasksperchild=1) as pool:   # a fresh worker, hence kernel, per notebook
        entries = pool.starmap(run_one, [(path, args.out, args.timeout) for path in paths])
    import tensorflow as tf  # for the record
    report = {"notebooks": entries, "passed": sum(e["status"] == "passed" for e in entries),
              "workers": args.workers, "wall_s": round(time.perf_counter() - start, 1), "scale": budget,
              "environment": f"Python {sys.version.split()[0]}, TensorFlow {tf.__version__}"}
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    write_html(report, args.out / "report.html")
    for entry in entries:
        held = sum(claim["verdict"] == "holds" for claim in entry["claims"])
        print(f"{entry['status']:7} {entry['wall_s']:6.1f} s {entry['peak_memory_mib']:6d} MiB  "
              f"{held}/{len(entry['claims'])} claims  {entry['notebook']}" + (f"  ({entry['error']})" if entry["error"] else ""))
    print(f"report: {args.out / 'report.html'}")
    return 0 if report["passed"] == len(entries) else 1


if __name__ == "__main__":
    sys.exit(main())
