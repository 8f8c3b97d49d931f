"""The instructor's root-side steps on the live course: grade with the engine, write and release
feedback, then give the files root wrote back to the grader account (the formgrader, which runs
as that account, must be able to update them).

``python -m autograder.hub grade ASSIGNMENT`` and ``feedback ASSIGNMENT`` wrap ``autograder grade``
and ``autograder feedback`` with ``--course`` set to the live course.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from autograder import cli
from autograder import feedback as render_feedback
from autograder.gradebook import Course
from autograder.hub import accounts, provision
from autograder.hub.layout import Platform


def carry_secrets(course: Course, assignment: str, students: Sequence[str] | None = None) -> list[str]:
    """Put each submission's ``submission_secret.txt`` beside its autograded notebook, where
    ``nbgrader generate_feedback`` copies it from and ``release_feedback`` needs it (nbgrader's
    own autograde copies it; the engine writes only the notebooks and the timestamp).  Returns
    the students whose secret was copied."""
    copied: list[str] = []
    submitted = course.submitted(assignment)
    for student in students or sorted(submitted):
        secret = submitted[student] / "submission_secret.txt" if student in submitted else None
        target = course.autograded_dir(student, assignment)
        if secret is not None and secret.is_file() and target.is_dir():
            shutil.copyfile(secret, target / secret.name)
            copied.append(student)
    return copied


_RELEASE_FEEDBACK = """
import json, sys
from nbgrader.apps import NbGraderAPI
from traitlets.config import Config
root, course_id, exchange, assignment, *students = sys.argv[1:]
c = Config()
c.CourseDirectory.root, c.CourseDirectory.course_id, c.Exchange.root = root, course_id, exchange
api = NbGraderAPI(config=c)
out = {}
for student in students or [None]:
    result = api.release_feedback(assignment, student_id=student)
    out[student or "*"] = None if result["success"] else (result.get("error") or result.get("log") or "failed")
print(json.dumps(out))
"""


def release_feedback_as(user: str, python: Path, course: Course, exchange: Path, assignment: str,
                        students: Sequence[str] | None = None) -> dict[str, str | None]:
    """nbgrader's ``release_feedback`` run as ``user`` (the grader account, who owns the exchange's
    course folder: nbgrader refuses to write into a folder it does not own) with ``python`` (the
    platform runtime's); returns student (``*`` for all) -> None, or the error."""
    argv = [provision.RUNUSER, "-u", user, "--", str(python), "-c", _RELEASE_FEEDBACK, str(course.root),
            course.course_id, str(exchange), assignment, *(students or ())]
    done = subprocess.run(argv, cwd="/", text=True, capture_output=True)
    try:
        answer: dict[str, str | None] = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise RuntimeError(f"release_feedback as {user} failed ({done.returncode}): {done.stderr[-2000:]}") from None
    return answer


def _hand_back(platform: Platform) -> None:
    if platform.course_dir.is_dir() and accounts.exists(platform.grader):  # else: no platform here yet
        provision.hand_back(platform.course_dir, *accounts.ids(platform.grader))


def grade(platform: Platform, args: Sequence[str]) -> int:
    """``autograder grade ARGS`` on the live course (args: the assignment and grade's options)."""
    try:
        return cli.main(["--course", str(platform.course_dir), "grade", *args])
    finally:
        _hand_back(platform)


def feedback(platform: Platform, assignment: str, students: Sequence[str] | None = None,
             release: bool = True) -> int:
    """``autograder feedback`` on the live course, then (unless ``release`` is false) nbgrader's
    ``release_feedback`` as the grader account for every student who got feedback: one student
    without feedback stops nobody else's.  Prints who got feedback and who did not, and why;
    returns 1 when someone did not (or a release failed), else 0."""
    course = Course(platform.course_dir)
    carry_secrets(course, assignment, students)
    try:
        report = render_feedback.generate(course, assignment, list(students) if students else None)
    finally:
        _hand_back(platform)
    summary, *missing = report.lines()
    print(summary)
    for line in missing:
        print(line)
    if not release:
        print(f"feedback of {assignment} not released (--no-release)")
        return 1 if missing else 0
    answer = release_feedback_as(platform.grader, platform.bin / "python", course, Path(platform.exchange),
                                 assignment, report.fed) if report.fed else {}
    released = sorted(s for s, error in answer.items() if error is None)
    print(f"released feedback of {assignment} to {len(released)} students" + (f": {', '.join(released)}" if released
                                                                              else ""))
    for student, error in sorted(answer.items()):
        if error is not None:
            print(f"release_feedback of {assignment} for {student} failed: {error[-1500:]}")
    if missing:
        print(f"not released to {len(missing)} students without feedback: "
              + ", ".join(sorted(report.missing)))
    return 1 if missing or len(released) < len(answer) else 0
