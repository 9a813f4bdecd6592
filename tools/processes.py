"""What a process and everything it started use, read from outside with psutil (Linux, macOS, Windows).

Shared by `make run`, the benchmark and the grader. CPU time is the measure of cost that barely
depends on what else the machine is doing; memory is the resident size, summed over a process tree.
"""
import sys

import psutil


def tree(pid, include_root=True):
    """The process `pid` (unless include_root is false) and all its living descendants, as
    psutil.Process objects; [] when it is gone. A descendant that left the tree by a double fork is
    found only where it was reparented inside the tree (a PID namespace's init, a subreaper)."""
    try:
        root = psutil.Process(pid)
        found = root.children(recursive=True)
    except psutil.Error:
        return []
    return ([root] if include_root else []) + found


_PRIVATE = ("RssAnon:", "RssShmem:", "VmSwap:")


def private_kib(status_path):
    """Linux: the memory a process holds that no other process shares and the system cannot simply drop
    (anonymous and shared-memory pages, resident or swapped), from a /proc/<pid>/status file; None
    where the file has no such lines (another system), 0 when it is gone."""
    try:
        with open(status_path, "rb") as status:
            lines = [line.decode("ascii", "replace") for line in status if line.startswith((b"Rss", b"VmSwap"))]
    except OSError:
        return 0
    found = [int(line.split()[1]) for line in lines if line.startswith(_PRIVATE)]
    return sum(found) if found else None


def usage(processes):
    """(memory in KiB, CPU seconds) summed over `processes`. Memory is each process's private memory
    (private_kib) where the system reports it (Linux), otherwise its resident size.

    CPU seconds are user + system time of each process, plus the time of the children it has waited
    for (so work done by processes that have already exited is counted by whoever reaped them).
    Processes that vanish while being read are skipped.
    """
    rss, cpu = 0, 0.0
    for process in processes:
        try:
            with process.oneshot():
                memory, times = process.memory_info(), process.cpu_times()
        except psutil.Error:
            continue
        private = private_kib(f"/proc/{process.pid}/status") if sys.platform.startswith("linux") else None
        rss += memory.rss if private is None else private * 1024
        cpu += times.user + times.system + getattr(times, "children_user", 0.0) + getattr(times, "children_system", 0.0)
    return rss // 1024, cpu


def peak_kib(pid):
    """The peak resident memory of one process in KiB where the system records it (Linux: VmHWM,
    Windows: the peak working set); elsewhere (macOS) its current resident size. 0 when unknown."""
    try:
        process = psutil.Process(pid)
        memory = process.memory_info()
    except psutil.Error:
        return 0
    if hasattr(memory, "peak_wset"):
        return memory.peak_wset // 1024
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return memory.rss // 1024


def _kernel_pid(kernel_manager):
    try:
        return kernel_manager.provisioner.process.pid
    except AttributeError:
        return None


def kernel_memory_kib(kernel_manager, field="VmHWM"):
    """A kernel's memory in KiB, the processes it started included: its peak (field "VmHWM", where the
    system records peaks) or current ("VmRSS") resident size, plus its children's current size.
    0 where unknown. Call it repeatedly (e.g. after every cell) and keep the largest."""
    pid = _kernel_pid(kernel_manager)
    if pid is None:
        return 0
    children_kib, _ = usage(tree(pid, include_root=False))
    if field == "VmHWM":
        return peak_kib(pid) + children_kib
    own_kib, _ = usage(tree(pid)[:1])
    return own_kib + children_kib


def kernel_cpu_seconds(kernel_manager):
    """A kernel's CPU time so far, user and system, with the processes it started (alive or reaped); 0
    where unknown. Unlike wall time it barely depends on what else the machine is doing."""
    pid = _kernel_pid(kernel_manager)
    return 0.0 if pid is None else usage(tree(pid))[1]
