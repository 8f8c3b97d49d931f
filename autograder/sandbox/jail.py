"""Confine one untrusted process tree: bubblewrap namespaces, an unprivileged user,
cgroup limits (memory, processes, a CPU quota), a lower scheduling priority and a
size-limited working directory.

Inside, the process sees a read-only ``/usr`` and ``/etc``, the Python runtime read-only at
``/opt/runtime``, a private ``/tmp`` and ``/home/student`` (the only writable places, both
size-limited tmpfs), its own pid, network, IPC and UTS namespaces, and nothing of the course
directory, the gradebook, ``source/`` or the grader's own package.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from autograder.sandbox.cgroup import Cgroup, remove_leftover
from autograder.sandbox.limits import Limits
from autograder.sandbox.user import SandboxUser, ensure_user

RUNTIME = "/opt/runtime"
HOME = "/home/student"
MPLCONFIGDIR = HOME + "/.config/matplotlib"
COURSE_DATA = "/opt/course-data"
KERAS_BACKENDS = ("tensorflow", "jax", "torch")
NICE = 10
"""Added to the niceness of every jailed process.  The CPU is split between cgroups by their
weights and quotas, whatever the niceness; what it buys is an I/O priority below the grader's
own work where the I/O scheduler derives one from the niceness (BFQ)."""
OWNER = "owner.json"
"""In each jail's host folder: the grader process that made it and its cgroups (see :func:`sweep_stale`)."""


def gpu_devices() -> list[str]:
    """The host's NVIDIA device nodes (none on a machine without a GPU)."""
    return sorted(str(p) for p in Path("/dev").glob("nvidia*") if p.is_char_device() or p.is_dir())


def gpu_memory_mb() -> int:
    """The memory of the GPUs this process may use (``CUDA_VISIBLE_DEVICES``), in MiB, the
    smallest when they differ, as ``nvidia-smi`` reports it; 0 when it cannot tell."""
    return _gpu_memory_mb(os.environ.get("CUDA_VISIBLE_DEVICES"))


@functools.cache
def _gpu_memory_mb(visible: str | None) -> int:
    smi = shutil.which("nvidia-smi")
    if smi is None or not gpu_devices():
        return 0
    command = [smi, "--query-gpu=memory.total", "--format=csv,noheader,nounits"]
    try:
        out = subprocess.run([*command, *(["-i", visible] if visible else [])], capture_output=True,
                             text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return 0
    return min((int(line) for line in out.split() if line.isdigit()), default=0)


def _bwrap() -> str:
    path = shutil.which("bwrap")
    if path is None:
        raise FileNotFoundError("bubblewrap (bwrap) is not installed; run `make install` or apt-get install bubblewrap")
    return path


def _parents(path: str) -> list[str]:
    """Arguments that create every parent of ``path`` world-traversable inside the jail."""
    args: list[str] = []
    parts = Path(path).parts[1:-1]
    for i in range(len(parts)):
        args += ["--perms", "0755", "--dir", "/" + "/".join(parts[: i + 1])]
    return args


def runtime_binds(prefix: str = sys.prefix, base: str = sys.base_prefix) -> list[str]:
    """bwrap arguments exposing the Python runtime read-only at ``/opt/runtime``."""
    args = ["--perms", "0755", "--dir", "/opt", "--ro-bind", prefix, RUNTIME]
    if not base.startswith("/usr"):  # an interpreter outside /usr (pyenv, conda) keeps its path
        args += [*_parents(base), "--ro-bind", base, base]
    package = Path(__file__).resolve().parents[1]
    if package.is_relative_to(prefix):  # a non-editable install: hide the grader's own code
        args += ["--tmpfs", RUNTIME + "/" + str(package.relative_to(prefix))]
    return args


def _start_time(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot), or None when there is no such process:
    with the pid it tells a live grader from a dead one whose pid was reused."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def sweep_stale() -> int:
    """Remove the jails of grader processes that died without closing them (SIGKILL, out of
    memory): their tmpfs home, host folder and cgroups.  Their kernels died with them
    (``--die-with-parent``).  Jails of live graders, this one's included, are left alone.
    Returns how many were removed."""
    removed = 0
    for base in Path(tempfile.gettempdir()).glob("autograder-*"):
        try:
            owner = json.loads((base / OWNER).read_text())
            alive = _start_time(int(owner["pid"])) == owner["start"]
        except (OSError, ValueError, KeyError, TypeError):
            continue  # not a jail, or one being set up
        if alive:
            continue
        for group in owner.get("cgroups", []):
            remove_leftover(Path(group))
        home = base / "home"
        if os.path.ismount(home):
            subprocess.run(["umount", "-l", str(home)], check=False)
        shutil.rmtree(base, ignore_errors=True)
        removed += 1
    return removed


class Jail:
    """One sandbox: a host directory mounted at ``/home/student`` and the limits around it.

    Use as a context manager; :meth:`popen` starts a confined process.  The host side of the
    home directory is :attr:`home` (a tmpfs of ``limits.disk_bytes``, owned by the sandbox user).
    """

    def __init__(self, limits: Limits, user: SandboxUser | None = None) -> None:
        self.limits = limits
        self.user = user or ensure_user()
        self.base = Path(tempfile.mkdtemp(prefix="autograder-"))
        self.home = self.base / "home"
        self.cgroup: Cgroup | None = None
        self._mounted = False

    def _record_owner(self) -> None:
        owner = {"pid": os.getpid(), "start": _start_time(os.getpid()),
                 "cgroups": [str(p) for p in self.cgroup.paths()] if self.cgroup else []}
        (self.base / OWNER).write_text(json.dumps(owner))

    def __enter__(self) -> Jail:
        self._record_owner()
        self.home.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o",
             f"size={self.limits.disk_bytes},mode=0700,uid={self.user.uid},gid={self.user.gid},nosuid,nodev",
             "tmpfs", str(self.home)],
            check=True,
        )
        self._mounted = True
        self.cgroup = Cgroup(self.limits.memory_bytes, self.limits.pids, self.limits.cpus)
        self._record_owner()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        if self._mounted:
            subprocess.run(["umount", "-l", str(self.home)], check=False)
            self._mounted = False
        shutil.rmtree(self.base, ignore_errors=True)

    def put(self, name: str, data: bytes) -> Path:
        """Write a file (``name`` may contain folders) into the home directory, owned by the sandbox user."""
        path = self.home / name
        for parent in reversed(path.relative_to(self.home).parents[:-1]):
            (self.home / parent).mkdir(exist_ok=True)
            os.chown(self.home / parent, self.user.uid, self.user.gid)
        path.write_bytes(data)
        os.chown(path, self.user.uid, self.user.gid)
        return path

    def fetch(self, name: str, max_bytes: int) -> bytes:
        """Read the file ``name`` (relative to the home folder) that the sandbox wrote.

        Every path component is opened without following links, so a student's symbolic link
        cannot point the grader at a host file.  Raises ``FileNotFoundError`` when it is absent
        and ``ValueError`` (with the reason) when it is not a plain file or is too large.
        """
        parts = Path(name).parts
        if not parts or any(p in ("..", "/") for p in parts):
            raise ValueError(f"{name!r} is not a path inside the notebook's folder")
        fd = os.open(self.home, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                try:
                    child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise ValueError(f"{part} is a symbolic link or not a folder") from None
                    raise
                os.close(fd)
                fd = child
            try:
                file = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise ValueError(f"{name} is a symbolic link, not the file itself") from None
                raise
            if not stat.S_ISREG(os.fstat(file).st_mode):
                os.close(file)
                raise ValueError(f"{name} is not a regular file")
            with os.fdopen(file, "rb") as f:
                data = f.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ValueError(f"{name} is larger than the limit of {max_bytes / 1024**2:.0f} MiB")
            return data
        finally:
            os.close(fd)

    def argv(self, command: Sequence[str]) -> list[str]:
        """The full command line that runs ``command`` inside the jail."""
        tmp = str(max(self.limits.disk_bytes // 4, 16 * 1024**2))
        extra: list[str] = []
        if self.limits.data_dir:
            extra += [*_parents(COURSE_DATA), "--ro-bind", self.limits.data_dir, COURSE_DATA,
                      "--setenv", "COURSE_DATA_DIR", COURSE_DATA]
        if self.limits.gpu:
            for device in gpu_devices():
                extra += ["--dev-bind", device, device]
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            if visible is not None:  # the worker's share of the host's GPUs (docs/scaling.md)
                extra += ["--setenv", "CUDA_VISIBLE_DEVICES", visible]
            # Take GPU memory as needed, not all of it up front: the kernel and the model's
            # evaluator (and other workers' jails) share the device.
            extra += ["--setenv", "TF_FORCE_GPU_ALLOW_GROWTH", "true",
                      "--setenv", "XLA_PYTHON_CLIENT_PREALLOCATE", "false"]
            # And at most the jail's share: JAX's cap is a fraction of the device's memory
            # (TensorFlow has no variable for it: its cap is a line of the preamble, see config).
            if self.limits.gpu_memory_mb > 0 and (total := gpu_memory_mb()) > 0:
                fraction = min(self.limits.gpu_memory_mb / total, 1.0)
                extra += ["--setenv", "XLA_PYTHON_CLIENT_MEM_FRACTION", f"{fraction:.4f}"]
        backend = os.environ.get("KERAS_BACKEND")
        if backend in KERAS_BACKENDS:  # the grading host's Keras backend (default: tensorflow)
            extra += ["--setenv", "KERAS_BACKEND", backend]
        return [
            _bwrap(), "--die-with-parent", "--new-session", "--clearenv",
            "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
            "--hostname", "sandbox",
            "--ro-bind", "/usr", "/usr",
            "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
            "--symlink", "usr/bin", "/bin", "--symlink", "usr/sbin", "/sbin",
            "--ro-bind", "/etc", "/etc",
            *runtime_binds(),
            "--proc", "/proc", "--dev", "/dev",
            "--perms", "1777", "--size", tmp, "--tmpfs", "/tmp",
            "--perms", "0755", "--dir", "/home",
            "--bind", str(self.home), HOME,
            "--chdir", HOME,
            "--setenv", "HOME", HOME, "--setenv", "PATH", f"{RUNTIME}/bin:/usr/bin:/bin",
            "--setenv", "LANG", "C.UTF-8", "--setenv", "MPLBACKEND", "Agg",
            "--setenv", "MPLCONFIGDIR", MPLCONFIGDIR, "--setenv", "PYTHONDONTWRITEBYTECODE", "1",
            "--setenv", "OMP_NUM_THREADS", "1", "--setenv", "OPENBLAS_NUM_THREADS", "1",
            "--setenv", "TF_CPP_MIN_LOG_LEVEL", "2", "--setenv", "PYTHONHASHSEED", "0",
            "--setenv", "TF_DETERMINISTIC_OPS", "1", "--setenv", "TF_CUDNN_DETERMINISTIC", "1",
            *extra,
            "--",
            "setpriv", f"--reuid={self.user.uid}", f"--regid={self.user.gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            *command,
        ]

    def popen(self, command: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start ``command`` confined; its whole process tree is in this jail's cgroups (it
        joins them before bubblewrap starts, so nothing of it ever runs outside), niced by
        :data:`NICE`."""
        cgroup = self.cgroup
        if cgroup is None:
            raise RuntimeError("Jail.popen() outside `with Jail(...)`")

        def enter() -> None:  # in the child, between fork and exec
            cgroup.join()
            os.nice(NICE)

        return subprocess.Popen(
            self.argv(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=enter,
            close_fds=True,
        )
