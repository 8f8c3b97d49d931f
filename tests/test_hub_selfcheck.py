"""Self-check homework on the platform: a submission's score shows in its student's assignment
list within a minute, a resubmission is graded again, nothing is graded twice, and the service
counts only genuine submissions (no forged names, no links).

The platform is the session's ``selfcheck_hub`` (tests/hub/fixtures.py), shared with the browser test.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests.corpus.gradient_descent_variants import with_cell
from tests.hub.client import HubUser
from tests.hub.platform import ASSIGNMENT, SOLUTION, LoopbackPlatform, run_as

pytestmark = pytest.mark.slow
pytest_plugins = ["tests.hub.fixtures"]

NOTEBOOK = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
BUGGY_MSE = "def mse(y_true, y_pred):\n    return float(np.sum((y_pred - y_true) ** 2))\n"
WITHIN_S = 60.0


@dataclass
class Round:
    """One submission and what the student saw of it."""

    timestamp: str
    seconds_to_feedback: float  # from pressing Submit until the list offered the feedback
    score: tuple[float, float]


@dataclass
class Homework:
    hub: LoopbackPlatform
    student: HubUser
    rounds: list[Round] = field(default_factory=list)


def _latest(listing: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(next(a for a in listing if a["status"] == "submitted")["submissions"][-1])


def _submit_and_wait(student: HubUser, notebook: nbformat.NotebookNode) -> Round:
    student.put_notebook(NOTEBOOK, json.loads(nbformat.writes(notebook)))
    began = time.monotonic()
    timestamp = _latest(student.act("submit", ASSIGNMENT))["timestamp"]
    while time.monotonic() - began < WITHIN_S:
        submission = _latest(student.assignments())
        if submission["timestamp"] == timestamp and submission["has_exchange_feedback"]:
            break
        time.sleep(0.5)
    else:
        raise AssertionError(f"no feedback in {student.name}'s assignment list within {WITHIN_S:.0f} s")
    waited = time.monotonic() - began
    folder = _latest(student.act("fetch_feedback", ASSIGNMENT))["local_feedback_path"]
    page = student.read_file(f"{folder}/{ASSIGNMENT}.html")
    match = re.search(r"Score: ([\d.]+) / ([\d.]+)", page)
    assert match, "the released feedback shows no score"
    return Round(timestamp, waited, (float(match.group(1)), float(match.group(2))))


@pytest.fixture(scope="module")
def homework(selfcheck_hub: LoopbackPlatform) -> Homework:
    """On the session's self-check platform, the first student submits a buggy 03.0, then the solution."""
    hub = selfcheck_hub
    student = HubUser(hub.url, hub.students[0], hub.passwords[hub.students[0]]).login()
    student.start_server()
    student.open_lab()
    student.act("fetch", ASSIGNMENT)
    out = Homework(hub, student)
    out.rounds.append(_submit_and_wait(student, with_cell(SOLUTION, "mse", BUGGY_MSE)))
    out.rounds.append(_submit_and_wait(student, nbformat.read(SOLUTION, as_version=4)))
    print("\nself-check feedback latency (s):", [round(r.seconds_to_feedback, 1) for r in out.rounds])
    return out


def _ledger(hub: LoopbackPlatform) -> dict[str, dict[str, Any]]:
    return dict(json.loads(hub.platform.ledger.read_text()))


def _wait_for(hub: LoopbackPlatform, key: str, timestamp: str) -> dict[str, Any]:
    deadline = time.monotonic() + WITHIN_S
    while time.monotonic() < deadline:
        record = _ledger(hub).get(key, {})
        if record.get("timestamp") == timestamp:
            return record
        time.sleep(0.5)
    raise AssertionError(f"the self-check never handled {key} at {timestamp}")


class TestSelfCheck:
    def test_score_shows_within_a_minute(self, homework: Homework) -> None:
        """Each submission's feedback, with its score, is in the student's list within a minute."""
        buggy, fixed = homework.rounds
        assert buggy.score[0] < buggy.score[1] == 21.0
        assert fixed.score == (21.0, 21.0)
        assert all(r.seconds_to_feedback < WITHIN_S for r in homework.rounds)

    def test_resubmission_graded_again_and_nothing_twice(self, homework: Homework) -> None:
        """The ledger holds the last submission; each timestamp was graded and released once."""
        time.sleep(3 * homework.hub.platform.selfcheck_interval_s)  # a few more passes over the same inbound
        record = _ledger(homework.hub)[f"{ASSIGNMENT}/{homework.student.name}"]
        assert (record["timestamp"], record["status"], record["score"]) == (homework.rounds[1].timestamp, "released",
                                                                           21.0)
        log = homework.hub.platform.log_file.read_text()
        for r in homework.rounds:
            assert log.count(f"{homework.student.name} ({r.timestamp}): released") == 1

    def test_forged_name_is_ignored(self, homework: Homework) -> None:
        """A folder in another student's name, made by someone else, is never collected."""
        hub, victim, forger = homework.hub, homework.student.name, homework.hub.students[1]
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        forged = hub.inbound / f"{victim}+{ASSIGNMENT}+{stamp}+forged"
        assert run_as(forger, "mkdir", str(forged)).returncode == 0
        copy = hub.root / "forged.ipynb"  # the repository is root's alone: the forger gets their own copy
        shutil.copyfile(SOLUTION, copy)
        copy.chmod(0o644)
        assert run_as(forger, "cp", str(copy), str(forged / f"{ASSIGNMENT}.ipynb")).returncode == 0
        time.sleep(4 * hub.platform.selfcheck_interval_s)
        assert _ledger(hub)[f"{ASSIGNMENT}/{victim}"]["timestamp"] == homework.rounds[1].timestamp
        submitted = hub.platform.course_dir / "submitted" / victim / ASSIGNMENT / "timestamp.txt"
        assert submitted.read_text().strip() == homework.rounds[1].timestamp

    def test_linked_submission_is_refused(self, homework: Homework) -> None:
        """A submission that is a link to another's collected notebook is refused, not copied."""
        hub, victim, thief = homework.hub, homework.student.name, homework.hub.students[1]
        target = hub.platform.course_dir / "submitted" / victim / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f UTC")
        folder = hub.inbound / f"{thief}+{ASSIGNMENT}+{stamp}+0123456789abcdef"
        assert run_as(thief, "mkdir", str(folder)).returncode == 0
        assert run_as(thief, "ln", "-s", str(target), str(folder / f"{ASSIGNMENT}.ipynb")).returncode == 0
        record = _wait_for(hub, f"{ASSIGNMENT}/{thief}", stamp)
        assert record["status"] == "rejected", record
        assert not (hub.platform.course_dir / "submitted" / thief).joinpath(ASSIGNMENT, f"{ASSIGNMENT}.ipynb").exists()
        assert not Path(hub.platform.course_dir / "feedback" / thief).exists()
