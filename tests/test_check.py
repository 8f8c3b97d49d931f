"""The Check service (:mod:`autograder.check`): a notebook as it is, graded in a warm sandbox with the
hidden checks; verdicts without test code; self-check assignments only; at most ``checks_per_hour``
checks an hour per student and assignment, the next refused with a clear message; every check in
the ledger that instructors read; over HTTP, only a hub user's token is served."""

from __future__ import annotations

import asyncio
import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder.check import Checker, Ledger, main, make_app
from autograder.demo import write_course
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO

pytestmark = pytest.mark.slow
SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = write_course(tmp_path_factory.mktemp("course"), {}, ASSIGNMENT)
    text = (root / "course.toml").read_text().replace("assignments = []", f'assignments = ["{ASSIGNMENT}"]')
    (root / "course.toml").write_text(text.replace("checks_per_hour = 10", "checks_per_hour = 3"))
    return root


@pytest.fixture(scope="module")
def checker(course: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Checker]:
    clock = Clock()
    checker = Checker(course, Ledger(tmp_path_factory.mktemp("state") / "checks.sqlite"), clock)
    yield checker
    checker.close()


def _notebook(mse_grad: str | None = None) -> dict[str, Any]:
    nb = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        if mse_grad and cell.metadata.get("nbgrader", {}).get("grade_id") == "mse_grad":
            cell.source = mse_grad
    return dict(nb)


def test_a_notebook_is_graded_with_the_hidden_checks(checker: Checker) -> None:
    answer = checker.check("ada", ASSIGNMENT, _notebook())
    assert answer.status == 200 and answer.body["score"] == answer.body["max_score"] == 21.0
    assert {i["status"] for i in answer.body["items"]} == {"passed"} and answer.body["checks_left"] == 2
    bug = "def mse_grad(y_true, y_pred):\n    return 2 * (y_pred - y_true)\n"
    buggy = checker.check("ada", ASSIGNMENT, _notebook(bug))
    [item] = [i for i in buggy.body["items"] if i["status"] != "passed"]
    assert item["item"] == "test_mse_grad" and item["points"] == 0 and "mse_grad" in item["message"]
    hidden = nbformat.read(SOLUTION, as_version=4)
    test = next(c.source for c in hidden.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "test_mse_grad")
    shown = json.dumps(buggy.body)
    assert not [line for line in test.splitlines() if len(line.strip()) > 20 and line.strip() in shown]


def test_the_check_after_the_limit_is_refused(checker: Checker) -> None:
    """3 an hour (this course's checks_per_hour): ada used 2 above, the third is hers, the fourth is refused."""
    assert checker.check("ada", ASSIGNMENT, _notebook()).body["checks_left"] == 0
    refused = checker.check("ada", ASSIGNMENT, _notebook())
    assert refused.status == 429
    assert refused.body["message"].startswith(f"you have used your 3 checks of {ASSIGNMENT} for this hour; the next "
                                              "one is possible at ")
    assert checker.check("bob", ASSIGNMENT, _notebook()).status == 200  # another student's own limit
    assert isinstance(checker.clock, Clock)
    checker.clock.now += 3601
    assert checker.check("ada", ASSIGNMENT, _notebook()).status == 200  # an hour later


def test_only_self_check_assignments(checker: Checker) -> None:
    answer = checker.check("ada", "03.3_chain_rule", _notebook())
    assert answer.status == 404 and "has no Check" in answer.body["message"]
    assert checker.check("cy", ASSIGNMENT, {"cells": "no"}).status == 400


def test_instructors_see_how_often_each_student_checked(checker: Checker, capsys: pytest.CaptureFixture[str]) -> None:
    rows = {(r[0], r[1]): r[2] for r in checker.ledger.report()}
    assert rows[("ada", ASSIGNMENT)] == 4 and rows[("bob", ASSIGNMENT)] == 1  # the refused one is not a check
    assert main(["report", "--state", str(checker.ledger.path)]) == 0
    out = capsys.readouterr().out
    assert "ada" in out and "bob" in out


def test_over_http_only_a_hub_user_is_served(checker: Checker) -> None:
    """A token the hub does not know is refused (403); a student's gets the verdicts."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    async def who(token: str) -> Any:
        return {"name": "dee"} if token == "dees-token" else None

    loop = asyncio.new_event_loop()
    [sock] = bind_sockets(0, "127.0.0.1")[:1]
    port = sock.getsockname()[1]

    def run() -> None:
        asyncio.set_event_loop(loop)
        server = HTTPServer(make_app(checker, "/services/check/", who))
        server.add_sockets([sock])
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    body = json.dumps({"assignment": ASSIGNMENT, "notebook": _notebook()}).encode()

    def post(token: str) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/services/check/check", body,
                                         {"Authorization": f"token {token}"})
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    try:
        assert post("forged")[0] == 403
        status, answer = post("dees-token")
        assert status == 200 and answer["score"] == 21.0
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
