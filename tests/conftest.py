"""Fixtures shared by the tests.

- ``make_course(students)``: a copy of this course in a temporary folder with the given
  submissions (student id -> notebook) of 03.0 under ``submitted/``; returns a ``Course``.
- ``solution_nb`` / ``release_nb``: paths of the instructor and student notebooks of 03.0.
"""

from __future__ import annotations

import os
import re
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


MNIST_SOURCE = Path(os.environ.get("MNIST_SOURCE", REPO.parent / "shared" / "data" / "mnist"))
"""The real MNIST test set (10,000 digits, IDX files) for machines without internet."""


@pytest.fixture(scope="session")
def mnist_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A course data folder built from :data:`MNIST_SOURCE` by ``autograder data`` (the offline subset)."""
    from autograder.data import prepare_mnist

    folder = tmp_path_factory.mktemp("course-data")
    prepare_mnist(folder, MNIST_SOURCE)
    return folder


def use_data(course: Course, data: Path, **limits: object) -> None:
    """Point ``course``'s configuration at the data folder ``data`` and override settings of an
    assignment's table (keyword ``ID__key``, e.g. ``**{"03.1_keras_classifier__cell_timeout_s": 30}``)."""
    path = course.root / "course.toml"
    text = path.read_text().replace('data_dir = "data"', f'data_dir = "{data}"')
    for key, value in limits.items():
        table, name = key.split("__")
        head = text.index(f'[assignments."{table}"]\n')
        end = text.find("\n[", head + 1)  # the table ends at the next one, or at the end
        end = len(text) if end < 0 else end
        body = text[head:end]
        line = re.search(rf"^{name} = .*$", body, re.M)
        body = (body[:line.start()] + f"{name} = {value}" + body[line.end():] if line
                else body.replace("\n", f"\n{name} = {value}\n", 1))
        text = text[:head] + body + text[end:]
    path.write_text(text)
