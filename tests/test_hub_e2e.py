"""End to end on loopback: a term of 03.0 on the single-machine platform.

The instructor generates and releases 03.0 in the formgrader; two students (real Unix users)
log in over HTTP, fetch through their servers' assignment-list API, one submits the solution
and one a buggy version; the instructor collects in the formgrader and grades as root with the
engine; feedback is released and each student fetches their own.  Then the walls: a student
reads nothing of another's work, of the course or of the formgrader.

The platform is the session's ``batch_hub`` (tests/hub/fixtures.py), shared with the load test.
"""

from __future__ import annotations

import html
import json
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.gradebook import Course
from autograder.hub import accounts, daemon
from tests.corpus.gradient_descent_variants import with_cell
from tests.hub.client import HubError, HubUser
from tests.hub.platform import ASSIGNMENT, SOLUTION, LoopbackPlatform, hub_command, run_as

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.hub.fixtures"]

NOTEBOOK = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
BUGGY_MSE = "def mse(y_true, y_pred):\n    return float(np.sum((y_pred - y_true) ** 2))\n"


@dataclass
class Term:
    hub: LoopbackPlatform
    ada: HubUser  # submits the solution
    bo: HubUser  # submits a buggy mse
    instructor: HubUser
    released: dict[str, Any]
    seen_by_students: list[list[dict[str, Any]]]
    collected: dict[str, Any]
    grade: str
    feedback: str
    feedback_html: dict[str, str] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _submission(listing: list[dict[str, Any]]) -> dict[str, Any]:
    entry = next(a for a in listing if a["status"] == "submitted" and a["assignment_id"] == ASSIGNMENT)
    return dict(entry["submissions"][-1])


def _work(student: HubUser, notebook: nbformat.NotebookNode) -> list[dict[str, Any]]:
    """Log in, start the server, fetch, save the work and submit; returns the list seen first."""
    student.login()
    student.start_server()
    student.open_lab()
    seen = student.assignments()
    student.act("fetch", ASSIGNMENT)
    student.put_notebook(NOTEBOOK, json.loads(nbformat.writes(notebook)))
    student.act("submit", ASSIGNMENT)
    return seen


@pytest.fixture(scope="module")
def term(batch_hub: LoopbackPlatform) -> Term:
    """The term on the session's batch platform (its first two students are this module's)."""
    hub = batch_hub
    t0 = time.monotonic()
    instructor = HubUser(hub.url, hub.instructor, hub.passwords[hub.instructor]).login()
    instructor.formgrader("POST", f"/assignment/{ASSIGNMENT}/assign")
    released = instructor.formgrader("POST", f"/assignment/{ASSIGNMENT}/release")
    ada, bo = (HubUser(hub.url, name, hub.passwords[name]) for name in hub.students[:2])
    notebooks = [nbformat.read(SOLUTION, as_version=4), with_cell(SOLUTION, "mse", BUGGY_MSE)]
    with ThreadPoolExecutor(2) as pool:
        seen = list(pool.map(_work, [ada, bo], notebooks))
    t1 = time.monotonic()
    collected = instructor.formgrader("POST", f"/assignment/{ASSIGNMENT}/collect")
    graded = hub_command(hub, "grade", ASSIGNMENT)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    t2 = time.monotonic()
    fed = hub_command(hub, "feedback", ASSIGNMENT)
    assert fed.returncode == 0, fed.stdout + fed.stderr
    out = Term(hub, ada, bo, instructor, released, seen, collected, graded.stdout, fed.stdout)
    for student in (ada, bo):
        listing = student.act("fetch_feedback", ASSIGNMENT)
        folder = _submission(listing)["local_feedback_path"]
        assert folder, f"no feedback fetched by {student.name}: {_submission(listing)}"
        out.feedback_html[student.name] = student.read_file(f"{folder}/{ASSIGNMENT}.html")
    out.timings = {"hub ready": hub.report.timings["hub ready"] if hub.report else 0.0,
                   "spawn": max(ada.spawn_seconds, bo.spawn_seconds), "students' work": t1 - t0,
                   "collect and grade": t2 - t1, "feedback": time.monotonic() - t2}
    print("\ntimings (s):", {k: round(v, 1) for k, v in out.timings.items()})
    return out


def _text(page: str) -> str:
    """What the page reads as, without its markup (code is split into highlighted spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", page))


def _score(page: str) -> tuple[float, float]:
    match = re.search(r"Score: ([\d.]+) / ([\d.]+)", page)
    assert match, "no score in the feedback"
    return float(match.group(1)), float(match.group(2))


class TestTerm:
    def test_instructor_released_in_formgrader(self, term: Term) -> None:
        """The formgrader's release reached the exchange, and each student saw 03.0 released."""
        assert term.released["success"], term.released
        for listing in term.seen_by_students:
            assert [(a["assignment_id"], a["status"]) for a in listing] == [(ASSIGNMENT, "released")]

    def test_formgrader_collected_both(self, term: Term) -> None:
        """Both submissions arrived in the exchange and were collected by the formgrader."""
        assert term.collected["success"], term.collected
        course = Course(term.hub.platform.course_dir)
        assert sorted(course.submitted(ASSIGNMENT)) == sorted([term.ada.name, term.bo.name])

    def test_engine_scores_in_gradebook(self, term: Term) -> None:
        """`autograder grade` gave the solution every point and the buggy mse less."""
        scores = Course(term.hub.platform.course_dir).scores(ASSIGNMENT)
        assert scores[term.ada.name] == (21.0, 21.0)
        assert scores[term.bo.name][0] < 21.0
        assert "test_mse" not in term.grade.split(term.ada.name)[1].splitlines()[0]

    def test_each_student_fetched_their_own_feedback(self, term: Term) -> None:
        """Each student's fetched feedback carries their own score and no hidden test."""
        ada, bo = term.feedback_html[term.ada.name], term.feedback_html[term.bo.name]
        assert _score(ada) == (21.0, 21.0)
        assert _score(bo)[0] < 21.0
        bug = "np.sum((y_pred - y_true) ** 2)"
        assert bug in _text(bo) and bug not in _text(ada)
        for page in (ada, bo):
            assert "BEGIN HIDDEN TESTS" not in page and "__ag_probe__" not in page

    def test_course_files_stay_the_graders(self, term: Term) -> None:
        """Whatever root wrote in the course was handed back to the grader account."""
        platform = term.hub.platform
        uid = accounts.ids(platform.grader)[0]
        mine = {platform.course_dir / n for n in ("nbgrader_config.py", "course.toml")}
        strays = [p for p in platform.course_dir.rglob("*") if p not in mine and p.lstat().st_uid != uid]
        assert not strays


class TestWalls:
    def _denied(self, user: str, *argv: str) -> None:
        done = run_as(user, *argv)
        assert done.returncode != 0 and "Permission denied" in done.stderr, (argv, done.stdout[:200], done.stderr)

    def test_student_cannot_read_another_students_work(self, term: Term) -> None:
        """Another's notebook, their fetched feedback and the inbound are closed to a student."""
        other_home = Path(f"{term.hub.platform.home_root}/{term.bo.name}")
        self._denied(term.ada.name, "cat", str(other_home / NOTEBOOK))
        self._denied(term.ada.name, "ls", str(other_home))
        self._denied(term.ada.name, "ls", str(term.hub.inbound))
        self._denied(term.ada.name, "ls", str(term.hub.inbound.parent / "feedback"))
        assert run_as(term.ada.name, "cat", f"/home/{term.ada.name}/{NOTEBOOK}").returncode == 0

    def test_student_cannot_read_course_or_gradebook(self, term: Term) -> None:
        """The collected submissions, the gradebook and the instructor's source stay the grader's."""
        course = term.hub.platform.course_dir
        self._denied(term.ada.name, "cat", str(course / "submitted" / term.bo.name / NOTEBOOK))
        self._denied(term.ada.name, "cat", str(course / "gradebook.db"))
        self._denied(term.ada.name, "cat", str(course / "source" / NOTEBOOK))
        self._denied(term.ada.name, "ls", str(course))

    def test_student_cannot_reach_formgrader(self, term: Term) -> None:
        """The hub refuses a student the formgrader service (403 at its OAuth step)."""
        with pytest.raises(HubError, match="403"):
            term.ada.formgrader("GET", "/assignments")

    def test_student_server_has_no_formgrader(self, term: Term) -> None:
        """A student's JupyterLab disables the formgrader and create-assignment; the server has no /formgrader."""
        page = term.ada.http.get(f"{term.ada.server}/lab", timeout=60).text
        config = json.loads(re.search(r'id="jupyter-config-data"[^>]*>(.*?)</script>', page, re.S).group(1))  # type: ignore[union-attr]
        disabled = config["disabledExtensions"]
        assert {"@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:create-assignment"} <= set(disabled)
        assert "@jupyter/nbgrader:assignment-list" not in disabled
        assert term.ada.http.get(f"{term.ada.server}/formgrader", timeout=60).status_code == 404

    def test_servers_run_as_their_users(self, term: Term) -> None:
        """Each student's server runs as that student's Unix user; the formgrader as the grader."""
        owners: dict[str, set[int]] = {}
        for pid in daemon.processes(term.hub.platform):
            try:
                raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                env = dict(v.split(b"=", 1) for v in raw if b"=" in v)
                uid = Path(f"/proc/{pid}").stat().st_uid
            except OSError:
                continue
            name = env.get(b"JUPYTERHUB_USER", b"").decode()
            if name:
                owners.setdefault(name, set()).add(uid)
        for student in (term.ada.name, term.bo.name):
            assert owners.get(student) == {accounts.ids(student)[0]}, owners
        assert owners.get(term.hub.platform.grader) == {accounts.ids(term.hub.platform.grader)[0]}, owners


def test_formgrader_autograde_runs_nothing(term: Term) -> None:
    """The formgrader's Autograde button fails before running a student's code (no such kernel);
    the engine's scores stay in the gradebook."""
    answer = term.instructor.formgrader("POST", f"/submission/{ASSIGNMENT}/{term.bo.name}/autograde")
    assert answer["success"] is False
    assert "none-grade-with-autograder" in answer["error"] + answer["log"]
    scores = Course(term.hub.platform.course_dir).scores(ASSIGNMENT)
    assert scores[term.ada.name] == (21.0, 21.0) and scores[term.bo.name][0] < 21.0
