"""What a kernel process uses, read from outside it: shared by `make run`, the benchmark and the grader."""


def kernel_memory_kib(kernel_manager, field="VmHWM"):
    """A kernel process's memory in KiB from Linux's /proc: its peak (VmHWM) or current (VmRSS)
    resident size; 0 where unknown."""
    try:
        with open(f"/proc/{kernel_manager.provisioner.process.pid}/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
    except (AttributeError, OSError, StopIteration, ValueError):
        return 0
