"""The Check service: a student's notebook, as it is now, graded in a warm sandbox with the hidden
checks, and the verdicts sent back to the notebook's **Check** button (``lib/autograder_check``).

It is a JupyterHub service (``check-<course>``), run as root next to the self-check loop.  A
request is ``POST /services/check-<course>/check`` with ``{"assignment": ID, "notebook": <nbformat
JSON>}`` and the student's hub token (``Authorization: token ...``, sent by the student's own
Jupyter server): the hub says whose token it is.  The answer::

    {"assignment": ID, "items": [{"item", "status", "points", "max_points", "message"}, ...],
     "score": float, "max_score": float, "checks_left": int}

It is the feedback of a submission, never test code.  Only the assignments listed for self-check
(``[selfcheck] assignments`` in ``course.toml``, read at every request, so turning one on takes
effect at once) can be checked; others answer 404.  Each student may check each assignment
``checks_per_hour`` times an hour (``[selfcheck] checks_per_hour``, default
:data:`CHECKS_PER_HOUR`); the next one answers 429 with the time it is allowed again, so that
Check is a hint, not an oracle.  Every check is recorded in a SQLite ledger, which instructors read
with ``python -m autograder.check report --state FILE`` (checks per student and assignment).

Each assignment keeps one warm sandbox ready (:class:`autograder.run.pool.KernelPool`), so a check
costs the student's cells and the test cells, not a kernel start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import threading
import time
import tomllib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat

from autograder import authored, config, selfcheck
from autograder.run.notebook import auto_points, grade_notebook
from autograder.run.pool import KernelPool

CHECKS_PER_HOUR = 10
WINDOW_S = 3600.0
MAX_NOTEBOOK_BYTES = 20 * 1024**2


def checks_per_hour(course_root: Path) -> int:
    """``[selfcheck] checks_per_hour`` of ``course.toml`` (default :data:`CHECKS_PER_HOUR`)."""
    try:
        table = tomllib.loads((course_root / "course.toml").read_text()).get("selfcheck", {})
    except FileNotFoundError:
        return CHECKS_PER_HOUR
    value = table.get("checks_per_hour", CHECKS_PER_HOUR) if isinstance(table, dict) else CHECKS_PER_HOUR
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"[selfcheck] checks_per_hour = {value!r} must be a whole number >= 1 ({course_root})")
    return value


class Ledger:
    """Every check, by student and assignment, in SQLite (safe across threads and restarts)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS checks (student TEXT, assignment TEXT, at REAL, score REAL, "
                       "max_score REAL)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30)

    def admit(self, student: str, assignment: str, limit: int, now: float) -> tuple[bool, int, float]:
        """Record a check unless ``limit`` were made in the last hour: (admitted, checks left, when the
        oldest of the hour's checks leaves the window)."""
        with self._lock, self._connect() as db:
            times = [t for (t,) in db.execute("SELECT at FROM checks WHERE student = ? AND assignment = ? AND at > ? "
                                              "ORDER BY at", (student, assignment, now - WINDOW_S))]
            if len(times) >= limit:
                return False, 0, times[0] + WINDOW_S
            db.execute("INSERT INTO checks VALUES (?, ?, ?, NULL, NULL)", (student, assignment, now))
            return True, limit - len(times) - 1, 0.0

    def scored(self, student: str, assignment: str, at: float, score: float, max_score: float) -> None:
        with self._lock, self._connect() as db:
            db.execute("UPDATE checks SET score = ?, max_score = ? WHERE student = ? AND assignment = ? AND at = ?",
                       (score, max_score, student, assignment, at))

    def report(self) -> list[tuple[str, str, int, float, float | None]]:
        """(student, assignment, checks, last check, last score) for everyone who checked."""
        with self._lock, self._connect() as db:
            return list(db.execute(
                "SELECT student, assignment, COUNT(*), MAX(at), "
                "(SELECT score FROM checks c2 WHERE c2.student = c.student AND c2.assignment = c.assignment "
                "ORDER BY at DESC LIMIT 1) FROM checks c GROUP BY student, assignment ORDER BY assignment, student"))


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Checker:
    """Grades notebooks for the Check button: one warm sandbox per assignment, the ledger's limit."""

    def __init__(self, course_root: Path, ledger: Ledger, clock: Callable[[], float] = time.time) -> None:
        self.root, self.ledger, self.clock = course_root, ledger, clock
        self._pools: dict[str, KernelPool] = {}
        self._lock = threading.Lock()

    def _pool(self, assignment: str, limits: Any, imports: str) -> KernelPool:
        with self._lock:
            pool = self._pools.get(assignment)
            if pool is None or pool.limits != limits:  # course.toml changed: warm the new limits
                if pool is not None:
                    pool.close()
                pool = self._pools[assignment] = KernelPool(limits, imports, size=1)
            return pool

    def check(self, student: str, assignment: str, notebook: Any) -> Answer:
        if assignment not in selfcheck.assignments(self.root):
            return Answer(404, {"message": f"{assignment} has no Check: only self-check assignments do"})
        try:
            nb = nbformat.from_dict(notebook)
            nbformat.validate(nb)
        except Exception:
            return Answer(400, {"message": "the notebook could not be read: save it and try again"})
        limit = checks_per_hour(self.root)
        now = self.clock()
        admitted, left, again = self.ledger.admit(student, assignment, limit, now)
        if not admitted:
            at = datetime.fromtimestamp(again).strftime("%H:%M")
            return Answer(429, {"message": f"you have used your {limit} checks of {assignment} for this hour; "
                                           f"the next one is possible at {at}. Submit to get your feedback."})
        cfg = config.load(self.root)
        release = self.root / "release" / assignment
        checks, settings = authored.prepare(self.root / "source" / assignment, cfg.settings(assignment))
        notebooks = sorted(release.glob("*.ipynb"))
        points = {i: p for path in notebooks for i, p in auto_points(path).items()}
        files = {p.name: p.read_bytes() for p in release.iterdir() if p.is_file() and p.suffix != ".ipynb"}
        limits = cfg.sandbox(assignment)
        pool = self._pool(assignment, limits, str(settings.get(authored.IMPORTS, "")))
        with tempfile.TemporaryDirectory(prefix="autograder-check-") as folder:
            path = Path(folder) / (notebooks[0].name if notebooks else f"{assignment}.ipynb")
            nbformat.write(nb, path)
            run = grade_notebook(path, checks, points, limits, files, lambda: authored.namespace(settings), settings,
                                 pool.take)
        items = [{"item": r.item, "status": r.status.value, "points": r.points, "max_points": r.max_points,
                  "message": r.message} for r in run.results]
        score, total = sum(r.points for r in run.results), sum(r.max_points for r in run.results)
        self.ledger.scored(student, assignment, now, score, total)
        return Answer(200, {"assignment": assignment, "items": items, "score": score, "max_score": total,
                            "checks_left": left})

    def close(self) -> None:
        with self._lock:
            for pool in self._pools.values():
                pool.close()
            self._pools.clear()


def make_app(checker: Checker, prefix: str, who: Callable[[str], Any]) -> Any:
    """The tornado application: ``POST {prefix}check``; ``who(token)`` awaits the hub's user model."""
    from tornado import web

    workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="check")

    class CheckHandler(web.RequestHandler):
        async def post(self) -> None:
            header = self.request.headers.get("Authorization", "")
            token = header[len("token "):] if header.startswith("token ") else ""
            user = await who(token) if token else None
            if not user or not isinstance(user.get("name"), str):
                return self._answer(Answer(403, {"message": "not a user of this hub: open the notebook from the hub"}))
            if len(self.request.body) > MAX_NOTEBOOK_BYTES:
                return self._answer(Answer(413, {"message": "the notebook is too large to check"}))
            try:
                body = json.loads(self.request.body)
                assignment, notebook = str(body["assignment"]), body["notebook"]
            except (ValueError, KeyError, TypeError):
                return self._answer(Answer(400, {"message": "expected {\"assignment\": ..., \"notebook\": ...}"}))
            loop = asyncio.get_running_loop()
            answer = await loop.run_in_executor(workers, checker.check, user["name"], assignment, notebook)
            self._answer(answer)

        def _answer(self, answer: Answer) -> None:
            self.set_status(answer.status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(answer.body))

    return web.Application([(f"{prefix}check", CheckHandler)])


def serve(course: Path, state: Path) -> None:
    """Run as the hub's service: JupyterHub gives the URL, the prefix and the API token in the environment."""
    import os
    from urllib.parse import urlparse

    from jupyterhub.services.auth import HubAuth
    from tornado.ioloop import IOLoop

    auth = HubAuth()
    checker = Checker(course, Ledger(state))

    async def who(token: str) -> Any:
        return await auth.user_for_token(token, sync=False)

    url = urlparse(os.environ["JUPYTERHUB_SERVICE_URL"])
    app = make_app(checker, os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/"), who)
    app.listen(url.port or 80, url.hostname or "127.0.0.1")
    try:
        IOLoop.current().start()
    finally:
        checker.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.check", description=__doc__.split("\n\n")[0])
    verbs = parser.add_subparsers(dest="verb", required=True)
    run = verbs.add_parser("serve", help="run the Check service (as the hub's service, as root)")
    run.add_argument("--course", type=Path, required=True)
    run.add_argument("--state", type=Path, required=True, help="the ledger (SQLite)")
    report = verbs.add_parser("report", help="how often each student checked each assignment")
    report.add_argument("--state", type=Path, required=True)
    args = parser.parse_args(argv)
    if args.verb == "serve":
        serve(args.course, args.state)
        return 0
    if not args.state.exists():
        print(f"{args.state}: no check yet")
        return 0
    rows = Ledger(args.state).report()
    print(f"{'assignment':<28}{'student':<20}{'checks':>7}  {'last check':<17}last score")
    for student, assignment, count, last, score in rows:
        when = datetime.fromtimestamp(last).strftime("%Y-%m-%d %H:%M")
        print(f"{assignment:<28}{student:<20}{count:>7}  {when:<17}{'' if score is None else f'{score:g}'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
