"""The lesson's notebooks under plain ``nbgrader autograde``, the fallback and the benchmark baseline:
the same test cells, with their ``nbexpect`` helpers, run in the student's kernel.  The solution
earns every point; a bug loses its item, with the helper's message in nbgrader's traceback; and a
Keras assignment's saved-model accuracy, whose hidden data is not in the kernel, is left to the grader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from autograder.demo import write_course
from autograder.gradebook import Course
from autograder.run.notebook import auto_points, grade_id
from tests.conftest import REPO

pytestmark = pytest.mark.slow
NBGRADER = Path(sys.executable).parent / "nbgrader"


def _autograde(root: Path, assignment: str) -> None:
    Course(root).ensure_assignment(assignment)  # the release's items in the gradebook, as `autograder grade` does
    env = {**os.environ, "PATH": f"{NBGRADER.parent}:{os.environ.get('PATH', '')}"}  # nbgrader runs alembic
    run = subprocess.run([str(NBGRADER), "autograde", assignment, "--force"], cwd=root, capture_output=True,
                         text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]


def _outputs(root: Path, student: str, assignment: str) -> dict[str, str]:
    nb = nbformat.read(root / "autograded" / student / assignment / f"{assignment}.ipynb", as_version=4)
    return {grade_id(c) or "": "\n".join(str(o.get("evalue", "")) + str(o.get("text", "")) for o in c.outputs)
            for c in nb.cells if c.cell_type == "code" and grade_id(c)}


def test_numpy_assignment(tmp_path: Path) -> None:
    assignment = "03.0_gradient_descent"
    solution = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    buggy = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    for cell in buggy.cells:
        if grade_id(cell) == "mse_grad":
            cell.source = "def mse_grad(y_true, y_pred):\n    return 2 * (y_pred - y_true)\n"
    root = write_course(tmp_path, {"ada": solution, "bo": buggy}, assignment)
    _autograde(root, assignment)
    total = sum(auto_points(REPO / "release" / assignment / f"{assignment}.ipynb").values())
    scores = Course(root).scores(assignment)
    assert scores["ada"] == (total, total)
    assert scores["bo"][0] < total
    assert "mse_grad" in _outputs(root, "bo", assignment)["test_mse_grad"]


def test_keras_assignment_leaves_hidden_accuracy_to_the_grader(tmp_path: Path) -> None:
    assignment = "03.1_keras_classifier"
    solution = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    root = write_course(tmp_path, {"ada": solution}, assignment)
    (root / "submitted" / "ada" / assignment / "lesson03_data.py").write_bytes(
        (REPO / "release" / assignment / "lesson03_data.py").read_bytes())
    _autograde(root, assignment)
    total = sum(auto_points(REPO / "release" / assignment / f"{assignment}.ipynb").values())
    assert Course(root).scores(assignment)["ada"] == (total, total)
    assert "measured by the grader" in _outputs(root, "ada", assignment)["test_accuracy"]
