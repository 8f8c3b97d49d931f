"""The only place that renders what a student reads.

Feedback is nbgrader's own (``feedback/<student>/<assignment>/<notebook>.html``, released with
``nbgrader release_feedback``), generated from the autograded notebooks, whose test cells hold
the release's visible tests and the verdict only.  Before anything is written for a student the
result is checked for hidden material, and a file that would show some is removed.

Each student is done on their own: when nbgrader cannot write one student's feedback, or it would
show hidden material, that student is reported with the reason and every other student still
gets theirs (:class:`Report`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.gradebook import Course

HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "__ag_probe__", "__ag_encode__", "@@autograder-")


@dataclass
class Report:
    """What one feedback run did, student by student."""

    assignment: str
    written: dict[str, list[Path]] = field(default_factory=dict)  # student -> files written
    refused: dict[str, str] = field(default_factory=dict)  # student -> a file would show hidden material
    failed: dict[str, str] = field(default_factory=dict)  # student -> why nbgrader wrote no feedback

    @property
    def missing(self) -> dict[str, str]:
        """Student -> why they have no (complete) feedback from this run."""
        return {**self.failed, **self.refused}

    @property
    def fed(self) -> list[str]:
        """The students whose feedback was written in full."""
        return sorted(s for s in self.written if s not in self.missing)

    def lines(self) -> list[str]:
        """The run in words: who got feedback, who did not and why."""
        out = [f"feedback of {self.assignment} written for {len(self.fed)} of "
               f"{len(self.fed) + len(self.missing)} students" + (f": {', '.join(self.fed)}" if self.fed else "")]
        out += [f"no feedback for {student}: {why}" for student, why in sorted(self.missing.items())]
        return out


class FeedbackIncomplete(RuntimeError):
    """Some students got no feedback; every other student did.

    ``args`` are (message: one line per student, files written); ``report`` has the details.
    """

    def __init__(self, message: str, written: list[Path], report: Report) -> None:
        super().__init__(message, written)
        self.report = report


class HiddenMaterialLeak(FeedbackIncomplete):
    """Feedback for some students would have shown hidden material; their files were removed.

    ``args`` are (message, files written for the other students); each line of the message names
    a removed file.
    """


def hidden_lines(source_nb: Path) -> set[str]:
    """Distinctive lines of the hidden tests in an instructor notebook (longer than 20 characters)."""
    nb = nbformat.read(source_nb, as_version=4)
    lines: set[str] = set()
    for cell in nb.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 20}
    return lines


def generate(course: Course, assignment: str, students: list[str] | None = None) -> Report:
    """Generate nbgrader feedback for ``assignment``, one student at a time (every autograded
    student, or ``students``); never stops for one student."""
    api = course.api()
    targets = students or sorted(p.name for p in (course.root / course.coursedir.autograded_directory).glob("*")
                                 if (p / assignment).is_dir())
    secrets = set().union(*(hidden_lines(p) for p in (course.root / "source" / assignment).glob("*.ipynb")))
    for released in course.release_dir(assignment).glob("*.ipynb"):  # a line also shown to students is no secret
        secrets -= {ln.strip() for c in nbformat.read(released, as_version=4).cells for ln in c.source.splitlines()}
    report = Report(assignment)
    for student in targets:
        try:
            result = api.generate_feedback(assignment, student_id=student, force=True)
        except Exception as exc:  # nbgrader reports its failures in the result; this is the net under it
            report.failed[student] = f"nbgrader generate_feedback raised {type(exc).__name__}: {exc}"
            continue
        if not result["success"]:
            report.failed[student] = (f"nbgrader generate_feedback failed: {failure(result)}; `autograder grade "
                                      f"{assignment} --student {student} --force` rewrites its autograded notebook")
            continue
        own = _submitted_text(course, student, assignment)  # a student may type a marker themselves
        report.written[student] = []
        for html in sorted(feedback_dir(course, student, assignment).glob("*.html")):
            text = html.read_text(errors="replace")
            leaked = [m for m in HIDDEN_MARKERS if m in text and m not in own] + [ln for ln in secrets if ln in text]
            if leaked:
                html.unlink()
                report.refused[student] = f"{html} would show hidden material ({leaked[0][:60]!r}); removed it"
                continue
            report.written[student].append(html)
        if not report.written[student] and student not in report.refused:
            report.failed[student] = "nbgrader generate_feedback wrote no file (is there an autograded notebook?)"
    return report


def feedback_dir(course: Course, student: str, assignment: str) -> Path:
    return course.root / str(course.coursedir.feedback_directory) / student / assignment


def render(course: Course, assignment: str, students: list[str] | None = None) -> list[Path]:
    """Generate nbgrader feedback for ``assignment`` and return the files written; when some
    students got none, raise :class:`HiddenMaterialLeak` (some file would have shown hidden
    material) or :class:`FeedbackIncomplete` after every other student got theirs."""
    report = generate(course, assignment, students)
    written = [path for paths in report.written.values() for path in paths]
    if report.missing:
        lines = [report.refused[s] for s in sorted(report.refused)]
        lines += [f"{feedback_dir(course, s, assignment)}: {why}" for s, why in sorted(report.failed.items())]
        raise (HiddenMaterialLeak if report.refused else FeedbackIncomplete)("\n".join(lines), written, report)
    return written


_EXCEPTION_LINE = re.compile(r"^\s*(?:[\w.]+\.)?(\w+(?:Error|Exception|Entry|Exit)): (.+)$", re.M)


def failure(result: dict[str, Any]) -> str:
    """The reason in an nbgrader API result that failed: the last exception line of its log (not
    nbgrader's "see the above traceback"), else the last line of its error or log."""
    text = f"{result.get('log') or ''}\n{result.get('error') or ''}"
    found = [m for m in _EXCEPTION_LINE.finditer(text) if m[1] != "NbGraderException"]
    if found:
        return f"{found[-1][1]}: {found[-1][2].strip()}"[:500]
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1][:500] if lines else "no reason given"


def _submitted_text(course: Course, student: str, assignment: str) -> str:
    folder = course.root / str(course.coursedir.submitted_directory) / student / assignment
    return "".join(p.read_text(errors="replace") for p in folder.glob("*.ipynb"))
