"""The operating-system sandbox a submission's kernel runs in, and the watcher that holds its limits.

`Sandbox` starts a command under bubblewrap (bwrap): new user, PID, network, IPC, UTS and cgroup
namespaces, no capabilities, a read-only view of exactly what a lab needs (the Python installation,
its packages, and a folder `/course` with only the parts of `utils` the lab may use), a private
writable `/tmp` of bounded size, and a seccomp filter against the few system calls whose memory the
watcher could not see (memfd, System V shared memory, semaphores and message queues, POSIX message
queues) or that reach beyond the sandbox's own processes (ptrace, nested user namespaces). The parts of
/proc that set the whole machine are read-only (PROC_READ_ONLY). The kernel's only link to the grader is
the Jupyter protocol over Unix sockets inside its own /tmp, which the grader opens from outside
without following links.

`Watcher` is a thread of the grader's worker, outside the sandbox: it sums CPU time and resident
memory over every process in the sandbox (psutil), adds what the kernel stored in its /tmp, and
kills the sandbox (its PID namespace's init, so nothing survives) when a limit is passed.

`Unsandboxed` runs the same kernel without bwrap, for a teacher who opts out (--no-sandbox): the
limits and the watcher still hold, but the kernel can read and write whatever the grader's user can.
"""
import errno
import json
import os
import platform
import shutil
import signal
import stat
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

from tools import processes

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

INSTALL_HINT = ("Install bubblewrap, the sandbox every submission runs in: `sudo apt-get install bubblewrap` "
                "(Debian, Ubuntu), `sudo dnf install bubblewrap` (Fedora), `sudo pacman -S bubblewrap` (Arch). "
                "To grade without a sandbox anyway, trusting every submission with your account, pass "
                "--no-sandbox (make grade ... NO_SANDBOX=1).")
KERNEL_DIR = "/tmp/.kernel"        # the kernel's sockets, inside its /tmp
CONNECTION_FILE = "/run/labkit/connection.json"
COURSE_DIR = "/course"
HOME = "/tmp/home"
WORK = "/tmp/work"

# The kernel's own limits, set inside before it starts (its processes inherit them).
FILE_LIMIT = 64 * 2**20            # bytes per file it writes (RLIMIT_FSIZE)
TASK_LIMIT = 2048                  # processes and threads (RLIMIT_NPROC; not enforced for root)
OPEN_FILES = 1024                  # RLIMIT_NOFILE
PROCESS_LIMIT = 256                # processes the watcher allows (also where RLIMIT_NPROC is not enforced)
THREAD_LIMIT = 1024                # threads of all processes (below RLIMIT_NPROC, which stops them otherwise)
SOCKET_LIMIT = 2048                # sockets (their buffers are kernel memory no process's size shows)
CPU_MARGIN = 10                    # seconds of CPU a process may use beyond the whole submission's limit
INODE_KIB = 1                      # what a file in /tmp costs the kernel beyond its data, counted as memory

LAUNCHER = """\
import os, resource, sys
for limit, value in ((resource.RLIMIT_CORE, 0), (resource.RLIMIT_FSIZE, {file_limit}),
                     (resource.RLIMIT_NPROC, {task_limit}), (resource.RLIMIT_NOFILE, {open_files}),
                     (resource.RLIMIT_CPU, {cpu_limit})):
    soft, hard = resource.getrlimit(limit)
    value = value if hard == resource.RLIM_INFINITY else min(value, hard)
    try:
        resource.setrlimit(limit, (value, value))
    except (OSError, ValueError):
        pass
try:
    with open("/proc/self/oom_score_adj", "w") as handle:   # if memory runs out, this dies first
        handle.write("1000")
except OSError:
    pass
os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", sys.argv[1],
                          "--HistoryManager.hist_file=:memory:"])
"""


def launcher_code(cpu_s):
    """The kernel's launcher. Each of its processes also gets RLIMIT_CPU, the submission's CPU time plus
    CPU_MARGIN: a backstop, should the watcher (a thread of the worker) be held up."""
    return LAUNCHER.format(file_limit=FILE_LIMIT, task_limit=TASK_LIMIT, open_files=OPEN_FILES,
                           cpu_limit=int(cpu_s + CPU_MARGIN))


# --- what the kernel may see -------------------------------------------------------------------

ALWAYS = ("__init__", "environment", "labkit")   # every lab's setup cell: import utils, utils.setup, lab


def utils_modules(root):
    """{module name: the utils modules it imports}, read from utils/*.py without importing them."""
    import ast
    found = {}
    for path in sorted(Path(root, "utils").glob("*.py")):
        imports = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                if node.module == "utils":
                    imports.update(alias.name for alias in node.names)
                elif node.module.startswith("utils."):
                    imports.add(node.module.split(".")[1])
            elif isinstance(node, ast.Import):
                imports.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("utils."))
        found[path.stem] = imports
    return found


def closure(root, wanted):
    """The utils modules a kernel needs for `wanted`: these, ALWAYS, and what they import, transitively."""
    graph = utils_modules(root)
    unknown = sorted(set(wanted) - set(graph))
    if unknown:
        raise ValueError(f"no module utils.{unknown[0]} (modules: {', '.join(sorted(graph))})")
    needed, todo = set(), list(ALWAYS) + list(wanted)
    while todo:
        name = todo.pop()
        if name in graph and name not in needed:
            needed.add(name)
            todo.extend(graph[name])
    return needed


WITHHELD = """\
raise ImportError(
    "utils.{name} is not available when this lab is graded: a graded kernel has only the course "
    "helpers the lab's own cells use ({allowed}), so that no exercise is answered by calling one. "
    "Write this part yourself, with TensorFlow and NumPy.")
"""


class CourseView:
    """A folder shown to the kernel as /course: utils with the modules a lab may use, every other
    module of utils replaced by one whose import fails with WITHHELD, and the offline data if
    utils.data is among them."""

    def __init__(self, root, wanted, folder):
        self.root, self.path = Path(root), Path(folder)
        self.modules = closure(root, wanted)
        (self.path / "utils").mkdir(parents=True)
        allowed = ", ".join(f"utils.{m}" for m in sorted(self.modules - {"__init__"}))
        for source in sorted(Path(root, "utils").glob("*.py")):
            target = self.path / "utils" / source.name
            if source.stem in self.modules:
                shutil.copyfile(source, target)
            else:
                target.write_text(WITHHELD.format(name=source.stem, allowed=allowed), encoding="utf-8")
        if "data" in self.modules:
            (self.path / "data").mkdir()
            shutil.copyfile(Path(root, "data", "mnist_5k.npz"), self.path / "data" / "mnist_5k.npz")


def python_paths(root):
    """The folders the kernel's Python needs, read-only: its installation and every package folder
    on sys.path, except the repository (and any folder above it) and the current folder."""
    import site
    root = Path(root).resolve()
    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix, *sys.path}
    candidates.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    found = set()
    for entry in candidates:
        if not entry:
            continue
        path = Path(entry).resolve()
        if not path.is_dir() or path == root or root.is_relative_to(path):
            continue
        if path.is_relative_to(root) and not _is_python_prefix(path):
            continue   # the repository's own folders (tools, utils) are never bound
        found.add(path)
    # A folder inside another one that is bound already needs no bind of its own.
    return sorted(p for p in found if not any(p != q and p.is_relative_to(q) for q in found))


VENV = "/venv"   # where the kernel sees the grader's virtual environment (its path would name the repository)


def python_binds(root):
    """[(host folder, folder in the sandbox)] for python_paths, and the kernel's Python executable."""
    paths = python_paths(root)
    venv = Path(sys.prefix).resolve() if sys.prefix != sys.base_prefix else None
    if venv not in paths:
        return [(p, str(p)) for p in paths], sys.executable
    executable = VENV + "/" + Path(sys.executable).relative_to(sys.prefix).as_posix()
    return [(p, VENV if p == venv else str(p)) for p in paths], executable


def _is_python_prefix(path):
    """A virtual environment or Python installation inside the repository (e.g. .venv)."""
    while path != path.parent:
        if (path / "pyvenv.cfg").is_file() or (path / "bin" / "python3").exists():
            return True
        path = path.parent
    return False


def system_paths():
    """bwrap arguments for the system's own files: /usr read-only, /bin, /lib... as on the host."""
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/", name)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    for name in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "fonts", "alternatives"):
        path = Path("/etc", name)
        if path.exists():
            args += ["--ro-bind", str(path), str(path)]
    return args


# --- the seccomp filter ------------------------------------------------------------------------

# System calls refused with EPERM. memfd_create, shmget, msgget, semget (a set of 32,000 semaphores holds
# about 2 MiB of kernel memory) and mq_open hold memory that no process's resident size shows; ptrace and
# process_vm_* reach into other processes; userfaultfd, io_uring, perf_event_open, bpf and the key rings are
# kernel surface no lab needs.
_DENIED = ("memfd_create", "memfd_secret", "shmget", "msgget", "semget", "mq_open", "userfaultfd",
           "io_uring_setup", "ptrace", "process_vm_readv", "process_vm_writev", "perf_event_open", "bpf",
           "add_key", "request_key", "keyctl")
_SYSCALLS = {   # (audit arch, {name: number}) from the kernel's unistd headers
    "x86_64": (0xC000003E, {"clone": 56, "clone3": 435, "unshare": 272, "memfd_create": 319, "memfd_secret": 447,
                            "shmget": 29, "msgget": 68, "semget": 64, "mq_open": 240, "userfaultfd": 323,
                            "io_uring_setup": 425, "ptrace": 101,
                            "process_vm_readv": 310, "process_vm_writev": 311, "perf_event_open": 298,
                            "bpf": 321, "add_key": 248, "request_key": 249, "keyctl": 250}),
    "aarch64": (0xC00000B7, {"clone": 220, "clone3": 435, "unshare": 97, "memfd_create": 279, "memfd_secret": 447,
                             "shmget": 194, "msgget": 186, "semget": 190, "mq_open": 180, "userfaultfd": 282,
                             "io_uring_setup": 425, "ptrace": 117,
                             "process_vm_readv": 270, "process_vm_writev": 271, "perf_event_open": 241,
                             "bpf": 280, "add_key": 217, "request_key": 218, "keyctl": 219}),
}
CLONE_NEWUSER = 0x10000000


def seccomp_filter(machine=None):
    """A classic BPF program (bytes of struct sock_filter) for bwrap --seccomp, or None for a machine
    this table does not know. Refuses _DENIED with EPERM, new user namespaces through clone and
    unshare with EPERM, clone3 with ENOSYS (so that the C library falls back to clone), and any other
    system-call ABI (32-bit calls on a 64-bit kernel) with ENOSYS."""
    machine = machine or platform.machine()
    if machine not in _SYSCALLS:
        return None
    arch, numbers = _SYSCALLS[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    code = [(ld, None, None, 4), (jeq, "next", "enosys", arch), (ld, None, None, 0)]
    if machine == "x86_64":
        code.append((jge, "enosys", "next", 0x40000000))   # the x32 ABI
    code.append((jeq, "enosys", "next", numbers["clone3"]))
    code += [(jeq, "flags", "next", numbers[name]) for name in ("clone", "unshare")]
    code += [(jeq, "eperm", "next", numbers[name]) for name in _DENIED]
    code.append((ret, None, None, allow))
    labels = {"flags": len(code)}
    code += [(ld, None, None, 16), (jset, "eperm", "next", CLONE_NEWUSER), (ret, None, None, allow)]
    labels["eperm"] = len(code)
    code.append((ret, None, None, eperm))
    labels["enosys"] = len(code)
    code.append((ret, None, None, enosys))
    out = []
    for i, (op, true, false, k) in enumerate(code):
        jumps = [0 if label in (None, "next") else labels[label] - i - 1 for label in (true, false)]
        out.append(struct.pack("=HBBI", op, *jumps, k))
    return b"".join(out)


# --- bubblewrap --------------------------------------------------------------------------------

def bwrap_path():
    return shutil.which("bwrap")


_FEATURES = {}


def bwrap_features(bwrap):
    """Which of the newer options this bwrap has: --disable-userns and --size (both 0.8.0)."""
    if bwrap not in _FEATURES:
        try:
            text = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=30).stdout
        except (OSError, subprocess.SubprocessError):
            text = ""
        _FEATURES[bwrap] = {"disable_userns": "--disable-userns" in text, "size": "--size" in text}
    return _FEATURES[bwrap]


_CHECKED = {}
NAMESPACE_ERRORS = ("namespace", "uid map", "Operation not permitted", "Permission denied", "setting up")


# Parts of /proc that change the whole machine, made read-only inside. Run by root, the sandbox's user is the
# host's root (a user namespace maps it to itself), and writing a file of /proc/sys checks only its mode:
# without this, a submission graded as root could set kernel.core_pattern, the host's. bwrap covers only
# those it finds writable, and a read-only folder (/proc/sys is mode 555) it skips.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "fs", "irq", "bus")


def proc_args():
    """bwrap's options for the sandbox's own /proc, with PROC_READ_ONLY bound read-only over it (the
    host's entries: their values are read in the reader's own namespaces)."""
    args = ["--proc", "/proc"]
    for name in PROC_READ_ONLY:
        if os.path.exists(f"/proc/{name}"):
            args += ["--ro-bind", f"/proc/{name}", f"/proc/{name}"]
    return args


def check_bwrap(root):
    """None when bwrap is installed and can make the sandbox here; otherwise what is wrong and what to do."""
    bwrap = bwrap_path()
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed. " + INSTALL_HINT
    if bwrap not in _CHECKED:
        args = namespace_args(bwrap) + system_paths()
        binds, python = python_binds(root)
        for host, inside in binds:
            args += ["--ro-bind", str(host), inside]
        args += proc_args() + ["--dev", "/dev", "--tmpfs", "/tmp", "--remount-ro", "/"]
        try:
            done = subprocess.run([bwrap] + args + [python, "-c", "pass"], capture_output=True,
                                  text=True, timeout=120, env={"PATH": "/usr/bin:/bin"})
            problem = None if done.returncode == 0 else (done.stderr.strip().splitlines() or ["no message"])[-1]
        except (OSError, subprocess.SubprocessError) as error:
            problem = str(error)
        hint = ""
        if problem and "proc" in problem:
            hint = (" Mounting a /proc of its own is refused: inside a container, /proc must not be masked "
                    "(Docker: --security-opt systempaths=unconfined; Kubernetes: procMount: Unmasked); see the "
                    "notes in tools/grading/Containerfile.")
        elif problem and any(word in problem for word in NAMESPACE_ERRORS):
            hint = (" It needs unprivileged user namespaces: on Ubuntu 23.10 and later allow them for bwrap (an "
                    "AppArmor profile for /usr/bin/bwrap, or sysctl kernel.apparmor_restrict_unprivileged_userns=0); "
                    "on older Debian, sysctl kernel.unprivileged_userns_clone=1; in a container, see the notes in "
                    "tools/grading/Containerfile.")
        _CHECKED[bwrap] = None if problem is None else (
            f"bubblewrap cannot make the sandbox on this machine ({problem}).{hint} To grade without a "
            "sandbox anyway, trusting every submission with your account, pass --no-sandbox "
            "(make grade ... NO_SANDBOX=1).")
    return _CHECKED[bwrap]


def namespace_args(bwrap):
    features = bwrap_features(bwrap)
    args = ["--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--die-with-parent", "--new-session",
            "--clearenv", "--hostname", "sandbox"]
    if features["disable_userns"]:
        args.append("--disable-userns")
    return args


def open_socket(directory_fd_opener, parts):
    """An O_PATH descriptor of the socket at `parts` below the directory the opener returns, walking
    each component without following links; None while it does not exist (or is not a socket yet)."""
    fd = directory_fd_opener()
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        sock = os.open(parts[-1], os.O_PATH | os.O_NOFOLLOW, dir_fd=fd)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not stat.S_ISSOCK(os.fstat(sock).st_mode):
        os.close(sock)
        return None
    return sock


class Sandbox:
    """A command run under bwrap; see the module's docstring. `view` is the folder shown as /course."""

    sandboxed = True

    def __init__(self, workdir, view, connection, memory_kib, cpu_s, log):
        self.workdir = Path(workdir)
        bwrap = bwrap_path()
        features = bwrap_features(bwrap)
        self._fds = []
        args = namespace_args(bwrap) + system_paths()
        binds, python = python_binds(view.root)
        for host, inside in binds:
            args += ["--ro-bind", str(host), inside]
        args += ["--ro-bind", str(view.path), COURSE_DIR, *proc_args(), "--dev", "/dev", "--remount-ro", "/dev"]
        if features["size"]:
            args += ["--size", str(memory_kib * 1024)]
        args += ["--tmpfs", "/tmp", "--dir", HOME, "--dir", WORK, "--dir", KERNEL_DIR,
                 "--ro-bind-data", self._data(json.dumps(connection).encode()), CONNECTION_FILE,
                 "--ro-bind-data", self._data(launcher_code(cpu_s).encode()), "/run/labkit/launcher.py"]
        program = seccomp_filter()
        if program:
            args += ["--seccomp", self._data(program)]
        info_read, info_write = os.pipe()
        self._fds.append(info_write)
        args += ["--info-fd", str(info_write), "--remount-ro", "/", "--chdir", WORK]
        for key, value in kernel_env(HOME, COURSE_DIR, str(Path(python).parent)).items():
            args += ["--setenv", key, value]
        # bwrap's command line and environment are readable inside (/proc/1/cmdline, /proc/1/environ): its
        # options (host paths) come through a pipe, and it gets none of the grader's environment.
        listing = self._data(b"\0".join(arg.encode() for arg in args) + b"\0")
        command = [bwrap, "--args", listing, python, "/run/labkit/launcher.py", CONNECTION_FILE]
        try:
            self.process = subprocess.Popen(command, pass_fds=self._fds, stdin=subprocess.DEVNULL, stdout=log,
                                            stderr=log, cwd=self.workdir, env={"PATH": "/usr/bin:/bin"})
        finally:
            for fd in self._fds:
                os.close(fd)
        self.pid1 = self._read_info(info_read)
        self._pidfd = _pidfd(self.pid1)

    def _data(self, data):
        """A pipe's read end holding `data`, for bwrap's --*-data and --seccomp options."""
        read, write = os.pipe()
        if len(data) > 60_000:
            raise ValueError("too much data for a pipe")
        os.write(write, data)
        os.close(write)
        self._fds.append(read)
        return str(read)

    def _read_info(self, fd):
        """The host PID of the sandbox's init, from bwrap's --info-fd; None if bwrap failed."""
        chunks = []
        with os.fdopen(fd, "rb") as info:
            while True:
                chunk = info.read1(4096)
                if not chunk:
                    break
                chunks.append(chunk)
                try:
                    return int(json.loads(b"".join(chunks))["child-pid"])
                except (ValueError, KeyError, TypeError):
                    continue
        return None

    def socket(self, name):
        """See open_socket: the kernel's socket `name`, reached through its init's root."""
        if self.pid1 is None:
            return None
        return open_socket(lambda: os.open(f"/proc/{self.pid1}/root", os.O_RDONLY | os.O_DIRECTORY),
                           [*KERNEL_DIR.strip("/").split("/"), name])

    def usage(self):
        """(memory KiB, CPU seconds, processes, threads, sockets) of the whole sandbox, read from its own
        /proc (exactly the processes of its PID namespace and the sockets of its network namespace) and
        its /tmp (a tmpfs, so memory too, with what each file costs). Memory is what each process holds
        privately (processes.private_kib); shared libraries are not counted."""
        base = f"/proc/{self.pid1}/root/proc"
        memory, cpu, count, threads, sockets = 0, 0.0, 0, 0, 0
        try:
            names = [name for name in os.listdir(base) if name.isdigit()]
        except OSError:
            return 0, 0.0, 0, 0, 0
        for name in names:
            try:
                with open(f"{base}/{name}/stat", "rb") as handle:
                    data = handle.read(4096)
                fields = data[data.rindex(b")") + 2:].split()
                ticks = sum(int(fields[i]) for i in (11, 12, 13, 14))   # utime, stime, cutime, cstime
                threads += int(fields[17])
            except (OSError, ValueError, IndexError):
                continue
            cpu += ticks / _CLOCK_TICKS
            memory += processes.private_kib(f"{base}/{name}/status") or 0
            count += 1
        try:
            fs = os.statvfs(f"/proc/{self.pid1}/root/tmp")
            memory += (fs.f_blocks - fs.f_bfree) * fs.f_frsize // 1024 + (fs.f_files - fs.f_ffree) * INODE_KIB
        except OSError:
            pass
        try:
            with open(f"{base}/1/net/sockstat", "rb") as handle:   # "sockets: used N", its own network's
                sockets = int(handle.readline().split()[2])
        except (OSError, ValueError, IndexError):
            pass
        return memory, cpu, count, threads, sockets

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        """Kill the sandbox's init: the kernel kills every other process of its PID namespace, and
        bwrap, which waits for its init, then exits (so their CPU time is accounted to this process)."""
        if self.process.poll() is None and self.pid1 is not None:
            try:
                if self._pidfd is not None:
                    signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)
                else:
                    os.kill(self.pid1, signal.SIGKILL)
            except OSError:
                pass
        elif self.pid1 is None:
            self.process.kill()

    def close(self):
        """Kill, then wait until bwrap has gone: its init waits for every process of the namespace."""
        self.kill()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _pidfd(pid):
    try:
        return os.pidfd_open(pid) if pid is not None else None
    except (AttributeError, OSError):
        return None


class Unsandboxed:
    """The same kernel without bwrap (--no-sandbox): limits and watcher, no isolation."""

    sandboxed = False

    def __init__(self, workdir, view, connection, memory_kib, cpu_s, log):
        self.workdir = Path(workdir)
        self.kernel_dir = self.workdir / "kernel"
        self.kernel_dir.mkdir(mode=0o700)
        home, work = self.workdir / "home", self.workdir / "work"
        home.mkdir()
        work.mkdir()
        connection = {**connection, "ip": str(self.kernel_dir / "k")}
        connection_file = self.workdir / "connection.json"
        connection_file.write_text(json.dumps(connection), encoding="utf-8")
        env = kernel_env(str(home), str(view.path), str(Path(sys.executable).parent))
        _become_subreaper()
        self.process = subprocess.Popen([sys.executable, "-c", launcher_code(cpu_s), str(connection_file)], env=env,
                                        cwd=work, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                        start_new_session=True)
        self.pid1 = self.process.pid

    def socket(self, name):
        return open_socket(lambda: os.open(self.kernel_dir, os.O_RDONLY | os.O_DIRECTORY), [name])

    def processes(self):
        # The worker is a subreaper: what the kernel starts and orphans is reparented to it.
        return [p for p in processes.tree(os.getpid(), include_root=False)
                if p.pid != self.process.pid or self.process.poll() is None]

    def usage(self):
        found = self.processes()
        memory, cpu = processes.usage(found)
        return memory, cpu, len(found), 0, 0

    def alive(self):
        return self.process.poll() is None

    def kill(self):
        for _ in range(20):
            found = self.processes()
            if not found:
                return
            for process in found:
                try:
                    process.kill()
                except Exception:
                    pass
            for process in found:
                try:
                    process.wait(0.5)
                except Exception:
                    pass

    def close(self):
        self.kill()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass


def _become_subreaper():
    """Linux: orphans of the kernel's processes are reparented to this process, so the watcher sees them."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)   # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass


def kernel_env(home, course, python_dir):
    """The kernel's whole environment: nothing of the grader's own but the teacher's explicit choice to
    grade with an untested TensorFlow (COURSE_ALLOW_OTHER_VERSIONS=1, which utils.environment reads)."""
    chosen = {"COURSE_ALLOW_OTHER_VERSIONS": "1"} if os.environ.get("COURSE_ALLOW_OTHER_VERSIONS") == "1" else {}
    return {**chosen, "PATH": f"{python_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": home,
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "USER": "student", "LOGNAME": "student",
            "PYTHONPATH": course, "PYTHONHASHSEED": "0", "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONNOUSERSITE": "1", "MPLBACKEND": "Agg", "MPLCONFIGDIR": f"{home}/.matplotlib",
            "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "COURSE_SCALE": "default",
            "PYDEVD_DISABLE_FILE_VALIDATION": "1", "JUPYTER_PLATFORM_DIRS": "1",
            # A regression run: a kernel with an untested TensorFlow is refused (utils.environment).
            "COURSE_STRICT_VERSIONS": "1",
            # One computing thread per kernel: the grader runs one kernel per core, and a kernel's CPU
            # time then does not grow with the machine's core count (idle threads spin).
            "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "2", "OMP_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


# --- the watcher -------------------------------------------------------------------------------

class Watcher(threading.Thread):
    """Sums CPU time and memory over the sandbox's processes every `interval` s and kills the
    sandbox when the submission passes a limit; `reason` then says which."""

    def __init__(self, sandbox, cpu_limit, memory_kib, wall_limit, interval=0.1):
        super().__init__(daemon=True, name="labkit-watcher")
        self.sandbox, self.interval = sandbox, interval
        self.cpu_limit, self.memory_kib, self.wall_limit = cpu_limit, memory_kib, wall_limit
        self.cpu, self.peak_kib, self.reason = 0.0, 0, None
        self.started_at = time.monotonic()
        import psutil
        self._me = psutil.Process()
        self.worker_kib = self._me.memory_info().rss // 1024
        self._stop = threading.Event()

    def run(self):
        while not self._stop.wait(self.interval):
            if not self.sandbox.alive():
                return
            memory_kib, cpu, count, threads, sockets = self.sandbox.usage()
            self.cpu = max(self.cpu, cpu)
            self.peak_kib = max(self.peak_kib, memory_kib)
            own_kib = self._me.memory_info().rss // 1024
            if memory_kib > self.memory_kib:
                self.stop_sandbox("memory")
            elif self.cpu > self.cpu_limit:
                self.stop_sandbox("cpu")
            elif time.monotonic() - self.started_at > self.wall_limit:
                self.stop_sandbox("wall")
            elif count > PROCESS_LIMIT or threads > THREAD_LIMIT:
                self.stop_sandbox("processes")
            elif sockets > SOCKET_LIMIT:
                self.stop_sandbox("sockets")
            elif own_kib - self.worker_kib > 2**20:   # the kernel floods the grader with messages
                self.stop_sandbox("flood")

    def stop_sandbox(self, reason):
        if self.reason is None:
            self.reason = reason
        self.sandbox.kill()

    def stop(self):
        self._stop.set()
