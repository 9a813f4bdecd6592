"""The pack's tooling, which no notebook imports: the notebook runner (`make run`, `make notebooks`,
the benchmark), the lab generator (`make labs`) and the grader (`make grade`).

Imports flow one way: `tools` uses `utils` (the registry, the lab check API), never the reverse.
"""
import os

# Every kernel a tool starts (make test's nbval, make run, make notebooks, the grader) inherits this: there,
# utils.setup() refuses a TensorFlow other than the tested one instead of warning (utils/environment.py).
os.environ.setdefault("COURSE_STRICT_VERSIONS", "1")
