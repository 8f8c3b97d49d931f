"""Fixtures shared by the tests.

- ``make_course(students)``: a copy of this course in a temporary folder with the given
  submissions (student id -> notebook) of 03.0 under ``submitted/``; returns a ``Course``.
- ``solution_nb`` / ``release_nb``: paths of the instructor and student notebooks of 03.0.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import nbformat
import pytest

from autograder.demo import write_course
from autograder.gradebook import Course

REPO = Path(__file__).resolve().parents[1]
ASSIGNMENT = "03.0_gradient_descent"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"

MakeCourse = Callable[[dict[str, nbformat.NotebookNode]], Course]


def build_course(root: Path, students: dict[str, nbformat.NotebookNode]) -> Course:
    return Course(write_course(root, students))


@pytest.fixture
def make_course(tmp_path: Path) -> MakeCourse:
    return lambda students: build_course(tmp_path, students)


@pytest.fixture
def solution_nb() -> Path:
    return REPO / "source" / ASSIGNMENT / NOTEBOOK


@pytest.fixture
def release_nb() -> Path:
    return REPO / "release" / ASSIGNMENT / NOTEBOOK
