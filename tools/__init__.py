"""The pack's tooling, which no notebook imports: the notebook runner (`make run`, `make notebooks`,
the benchmark), the lab generator (`make labs`) and the grader (`make grade`).

Imports flow one way: `tools` uses `utils` (the registry, the lab check API), never the reverse.
"""
