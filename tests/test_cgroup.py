"""The sandbox's cgroup on a cgroup v2 host, against a model of ``/sys/fs/cgroup``.

This machine (and CI) is cgroup v1, which every sandboxed test uses for real; cgroup v2 was run
for real on a GPU host (tests/test_gpu.py).  Here: which files a v2 group is made of, what is
written to them (the CPU quota and weight included, on v1 as well), and how the out-of-memory
evidence and the peak are read back.  tests/test_cpu_share.py runs the CPU quota for real.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from autograder.sandbox import cgroup


@pytest.fixture
def v2_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A unified hierarchy whose root offers memory and pids but delegates only cpu so far."""
    root = tmp_path / "cgroup"
    (root / cgroup.PARENT).mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    (root / "cgroup.subtree_control").write_text("cpu\n")
    (root / cgroup.PARENT / "cgroup.subtree_control").write_text("\n")
    monkeypatch.setattr(cgroup, "ROOT", root)
    return root


def test_v2_group_is_limited_and_delegated(v2_root: Path) -> None:
    group = cgroup.Cgroup(memory_bytes=3 * 1024**3, pids=512, cpus=1.5)
    assert group.v2 and group.memory == group.pids == group.cpu and group.memory.parent == v2_root / cgroup.PARENT
    assert (v2_root / "cgroup.subtree_control").read_text() == "+memory +pids"  # cpu was enabled already
    assert (v2_root / cgroup.PARENT / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert (group.memory / "memory.max").read_text() == str(3 * 1024**3)
    assert (group.memory / "pids.max").read_text() == "512"
    assert (group.cpu / "cpu.max").read_text() == "150000 100000"  # 1.5 cores' worth of each 100 ms
    assert (group.cpu / "cpu.weight").read_text() == "100"  # the default weight: every jail alike
    assert group.paths() == [group.memory]
    group.join()
    assert (group.memory / "cgroup.procs").read_text() == str(os.getpid())


def test_v2_group_without_a_quota(v2_root: Path) -> None:
    group = cgroup.Cgroup(memory_bytes=64 * 1024**2, pids=8, cpus=0)
    assert (group.cpu / "cpu.max").read_text() == "max 100000"
    assert (group.cpu / "cpu.weight").read_text() == "100"


@pytest.fixture
def v1_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Separate memory, pids and cpu hierarchies (no ``cgroup.controllers``: not unified)."""
    root = tmp_path / "cgroup"
    for hierarchy in ("memory", "pids", "cpu"):
        (root / hierarchy).mkdir(parents=True)
    monkeypatch.setattr(cgroup, "ROOT", root)
    return root


def test_v1_groups_are_limited(v1_root: Path) -> None:
    group = cgroup.Cgroup(memory_bytes=3 * 1024**3, pids=512, cpus=2)
    assert not group.v2
    assert group.paths() == [v1_root / h / group.cpu.relative_to(v1_root / "cpu") for h in ("memory", "pids", "cpu")]
    assert group.cpu.parent == v1_root / "cpu" / cgroup.PARENT
    assert (group.memory / "memory.limit_in_bytes").read_text() == str(3 * 1024**3)
    assert (group.pids / "pids.max").read_text() == "512"
    assert (group.cpu / "cpu.cfs_period_us").read_text() == "100000"
    assert (group.cpu / "cpu.cfs_quota_us").read_text() == "200000"  # two cores' worth of each period
    assert (group.cpu / "cpu.shares").read_text() == "1024"  # the default weight: every jail alike
    group.join()
    assert all((p / "cgroup.procs").read_text() == str(os.getpid()) for p in group.paths())
    assert cgroup.Cgroup(memory_bytes=64 * 1024**2, pids=8, cpus=0).cpu.joinpath("cpu.cfs_quota_us").read_text() == "-1"


def test_v1_without_a_cpu_hierarchy_is_a_clear_error(v1_root: Path) -> None:
    (v1_root / "cpu").rmdir()
    (v1_root / "cpu").write_text("")  # a file where the hierarchy should be: nothing can be made under it
    with pytest.raises(cgroup.CgroupError, match="cpu, memory and pids"):
        cgroup.Cgroup(memory_bytes=64 * 1024**2, pids=8)
    assert not [*(v1_root / "memory" / cgroup.PARENT).iterdir(), *(v1_root / "pids" / cgroup.PARENT).iterdir()]


def test_v2_out_of_memory_and_peak_are_read(v2_root: Path) -> None:
    group = cgroup.Cgroup(memory_bytes=64 * 1024**2, pids=8)
    events = group.memory / "memory.events"
    events.write_text("low 0\nhigh 0\nmax 12\noom 0\noom_kill 0\noom_group_kill 0\n")
    assert not group.oom_killed()  # the limit was reached, and reclaim sufficed
    events.write_text("low 0\nhigh 0\nmax 40\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert group.oom_killed()
    assert group.peak_memory() == 0  # a kernel without memory.peak
    (group.memory / "memory.peak").write_text("123456789\n")
    assert group.peak_memory() == 123456789


def test_v1_and_v2_are_told_apart(v2_root: Path) -> None:
    assert cgroup.unified()
    (v2_root / "cgroup.controllers").unlink()
    assert not cgroup.unified()


def test_missing_controllers_are_a_clear_error(v2_root: Path) -> None:
    (v2_root / cgroup.PARENT / "cgroup.subtree_control").unlink()
    with pytest.raises(cgroup.CgroupError, match="memory and pids controllers"):
        cgroup.Cgroup(memory_bytes=64 * 1024**2, pids=8)
