"""The grader, in layers that import one way: `batch` (a folder of submissions, the command line)
runs one `submission` per worker process (the lab's cells, the test cells, the result), which drives
a `kernel` (the Jupyter protocol, per-cell limits) inside a `sandbox` (bubblewrap, and the watcher
that holds the limits of the whole submission).

    python -m tools.grading grade LAB SUBMISSIONS [--out DIR] ...     (make grade LAB=01 SUBMISSIONS=...)
"""
