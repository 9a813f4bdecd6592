"""The grader against hostile submissions that attack the operating system, not the checks.

Each case is a submission of a tiny lab (tests/fixtures/grading_lab.ipynb: three exercises in plain
NumPy, so a kernel starts in under a second) with one exercise cell replaced by an attack, written
as a student who knows the lab and labs/README.md would write it. The test states the points each
exercise must get, the status, and what the feedback must say. `make test` grades the cases marked
fast; `make test-grader` (COURSE_GRADER_FULL=1) grades them all.

Verdicts never depend on the machine's load: runaway cells are stopped by CPU time (load does not
change it) or by wall-clock limits far above what honest cells of this lab take (milliseconds), and
every attack that must be stopped waits in its cell until it is, so nothing races the watcher.
"""
import copy
import json
import os
import signal
import socket
import stat
import sys
import threading
import time
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

import nbformat
import psutil
import pytest

from tools import labs
from tools.grading import batch as grading
from tools.grading import sandbox
from tools.grading.kernel import Limits

pytestmark = pytest.mark.kernel

LAB = Path(__file__).parent / "fixtures" / "grading_lab.ipynb"
FULL = {"ex1": 2, "ex2": 2, "ex3": 2}
ZERO = dict.fromkeys(FULL, 0)
RUN_ALL = os.environ.get("COURSE_GRADER_FULL") == "1"
# Honest cells of this lab take milliseconds of CPU: these limits are generous for them at any load.
# A runaway loop reaches cell_cpu before cell_wall as long as it gets a tenth of a core.
LIMITS = Limits(cpu=20, cell_cpu=1, wall=120, cell_wall=10, memory_mib=512, start=120, grace=5)
# Filling memory costs CPU time too, more of it on a loaded machine: the memory cases get CPU time to spare,
# so that their verdict is the memory limit however busy the machine is (measured: at 2x load a child
# filling 1 GiB used its cell's 1 s of CPU before the watcher saw 512 MiB).
MEMORY_LIMITS = replace(LIMITS, cell_cpu=10)
# For the limits on a whole submission: cells may run long, the notebook may not.
WHOLE = Limits(cpu=6, cell_cpu=100, wall=30, cell_wall=100, memory_mib=256, start=120, grace=5)
MARKER = f"labkit-attack-{uuid.uuid4().hex[:12]}"   # in every file or process an attack leaves behind
HAS_BWRAP = sandbox.check_bwrap(grading.ROOT) is None
needs_bwrap = pytest.mark.skipif(not HAS_BWRAP, reason="bubblewrap cannot make a sandbox here")

SOLUTION = {"ex1": "def double(x):\n    return 2 * np.asarray(x)\n",
            "ex2": "def total(values):\n    return float(sum(values))\n",
            "ex3": 'def greet(name):\n    return "hello, " + name\n'}


def solution():
    return nbformat.read(LAB, as_version=4)


def with_answer(exercise, code):
    """The solution with one exercise cell's code replaced."""
    notebook = copy.deepcopy(solution())
    next(c for c in notebook.cells if labs.grade_id(c) == f"{exercise}-answer").source = code
    return notebook


def flagged(exercise, attack):
    """`attack` sets `pwned` to what it achieved (empty if nothing); the answer is right only if
    nothing was achieved, so full marks mean every part of the attack failed."""
    name = SOLUTION[exercise].split("(")[0][4:]
    return with_answer(exercise, f"pwned = []\n{attack}\n{SOLUTION[exercise]}"
                                 f"if pwned:\n    {name} = lambda *a: {{'pwned': str(pwned)}}\n")


def lingering(code):
    """Attack code followed by a wait: the cell ends only when the grader stops it."""
    return f"{code}\nimport time\nwhile True:\n    time.sleep(0.05)\n"


ROOT_FINDER = """\
import glob, json, os, site, sys, utils
roots = {os.path.dirname(os.path.dirname(utils.__file__)), os.getcwd(), os.path.expanduser("~")}
for folder in site.getsitepackages() + sys.path:
    for pth in glob.glob(os.path.join(folder, "*.pth")):
        roots.update(line.strip() for line in open(pth) if line.startswith("/"))
"""

CASES_ = {}


@dataclass
class Case:
    make: object                 # () -> notebook (or bytes)
    points: dict
    status: str = "graded"
    says: tuple = ()             # substrings of the feedback
    fast: bool = False           # graded by make test too
    limits: Limits = LIMITS      # the batch it is graded in


def case(name, make, points, status="graded", says=(), fast=False, limits=LIMITS):
    CASES_[name] = Case(make, points, status, tuple(says), fast, limits)


# --- the kernel's view: no repository, no solutions, no classmates ---------------------------

case("reads_the_solution", lambda: with_answer("ex1", ROOT_FINDER + """
found = [p for r in roots for p in glob.glob(os.path.join(r, "labs", "solutions", "*.ipynb"))
         + glob.glob(os.path.join(r, "tests", "fixtures", "*.ipynb"))]
code = [c["source"] for p in found for c in json.load(open(p))["cells"] if "def double" in "".join(c["source"])]
if not code:
    raise RuntimeError("no solution found")
exec("".join(code[0]).replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
"""), {**FULL, "ex1": 0}, says=("RuntimeError: no solution found",), fast=True)

case("execs_a_classmate", lambda: with_answer("ex1", """
import glob, json, os
places = ["/tmp", "/home", "/root", "/work", "/srv", "/mnt", os.path.expanduser("~"), os.path.dirname(os.getcwd())]
found = [p for place in places for p in glob.glob(os.path.join(place, "**", "*.ipynb"), recursive=True)]
for path in found:
    for cell in json.load(open(path))["cells"]:
        if "def double" in "".join(cell["source"]) and "NotImplementedError" not in "".join(cell["source"]):
            exec("".join(cell["source"]))
double
"""), {**FULL, "ex1": 0}, says=("NameError: name 'double' is not defined",), fast=True)

case("rewrites_the_classmates", lambda: flagged("ex1", """
import glob, os
places = ["/tmp", "/home", "/root", "/work", "/srv", "/mnt", "/var", os.path.expanduser("~")]
for place in places + [os.path.dirname(os.getcwd())]:
    for path in glob.glob(os.path.join(place, "**", "*.ipynb"), recursive=True) + glob.glob(place + "/**/grades.csv"):
        try:   # opened for writing, nothing written: were the sandbox broken, nobody's work is lost
            os.close(os.open(path, os.O_WRONLY | os.O_APPEND))
            pwned.append(path)
        except OSError:
            pass
"""), FULL, fast=True)

case("reads_the_host", lambda: flagged("ex2", ROOT_FINDER + """
for path in ["/etc/passwd", "/etc/shadow", "/etc/hostname", "/etc/ssh", "/var/log"]:
    if os.path.exists(path):
        pwned.append(path)
for folder in ["/home", "/srv", "/mnt", "/media", "/opt", "/work"]:
    for found in glob.glob(os.path.join(folder, "**", "*"), recursive=True):
        if not found.endswith(("/.venv", "/" + os.path.basename(sys.prefix))) and ".venv" not in found:
            pwned.append(found)
pwned += [r for r in roots if os.path.isdir(os.path.join(r, "labs")) or os.path.isdir(os.path.join(r, "tools"))]
pwned += [p for p in glob.glob("/proc/[0-9]*/cmdline") if b"tools.grading" in open(p, "rb").read()]
"""), FULL)

case("reads_the_graders_environment", lambda: flagged("ex2", """
import glob
for path in glob.glob("/proc/*/environ"):
    try:
        if b"LABKIT_TEST_SECRET" in open(path, "rb").read():
            pwned.append(path)
    except OSError:
        pass
"""), FULL, fast=True)

case("finds_other_kernels", lambda: flagged("ex1", """
import glob, json, os
from ipykernel.connect import get_connection_file
own = json.load(open(get_connection_file()))["key"]
files = (glob.glob("/tmp/**/*.json", recursive=True) + glob.glob("/run/**/*.json", recursive=True)
         + glob.glob(os.path.expanduser("~/.local/share/jupyter/runtime/*.json")))
for path in files:
    try:
        key = json.load(open(path)).get("key")
    except Exception:
        continue
    if key and key != own:
        pwned.append(path)
"""), FULL, fast=True)


# --- nothing the kernel writes reaches the grader or later submissions --------------------------

case("writes_the_hosts_kernel_settings", lambda: flagged("ex3", """
import os
settings = [os.path.join(folder, name) for folder, _, names in os.walk("/proc/sys") for name in names]
for path in ["/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/proc/fs"] + settings:
    try:   # opened for writing, nothing written: graded as root, /proc/sys would be the host's own
        os.close(os.open(path, os.O_WRONLY))
        pwned.append(path)
    except OSError:
        pass
"""), FULL, fast=True)

case("plants_modules_for_the_grader", lambda: flagged("ex3", ROOT_FINDER + f"""
payload = "open('/tmp/{MARKER}-imported', 'w').write('pwned')\\n"
targets = []
for folder in set(sys.path + [os.getcwd(), os.path.expanduser("~"), "/tmp"] + site.getsitepackages() + list(roots)):
    if folder and os.path.isdir(folder):
        targets += [os.path.join(folder, name) for name in ("numpy.py", "zmq.py", "sitecustomize.py", "{MARKER}.pth")]
for root in roots:
    targets += [os.path.join(root, "utils", "__pycache__", f"labkit.{{sys.implementation.cache_tag}}.pyc"),
                os.path.join(root, "tools", "grading", "kernel.py")]
cache = os.path.join(os.path.dirname(utils.__file__), "__pycache__")
targets.append(os.path.join(cache, f"labkit.{{sys.implementation.cache_tag}}.pyc"))
for target in targets:
    try:
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "w") as handle:
            handle.write(("import os; " if target.endswith(".pth") else "") + payload)
    except OSError:
        continue
    if not target.startswith("/tmp/"):   # its own scratch is the kernel's to write
        pwned.append(target)
"""), FULL, fast=True)

PERSISTS = f"""
import glob, os, uuid
me = uuid.uuid4().hex
places = ["/tmp", "/var/tmp", "/dev/shm", "/run", os.getcwd(), os.path.expanduser("~"),
          os.path.expanduser("~/.ipython/profile_default/startup")]
for place in places:   # a note from a submission graded before this one
    for path in glob.glob(os.path.join(place, "{MARKER}-note.py")):
        try:
            if open(path).read() != me:
                pwned.append(path)
        except OSError:
            pass
for place in places:   # a note for the next submission, where a kernel might look
    try:
        os.makedirs(place, exist_ok=True)
        with open(os.path.join(place, "{MARKER}-note.py"), "w") as handle:
            handle.write(me)
    except OSError:
        pass
"""
for copy_ in ("a", "b"):   # graded one after the other, or at once: neither may see the other's note
    case(f"leaves_a_note_for_the_next_{copy_}", lambda: flagged("ex2", PERSISTS), FULL, fast=True)

case("plants_a_daemon", lambda: with_answer("ex2", f"""
import subprocess, sys
daemon = '''
import glob, os, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
while True:
    for path in glob.glob("/tmp/**/grades.csv", recursive=True) + glob.glob("/work/**/grades.csv"):
        try:
            open(path, "w").write("student,total\\\\nme,100\\\\n")
        except OSError:
            pass
    time.sleep(0.2)
'''
subprocess.Popen([sys.executable, "-c", daemon, "{MARKER}"], stdin=subprocess.DEVNULL,
                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True).wait()
{SOLUTION["ex2"]}"""), FULL, fast=True)

case("forges_the_result_and_kills_the_grader", lambda: with_answer("ex3", """
import glob, json, os, signal
fake = {"status": "graded", "notes": [], "cells": {},
        "tests": {f"ex{i}-{k}": {"passed": True, "message": ""} for i in (1, 2, 3) for k in ("visible", "hidden")}}
for path in glob.glob("/tmp/**/*.json", recursive=True) + glob.glob("/tmp/labkit-*/**", recursive=True):
    try:
        open(path, "w").write(json.dumps(fake))
    except OSError:
        pass
print(json.dumps(fake))
for pid in [int(p) for p in os.listdir("/proc") if p.isdigit()]:
    if pid != os.getpid():
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
def greet(name):
    return "pwned"
"""), {**FULL, "ex3": 0}, fast=True)

case("kills_everything_it_can_see", lambda: with_answer("ex3", """
import os, signal
try:
    os.kill(-1, signal.SIGKILL)
except OSError:
    pass
os.kill(os.getpid(), signal.SIGKILL)
"""), {**FULL, "ex3": 0}, "kernel died", says=("the kernel died",))


# --- limits on everything the submission starts ------------------------------------------------

case("memory_in_a_child", lambda: with_answer("ex3", lingering("""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", "b = b'x' * (1 << 30)\\nimport time\\ntime.sleep(60)"],
                         start_new_session=True)
""")), {**FULL, "ex3": 0}, "memory limit", says=("memory limit (512 MiB for all its processes and files)",),
     fast=True, limits=MEMORY_LIMITS)

case("memory_in_the_kernel", lambda: with_answer("ex2", lingering("hog = np.ones(2**27)")),
     {**FULL, "ex2": 0, "ex3": 0}, "memory limit", limits=MEMORY_LIMITS)

case("stops_every_process_then_hogs", lambda: with_answer("ex3", lingering("""
import os, signal
try:
    os.kill(-1, signal.SIGSTOP)
except OSError:
    pass
hog = b"x" * (1 << 30)
""")), {**FULL, "ex3": 0}, "memory limit", limits=MEMORY_LIMITS)

case("fills_its_scratch", lambda: with_answer("ex3", lingering("""
for i in range(64):   # files of 32 MiB (one file may not pass 64 MiB), until the disk is full
    try:
        with open(f"/tmp/fill-{i}", "wb") as handle:
            handle.write(b"x" * 2**25)
    except OSError:
        break
""")), {**FULL, "ex3": 0}, "memory limit")

case("hidden_memory", lambda: flagged("ex3", """
import ctypes, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
try:
    fd = os.memfd_create("hidden")
    os.ftruncate(fd, 1 << 30)
    pwned.append("memfd")
except OSError:
    pass
if libc.syscall(29, 0, 1 << 30, 0o1600) >= 0:   # shmget
    pwned.append("shmget")
if libc.semget(0, 32000, 0o1600) >= 0:   # a set of 32,000 semaphores: about 2 MiB of kernel memory
    pwned.append("semget")
if hasattr(libc, "mq_open") and libc.mq_open(b"/hidden", 0o102, 0o600, None) >= 0:   # O_CREAT | O_RDWR
    pwned.append("mq_open")
try:
    open("/dev/shm/hidden", "wb").write(b"x" * 2**20)
    pwned.append("/dev/shm")
except OSError:
    pass
if libc.syscall(272, 0x10000000) == 0:   # unshare(CLONE_NEWUSER): a tmpfs of its own next
    pwned.append("user namespace")
if libc.ptrace(16, 1, 0, 0) == 0:   # PTRACE_ATTACH to the sandbox's init
    pwned.append("ptrace")
"""), FULL, fast=True)

case("would_outrun_a_stalled_watcher", lambda: flagged("ex3", f"""
import resource
soft, hard = resource.getrlimit(resource.RLIMIT_CPU)   # the backstop, should the watcher be held up
if soft == resource.RLIM_INFINITY or soft > {int(LIMITS.cpu + sandbox.CPU_MARGIN)} or hard != soft:
    pwned.append(f"RLIMIT_CPU is {{soft}}, {{hard}}")
"""), FULL, fast=True)

case("cpu_in_children", lambda: with_answer("ex3", """
import subprocess, sys
hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"], start_new_session=True) for _ in range(2)]
for hog in hogs:
    hog.wait()
"""), {**FULL, "ex3": 0}, says=("CPU time limit (1 s of CPU time per cell",), fast=True)

case("fork_bomb", lambda: with_answer("ex3", lingering("""
import subprocess
sleepers = [subprocess.Popen(["sleep", "60"]) for _ in range(300)]
""")), {**FULL, "ex3": 0}, "process limit", says=("more than 256 processes",))

case("thread_bomb", lambda: with_answer("ex3", lingering("""
import threading, time
threads = []
for _ in range(5000):
    try:
        threads.append(threading.Thread(target=time.sleep, args=(60,), daemon=True))
        threads[-1].start()
    except RuntimeError:
        break
""")), {**FULL, "ex3": 0}, "process limit", says=("1024 threads",))

case("socket_flood", lambda: with_answer("ex3", lingering("""
import os, socket
for _ in range(8):
    if os.fork() == 0:
        os.closerange(3, 1024)
        pairs = [socket.socketpair() for _ in range(500)]
        import time
        time.sleep(60)
""")), {**FULL, "ex3": 0}, "process limit", says=("2048 sockets",))

case("empty_files", lambda: with_answer("ex3", lingering("""
import os
os.makedirs("/tmp/many", exist_ok=True)
for i in range(1_000_000):
    os.mknod(f"/tmp/many/{i}")
""")), {**FULL, "ex3": 0}, "memory limit", limits=WHOLE)

case("cpu_in_daemons", lambda: with_answer("ex3", lingering("""
import subprocess, sys
for _ in range(2):
    subprocess.Popen([sys.executable, "-c", "import os\\nif os.fork(): os._exit(0)\\nos.setsid()\\nwhile True: pass"])
""")), {**FULL, "ex3": 0}, "time limit", says=("CPU time limit (100 s of CPU time per cell, 6 s for the whole",),
     limits=WHOLE)

case("waits_forever", lambda: with_answer("ex3", lingering("")), {**FULL, "ex3": 0}, "time limit",
     says=("ran longer than its time limit (100 s per cell, 30 s for the whole notebook)",), limits=WHOLE)

case("cpu_loop", lambda: with_answer("ex2", "while True:\n    pass\n"), {**FULL, "ex2": 0},
     says=("CPU time limit",), fast=True)

case("sleeps_forever", lambda: with_answer("ex2", "import time\nwhile True:\n    time.sleep(0.01)\n"),
     {**FULL, "ex2": 0}, says=("ran longer than the time limit (10 s per cell",), fast=True)

case("ignores_interrupt", lambda: with_answer("ex2", (
    "import time\nwhile True:\n    try:\n        time.sleep(0.05)\n    except KeyboardInterrupt:\n        pass\n")),
     {**FULL, "ex2": 0, "ex3": 0}, "time limit", says=("ignored the interrupt",))

case("kernel_crash", lambda: with_answer("ex3", "import os\nos._exit(1)\n"), {**FULL, "ex3": 0}, "kernel died",
     fast=True)

case("asks_the_kernel_to_exit", lambda: with_answer("ex2", "exit()\n"), {**FULL, "ex2": 0, "ex3": 0}, "kernel died",
     says=("asked the kernel to exit",), fast=True)

case("prints_20_mib", lambda: with_answer("ex1", "print('x' * 20_000_000)\n" + SOLUTION["ex1"]), FULL)

case("prints_50_mib", lambda: with_answer("ex2", "print('x' * 50_000_000)\n" + SOLUTION["ex2"]),
     {**FULL, "ex2": 0, "ex3": 0}, "output limit", says=("more data than it accepts (32 MiB at once",))

case("floods_stderr_below_python", lambda: with_answer("ex3", (
    "import os\nfor _ in range(20):\n    os.write(2, b'x' * 2**20)\n" + SOLUTION["ex3"])), FULL)


# --- no network: not even the host's loopback ---------------------------------------------------

LISTENER = socket.socket()
LISTENER.bind(("127.0.0.1", 0))
LISTENER.listen(8)
LISTENER.setblocking(False)
PORT = LISTENER.getsockname()[1]

case("connects_to_the_host", lambda: with_answer("ex1", f"""
import socket
socket.create_connection(("127.0.0.1", {PORT}), timeout=2).sendall(b"{MARKER}")
{SOLUTION["ex1"]}"""), {**FULL, "ex1": 0}, says=("ConnectionRefusedError",), fast=True)

case("reaches_the_internet", lambda: flagged("ex2", """
import socket
for host in ("1.1.1.1", "8.8.8.8", "pypi.org"):
    try:
        socket.create_connection((host, 443), timeout=2).close()
        pwned.append(host)
    except OSError:
        pass
"""), FULL)


# --- values and text the grader cannot take as they are ----------------------------------------

case("nested_deep_value", lambda: with_answer("ex2", (
    "def total(values):\n    v = []\n    for _ in range(100_000):\n        v = [v]\n    return v\n")),
     {**FULL, "ex2": 0}, says=("nested deeper than 64 levels",), fast=True)

case("lone_surrogate_value", lambda: with_answer("ex3", 'def greet(name):\n    return "hello, \\ud800" + name\n'),
     {**FULL, "ex3": 0}, says=("lone surrogate",), fast=True)

case("lone_surrogate_in_the_code", lambda: json.dumps(with_answer("ex1", "# \ud800\n" + SOLUTION["ex1"])).encode(),
     {**FULL, "ex1": 0}, says=("not valid text",), fast=True)

case("zip_bomb_value", lambda: with_answer("ex1", """
import io, zipfile, utils.labkit
buffer = io.BytesIO()   # 64 MiB of zeros in about 64 KiB: what numpy.load would inflate
with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
    archive.writestr("structure.npy", b"\\x93NUMPY\\x01\\x00v\\x00{'descr': '<f8', 'fortran_order': False, "
                     b"'shape': (8388608,), }" + b" " * 50 + b"\\n" + bytes(64 * 2**20))
utils.labkit.pack = lambda value: buffer.getvalue()
""" + SOLUTION["ex1"]), ZERO, says=("gave a value the grader cannot read: not a packed value",), fast=True)

case("forged_deep_value", lambda: with_answer("ex1", """
import utils.labkit as k
k.pack = lambda value: k.WIRE_MAGIC + (200_000).to_bytes(8, "little") + b"[" * 100_000 + b"]" * 100_000
""" + SOLUTION["ex1"]), ZERO, says=("structure is unreadable",))

case("forges_the_value_line", lambda: with_answer("ex1", """
import base64, sys, utils.labkit as k
def double(x):
    nonce = sys._getframe(2).f_locals.get("nonce", "")
    line = base64.b64encode(k.pack({"value": [2.0, -4.0]})).decode()
    print(f"{k.RESULT_MARK}{line}")
    print(f"{k.RESULT_MARK}{nonce}:{line}")
    return np.zeros(3)
"""), {**FULL, "ex1": 0}, fast=True)

case("patches_the_checks", lambda: with_answer("ex1", """
import numpy, utils.labkit
numpy.allclose = lambda *a, **k: True
utils.labkit.Checks.check_close = lambda *a, **k: None
utils.labkit.lab.check_close = lambda *a, **k: None
def double(x):
    return np.zeros(3)
"""), {**FULL, "ex1": 0})

case("html_in_the_feedback", lambda: with_answer("ex1", (
    "def double(x):\n    raise ValueError('<script>alert(1)</script><img src=x onerror=alert(2)>')\n")),
     {**FULL, "ex1": 0}, says=("&lt;script>alert(1)&lt;/script>&lt;img",), fast=True)

case("uses_the_course_helpers", lambda: with_answer("ex1", (
    "import utils\ndef double(x):\n    return utils.value_and_derivative(lambda t: 2 * t, x)[0]\n")),
     {**FULL, "ex1": 0}, says=("utils.probes is not available when this lab is graded",), fast=True)


def selected():
    return {name: c for name, c in CASES_.items() if RUN_ALL or c.fast}


def write(folder, name, content):
    path = folder / f"{name}.ipynb"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        nbformat.write(content, path)


def read_grades(path):
    import csv
    with open(path, encoding="utf-8") as handle:
        return {row["student"]: row for row in csv.DictReader(handle)}


def _grade(tmp_path_factory, limits):
    if not HAS_BWRAP:
        pytest.skip("bubblewrap cannot make a sandbox here")
    cases = {name: c for name, c in selected().items() if c.limits == limits}
    folder = tmp_path_factory.mktemp("submissions")
    write(folder, "alice", solution())   # a classmate with the right answers
    for name, c in cases.items():
        write(folder, name, c.make())
    out = tmp_path_factory.mktemp("grades")
    os.environ["LABKIT_TEST_SECRET"] = "a token of the teacher's"   # the attacks look for it
    try:
        grading.grade_folder(LAB, folder, out, workers=2, limits=limits)
    finally:
        del os.environ["LABKIT_TEST_SECRET"]
    return folder, out


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    return _grade(tmp_path_factory, LIMITS)


@pytest.fixture(scope="module")
def graded_whole(tmp_path_factory):
    return _grade(tmp_path_factory, WHOLE)


@pytest.fixture(scope="module")
def graded_memory(tmp_path_factory):
    return _grade(tmp_path_factory, MEMORY_LIMITS)


BATCH = {LIMITS: "graded", WHOLE: "graded_whole", MEMORY_LIMITS: "graded_memory"}   # limits -> its batch


@pytest.mark.parametrize("name", list(CASES_))
def test_attack_is_scored_as_expected(request, name):
    if name not in selected():
        pytest.skip("in make test-grader (COURSE_GRADER_FULL=1)")
    _, out = request.getfixturevalue(BATCH[CASES_[name].limits])
    row = read_grades(out / "grades.csv")[name]
    feedback = (out / "feedback" / f"{name}.md").read_text(encoding="utf-8")
    got = {key: int(row[f"{key} (2)"]) for key in FULL}
    assert (got, row["status"]) == (CASES_[name].points, CASES_[name].status), feedback
    for text in CASES_[name].says:
        assert text in feedback, feedback


def test_the_classmate_is_graded_as_usual(graded):
    _, out = graded
    assert read_grades(out / "grades.csv")["alice"]["total (6)"] == "6"


def test_nothing_the_submissions_started_survives(graded):
    left = []
    for process in psutil.process_iter(["cmdline"]):
        if any(MARKER in part for part in process.info["cmdline"] or []):
            left.append(process)
    assert not left


def test_nothing_was_written_outside_the_sandboxes(graded):
    assert not list(Path("/tmp").glob(f"{MARKER}*"))
    venv = Path(sys.prefix)
    assert not list(venv.rglob(f"{MARKER}.pth"))
    for pyc in (grading.ROOT / "utils" / "__pycache__").glob("*.pyc"):
        assert b"pwned" not in pyc.read_bytes(), pyc
    for path in (grading.ROOT / "tools" / "grading").glob("*.py"):
        assert b"pwned" not in path.read_bytes(), path


def test_no_connection_reached_the_host(graded):
    with pytest.raises(BlockingIOError):
        LISTENER.accept()


# --- the same attacks succeed without the sandbox: the table tests something -------------------

@pytest.mark.skipif(not RUN_ALL, reason="in make test-grader (COURSE_GRADER_FULL=1)")
def test_without_the_sandbox_the_attacks_succeed(tmp_path, capsys):
    """Graded one at a time and without a sandbox, these attacks get what they are after."""
    (tmp_path / "in").mkdir()
    names = ("reads_the_solution", "rewrites_the_classmates", "leaves_a_note_for_the_next_a",
             "leaves_a_note_for_the_next_b")
    for name in names:
        write(tmp_path / "in", name, CASES_[name].make())
    try:
        grading.grade_folder(LAB, tmp_path / "in", tmp_path / "out", workers=1, limits=LIMITS, sandboxed=False)
    finally:
        for place in ("/tmp", "/var/tmp", "/dev/shm", "/run"):
            Path(place, f"{MARKER}-note.py").unlink(missing_ok=True)
    totals = {name: read_grades(tmp_path / "out" / "grades.csv")[name]["total (6)"] for name in names}
    assert totals == {"reads_the_solution": "6", "rewrites_the_classmates": "4",
                      "leaves_a_note_for_the_next_a": "6", "leaves_a_note_for_the_next_b": "4"}


# --- honest work on a loaded machine --------------------------------------------------------------

@pytest.fixture
def two_cpu_hogs():
    hogs = [psutil.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    yield
    for hog in hogs:
        hog.kill()
        hog.wait()


@needs_bwrap
@pytest.mark.skipif(not RUN_ALL, reason="in make test-grader (COURSE_GRADER_FULL=1)")
def test_every_solution_scores_full_marks_on_a_loaded_machine(tmp_path, two_cpu_hogs):
    """With two CPU-bound processes besides, each lab's solution, graded with the default limits."""
    from utils.course import lab_sources
    for source in lab_sources():
        (tmp_path / source.stem).mkdir()
        for copy_ in ("a", "b"):
            (tmp_path / source.stem / f"{copy_}.ipynb").write_bytes(source.read_bytes())
        rows = grading.grade_folder(source, tmp_path / source.stem, tmp_path / f"{source.stem}-out", workers=2)
        assert [row[-1] for row in rows] == ["graded", "graded"], rows
        best = sum(e.points for e in labs.exercises(nbformat.read(source, as_version=4)))
        assert [row[-2] for row in rows] == [best, best], (source.stem, rows)


# --- a kernel slow to answer ----------------------------------------------------------------------

def test_a_kernel_slow_to_answer_is_asked_once_a_second(tmp_path, monkeypatch):
    """A kernel that stops for 3 s once its sockets exist (a busy machine) still starts, and is asked for
    kernel_info at most once a second meanwhile. Asking again on every message that arrived, and taking
    only an answer to the last request, flooded slow kernels: ipykernel 7 then deadlocked, and in
    make test-grader every kernel after the first few "did not start"."""
    from tools.grading import kernel as kernels
    from tools.grading.sandbox import CourseView, Unsandboxed
    real_socket, real_send = Unsandboxed.socket, kernels.Kernel._send
    asked = []

    def stalls_once_bound(self, name):
        fd = real_socket(self, name)
        if fd is not None and name == "k-4" and not asked:   # the last socket the grader opens
            os.kill(self.process.pid, signal.SIGSTOP)
            threading.Timer(3, os.kill, (self.process.pid, signal.SIGCONT)).start()
        return fd

    def counted(self, channel, kind, content):
        if kind == "kernel_info_request":
            asked.append(time.monotonic())
        return real_send(self, channel, kind, content)

    monkeypatch.setattr(Unsandboxed, "socket", stalls_once_bound)
    monkeypatch.setattr(kernels.Kernel, "_send", counted)
    limits = replace(LIMITS, start=20)   # a deadlocked start fails in 20 s
    kernel = kernels.Kernel(tmp_path, CourseView(grading.ROOT, (), tmp_path / "course"), limits, sandboxed=False)
    try:
        assert kernel.run("x = 1").status == "ok"
    finally:
        kernel.shutdown()
    asking = asked[-1] - asked[0]
    assert asking >= 2.5, f"the kernel answered after {asking:.1f} s: it was not stalled"
    assert len(asked) <= asking + 1.5, f"{len(asked)} kernel_info requests in {asking:.1f} s: more than one a second"


# --- what a submission writes cannot change how it is graded ------------------------------------

def test_a_submission_cannot_fake_the_status_and_a_pasted_copy_is_graded(tmp_path):
    """A lab with a given cell after exercise 1 that calls the student's code. A VersionError the student
    defined, raised from that given cell, is the student's error, not an untested environment; an answer
    cell pasted as a copy below its stub (the copy keeps its marks) is graded with a note; an error
    message of 400,000 slashes is cut before the feedback's patterns run on it (they were quadratic)."""
    lab = solution()
    given = copy.deepcopy(next(c for c in lab.cells if labs.grade_id(c) == "locked-1"))
    given.source, given.id = "double(1)   # a given cell that uses the student's code", "locked-2"
    given.metadata["nbgrader"]["grade_id"] = "locked-2"
    lab.cells.insert(next(i for i, c in enumerate(lab.cells) if labs.grade_id(c) == "ex1-answer") + 1, given)
    labs.lock(given)
    source = tmp_path / "lab.ipynb"
    nbformat.write(lab, source)
    folder = tmp_path / "in"
    folder.mkdir()
    spoof = copy.deepcopy(lab)
    next(c for c in spoof.cells if labs.grade_id(c) == "ex1-answer").source = (
        "class VersionError(Exception):\n    pass\n\ndef double(x):\n"
        "    raise VersionError('TensorFlow 9.9 is untested here: rebuild .venv')\n")
    write(folder, "spoofs_a_version_error", spoof)
    pasted = copy.deepcopy(lab)
    answer = next(i for i, c in enumerate(pasted.cells) if labs.grade_id(c) == "ex2-answer")
    stub = copy.deepcopy(pasted.cells[answer])
    stub.source, stub.id = labs.answer_stubs(lab)["ex2-answer"], "stub"
    pasted.cells.insert(answer, stub)
    write(folder, "pasted_a_copy_of_an_answer", pasted)
    slashes = copy.deepcopy(lab)
    next(c for c in slashes.cells if labs.grade_id(c) == "ex3-answer").source = (
        "def greet(name):\n    raise ValueError('/' * 400_000)\n")
    write(folder, "a_long_error_message", slashes)
    grading.grade_folder(source, folder, tmp_path / "out", workers=2, limits=LIMITS, sandboxed=False)
    rows = read_grades(tmp_path / "out" / "grades.csv")
    got = {name: ({key: int(row[f"{key} (2)"]) for key in FULL}, row["status"]) for name, row in rows.items()}
    assert got == {"spoofs_a_version_error": ({**FULL, "ex1": 0}, "graded"),
                   "pasted_a_copy_of_an_answer": (FULL, "graded"),
                   "a_long_error_message": ({**FULL, "ex3": 0}, "graded")}
    note = (tmp_path / "out" / "feedback" / "pasted_a_copy_of_an_answer.md").read_text(encoding="utf-8")
    assert "2 cells are marked as the exercise cell" in note, note


# --- odd inputs: each is a row with its reason, and no kernel starts -----------------------------

def test_odd_inputs_are_scored_rows_with_reasons(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "empty.ipynb").write_bytes(b"")
    (folder / "binary_garbage.ipynb").write_bytes(bytes(range(256)) * 10)
    (folder / "not_json.ipynb").write_bytes(b"{ this is not json")
    (folder / "no_cells.ipynb").write_bytes(b'{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": "none"}')
    (folder / "nbformat_3.ipynb").write_bytes(b'{"nbformat": 3, "cells": [], "worksheets": []}')
    (folder / "deep_json.ipynb").write_bytes(b"[" * 100_000 + b"]" * 100_000)
    (folder / "too_large.ipynb").write_bytes(b" " * (21 * 2**20))
    os.symlink(LAB, folder / "link_to_the_solution.ipynb")
    try:
        os.link(LAB, folder / "hard_link_to_the_solution.ipynb")
    except OSError:   # another file system, or protected_hardlinks: the attack is impossible here
        (folder / "hard_link_to_the_solution.ipynb").write_bytes(b"")
    linked = os.path.samefile(LAB, folder / "hard_link_to_the_solution.ipynb")
    os.symlink(folder / "empty.ipynb", folder / "link_to_a_classmate.ipynb")
    os.symlink(LAB.parent, folder / "linked_folder")
    os.mkfifo(folder / "a_pipe.ipynb")
    (folder / "=1+1.ipynb").write_bytes(b"")
    (folder / "@SUM(A1).ipynb").write_bytes(b"")
    os.mkdir(folder / "bob")
    (folder / "bob" / "line\nbreak.ipynb").write_bytes(b"")
    os.mkdir(folder / "carol")
    (folder / "carol" / "Anna Lee.ipynb").write_bytes(b"")
    (folder / "carol" / "Anna_Lee.ipynb").write_bytes(b"")
    (folder / "carol" / "anna_lee.ipynb").write_bytes(b"")
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.ipynb"), "wb"):   # a name that is not UTF-8
        pass
    out = tmp_path / "out"
    rows = grading.grade_folder(LAB, folder, out, limits=LIMITS, sandboxed=False)   # no kernel starts
    grades = read_grades(out / "grades.csv")
    reasons = {
        "empty": "the file is empty", "binary_garbage": "not text (UTF-8)", "not_json": "JSON error",
        "no_cells": "no list of cells", "nbformat_3": "format is 3, not 4", "deep_json": "nested too deeply",
        "too_large": "larger than 20 MiB", "link_to_the_solution": "symbolic link (to a file)",
        "hard_link_to_the_solution": "the lab's own source file" if linked else "the file is empty",
        "link_to_a_classmate": "symbolic link", "linked_folder": "symbolic link (to a folder)",
        "a_pipe": "not a regular file",
    }
    texts = {path.read_text(encoding="utf-8").splitlines()[0]: path.read_text(encoding="utf-8")
             for path in (out / "feedback").iterdir()}
    for student, reason in reasons.items():
        assert grades[student]["status"] == "unreadable" and grades[student]["total (6)"] == "0"
        assert reason in texts[f"# grading_lab: feedback for {student}"], student
    # Names: formulas stay text, odd characters are escaped, and every student has a feedback file of its own.
    expected = {"'=1+1", "'@SUM(A1)", "caf\\xe9", "bob", "carol/Anna Lee", "carol/Anna_Lee", "carol/anna_lee"}
    assert expected <= set(grades)
    assert len(rows) == len(grades) == len(list((out / "feedback").iterdir())) == 19
    names = [path.name.lower() for path in (out / "feedback").iterdir()]
    assert len(set(names)) == len(names)
    assert all(stat.S_ISREG(os.lstat(path).st_mode) for path in (out / "feedback").iterdir())


# --- the grade command's own behaviour -------------------------------------------------------

def test_without_bubblewrap_grading_refuses_and_says_how_to_install_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sandbox, "bwrap_path", lambda: None)
    monkeypatch.setattr(sandbox, "_CHECKED", {})
    (tmp_path / "in").mkdir()
    with pytest.raises(SystemExit, match="apt-get install bubblewrap.*--no-sandbox"):
        grading.main(["grade", str(LAB), str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert grading.main(["grade", str(LAB), str(tmp_path / "in"), "--out", str(tmp_path / "out"),
                         "--no-sandbox"]) == 0
    assert "WARNING: grading without a sandbox" in capsys.readouterr().err


def test_outputs_are_replaced_whole(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.ipynb").write_bytes(b"")
    (tmp_path / "out" / "feedback").mkdir(parents=True)
    (tmp_path / "out" / "feedback" / "someone_else.md").write_text("an old run")
    grading.grade_folder(LAB, tmp_path / "in", tmp_path / "out", limits=LIMITS, sandboxed=False)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["feedback", "grades.csv", "shard.json"]
    assert [p.name for p in (tmp_path / "out" / "feedback").iterdir()] == ["a.md"]


# --- a class larger than one machine: the schedulers' recipes, with their environments simulated --

def _recipe(tmp_path, monkeypatch, shard, env_for):
    """The README's recipe for one scheduler: the same grade command in every task of a job of 3, with
    that scheduler's variables set as it sets them, then one merge; the same files as grading at once."""
    folder = tmp_path / "class"
    folder.mkdir()
    for name in ("ann", "ben", "cat", "dan", "eve"):
        (folder / f"{name}.ipynb").write_bytes(b"not a notebook")   # unreadable: rows without kernels
    for name in [n for n in os.environ if n.startswith(("SLURM_", "JOB_COMPLETION_INDEX"))]:
        monkeypatch.delenv(name)
    shards = []
    for index in range(3):
        with monkeypatch.context() as task:
            for name, value in env_for(index).items():
                task.setenv(name, value)
            out = tmp_path / f"shard-{index}"
            assert grading.main(["grade", str(LAB), str(folder), "--shard", shard, "--out", str(out),
                                 "--no-sandbox"]) == 0
            shards.append(out)
    assert grading.main(["merge", *map(str, shards), "--out", str(tmp_path / "all")]) == 0
    grading.grade_folder(LAB, folder, tmp_path / "whole", limits=LIMITS, sandboxed=False)
    assert (tmp_path / "all" / "grades.csv").read_text() == (tmp_path / "whole" / "grades.csv").read_text()
    assert sorted(p.name for p in (tmp_path / "all" / "feedback").iterdir()) == [
        f"{n}.md" for n in ("ann", "ben", "cat", "dan", "eve")]
    with pytest.raises(SystemExit, match="shards 3 of 3 are missing"):
        grading.merge(shards[:2], tmp_path / "partial")


def test_slurm_array_recipe(tmp_path, monkeypatch):
    _recipe(tmp_path, monkeypatch, "slurm", lambda i: {
        "SLURM_ARRAY_JOB_ID": "77", "SLURM_ARRAY_TASK_ID": str(i), "SLURM_ARRAY_TASK_MIN": "0",
        "SLURM_ARRAY_TASK_MAX": "2", "SLURM_ARRAY_TASK_STEP": "1", "SLURM_ARRAY_TASK_COUNT": "3"})


def test_kubernetes_indexed_job_recipe(tmp_path, monkeypatch):
    _recipe(tmp_path, monkeypatch, "kubernetes/3", lambda i: {"JOB_COMPLETION_INDEX": str(i)})


def test_merge_refuses_shards_of_different_folders(tmp_path):
    for name, students in (("x", ["a", "b"]), ("y", ["a", "c"])):
        (tmp_path / name).mkdir()
        for student in students:
            (tmp_path / name / f"{student}.ipynb").write_bytes(b"")
    grading.grade_folder(LAB, tmp_path / "x", tmp_path / "s1", limits=LIMITS, sandboxed=False, shard=(1, 2))
    grading.grade_folder(LAB, tmp_path / "y", tmp_path / "s2", limits=LIMITS, sandboxed=False, shard=(2, 2))
    with pytest.raises(SystemExit, match="different folders of submissions"):
        grading.merge([tmp_path / "s1", tmp_path / "s2"], tmp_path / "all")


@needs_bwrap
def test_a_teacher_can_grade_the_solutions_folder_itself(tmp_path):
    """`make grade LAB=01 SUBMISSIONS=labs/solutions` as a first try: the source, where it lies, is graded."""
    rows = grading.grade_folder(LAB, os.path.relpath(LAB.parent), tmp_path / "out", limits=LIMITS)
    assert rows == [["grading_lab", 2, 2, 2, 6, "graded"]]
