"""A throw-away platform on loopback: its own Unix accounts (a unique prefix), free ports, exchange
and state folders, and a copy of the course with only the assignments a test needs.  Everything
it made (processes, accounts, homes, folders) is gone when the context exits."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from autograder.hub import accounts, daemon, lifecycle
from autograder.hub.layout import REPO, Platform
from tests.conftest import MNIST_SOURCE

ASSIGNMENT = "03.0_gradient_descent"
MNIST = "03.2_mnist_classifier"
SOLUTION = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
LOGS = REPO / "artifacts" / "hub-logs"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@dataclass
class LoopbackPlatform:
    """A running platform and the passwords of its accounts."""

    platform: Platform
    root: Path  # the folder holding its state, exchange and course source
    passwords: dict[str, str] = field(default_factory=dict)
    report: lifecycle.Report | None = None
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.platform.url

    @property
    def instructor(self) -> str:
        return self.platform.instructor

    @property
    def students(self) -> list[str]:
        return self.platform.students

    @property
    def inbound(self) -> Path:
        return Path(self.platform.exchange) / self.platform.course_id / "inbound"


def _course_source(folder: Path, assignments: Sequence[str], selfcheck: Sequence[str]) -> Path:
    """A course folder like the repository's, with only ``assignments`` and a ``[selfcheck]`` table."""
    folder.mkdir()
    shutil.copy(REPO / "nbgrader_config.py", folder)
    toml = (REPO / "course.toml").read_text()
    if selfcheck:  # replace the repository's [selfcheck] table (its list is empty)
        table = "[selfcheck]\nassignments = [" + ", ".join(f'"{a}"' for a in selfcheck) + "]\n"
        toml = re.sub(r"(?ms)^\[selfcheck\]\n.*?^assignments = [^\n]*\n", lambda _: table, toml) \
            if "[selfcheck]" in toml else toml + "\n" + table
    (folder / "course.toml").write_text(toml)
    for name in assignments:
        for top in ("source", "release"):
            shutil.copytree(REPO / top / name, folder / top / name)
    return folder


def run_as(user: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command as ``user`` (runuser), as that person would in a terminal."""
    return subprocess.run(["runuser", "-u", user, "--", *argv], text=True, capture_output=True, cwd="/")


@contextmanager
def running_platform(tag: str, students: int = 2, assignments: Sequence[str] = (ASSIGNMENT,),
                  selfcheck: Sequence[str] = (), release: bool = True) -> Iterator[LoopbackPlatform]:
    """Start a platform named ``tag`` with one instructor and ``students`` students (the course
    released unless ``release`` is false); stop it and remove everything it made on exit."""
    root = Path(tempfile.mkdtemp(prefix=f"hubtest-{tag}-", dir="/tmp"))
    root.chmod(0o755)  # users read the role settings and reach the exchange below it
    port, hub_port, api_port, formgrader_port, check_port = free_ports(5)
    prefix = f"h{secrets.token_hex(3)}-"
    platform = Platform(port=port, hub_port=hub_port, proxy_api_port=api_port, formgrader_port=formgrader_port,
                        check_port=check_port,
                        state_dir=str(root / "state"), exchange=str(root / "exchange"), account_prefix=prefix,
                        course_source=str(_course_source(root / "course", assignments, selfcheck)),
                        demo_students=students, selfcheck_interval_s=1.0, mnist_source=str(MNIST_SOURCE))
    test = LoopbackPlatform(platform, root)
    try:
        test.report = lifecycle.up(platform, release=release)
        test.timings.update(test.report.timings)
        test.passwords = {a.name: a.password for a in test.report.created}
        yield test
    finally:
        began = time.monotonic()
        lifecycle.down(platform)
        if platform.log_file.exists():  # kept as a test artifact: what the hub and its services said
            LOGS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(platform.log_file, LOGS / f"{tag}.log")
        left = list(daemon.processes(platform))
        test.timings["down"] = time.monotonic() - began
        for name in [platform.instructor, *platform.students, platform.grader]:
            _end_processes_of(name)
            accounts.remove_user(name)
        for group in (platform.students_group, platform.instructors_group):
            accounts.remove_group(group)
        shutil.rmtree(root, ignore_errors=True)
        test.timings["teardown"] = time.monotonic() - began
        print(f"\n[{tag}] platform timings (s):", {k: round(v, 1) for k, v in test.timings.items()})
        assert not left, f"processes of the test platform still running after down: {left}"


def hub_command(test: LoopbackPlatform, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m autograder.hub --state STATE ARGS`` (as root), as the instructor's docs run it."""
    return subprocess.run([sys.executable, "-m", "autograder.hub", "--state", test.platform.state_dir, *args],
                          text=True, capture_output=True, cwd=REPO)


def _end_processes_of(user: str) -> None:
    """Kill, by id, processes still running as ``user`` (none should be: down stops them)."""
    if not accounts.exists(user):
        return
    uid = accounts.ids(user)[0]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if entry.stat().st_uid == uid:
                    os.kill(int(entry.name), 9)
            except (OSError, ProcessLookupError):
                continue
