"""What a kernel process uses, read from outside it: shared by `make run`, the benchmark and the grader."""


def kernel_memory_kib(kernel_manager, field="VmHWM"):
    """A kernel process's memory in KiB from Linux's /proc: its peak (VmHWM) or current (VmRSS)
    resident size; 0 where unknown."""
    try:
        with open(f"/proc/{kernel_manager.provisioner.process.pid}/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
    except (AttributeError, OSError, StopIteration, ValueError):
        return 0


def kernel_cpu_seconds(kernel_manager):
    """A kernel process's CPU time so far, user and system, its finished children included; 0 where unknown.

    Unlike wall time it barely depends on what else the machine is doing.
    """
    import psutil
    try:
        times = psutil.Process(kernel_manager.provisioner.process.pid).cpu_times()
    except (AttributeError, psutil.Error):
        return 0.0
    return times.user + times.system + times.children_user + times.children_system
