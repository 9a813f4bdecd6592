"""One submission's kernel: started in its sandbox, driven over the Jupyter protocol, held to limits.

`Kernel.run(code)` never raises: it returns an `Outcome` (ok, error, cpu, wall, stopped, or the
reason the whole kernel was stopped). The client is written here rather than taken from
jupyter_client, so that everything the kernel sends is treated as untrusted data: each message is
bounded in size, may be malformed (it is then dropped), and is read only for its type, its parent
and a few fields. Values come back on the kernel's stdout as one line with a per-request nonce
(see utils.labkit.probe); the grader's verdicts never do.
"""
import os
import re
import secrets
import time
from dataclasses import dataclass

from tools.grading.sandbox import KERNEL_DIR, Sandbox, Unsandboxed, Watcher
from utils.labkit import RESULT_MARK, readable

MAX_MESSAGE_BYTES = 32 * 2**20    # one message from the kernel; a larger one closes its channel
MAX_CELL_BYTES = 256 * 2**20      # all messages from the kernel while one cell runs
MAX_RESULT_CHARS = 24 * 2**20     # one result line (a packed value, base64)
MAX_MESSAGE_CHARS = 600           # per line of feedback
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
TEMP_PATH = re.compile(r"/[^\s'\"]*/labkit-[^\s'\"/]+")   # a submission's temporary folder


def clean(text, limit=MAX_MESSAGE_CHARS):
    """One feedback-ready line: valid text, no colour codes, memory addresses or temp paths; bounded."""
    text = readable(text)[:4 * limit]   # cut before any pattern runs: TEMP_PATH is quadratic on a run of "/"
    text = ADDRESS.sub("0x…", CONTROL.sub(" ", ANSI.sub("", text)))
    text = TEMP_PATH.sub("[submission folder]", text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class Limits:
    """What one submission may use. CPU time is summed over all its processes; the wall-clock
    limits are a backstop for code that waits instead of computing."""

    cpu: float = 240.0            # CPU seconds, whole submission
    cell_cpu: float = 120.0       # CPU seconds, one cell
    wall: float = 600.0           # seconds, whole submission
    cell_wall: float = 120.0      # seconds, one cell
    memory_mib: int = 2048        # resident memory of all its processes plus the files in its /tmp
    start: float = 120.0          # seconds for the kernel to start and answer
    grace: float = 10.0           # seconds an interrupted cell has to come back before the kernel is stopped

    def describe(self):
        return {"cpu": f"{self.cell_cpu:g} s of CPU time per cell, {self.cpu:g} s for the whole notebook",
                "wall": f"{self.cell_wall:g} s per cell, {self.wall:g} s for the whole notebook",
                "memory": f"{self.memory_mib} MiB for all its processes and files"}


# Why a whole kernel was stopped: the status in grades.csv and the line in the feedback.
STOPPED = {
    "cpu": ("time limit", "the notebook used more than its CPU time limit ({cpu})"),
    "wall": ("time limit", "the notebook ran longer than its time limit ({wall})"),
    "memory": ("memory limit", "the notebook used more than its memory limit ({memory})"),
    "processes": ("process limit", "the notebook started more than 256 processes or 1024 threads"),
    "sockets": ("process limit", "the notebook opened more than 2048 sockets"),
    "flood": ("output limit", "the kernel sent the grader more data than it accepts (32 MiB at once, "
                              "256 MiB per cell)"),
    "unresponsive": ("kernel died", "the kernel stopped taking requests"),
    "exited": ("kernel died", "the code asked the kernel to exit (exit() or quit())"),
    "dead": ("kernel died", "the kernel died (a crash, or its process was killed)"),
    "interrupt": ("time limit", "a cell over its time limit ignored the interrupt, so the kernel was stopped"),
}
STATUS = {key: status for key, (status, _) in STOPPED.items()}


class Outcome:
    """What running one piece of code in the kernel did; `result` is the value line's payload, if any."""

    def __init__(self, status, error="", result=None):
        self.status, self.error, self.result = status, error, result

    def reason(self, limits):
        text = limits.describe()
        if self.status == "error":
            return self.error
        if self.status == "cpu":
            return f"stopped: it used more than the CPU time limit ({text['cpu']})"
        if self.status == "wall":
            return f"stopped: it ran longer than the time limit ({text['wall']})"
        if self.status == "stopped":
            return f"not run: the kernel had been stopped earlier ({self.error})"
        if self.status in STOPPED:
            return "stopped: " + STOPPED[self.status][1].format(**text)
        return self.status


class ResultLines:
    """Finds the last line `RESULT_MARK + nonce + ':' + payload` in a stream of text chunks,
    keeping nothing else and no line longer than MAX_RESULT_CHARS. A line is kept as a list of its
    chunks, so that one sent in many small pieces costs linear time."""

    def __init__(self, nonce):
        self.prefix = f"{RESULT_MARK}{nonce}:"
        self.last = None
        self._reset()

    def _reset(self):
        self.head, self.parts, self.size, self.skipping = "", [], 0, False

    def feed(self, text):
        pieces = text.split("\n")
        for i, piece in enumerate(pieces):
            if not self.skipping:
                self.head += piece[:len(self.prefix) - len(self.head)]
                self.parts.append(piece)
                self.size += len(piece)
                if not self.prefix.startswith(self.head) or self.size > len(self.prefix) + MAX_RESULT_CHARS:
                    self._reset()
                    self.skipping = True
            if i < len(pieces) - 1:   # a newline ends the line
                if not self.skipping and self.head == self.prefix:
                    self.last = "".join(self.parts)[len(self.prefix):]
                self._reset()


def _field(mapping, key, kind):
    value = mapping.get(key) if isinstance(mapping, dict) else None
    return value if isinstance(value, kind) else None


class Kernel:
    """A kernel for one submission, in its sandbox (or not, sandboxed=False), with `limits`."""

    def __init__(self, workdir, view, limits, sandboxed=True):
        import zmq
        from jupyter_client.session import Session
        self.limits, self.stopped = limits, None
        self.started = time.monotonic()
        key = secrets.token_hex(32)
        connection = {"transport": "ipc", "ip": f"{KERNEL_DIR}/k", "shell_port": 1, "iopub_port": 2,
                      "stdin_port": 3, "control_port": 4, "hb_port": 5, "key": key,
                      "signature_scheme": "hmac-sha256", "kernel_name": "python3"}
        self.session = Session(key=key.encode("ascii"), signature_scheme="hmac-sha256", username="grader")
        self.context = zmq.Context()
        self.sockets, self._fds, self.monitor, self.flooded = {}, [], None, False
        self.received = 0   # bytes from the kernel while the current cell runs
        self.log = open(os.path.join(workdir, "kernel.log"), "wb")
        memory_kib = limits.memory_mib * 1024
        self.box = (Sandbox if sandboxed else Unsandboxed)(workdir, view, connection, memory_kib, limits.cpu,
                                                               self.log)
        self.watcher = Watcher(self.box, limits.cpu, memory_kib, limits.wall)
        self.watcher.start()
        try:
            self._connect()
        except Exception:
            self.shutdown()
            raise

    # --- connection ---

    def _connect(self):
        import zmq
        deadline = time.monotonic() + self.limits.start
        wanted = {"shell": ("k-1", zmq.DEALER), "iopub": ("k-2", zmq.SUB), "control": ("k-4", zmq.DEALER)}
        paths = {}
        while len(paths) < len(wanted):
            for channel, (name, _) in wanted.items():
                if channel not in paths:
                    fd = self.box.socket(name)
                    if fd is not None:
                        self._fds.append(fd)
                        paths[channel] = f"ipc:///proc/self/fd/{fd}"
            if len(paths) < len(wanted):
                self._check_starting(deadline)
                time.sleep(0.05)   # waiting for another process, not synchronising a test
        for channel, (_, kind) in wanted.items():
            sock = self.context.socket(kind)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.SNDTIMEO, 2000)   # a kernel that stops reading cannot block the grader
            sock.setsockopt(zmq.MAXMSGSIZE, MAX_MESSAGE_BYTES)
            sock.setsockopt(zmq.RCVHWM, 16)
            if kind == zmq.SUB:
                sock.setsockopt(zmq.SUBSCRIBE, b"")
            sock.connect(paths[channel])
            self.sockets[channel] = sock
        # A message over MAX_MESSAGE_BYTES makes zmq drop the connection: then the kernel flooded us.
        self.monitor = self.sockets["iopub"].get_monitor_socket(zmq.EVENT_DISCONNECTED)
        # Ready when the kernel answers kernel_info on shell and its iopub messages reach us. The request
        # is repeated once a second (a kernel drops what came before it listened; iopub joins late), and
        # an answer to any of them counts: repeating it on every message that arrives would flood a slow
        # kernel, and ipykernel 7 then deadlocks (its shell thread and main thread both block on sending).
        sent, replied, published, ask_at = set(), False, False, 0.0
        while not (replied and published):
            self._check_starting(deadline)
            if time.monotonic() >= ask_at:
                sent.add(self._send("shell", "kernel_info_request", {}))
                ask_at = time.monotonic() + 1.0
            for channel, msg in self._receive(timeout_ms=200):
                if channel == "iopub":
                    published = True
                elif _field(msg.get("parent_header"), "msg_id", str) in sent - {None}:
                    replied = True
        if self.box.usage()[2] == 0:
            raise RuntimeError("the grader cannot see the sandbox's processes (through /proc), so it could not hold "
                               "the limits; is /proc mounted with hidepid?")

    def _check_starting(self, deadline):
        if not self.box.alive() or self.watcher.reason:
            raise RuntimeError(f"the kernel stopped while starting ({self.watcher.reason or 'it exited'})")
        if self.flooded:
            raise RuntimeError("the kernel sent the grader more than it accepts while starting")
        if time.monotonic() > deadline:
            raise RuntimeError(f"the kernel did not start within {self.limits.start:g} s")

    def _send(self, channel, kind, content):
        """The request's msg_id; None when the kernel does not take it (its socket is full or gone)."""
        import zmq
        try:
            return self.session.send(self.sockets[channel], kind, content)["header"]["msg_id"]
        except zmq.ZMQError:
            return None

    def _receive(self, timeout_ms):
        """(channel, message) pairs that arrived within timeout_ms (at most 200); malformed ones dropped."""
        import zmq
        poller = zmq.Poller()
        for sock in self.sockets.values():
            poller.register(sock, zmq.POLLIN)
        if self.monitor is not None:
            poller.register(self.monitor, zmq.POLLIN)
        got = []
        try:
            ready = dict(poller.poll(timeout_ms))
        except zmq.ZMQError:
            return got
        if self.monitor in ready:
            self.flooded = True
        for channel, sock in self.sockets.items():
            while sock in ready and len(got) < 200:
                try:
                    frames = sock.recv_multipart(zmq.NOBLOCK, copy=True)
                except zmq.ZMQError:
                    break
                self.received += sum(len(frame) for frame in frames)
                if self.received > MAX_CELL_BYTES:
                    self.flooded = True
                    break
                try:
                    _, frames = self.session.feed_identities(frames, copy=True)
                    msg = self.session.deserialize(frames, content=True, copy=True)
                except Exception:   # a bad signature, bad JSON, nesting too deep: not a message of ours
                    continue
                if isinstance(msg, dict) and isinstance(msg.get("content"), dict):
                    got.append((channel, msg))
        return got

    # --- running code ---

    def run(self, code, nonce=None):
        """Run code; never raises. A cell over its CPU or wall-clock limit is interrupted; a kernel
        that passes a limit of the whole submission, dies, or ignores the interrupt is stopped for good."""
        if self.stopped:
            return Outcome("stopped", error=STATUS[self.stopped])
        self.received = 0
        msg_id = self._send("shell", "execute_request", {
            "code": code, "silent": False, "store_history": False, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": False})
        if msg_id is None:
            return self._stop(self._why() if self.watcher.reason or not self.box.alive() else "unresponsive")
        lines = ResultLines(nonce or "")
        cpu0, wall0, error = self.watcher.cpu, time.monotonic(), ""
        idle, replied, exits = None, False, False
        while True:
            if self.watcher.reason or not self.box.alive() or self.flooded:
                return self._stop(self._why())
            if self.watcher.cpu - cpu0 > self.limits.cell_cpu:
                return self._interrupt(msg_id, "cpu")
            if time.monotonic() - wall0 > self.limits.cell_wall:
                return self._interrupt(msg_id, "wall")
            for channel, msg in self._receive(timeout_ms=100):
                if _field(msg.get("parent_header"), "msg_id", str) != msg_id:
                    continue
                kind, content = _field(msg.get("header"), "msg_type", str), msg["content"]
                if channel == "shell" and kind == "execute_reply":
                    replied = True
                    payloads = _field(content, "payload", list) or []
                    exits = exits or any(_field(p, "source", str) == "ask_exit" for p in payloads)
                elif channel != "iopub":
                    continue
                elif kind == "stream" and _field(content, "name", str) == "stdout":
                    lines.feed(_field(content, "text", str) or "")
                elif kind == "error":
                    error = f"{_field(content, 'ename', str) or 'Error'}: {_field(content, 'evalue', str) or ''}"
                elif kind == "status" and _field(content, "execution_state", str) == "idle":
                    idle = time.monotonic()
            # Done when the kernel is idle and has replied (its reply says whether the code asked it to
            # exit, which it does a moment later: that is decided here, not by a race).
            if idle and (replied or time.monotonic() - idle > 2):
                if exits:
                    return self._stop("exited")
                return Outcome("error" if error else "ok", clean(error), lines.last)

    def _interrupt(self, msg_id, why):
        """Interrupt; if the kernel comes back idle within limits.grace s the next cells can still run."""
        self._send("control", "interrupt_request", {})
        until = time.monotonic() + self.limits.grace
        while time.monotonic() < until:
            if self.watcher.reason or not self.box.alive() or self.flooded:
                return self._stop(self._why())
            for channel, msg in self._receive(timeout_ms=100):
                if (channel == "iopub" and _field(msg.get("parent_header"), "msg_id", str) == msg_id
                        and _field(msg.get("header"), "msg_type", str) == "status"
                        and _field(msg["content"], "execution_state", str) == "idle"):
                    return Outcome(why)
        self._stop("interrupt")
        return Outcome(why)

    def _why(self):
        """Why the kernel is gone or must go. A dropped channel is a flood only if the kernel lives on."""
        if self.flooded and self.box.alive():
            try:
                self.box.process.wait(timeout=2)
            except Exception:
                pass
        if self.watcher.reason:
            return self.watcher.reason
        return "dead" if not self.box.alive() else "flood"

    def _stop(self, why):
        self.stopped = why
        self.shutdown()
        return Outcome(why)

    def usage(self):
        """(CPU seconds, peak memory in MiB) of the whole submission so far."""
        return self.watcher.cpu, self.watcher.peak_kib // 1024

    def shutdown(self):
        """Stop the kernel and every process it started; return once they are gone."""
        if self.context.closed:
            return
        self.watcher.stop()
        self.box.close()
        if self.monitor is not None:
            self.sockets["iopub"].disable_monitor()
            self.monitor.close(linger=0)
            self.monitor = None
        for sock in self.sockets.values():
            sock.close(linger=0)
        self.sockets = {}
        self.context.term()
        for fd in self._fds:
            os.close(fd)
        self._fds = []
        if not self.log.closed:
            self.log.close()
