"""The only place that renders what a student reads.

Feedback is nbgrader's own (``feedback/<student>/<assignment>/<notebook>.html``, released with
``nbgrader release_feedback``), generated from the autograded notebooks, whose test cells hold
the release's visible tests and the verdict only.  Before anything is written for a student the
result is checked for hidden material, and the run fails loudly instead of leaking it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from autograder.gradebook import Course

HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "__ag_probe__", "__ag_encode__", "@@autograder-")


class HiddenMaterialLeak(RuntimeError):
    """Feedback for some students would have shown hidden material; their files were removed.

    ``args`` are (message, files written for the other students).
    """


def hidden_lines(source_nb: Path) -> set[str]:
    """Distinctive lines of the hidden tests in an instructor notebook (longer than 20 characters)."""
    nb = nbformat.read(source_nb, as_version=4)
    lines: set[str] = set()
    for cell in nb.cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 20}
    return lines


def render(course: Course, assignment: str, students: list[str] | None = None) -> list[Path]:
    """Generate nbgrader feedback for ``assignment`` and return the files written."""
    api = course.api()
    targets = students or sorted(p.name for p in (course.root / course.coursedir.autograded_directory).glob("*")
                                 if (p / assignment).is_dir())
    secrets = set().union(*(hidden_lines(p) for p in (course.root / "source" / assignment).glob("*.ipynb")))
    for released in course.release_dir(assignment).glob("*.ipynb"):  # a line also shown to students is no secret
        secrets -= {ln.strip() for c in nbformat.read(released, as_version=4).cells for ln in c.source.splitlines()}
    written: list[Path] = []
    refused: list[str] = []
    for student in targets:
        result = api.generate_feedback(assignment, student_id=student, force=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader generate_feedback failed for {student}:\n{result['log']}{result['error']}")
        folder = course.root / course.coursedir.feedback_directory / student / assignment
        for html in sorted(folder.glob("*.html")):
            text = html.read_text(errors="replace")
            own = _submitted_text(course, student, assignment)  # a student may type a marker themselves
            leaked = [m for m in HIDDEN_MARKERS if m in text and m not in own] + [ln for ln in secrets if ln in text]
            if leaked:
                html.unlink()
                refused.append(f"{html} would show hidden material ({leaked[0][:60]!r}); removed it")
                continue
            written.append(html)
    if refused:  # every other student still got feedback
        raise HiddenMaterialLeak("\n".join(refused), written)
    return written


def _submitted_text(course: Course, student: str, assignment: str) -> str:
    folder = course.root / str(course.coursedir.submitted_directory) / student / assignment
    return "".join(p.read_text(errors="replace") for p in folder.glob("*.ipynb"))
