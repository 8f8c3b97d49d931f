"""Confine one untrusted process tree: bubblewrap namespaces, an unprivileged user,
cgroup limits and a size-limited working directory.

Inside, the process sees a read-only ``/usr`` and ``/etc``, the Python runtime read-only at
``/opt/runtime``, a private ``/tmp`` and ``/home/student`` (the only writable places, both
size-limited tmpfs), its own pid, network, IPC and UTS namespaces, and nothing of the course
directory, the gradebook, ``source/`` or the grader's own package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from autograder.sandbox.cgroup import Cgroup
from autograder.sandbox.limits import Limits
from autograder.sandbox.user import SandboxUser, ensure_user

RUNTIME = "/opt/runtime"
HOME = "/home/student"
MPLCONFIGDIR = HOME + "/.config/matplotlib"


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

    def __enter__(self) -> Jail:
        self.home.mkdir()
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o",
             f"size={self.limits.disk_bytes},mode=0700,uid={self.user.uid},gid={self.user.gid},nosuid,nodev",
             "tmpfs", str(self.home)],
            check=True,
        )
        self._mounted = True
        self.cgroup = Cgroup(self.limits.memory_bytes, self.limits.pids)
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

    def argv(self, command: Sequence[str]) -> list[str]:
        """The full command line that runs ``command`` inside the jail."""
        tmp = str(max(self.limits.disk_bytes // 4, 16 * 1024**2))
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
            "--setenv", "TF_CPP_MIN_LOG_LEVEL", "2",
            "--",
            "setpriv", f"--reuid={self.user.uid}", f"--regid={self.user.gid}", "--clear-groups",
            "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--",
            *command,
        ]

    def popen(self, command: Sequence[str]) -> subprocess.Popen[bytes]:
        """Start ``command`` confined; its whole process tree is in this jail's cgroups."""
        cgroup = self.cgroup
        if cgroup is None:
            raise RuntimeError("Jail.popen() outside `with Jail(...)`")
        return subprocess.Popen(
            self.argv(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=cgroup.join,
            close_fds=True,
        )
