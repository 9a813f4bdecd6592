"""The grader, in three layers that import one way: `batch` (a folder of submissions, the command
line) uses `submission` (one submission: the lab's cells, the test cells, the result) uses `kernel`
(one kernel with limits).

    python -m tools.grading grade LAB SUBMISSIONS [--out DIR] ...     (make grade LAB=01 SUBMISSIONS=...)
"""
