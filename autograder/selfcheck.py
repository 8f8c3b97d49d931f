"""Self-check homework: a submission is graded by the trusted engine as soon as it arrives and its
feedback is released to its student, who sees the result in the assignment list within a minute.

The assignments it applies to are listed in the course's ``course.toml``::

    [selfcheck]
    assignments = ["03.0_gradient_descent"]

Every other assignment keeps the batch workflow (collect, ``autograder grade``, feedback).

One pass, for each self-check assignment: find in the exchange's inbound each student's latest
genuine submission (:mod:`autograder.hub.exchange`: the folder is the named student's own);
those not handled yet (by student and nbgrader timestamp, in the ledger) are collected with
nbgrader's collect (hardened), graded in sandboxes (:func:`autograder.batch.grade`), given
feedback (:func:`autograder.feedback.generate`, which refuses to show hidden material) and released
with nbgrader's ``release_feedback``.  A resubmission has a new timestamp and is graded again;
the same timestamp is never graded twice.  The loop polls every ``--interval`` seconds.

Runs as root (the sandbox needs it) as the hub's managed service ``selfcheck-<course>``, or by
hand: ``python -m autograder.selfcheck --course DIR [--once]``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import pwd
import signal
import sys
import threading
import tomllib
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autograder import batch, config, feedback
from autograder.gradebook import Course, read_timestamp
from autograder.hub.exchange import Submission, VerifiedCollect, latest
from autograder.hub.grading import carry_secrets, release_feedback_as
from autograder.hub.provision import hand_back

log = logging.getLogger("autograder.selfcheck")
MAX_ATTEMPTS = 3  # a submission whose handling failed is tried this many times in all,
RETRY_AFTER_S = 30.0  # ... waiting this long times the attempts so far before the next


def assignments(course_root: Path) -> list[str]:
    """The self-check assignments: ``[selfcheck] assignments`` in ``course.toml`` (none when absent)."""
    path = course_root / "course.toml"
    try:
        table = tomllib.loads(path.read_text()).get("selfcheck", {})
    except FileNotFoundError:
        return []
    names = table.get("assignments", []) if isinstance(table, dict) else table
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise config.ConfigError(f"selfcheck.assignments = {names!r} must be a list of assignment ids "
                                 f"(fix {path})")
    return list(names)


@dataclass(frozen=True)
class Outcome:
    """What became of one submission."""

    assignment: str
    student: str
    timestamp: str
    status: str  # released, rejected (not a genuine submission), refused (feedback), error
    score: float = 0.0
    max_score: float = 0.0
    message: str = ""
    latency_s: float = 0.0  # from the submission's timestamp until its feedback was released
    attempts: int = 1


class Ledger:
    """Which submissions were handled (assignment/student -> the last outcome), in a JSON file
    replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.records: dict[str, dict[str, Any]] = json.loads(path.read_text())
        except FileNotFoundError:
            self.records = {}

    def is_done(self, submission: Submission) -> bool:
        record = self.records.get(f"{submission.assignment}/{submission.student}")
        if not record or record.get("timestamp") != submission.timestamp:
            return False
        if record.get("status") != "error":
            return True
        attempts = int(record.get("attempts", 1))
        waited = (datetime.now(UTC) - datetime.fromisoformat(str(record["at"]))).total_seconds()
        return attempts >= MAX_ATTEMPTS or waited < RETRY_AFTER_S * attempts

    def attempts(self, submission: Submission) -> int:
        record = self.records.get(f"{submission.assignment}/{submission.student}", {})
        return int(record.get("attempts", 0)) if record.get("timestamp") == submission.timestamp else 0

    def put(self, outcome: Outcome) -> None:
        self.records[f"{outcome.assignment}/{outcome.student}"] = {
            **asdict(outcome), "at": datetime.now(UTC).isoformat(timespec="seconds")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.records, indent=1, sort_keys=True))
        os.replace(tmp, self.path)


class SelfCheck:
    """The self-check of one course: ``scan()`` handles whatever arrived since the last pass."""

    def __init__(self, course: Course, exchange: Path, ledger: Ledger, owner: str | None = None,
                 workers: int | None = None, runtime: Path | None = None) -> None:
        self.course = course
        self.exchange = exchange
        self.ledger = ledger
        self.owner_name = owner
        self.owner = (pwd.getpwnam(owner).pw_uid, pwd.getpwnam(owner).pw_gid) if owner else None
        self.workers = workers
        self.runtime = runtime or Path(sys.prefix)  # its python releases feedback as the owner
        course.config.Exchange.root = str(exchange)
        course.config.ExchangeFactory.collect = VerifiedCollect

    @property
    def inbound(self) -> Path:
        return self.exchange / self.course.course_id / "inbound"

    def pending(self, assignment: str) -> list[Submission]:
        """The latest genuine submission of each student that the ledger has not seen."""
        found = latest(self.inbound, assignment)
        return sorted((s for s in found.values() if not self.ledger.is_done(s)), key=lambda s: s.when)

    def scan(self) -> list[Outcome]:
        """One pass over every self-check assignment; returns the outcomes of this pass."""
        outcomes: list[Outcome] = []
        for assignment in assignments(self.course.root):
            waiting = self.pending(assignment)
            if not waiting:
                continue
            try:
                results = self.handle(assignment, waiting)
            except Exception as exc:  # any failure: recorded, tried again later, and the loop goes on
                log.exception("self-check of %s failed", assignment)
                results = [Outcome(assignment, s.student, s.timestamp, "error", message=f"{type(exc).__name__}: {exc}",
                                   attempts=self.ledger.attempts(s) + 1) for s in waiting]
            finally:
                if self.owner:
                    hand_back(self.course.root, *self.owner)
            for outcome in results:
                self.ledger.put(outcome)
                log.info("%s %s (%s): %s %s", outcome.assignment, outcome.student, outcome.timestamp,
                         outcome.status, f"{outcome.score:g}/{outcome.max_score:g} after {outcome.latency_s:.1f} s"
                         if outcome.status == "released" else outcome.message)
            outcomes += results
        return outcomes

    def handle(self, assignment: str, waiting: list[Submission]) -> list[Outcome]:
        """Collect, grade, give feedback to and release feedback for ``waiting``."""
        api = self.course.api()
        collected = api.collect(assignment, update=True)
        if not collected["success"]:
            raise RuntimeError(f"nbgrader collect {assignment} failed: {collected.get('error') or collected['log']}")
        submitted = self.course.submitted(assignment)
        outcomes: dict[str, Outcome] = {}
        ready: list[Submission] = []
        for s in waiting:
            folder = submitted.get(s.student)
            if folder is None or read_timestamp(folder) != s.timestamp:
                outcomes[s.student] = Outcome(assignment, s.student, s.timestamp, "rejected",
                                              message="not collected: links, special files or too large")
            else:
                ready.append(s)
        if ready:
            cfg = config.load(self.course.root, workers=self.workers)
            runs = {r.job.student: r for r in batch.grade(self.course, assignment, cfg,
                                                           [s.student for s in ready], progress=False)}
            scores = self.course.scores(assignment)
            carry_secrets(self.course, assignment, [s.student for s in ready])
            report = feedback.generate(self.course, assignment, [s.student for s in ready])
            refused = report.missing  # hidden material in it, or nbgrader wrote none: the others go on
            errors = self.release(assignment, [s.student for s in ready if s.student not in refused])
            for s in ready:
                score, max_score = scores.get(s.student, (0.0, 0.0))
                if s.student in refused:
                    outcomes[s.student] = Outcome(assignment, s.student, s.timestamp, "refused", score, max_score,
                                                  f"no feedback released: {refused[s.student][:300]}")
                    continue
                if errors.get(s.student):
                    raise RuntimeError(f"nbgrader release_feedback {assignment} --student {s.student} failed: "
                                       f"{errors[s.student]}")
                latency = (datetime.now(UTC).replace(tzinfo=None) - s.when).total_seconds()  # nbgrader: naive UTC
                note = "" if s.student in runs else "already graded as submitted"
                outcomes[s.student] = Outcome(assignment, s.student, s.timestamp, "released", score, max_score,
                                              note, round(latency, 2))
        return [outcomes[s.student] for s in waiting]

    def release(self, assignment: str, students: list[str]) -> dict[str, str | None]:
        """nbgrader's ``release_feedback`` for ``students``: as the owner of the course (the grader
        account, who owns the exchange's course folder), else in this process."""
        if not students:
            return {}
        if self.owner_name:
            if self.owner:
                hand_back(self.course.root, *self.owner)  # the owner must read what root just wrote
            return release_feedback_as(self.owner_name, self.runtime / "bin" / "python", self.course, self.exchange,
                                       assignment, students)
        api = self.course.api()
        results = {s: api.release_feedback(assignment, student_id=s) for s in students}
        return {s: None if r["success"] else str(r.get("error") or r.get("log")) for s, r in results.items()}

    def run(self, interval_s: float, stop: threading.Event) -> None:
        """Scan every ``interval_s`` seconds until ``stop`` is set."""
        log.info("self-check of %s: watching %s every %g s (assignments: %s)", self.course.course_id, self.inbound,
                 interval_s, ", ".join(assignments(self.course.root)) or "none yet")
        while not stop.is_set():
            try:
                self.scan()
            except config.ConfigError as exc:
                log.error("%s", exc)
            stop.wait(interval_s)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.selfcheck", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--course", type=Path, default=Path.cwd(), help="nbgrader course directory (default: here)")
    parser.add_argument("--exchange", type=Path, default=Path("/srv/nbgrader/exchange"),
                        help="nbgrader exchange root (default: %(default)s)")
    parser.add_argument("--owner", help="hand the files root writes in the course to this account (the grader)")
    parser.add_argument("--state", type=Path, help="the ledger (default: COURSE/.selfcheck.json)")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between passes (default: %(default)s)")
    parser.add_argument("--runtime", type=Path, help="the Python environment the owner runs nbgrader with "
                        "(default: this one)")
    parser.add_argument("--workers", type=int, help="submissions graded in parallel (default: course.toml)")
    parser.add_argument("--once", action="store_true", help="one pass, then exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stdout, format="[selfcheck %(asctime)s] %(message)s")
    log.setLevel(logging.INFO)
    for handler in logging.getLogger().handlers:  # nbgrader's own INFO lines would drown ours
        handler.addFilter(lambda r: r.name.startswith(log.name) or r.levelno >= logging.WARNING)
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    try:
        course = Course(args.course)
        check = SelfCheck(course, args.exchange, Ledger(args.state or course.root / ".selfcheck.json"), args.owner,
                          args.workers, args.runtime)
        if args.once:
            outcomes = check.scan()
            return 1 if any(o.status == "error" for o in outcomes) else 0
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        check.run(args.interval, stop)
    except (config.ConfigError, FileNotFoundError, KeyError) as exc:
        print(f"python -m autograder.selfcheck: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
