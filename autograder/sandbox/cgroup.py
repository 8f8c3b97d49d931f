"""cgroup v1 memory and pids limits for one sandbox, and the out-of-memory evidence."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")


class CgroupError(RuntimeError):
    """The cgroup v1 memory or pids hierarchy is not available or not writable."""


class Cgroup:
    """A memory+pids cgroup pair named ``autograder/<id>`` under each v1 hierarchy."""

    def __init__(self, memory_bytes: int, pids: int) -> None:
        name = f"autograder/{uuid.uuid4().hex[:12]}"
        self.memory = ROOT / "memory" / name
        self.pids = ROOT / "pids" / name
        try:
            for path in (self.memory, self.pids):
                path.mkdir(parents=True)
            (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
            swap = self.memory / "memory.memsw.limit_in_bytes"
            if swap.exists():
                swap.write_text(str(memory_bytes))
            (self.pids / "pids.max").write_text(str(pids))
        except OSError as exc:
            self.remove()
            raise CgroupError(
                f"cannot create cgroup {name} under {ROOT}/memory and {ROOT}/pids ({exc}); "
                "grading needs root and cgroup v1 memory and pids controllers"
            ) from exc

    def join(self) -> None:
        """Move the calling process into both groups (used between fork and exec)."""
        pid = str(os.getpid())
        (self.memory / "cgroup.procs").write_text(pid)
        (self.pids / "cgroup.procs").write_text(pid)

    def oom_killed(self) -> bool:
        """True when the kernel's OOM killer fired in this group or the limit was hit."""
        try:
            control = (self.memory / "memory.oom_control").read_text()
        except OSError:
            return False
        for line in control.splitlines():
            key, _, value = line.partition(" ")
            if key == "oom_kill" and int(value) > 0:
                return True
        try:
            return int((self.memory / "memory.failcnt").read_text()) > 0 and "oom_kill " not in control
        except OSError:
            return False

    def peak_memory(self) -> int:
        try:
            return int((self.memory / "memory.max_usage_in_bytes").read_text())
        except OSError:
            return 0

    def kill_all(self) -> None:
        """SIGKILL every process left in the group."""
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.pids / "cgroup.procs").read_text().split()]
            except OSError:
                return
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)

    def remove(self) -> None:
        self.kill_all()
        for path in (self.memory, self.pids):
            for _ in range(50):
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
