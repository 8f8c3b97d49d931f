"""The exchange's inbound, read by root: submissions whose folder really is their student's.

nbgrader's ``collect`` trusts the folder name (``STUDENT+ASSIGNMENT+TIMESTAMP+RANDOM``) and only
warns when another user owns the folder, stops altogether at a name whose timestamp does not
parse, and copies with ``shutil.copytree``, which follows symbolic links.  That would let a
student submit in another student's name, stop the collection of the whole class, or submit a
link to a file that only the collecting account can read, such as another student's collected
notebook.  :class:`VerifiedCollect` is nbgrader's collect with these closed: a folder counts only
when the student it names owns it, unparsable names are skipped, and a submission that holds
anything but plain files and folders is refused (checked again on the private copy, so it
cannot change after the check).
"""

from __future__ import annotations

import os
import pwd
import shutil
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from nbgrader.api import Gradebook, MissingEntry
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.utils import ignore_patterns, parse_utc


@dataclass(frozen=True)
class Submission:
    """One folder of the inbound."""

    student: str
    assignment: str
    timestamp: str  # as nbgrader wrote it, e.g. "2026-11-26 21:30:00.123456 UTC"
    path: Path

    @property
    def when(self) -> datetime:
        """The submission time in UTC, without a time zone (as nbgrader compares them)."""
        return parse_utc(self.timestamp)  # type: ignore[no-any-return]


def parse_name(name: str) -> tuple[str, str, str] | None:
    """(student, assignment, timestamp) of an inbound folder name, as nbgrader's collect splits it."""
    parts = name.rsplit("+", 3)
    if len(parts) < 3:
        return None
    return parts[0], parts[1], parts[2]


def is_genuine(path: Path, student: str) -> bool:
    """Whether ``path`` is a real folder (not a link) owned by the Unix user ``student``."""
    try:
        st = path.lstat()
        uid = pwd.getpwnam(student).pw_uid
    except (OSError, KeyError):
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == uid


def latest(inbound: Path, assignment: str, before: datetime | None = None) -> dict[str, Submission]:
    """Student -> their latest genuine submission of ``assignment`` in ``inbound`` (with ``before``,
    a due date: the latest one at or before it, else the latest, as nbgrader's collect does).
    Folders whose names do not parse are skipped (nbgrader's own collect stops at them)."""
    mine: dict[str, list[Submission]] = {}
    try:
        entries = list(os.scandir(inbound))
    except FileNotFoundError:
        return {}
    for entry in entries:
        parsed = parse_name(entry.name)
        if parsed is None or parsed[1] != assignment or not is_genuine(Path(entry.path), parsed[0]):
            continue
        try:
            parse_utc(parsed[2])
        except (ValueError, OverflowError, TypeError):  # a timestamp that does not parse: not a submission
            continue
        mine.setdefault(parsed[0], []).append(Submission(parsed[0], assignment, parsed[2], Path(entry.path)))
    found: dict[str, Submission] = {}
    for student, submissions in mine.items():
        submissions.sort(key=lambda s: s.when, reverse=True)
        on_time = [s for s in submissions if before is None or s.when <= before]
        found[student] = (on_time or submissions)[0]
    return found


def special_files(folder: Path) -> list[str]:
    """Everything under ``folder`` that is not a plain file or folder (links, devices, pipes)."""
    bad: list[str] = []
    for parent, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(parent) / name
            mode = path.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                bad.append(str(path.relative_to(folder)))
    return bad


class VerifiedCollect(ExchangeCollect):  # type: ignore[misc]
    """nbgrader's collect, counting only genuine submissions and copying no links."""

    def init_src(self) -> None:
        """Which folder to collect for each student: their latest genuine one (see :func:`latest`)."""
        if self.coursedir.course_id == "":
            self.fail("No course id specified. Re-run with --course flag.")
        self.course_path = os.path.join(self.root, self.coursedir.course_id)
        self.inbound_path = os.path.join(self.course_path, "inbound")
        if not os.path.isdir(self.inbound_path):
            self.fail(f"Course not found: {self.inbound_path}")
        if not os.access(self.inbound_path, os.R_OK | os.X_OK):
            self.fail(f"You don't have read permissions for the directory: {self.inbound_path}")
        self.duedate = None
        if self.before_duedate:
            with Gradebook(self.coursedir.db_url, self.coursedir.course_id) as gb:
                try:
                    self.duedate = gb.find_assignment(self.coursedir.assignment_id).duedate
                except MissingEntry:
                    pass
        student = self.coursedir.student_id or "*"
        chosen = latest(Path(self.inbound_path), self.coursedir.assignment_id, self.duedate)
        self.src_records = [{"username": s.student, "filename": s.path.name, "timestamp": s.when}
                            for s in chosen.values() if student in ("*", s.student)]

    def do_copy(self, src: str, dest: str, log: Any = None) -> None:
        """Copy ``src`` to ``dest`` as nbgrader does, but refuse (log, copy nothing) a submission
        with links or special files, or one over nbgrader's size limit."""
        bad = special_files(Path(src))
        size = sum(p.stat().st_size for p in Path(src).rglob("*") if p.is_file() and not p.is_symlink())
        if bad or size > 1000 * self.coursedir.max_dir_size:
            self.log.error("Refusing %s: %s", src, f"links or special files ({', '.join(bad[:3])})" if bad
                           else f"{size} bytes, over the limit of {1000 * self.coursedir.max_dir_size}")
            return
        shutil.copytree(src, dest, symlinks=True,
                        ignore=ignore_patterns(exclude=self.coursedir.ignore, include=self.coursedir.include,
                                               max_file_size=self.coursedir.max_file_size, log=self.log))
        bad = special_files(Path(dest))
        if bad:  # changed while it was copied: refuse the copy itself
            shutil.rmtree(dest)
            self.log.error("Refusing %s: links or special files appeared while copying (%s)", src, ", ".join(bad[:3]))
