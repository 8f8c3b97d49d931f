"""Fixtures shared by the tests.

- ``make_course(students)``: a copy of this course in a temporary folder with the given
  submissions (student id -> notebook) of 03.0 under ``submitted/``; returns a ``Course``.
- ``solution_nb`` / ``release_nb``: paths of the instructor and student notebooks of 03.0.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from autograder.gradebook import Course

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "03.0_gradient_descent"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"

MakeCourse = Callable[[dict[str, nbformat.NotebookNode]], Course]


def build_course(root: Path, students: dict[str, nbformat.NotebookNode]) -> Course:
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy(REPO / name, root / name)
    for top in ("source", "release"):
        shutil.copytree(REPO / top / ASSIGNMENT, root / top / ASSIGNMENT)
    for student, nb in students.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / NOTEBOOK)
        (folder / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    return Course(root)


@pytest.fixture
def make_course(tmp_path: Path) -> MakeCourse:
    return lambda students: build_course(tmp_path, students)


@pytest.fixture
def solution_nb() -> Path:
    return REPO / "source" / ASSIGNMENT / NOTEBOOK


@pytest.fixture
def release_nb() -> Path:
    return REPO / "release" / ASSIGNMENT / NOTEBOOK
