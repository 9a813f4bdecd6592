"""Kernel control for grading one submission: a fresh kernel in an empty folder, with limits.

`Kernel.run(code)` never raises: it returns an `Outcome` (ok, error, timeout, dead, memory, stopped).
A crash, a memory overrun or a time-out the kernel does not recover from stops it for good.
"""
import os
import queue
import re
import signal
import time
from pathlib import Path

from tools.processes import kernel_memory_kib

MAX_OUTPUT_CHARS = 2 * 2**20      # kept per cell; the rest is counted and dropped
MAX_MESSAGE_CHARS = 600           # per line of feedback
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def clean(text, limit=MAX_MESSAGE_CHARS):
    """One feedback-ready line: no colour codes, memory addresses or temp paths; bounded."""
    text = ADDRESS.sub("0x…", ANSI.sub("", str(text)))
    text = re.sub(r"/[^\s'\"]*/labkit-[^\s'\"/]+", "<submission folder>", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


class Outcome:
    """What running one piece of code in the kernel did."""

    def __init__(self, status, stdout="", error=""):
        self.status, self.stdout, self.error = status, stdout, error   # status: ok, error, timeout, dead, memory

    def reason(self, limits):
        return {"error": self.error,
                "timeout": f"stopped: it ran longer than the time limit ({limits['time']})",
                "dead": "the kernel died while running it (a crash, or the process was killed)",
                "memory": f"stopped: the kernel used more than the memory limit ({limits['memory']})",
                "stopped": f"not run: the kernel had been stopped earlier ({self.error})"}.get(self.status, self.status)


STATUS = {"timeout": "time limit", "dead": "kernel died", "memory": "memory limit"}


class Kernel:
    """A kernel for one submission, run in an empty temporary folder, with limits."""

    def __init__(self, workdir, deadline, memory_mib, cell_timeout):
        from jupyter_client import KernelManager
        self.deadline, self.memory_kib, self.cell_timeout = deadline, memory_mib * 1024, cell_timeout
        self.stopped = None
        env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "SYSTEMROOT") if key in os.environ}
        home, cwd = Path(workdir, "home"), Path(workdir, "work")
        home.mkdir()
        cwd.mkdir()
        env.update(HOME=str(home), TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS="0",
                   MPLBACKEND="Agg", PYTHONHASHSEED="0", PYTHONDONTWRITEBYTECODE="1")
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=str(cwd), env=env, preexec_fn=_kernel_limits)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=max(5, min(120, deadline - time.monotonic())))

    def run(self, code):
        """Run code; never raises. Stops the kernel for good on a crash, a memory overrun, or a
        time-out it does not recover from."""
        if self.stopped:
            return Outcome("stopped", error=STATUS[self.stopped])
        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        limit = min(time.monotonic() + self.cell_timeout, self.deadline)
        chunks, kept, error = [], 0, ""
        while True:
            now = time.monotonic()
            if now > limit:
                return self._timed_out(msg_id, now >= self.deadline)
            if not self.km.is_alive():
                return self._stop("dead")
            if self.memory_kib and kernel_memory_kib(self.km, "VmRSS") > self.memory_kib:
                return self._stop("memory")
            try:
                msg = self.kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream" and kept < MAX_OUTPUT_CHARS:
                text = content.get("text", "")[:MAX_OUTPUT_CHARS - kept]
                chunks.append(text)
                kept += len(text)
            elif kind == "error":
                error = f"{content.get('ename', 'Error')}: {content.get('evalue', '')}"
            elif kind == "status" and content.get("execution_state") == "idle":
                return Outcome("error" if error else "ok", "".join(chunks), clean(error))

    def _timed_out(self, msg_id, whole_budget):
        """Interrupt; if the kernel comes back idle within 5 s the next cells can still run."""
        if whole_budget:
            return self._stop("timeout")
        self.km.interrupt_kernel()
        until = time.monotonic() + 5
        while time.monotonic() < until:
            try:
                msg = self.kc.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                continue
            if (msg.get("parent_header", {}).get("msg_id") == msg_id and msg["msg_type"] == "status"
                    and msg["content"].get("execution_state") == "idle"):
                return Outcome("timeout")
        return self._stop("timeout")

    def _stop(self, why):
        self.stopped = why
        self.shutdown()
        return Outcome(why)

    def shutdown(self):
        try:
            self.kc.stop_channels()
            pid = self.km.provisioner.process.pid if self.km.provisioner else None
            self.km.shutdown_kernel(now=True)
            if pid:
                os.killpg(pid, signal.SIGKILL)   # anything the student's code started
        except (OSError, RuntimeError, AttributeError):
            pass


def _kernel_limits():
    """In the kernel process before it starts: no core files, no files over 256 MiB."""
    import resource
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 2**20, 256 * 2**20))

