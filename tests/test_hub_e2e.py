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
from autograder.hub.layout import REPO
from tests.corpus.gradient_descent_variants import with_cell
from tests.hub.client import HubError, HubUser
from tests.hub.platform import ASSIGNMENT, MNIST, SOLUTION, LoopbackPlatform, hub_command, run_as

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
        """Whatever root wrote in the course was handed back to the grader account, except the
        settings root's engine reads and the course data (its hidden split is root's alone)."""
        platform = term.hub.platform
        uid = accounts.ids(platform.grader)[0]
        data = platform.course_dir / "data"
        roots = {platform.course_dir / n for n in ("nbgrader_config.py", "course.toml")} | {data, *data.rglob("*")}
        strays = [p for p in platform.course_dir.rglob("*") if p not in roots and p.lstat().st_uid != uid]
        assert not strays
        assert {p.lstat().st_uid for p in roots} == {0}


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

    def test_student_reads_no_secret_from_a_kernel_or_a_shell(self, term: Term) -> None:
        """From a kernel of the student's own server (its REST and websocket API) and from a shell
        as the student, every secret of the platform is unreadable: the repository (solutions,
        hidden tests, the engine, its .venv, the hub's configuration), the course copy the hub
        was made from, the live course (gradebook, source, hidden data) and the hub's state."""
        platform = term.hub.platform
        live_data = (platform.course_dir / "data").resolve()
        secrets = [REPO, REPO / "source" / NOTEBOOK, REPO / "autograder" / "checks" / "numeric.py",
                   REPO / "hub_config" / "jupyterhub_config.py", REPO / "course.toml", REPO / ".venv" / "pyvenv.cfg",
                   REPO / "data" / "hidden" / "mnist_hidden.npz", REPO / "gradebook.db",
                   Path(platform.course_source) / "source" / NOTEBOOK, Path(platform.course_source) / "course.toml",
                   platform.course_dir, platform.course_dir / "gradebook.db", platform.course_dir / "source" / NOTEBOOK,
                   live_data / "hidden" / "mnist_hidden.npz", live_data / "hidden",
                   platform.private, platform.private / "jupyterhub.sqlite", platform.log_file,
                   platform.private / "jupyterhub_cookie_secret"]
        present = [str(p) for p in secrets if p.exists()]  # as root; REPO's data/ and gradebook may not exist
        assert {str(REPO / "source" / NOTEBOOK), str(live_data / "hidden" / "mnist_hidden.npz"),
                str(platform.log_file)} <= set(present)
        probe = (
            "import json, os\n"
            f"paths = {present!r}\n"
            "seen = {}\n"
            "for p in paths:\n"
            "    try:\n"
            "        seen[p] = 'LISTED' if os.path.isdir(p) and os.listdir(p) is not None else open(p, 'rb').read(0)\n"
            "    except PermissionError:\n"
            "        seen[p] = 'denied'\n"
            "    except OSError as exc:\n"
            "        seen[p] = type(exc).__name__\n"
            "print(json.dumps(seen))\n"
        )
        seen = json.loads(term.ada.run_code(probe).strip().splitlines()[-1])
        assert seen == dict.fromkeys(present, "denied"), {p: v for p, v in seen.items() if v != "denied"}
        for path in present:
            self._denied(term.ada.name, "ls" if Path(path).is_dir() else "cat", path)

    def test_student_keeps_the_runtime_the_public_data_and_the_exchange(self, term: Term) -> None:
        """What students need stays readable: the runtime, the public course data, the exchange."""
        platform = term.hub.platform
        out = term.ada.run_code(
            "import os, numpy\n"
            "folder = os.environ['COURSE_DATA_DIR']\n"
            "print(folder, sorted(numpy.load(os.path.join(folder, 'mnist.npz')).files))\n"
            f"print(os.path.isdir({platform.exchange!r} + '/' + {platform.course_id!r} + '/outbound'))\n")
        assert out.split() == [str(platform.public_data), "['x_test',", "'x_train',", "'y_test',", "'y_train']", "True"]

    def test_student_server_gets_its_share_of_the_cpu_only(self, term: Term) -> None:
        """A student's server (and its kernels) runs in its own cgroup, with a CPU quota: four
        busy processes for 3 s get at most the quota's CPU time, not the machine's."""
        platform = term.hub.platform
        out = term.ada.run_code(
            "import multiprocessing, os, time\n"
            "def spin(seconds):\n"
            "    end = time.monotonic() + seconds\n"
            "    while time.monotonic() < end:\n"
            "        pass\n"
            "print(open('/proc/self/cgroup').read().replace('\\n', ' '))\n"
            "began, wall = os.times(), time.monotonic()\n"
            "workers = [multiprocessing.Process(target=spin, args=(3.0,)) for _ in range(4)]\n"
            "for w in workers: w.start()\n"
            "for w in workers: w.join()\n"
            "after = os.times()\n"
            "print(after.children_user + after.children_system - began.children_user - began.children_system,"
            " time.monotonic() - wall)\n")
        groups, used = out.strip().splitlines()
        assert f"/{platform.users_cgroup}/{term.ada.name}" in groups, groups
        cpu_seconds, wall = (float(v) for v in used.split())
        assert cpu_seconds <= platform.user_cpus * wall * 1.15 + 0.3, (cpu_seconds, wall)

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


def test_mnist_on_the_platform(term: Term) -> None:
    """03.2 offline on the platform: the course data was built by `up`; a student's kernel loads
    MNIST with the notebook's own load cell; the solution submitted by the student is graded on
    the platform with full marks."""
    hub, instructor, ada = term.hub, term.instructor, term.ada
    instructor.formgrader("POST", f"/assignment/{MNIST}/assign")
    assert instructor.formgrader("POST", f"/assignment/{MNIST}/release")["success"]
    ada.act("fetch", MNIST)
    release = nbformat.read(REPO / "release" / MNIST / f"{MNIST}.ipynb", as_version=4)
    cells = [c.source for c in release.cells if c.cell_type == "code"]
    load = [c for c in cells if "load_mnist" in c][:2]  # the imports, then the load cell
    printed = ada.run_code("\n".join(load), cwd=MNIST, timeout_s=300)
    assert "x_train: (7000, 28, 28) uint8" in printed, printed
    solution = nbformat.read(REPO / "source" / MNIST / f"{MNIST}.ipynb", as_version=4)
    ada.put_notebook(f"{MNIST}/{MNIST}.ipynb", json.loads(nbformat.writes(solution)))
    ada.act("submit", MNIST)
    assert instructor.formgrader("POST", f"/assignment/{MNIST}/collect")["success"]
    graded = hub_command(hub, "grade", MNIST, "--student", ada.name)
    assert graded.returncode == 0, graded.stdout + graded.stderr
    assert Course(hub.platform.course_dir).scores(MNIST)[ada.name] == (8.0, 8.0), graded.stdout
