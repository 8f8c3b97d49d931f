"""Memory, pids and CPU limits for one sandbox, and the out-of-memory evidence, on cgroup v1 or v2.

cgroup v2 (the unified hierarchy, the default of current Debian, Ubuntu and Kubernetes nodes):
one group ``/sys/fs/cgroup/autograder/<id>`` with ``memory.max``, ``memory.swap.max = 0``,
``pids.max``, ``cpu.max`` (the CPU quota: ``cpus`` cores' worth of every period) and
``cpu.weight`` (the same for every group); the parent ``autograder`` holds no process and
delegates the memory, pids and cpu controllers to its children.  cgroup v1: three groups
``autograder/<id>`` under the memory, pids and cpu hierarchies, memory and memory+swap capped
alike, the quota in ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us`` and the weight in ``cpu.shares``.

The quota caps what a group's processes, however many, can take of the machine, so a
submission's time limits measure its own work; the weight shares the CPU between groups that
want more than is free.  Every group sits under one ``autograder`` parent at the top of the
hierarchy, which as a whole weighs no more than any other top-level group (or, on v1, a
process of the root group): the grader's trusted work (decoding answers, verdicts, the
gradebook) keeps its share however many sandboxes are busy.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

ROOT = Path("/sys/fs/cgroup")
PARENT = "autograder"
CONTROLLERS = ("memory", "pids", "cpu")
PERIOD_US = 100_000  # the CPU quota's period: the kernel's default
WEIGHT_V2, SHARES_V1 = 100, 1024  # the kernel's default weight: every group the same


class CgroupError(RuntimeError):
    """No writable cgroup v2 tree, nor cgroup v1 memory, pids and cpu hierarchies."""


def unified() -> bool:
    """True when ``ROOT`` is a cgroup v2 (unified) hierarchy."""
    return (ROOT / "cgroup.controllers").exists()


def _delegate(group: Path) -> None:
    """Enable the memory, pids and cpu controllers for ``group``'s children (and for ``group`` itself
    in its parent), creating ``group`` if needed."""
    for path in (group.parent, group):
        path.mkdir(exist_ok=True)
        enabled = (path / "cgroup.subtree_control").read_text().split()
        missing = [c for c in CONTROLLERS if c not in enabled]
        if missing:
            (path / "cgroup.subtree_control").write_text(" ".join(f"+{c}" for c in missing))


def _counters(path: Path) -> dict[str, int]:
    """A flat-keyed cgroup file (``memory.events``, ``memory.oom_control``) as a dict."""
    out: dict[str, int] = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(" ")
        if value.strip().isdigit():
            out[key] = int(value)
    return out


class Cgroup:
    """The group (v2) or groups (v1) named ``autograder/<id>`` that confine one jail.

    ``cpus`` is the CPU quota in cores (1.5: one and a half cores' worth of time per period,
    however many processes share it); 0 or less: no quota, the weight alone.
    """

    def __init__(self, memory_bytes: int, pids: int, cpus: float = 1.0) -> None:
        name = f"{PARENT}/{uuid.uuid4().hex[:12]}"
        self.v2 = unified()
        if self.v2:
            self.memory = self.pids = self.cpu = ROOT / name
        else:
            self.memory, self.pids, self.cpu = ROOT / "memory" / name, ROOT / "pids" / name, ROOT / "cpu" / name
        quota = max(round(cpus * PERIOD_US), 1000) if cpus > 0 else None  # the kernel's least: 1 ms
        try:
            if self.v2:
                _delegate(ROOT / PARENT)
                self.memory.mkdir()
                (self.memory / "memory.max").write_text(str(memory_bytes))
                swap = self.memory / "memory.swap.max"
                if swap.exists():
                    swap.write_text("0")
                (self.cpu / "cpu.max").write_text(f"{quota or 'max'} {PERIOD_US}")
                (self.cpu / "cpu.weight").write_text(str(WEIGHT_V2))
            else:
                for path in (self.memory, self.pids, self.cpu):
                    path.mkdir(parents=True)
                (self.memory / "memory.limit_in_bytes").write_text(str(memory_bytes))
                swap = self.memory / "memory.memsw.limit_in_bytes"
                if swap.exists():
                    swap.write_text(str(memory_bytes))
                (self.cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (self.cpu / "cpu.cfs_quota_us").write_text(str(quota or -1))
                (self.cpu / "cpu.shares").write_text(str(SHARES_V1))
            (self.pids / "pids.max").write_text(str(pids))
        except OSError as exc:
            self.remove()
            where = ROOT / PARENT if self.v2 else f"{ROOT}/memory, {ROOT}/pids and {ROOT}/cpu"
            raise CgroupError(
                f"cannot create cgroup {name} under {where} ({exc}); grading needs root and the cpu, "
                "memory and pids controllers (cgroup v2, or v1 cpu, memory and pids hierarchies)"
            ) from exc

    def paths(self) -> list[Path]:
        return [self.memory] if self.v2 else [self.memory, self.pids, self.cpu]

    def join(self) -> None:
        """Move the calling process into the group(s) (used between fork and exec)."""
        pid = str(os.getpid())
        for path in self.paths():
            (path / "cgroup.procs").write_text(pid)

    def oom_killed(self) -> bool:
        """True when the kernel's OOM killer fired in this group or the limit was hit."""
        try:
            if self.v2:
                events = _counters(self.memory / "memory.events")
                return events.get("oom_kill", 0) > 0 or events.get("oom", 0) > 0
            control = _counters(self.memory / "memory.oom_control")
            if "oom_kill" in control:
                return control["oom_kill"] > 0
            return int((self.memory / "memory.failcnt").read_text()) > 0
        except OSError:
            return False

    def peak_memory(self) -> int:
        """The group's highest memory use in bytes (0 where the kernel does not say)."""
        try:
            return int((self.memory / ("memory.peak" if self.v2 else "memory.max_usage_in_bytes")).read_text())
        except (OSError, ValueError):
            return 0

    def kill_all(self) -> None:
        """SIGKILL every process left in the group."""
        _kill_all(self.pids)

    def remove(self) -> None:
        _kill_all(self.pids)
        for path in self.paths():
            _rmdir(path)


def _kill_all(group: Path) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in (group / "cgroup.procs").read_text().split()]
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


def _rmdir(group: Path) -> None:
    for _ in range(50):
        try:
            group.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)


def remove_leftover(group: Path) -> bool:
    """Kill what is left in ``group`` (a path another grader recorded) and remove it; refuses,
    returning False, any path that is not an ``autograder/<id>`` group under ``ROOT``."""
    if not (group.is_relative_to(ROOT) and group.parent.name == PARENT and ".." not in group.parts):
        return False
    _kill_all(group)
    _rmdir(group)
    return True
