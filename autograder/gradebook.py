"""The only place that talks to nbgrader: its course directory, gradebook and feedback."""

from __future__ import annotations

import copy
import logging
import os
import sys
from pathlib import Path
from typing import Any

import nbformat
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config.loader import PyFileConfigLoader

from autograder.checks.base import CheckResult, student_name, student_text

log = logging.getLogger(__name__)


class Course:
    """An nbgrader course directory (the folder holding ``nbgrader_config.py``)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        if not (self.root / "nbgrader_config.py").exists():
            raise FileNotFoundError(f"{self.root} is not an nbgrader course: nbgrader_config.py is missing")
        # nbgrader runs `alembic` to create the gradebook: make this environment's tools visible.
        bindir = os.path.dirname(sys.executable)
        if bindir not in os.environ.get("PATH", "").split(os.pathsep):
            os.environ["PATH"] = bindir + os.pathsep + os.environ.get("PATH", "")
        config = PyFileConfigLoader("nbgrader_config.py", path=str(self.root)).load_config()
        config.CourseDirectory.root = str(self.root)
        self.config = config
        self.coursedir = CourseDirectory(config=config)
        self.db_url: str = self.coursedir.db_url
        self.course_id: str = self.coursedir.course_id

    def api(self) -> Any:
        return NbGraderAPI(coursedir=self.coursedir, config=self.config)

    def release_dir(self, assignment: str) -> Path:
        return self.root / str(self.coursedir.release_directory) / assignment

    def submitted(self, assignment: str) -> dict[str, Path]:
        """Student id -> submission folder, for every submission of ``assignment``."""
        base = self.root / self.coursedir.submitted_directory
        if not base.is_dir():
            return {}
        return {d.name: d / assignment for d in sorted(base.iterdir()) if (d / assignment).is_dir()}

    def autograded_dir(self, student: str, assignment: str) -> Path:
        return self.root / str(self.coursedir.autograded_directory) / student / assignment

    def ensure_assignment(self, assignment: str) -> None:
        """Make sure the gradebook knows ``assignment`` (runs `nbgrader generate_assignment` if not)."""
        with Gradebook(self.db_url, self.course_id) as gb:
            try:
                if gb.find_assignment(assignment).notebooks:
                    return
            except MissingEntry:
                pass
        result = self.api().generate_assignment(assignment, force=True, create=True)
        if not result["success"]:
            raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{result['log']}{result['error']}")

    def record(self, assignment: str, student: str, notebook: str, results: list[CheckResult],
               timestamp: str | None) -> None:
        """Write the automatic scores of one submitted notebook (idempotent)."""
        with Gradebook(self.db_url, self.course_id) as gb:
            gb.update_or_create_student(student)
            if timestamp:
                gb.update_or_create_submission(assignment, student, timestamp=timestamp)
            else:
                gb.update_or_create_submission(assignment, student)
            for result in results:
                grade = gb.find_grade(result.item, notebook, assignment, student)
                grade.auto_score = result.points
                grade.needs_manual_grade = False
            gb.db.commit()

    def scores(self, assignment: str) -> dict[str, tuple[float, float]]:
        """Student id -> (score, max score) for ``assignment``, read back from the gradebook."""
        with Gradebook(self.db_url, self.course_id) as gb:
            return {s.student.id: (float(s.score), float(s.max_score)) for s in gb.assignment_submissions(assignment)}

    def write_autograded(self, assignment: str, student: str, notebook: str, nb: nbformat.NotebookNode,
                         timestamp: str | None) -> Path:
        """Write ``nb`` as the autograded notebook, its nbgrader metadata the release's
        (:func:`normalise`), with the submission's timestamp and secret beside it."""
        folder = self.autograded_dir(student, assignment)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{notebook}.ipynb"
        release = self.release_dir(assignment) / path.name
        if release.is_file():
            for change in normalise(nb, nbformat.read(release, as_version=4)):
                log.warning("%s: %s: %s", student, path.name, change)
        nbformat.write(nb, path)
        if timestamp:
            (folder / "timestamp.txt").write_text(timestamp)
        # nbgrader's release_feedback reads the secret that links feedback to the submission.
        secret = self.root / self.coursedir.submitted_directory / student / assignment / "submission_secret.txt"
        if secret.is_file():
            (folder / secret.name).write_bytes(secret.read_bytes())
        return path


def normalise(nb: nbformat.NotebookNode, release: nbformat.NotebookNode) -> list[str]:
    """Give the cells of ``nb`` the nbgrader metadata of the instructor's ``release``, in place;
    return what was changed, in words.

    nbgrader's feedback and formgrader look every grade, solution and task cell of an autograded
    notebook up in the gradebook, so one cell the student invented (an unknown or repeated
    ``grade_id``, metadata without one, or not even a dict) stops them for that student.  The
    release alone says which cells are nbgrader's: the first cell with one of its ``grade_id``s
    gets that cell's metadata and cell type back; every other cell loses its nbgrader metadata
    (its content stays, as an ordinary cell).
    """
    trusted: dict[str, nbformat.NotebookNode] = {}
    for cell in release.cells:
        meta = cell.get("metadata", {}).get("nbgrader")
        if isinstance(meta, dict) and isinstance(meta.get("grade_id"), str):
            trusted.setdefault(meta["grade_id"], cell)
    seen: set[str] = set()
    changes: list[str] = []
    for number, cell in enumerate(nb.cells, start=1):
        if not isinstance(cell.get("metadata"), dict):
            cell["metadata"] = nbformat.NotebookNode()
        if "nbgrader" not in cell.metadata:
            continue
        meta = cell.metadata["nbgrader"]
        item = meta.get("grade_id") if isinstance(meta, dict) else None
        if not isinstance(item, str) or item not in trusted or item in seen:
            del cell.metadata["nbgrader"]
            why = ("is not a dict" if not isinstance(meta, dict) else "has no grade_id" if item is None
                   else "has a grade_id that is not a string" if not isinstance(item, str)
                   else f"repeats grade_id {student_text(item)}" if item in seen
                   else f"has grade_id {student_text(item)}, which the release does not have")
            changes.append(f"cell {number}: its nbgrader metadata {why}; removed it")
            continue
        seen.add(item)
        source = trusted[item]
        cell.metadata["nbgrader"] = copy.deepcopy(source.metadata["nbgrader"])  # points, flags, checksum
        if cell.get("cell_type") != source.cell_type:
            kind = student_name(cell.get("cell_type"))
            changes.append(f"cell {number} ({item}): a {kind} cell, {source.cell_type} in the release; made it so")
            cell.cell_type = source.cell_type
            if source.cell_type == "code":
                cell.pop("attachments", None)
                cell.setdefault("outputs", [])
                cell.setdefault("execution_count", None)
            else:
                cell.pop("outputs", None)
                cell.pop("execution_count", None)
    return changes


def read_timestamp(submission: Path) -> str | None:
    path = submission / "timestamp.txt"
    return path.read_text().strip() if path.exists() else None
