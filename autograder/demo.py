"""A bundled sample class of 03.0: a copy of the course with a few typical submissions."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat

ASSIGNMENT = "03.0_gradient_descent"
REPO = Path(__file__).resolve().parents[1]

_BUGGY_MSE = "def mse(y_true, y_pred):\n    return float(np.sum((y_pred - y_true) ** 2))\n"
_BUGGY_ADAM = '''def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads ** 2
    return params - lr * m / (np.sqrt(v) + eps), m, v
'''
_CHEAT = "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None\nnp.allclose = lambda *a, **k: True\n"


def _replace(nb: nbformat.NotebookNode, grade_id: str, source: str) -> None:
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return
    raise KeyError(grade_id)


def write_course(root: Path, students: dict[str, nbformat.NotebookNode], assignment: str = ASSIGNMENT) -> Path:
    """Copy this course's settings, source/ and release/ of ``assignment`` into ``root`` (an empty
    folder) and add ``students`` (id -> notebook) as submissions of it under ``submitted/``."""
    for name in ("nbgrader_config.py", "course.toml"):
        shutil.copy(REPO / name, root / name)
    for top in ("source", "release"):
        shutil.copytree(REPO / top / assignment, root / top / assignment)
    for student, nb in students.items():
        folder = root / "submitted" / student / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{assignment}.ipynb")
        (folder / "timestamp.txt").write_text("2026-11-20 12:00:00.000000 UTC")
    return root


def build(root: Path) -> Path:
    """Create (or refresh) the sample course at ``root`` and return it."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    notebook = f"{ASSIGNMENT}.ipynb"
    solution = nbformat.read(REPO / "source" / ASSIGNMENT / notebook, as_version=4)
    blank = nbformat.read(REPO / "release" / ASSIGNMENT / notebook, as_version=4)
    buggy = nbformat.read(REPO / "source" / ASSIGNMENT / notebook, as_version=4)
    _replace(buggy, "mse", _BUGGY_MSE)
    _replace(buggy, "adam_step", _BUGGY_ADAM)
    cheat = nbformat.read(REPO / "release" / ASSIGNMENT / notebook, as_version=4)
    cheat.cells.insert(0, nbformat.v4.new_code_cell(_CHEAT))
    return write_course(root, {"ada": solution, "bo": buggy, "cy": blank, "dee": cheat})
