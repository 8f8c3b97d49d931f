"""The sandbox's cgroup on a cgroup v2 host, against a model of ``/sys/fs/cgroup``.

This machine (and CI) is cgroup v1, which every sandboxed test uses for real; cgroup v2 was run
for real on a GPU host (tests/test_gpu.py).  Here: which files a v2 group is made of, what is
written to them, and how the out-of-memory evidence and the peak are read back.
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
    group = cgroup.Cgroup(memory_bytes=3 * 1024**3, pids=512)
    assert group.v2 and group.memory == group.pids and group.memory.parent == v2_root / cgroup.PARENT
    assert (v2_root / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (v2_root / cgroup.PARENT / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert (group.memory / "memory.max").read_text() == str(3 * 1024**3)
    assert (group.memory / "pids.max").read_text() == "512"
    group.join()
    assert (group.memory / "cgroup.procs").read_text() == str(os.getpid())


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
