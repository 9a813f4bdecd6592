"""Run notebooks headless, in parallel, and report status, time, memory and every claim.

    python -m tools.run [NOTEBOOK ...] [--out build] [--workers N] [--store]

Each notebook runs top to bottom in a fresh kernel, one worker process per notebook. Each is saved
executed and rendered to HTML under OUT/notebooks/, and summarised in OUT/report.json and
OUT/report.html: status, wall time, the kernel's CPU time and peak memory, and every claim's and
check's statement, measured value, threshold and verdict, so a changed result is visible even when
it still passes. The exit status is 1 when a notebook fails or a claim does not hold.

`make run` calls this on every notebook and lab solution. `make notebooks` calls it with --store:
then every notebook that ran cleanly is written back in place (no widget state, so a re-run with no
change of source changes no line), and the claims baseline is rewritten from the stored notebooks.
"""
import argparse
import html
import json
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tools import drift
from tools.processes import kernel_cpu_seconds, kernel_memory_kib
from utils.course import ROOT, pack_notebooks


def claims_in(notebook):
    """The claims and checks a run printed, in order: dicts of kind, statement, measured, op, threshold,
    tol, verdict and the code cell they came from."""
    return [{"cell": cell, **record} for cell, records in drift.records_in(notebook).items() for record in records]


@dataclass
class Run:
    notebook: object        # the executed notebook (nbformat)
    error: str | None       # the first failure, or None
    wall_s: float           # kernel start to shutdown
    peak_kib: int           # the kernel's peak resident memory
    cpu_s: float            # the kernel's CPU time (user + system, its children included)


def execute(path, timeout=600):
    """Run a notebook top to bottom in a fresh kernel, with its own folder as working directory, without
    raising; returns a `Run`. Widget state is not kept: its random ids would change every run.
    (nbclient's store_widget_state=False breaks on Output widgets, so the state is dropped after.)"""
    import logging

    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    # nbclient's kernel-alive poll can outlive the kernel and log a harmless "Task exception was never retrieved"
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(Path(path).parent)}}, record_timing=False)
    peak, cpu = [0], [0.0]

    def measure(**_):
        peak.append(max(peak[-1], kernel_memory_kib(client.km)))
        cpu.append(max(cpu[-1], kernel_cpu_seconds(client.km)))

    client.on_cell_executed = measure
    start, error = time.perf_counter(), None
    try:
        client.execute()
    except CellExecutionError as failure:
        first_line = drift.ANSI.sub("", failure.evalue).strip().splitlines()[0] if failure.evalue.strip() else ""
        error = f"{failure.ename}: {first_line}"[:500]
    except Exception as failure:  # a dead kernel, a timeout: the batch goes on
        error = f"{type(failure).__name__}: {failure}"[:500]
    notebook.metadata.pop("widgets", None)
    return Run(notebook, error, time.perf_counter() - start, peak[-1], cpu[-1])


def run_one(path, out, timeout, store=False):
    """Execute one notebook; return its entry of the report. Runs in a fresh worker process."""
    import nbformat
    from nbconvert import HTMLExporter

    run = execute(path, timeout)
    notebook, error = run.notebook, run.error
    name = Path(path).stem
    (out / "notebooks").mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, out / "notebooks" / f"{name}.ipynb")
    body, _ = HTMLExporter().from_notebook_node(notebook)
    (out / "notebooks" / f"{name}.html").write_text(body, encoding="utf-8")
    claims = claims_in(notebook)
    failed = error is not None or any(claim["verdict"] != "holds" for claim in claims)
    if store and not failed:
        nbformat.write(notebook, path)
    return {"notebook": str(Path(path).relative_to(ROOT)) if Path(path).is_relative_to(ROOT) else str(path),
            "status": "failed" if failed else "passed", "wall_s": round(run.wall_s, 1), "cpu_s": round(run.cpu_s, 1),
            "peak_memory_mib": round(run.peak_kib / 1024), "claims": claims, "error": error,
            "stored": store and not failed, "html": f"notebooks/{name}.html"}


def write_html(report, path):
    rows = []
    for entry in report["notebooks"]:
        claims = [c for c in entry["claims"] if c["kind"] == "claim"]
        held = sum(claim["verdict"] == "holds" for claim in claims)
        rows.append(f"<tr class='{entry['status']}'><td><a href='{html.escape(entry['html'])}'>"
                    f"{html.escape(entry['notebook'])}</a></td><td>{entry['status']}</td><td>{entry['wall_s']}</td>"
                    f"<td>{entry['cpu_s']}</td><td>{entry['peak_memory_mib']}</td><td>{held} / {len(claims)}</td>"
                    f"<td>{html.escape(entry['error'] or '')}</td></tr>")
    details = []
    for entry in report["notebooks"]:
        details.append(f"<h2>{html.escape(entry['notebook'])}</h2><table><tr><th>kind</th><th>statement</th>"
                       "<th>measured</th><th>needed</th><th>verdict</th></tr>")
        details += [f"<tr class='{'passed' if c['verdict'] == 'holds' else 'failed'}'><td>{c['kind']}</td>"
                    f"<td>{html.escape(c['statement'])}</td><td>{c['measured']:.4g}</td>"
                    f"<td>{html.escape(drift.needed(c))}</td><td>{c['verdict']}</td></tr>" for c in entry["claims"]]
        details.append("</table>")
    path.write_text(
        "<!doctype html><meta charset='utf-8'><title>Course run</title><style>"
        "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;margin-bottom:1.5em}"
        "td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}.failed{background:#fdd}</style>"
        f"<h1>Course run: {report['passed']} of {len(report['notebooks'])} notebooks passed</h1>"
        f"<p>{html.escape(report['environment'])}; {report['scale']} scale; {report['workers']} workers, "
        f"{report['wall_s']} s in all.</p>"
        "<table><tr><th>notebook</th><th>status</th><th>wall time (s)</th><th>kernel CPU time (s)</th>"
        "<th>peak memory (MiB)</th>"
        "<th>claims holding</th><th>error</th></tr>" + "".join(rows) + "</table>" + "".join(details),
        encoding="utf-8")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "build")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    parser.add_argument("--workers", type=int, default=min(cores, 4))
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    parser.add_argument("--store", action="store_true",
                        help="write each notebook that ran cleanly back in place, then rewrite the claims baseline")
    args = parser.parse_args(argv)
    from utils.environment import scale
    budget = scale()   # kernels inherit COURSE_SCALE from this process; a bad value stops here
    paths = [p.resolve() for p in args.notebooks] or pack_notebooks()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with context.Pool(args.workers, maxtasksperchild=1) as pool:   # a fresh worker, hence kernel, per notebook
        entries = pool.starmap(run_one, [(path, args.out, args.timeout, args.store) for path in paths])
    import tensorflow as tf  # for the record
    report = {"notebooks": entries, "passed": sum(e["status"] == "passed" for e in entries),
              "workers": args.workers, "wall_s": round(time.perf_counter() - start, 1), "scale": budget,
              "environment": f"Python {sys.version.split()[0]}, TensorFlow {tf.__version__}"}
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False), encoding="utf-8")
    write_html(report, args.out / "report.html")
    for entry in entries:
        claims = [c for c in entry["claims"] if c["kind"] == "claim"]
        held = sum(claim["verdict"] == "holds" for claim in claims)
        print(f"{entry['status']:7} {entry['wall_s']:6.1f} s {entry['cpu_s']:6.1f} s CPU "
              f"{entry['peak_memory_mib']:6d} MiB  "
              f"{held}/{len(claims)} claims  {entry['notebook']}" + ("  (stored)" if entry["stored"] else "")
              + (f"  ({entry['error']})" if entry["error"] else ""))
    if args.store:
        drift.write_baseline()
        print(f"claims baseline rewritten from the stored notebooks: {drift.BASELINE.relative_to(ROOT)}")
    print(f"report: {args.out / 'report.html'}")
    return 0 if report["passed"] == len(entries) else 1


if __name__ == "__main__":
    sys.exit(main())
