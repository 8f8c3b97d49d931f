"""Load on loopback: 20 students log in, start their servers, fetch and submit 03.0 at once; no
request fails and no submission is lost (each student's own work arrives, once, and is collected).

The platform is the session's ``batch_hub`` (tests/hub/fixtures.py), shared with the e2e test.
"""

from __future__ import annotations

import json
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import nbformat
import pytest

from autograder.gradebook import Course
from autograder.hub import provision
from autograder.hub.exchange import latest
from tests.hub.client import HubUser
from tests.hub.fixtures import LOAD_STUDENTS
from tests.hub.platform import ASSIGNMENT, SOLUTION, LoopbackPlatform

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.hub.fixtures"]


@dataclass(frozen=True)
class Visit:
    student: str
    login_s: float
    spawn_s: float
    total_s: float
    status: str  # the assignment's status in the list the submit returned
    error: str = ""


def _mark(name: str) -> dict[str, object]:
    """The solution with a cell that says whose it is."""
    nb = nbformat.read(SOLUTION, as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell(f"submitted by {name}"))
    return dict(json.loads(nbformat.writes(nb)))


def _visit(hub: LoopbackPlatform, name: str) -> Visit:
    began = time.monotonic()
    try:
        user = HubUser(hub.url, name, hub.passwords[name], timeout_s=300).login()
        login = time.monotonic() - began
        spawn = user.start_server()
        user.open_lab()
        user.act("fetch", ASSIGNMENT)
        user.put_notebook(f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb", _mark(name))
        listing = user.act("submit", ASSIGNMENT)
        status = [a["status"] for a in listing if a["assignment_id"] == ASSIGNMENT and a["status"] == "submitted"]
        return Visit(name, login, spawn, time.monotonic() - began, status[0] if status else "missing")
    except Exception as exc:  # recorded: the test reports every student's failure at once
        return Visit(name, 0.0, 0.0, time.monotonic() - began, "error", f"{type(exc).__name__}: {exc}")


@pytest.fixture(scope="module")
def rush(batch_hub: LoopbackPlatform) -> tuple[LoopbackPlatform, list[Visit], float]:
    """On the session's batch platform, its last 20 students at once."""
    hub = batch_hub
    provision.release(hub.platform, [ASSIGNMENT])  # (done already when the e2e test ran first)
    began = time.monotonic()
    with ThreadPoolExecutor(LOAD_STUDENTS) as pool:
        visits = list(pool.map(lambda name: _visit(hub, name), _students(hub)))
    wall = time.monotonic() - began
    ok = [v for v in visits if not v.error]
    if ok:
        spawns = sorted(v.spawn_s for v in ok)
        print(f"\n{len(ok)}/{LOAD_STUDENTS} students in {wall:.1f} s; spawn median {statistics.median(spawns):.1f} s, "
              f"max {spawns[-1]:.1f} s; login max {max(v.login_s for v in ok):.1f} s")
    return hub, visits, wall


def _students(hub: LoopbackPlatform) -> list[str]:
    return hub.students[-LOAD_STUDENTS:]


def test_every_student_got_through(rush: tuple[LoopbackPlatform, list[Visit], float]) -> None:
    """Every login, spawn, fetch and submit succeeded, and each student's list says submitted."""
    _hub, visits, _wall = rush
    failed = [f"{v.student}: {v.error or v.status}" for v in visits if v.error or v.status != "submitted"]
    assert not failed, "\n".join(failed)


def test_no_submission_lost(rush: tuple[LoopbackPlatform, list[Visit], float]) -> None:
    """The inbound holds one genuine submission per student, and collecting yields each student's own work."""
    hub, _visits, _wall = rush
    mine = set(_students(hub))
    arrived = latest(hub.inbound, ASSIGNMENT)
    assert mine <= set(arrived)
    folders = [p for p in hub.inbound.iterdir() if p.name.split("+")[0] in mine and f"+{ASSIGNMENT}+" in p.name]
    assert len(folders) == LOAD_STUDENTS
    instructor = HubUser(hub.url, hub.instructor, hub.passwords[hub.instructor]).login()
    assert instructor.formgrader("POST", f"/assignment/{ASSIGNMENT}/collect")["success"]
    submitted = Course(hub.platform.course_dir).submitted(ASSIGNMENT)
    assert mine <= set(submitted)
    for name in mine:
        assert f"submitted by {name}" in (submitted[name] / f"{ASSIGNMENT}.ipynb").read_text()
