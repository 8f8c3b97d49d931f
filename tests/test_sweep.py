"""Jails left behind by a grader killed outright are removed by the next grading run; the jails
of live graders are not touched (real tmpfs mounts and cgroups)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from autograder.sandbox.jail import Jail, sweep_stale
from autograder.sandbox.limits import Limits
from tests.conftest import REPO

HOLD_A_JAIL = """\
import time
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits
jail = Jail(Limits()).__enter__()
print(jail.base, *(str(p) for p in jail.cgroup.paths()), flush=True)
time.sleep(120)
"""


def test_jails_of_a_killed_grader_are_swept() -> None:
    grader = subprocess.Popen([sys.executable, "-c", HOLD_A_JAIL], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert grader.stdout is not None
    base, *groups = grader.stdout.readline().split()
    live = Jail(Limits()).__enter__()  # this process's own jail: alive, it must survive the sweep
    try:
        grader.kill()
        grader.wait()
        assert os.path.ismount(Path(base) / "home") and groups and all(Path(g).is_dir() for g in groups)
        assert sweep_stale() >= 1
        assert not Path(base).exists() and not any(Path(g).exists() for g in groups)
        assert not os.path.ismount(Path(base) / "home")
        assert os.path.ismount(live.home) and live.cgroup is not None
        assert all(p.is_dir() for p in live.cgroup.paths())
    finally:
        live.close()


def test_folders_without_an_owner_are_left_alone() -> None:
    unknown = Path(tempfile.mkdtemp(prefix="autograder-"))
    garbage = Path(tempfile.mkdtemp(prefix="autograder-"))
    (garbage / "owner.json").write_text("{not json")
    try:
        sweep_stale()
        assert unknown.is_dir() and garbage.is_dir()
    finally:
        for folder in (unknown, garbage):
            (folder / "owner.json").unlink(missing_ok=True)
            folder.rmdir()
