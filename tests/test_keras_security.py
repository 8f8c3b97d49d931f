"""03.1 and 03.2 against cheating: a forged model file, and a notebook that hunts for the hidden
MNIST split.  (The engine's tamper and abuse corpora run on both assignments in
:mod:`tests.test_security_lesson`.)

A cheat cannot earn ``test_accuracy``: the notebook's own test cell (``expect_accuracy``) takes its
points from the saved file, loaded and measured outside the kernel on data the kernel never sees,
whatever the kernel answers to the cell's visible check.  Notebooks here are cut down to the
cells that matter (imports, data, ``build_model``, save, tests) to keep the runs short.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder import authored, config
from autograder.data import HIDDEN, HIDDEN_FILE
from autograder.run.notebook import NotebookRun, auto_points, grade_id, grade_notebook
from tests.conftest import REPO

pytestmark = pytest.mark.slow

SPIRALS = "03.1_keras_classifier"
DIGITS = "03.2_mnist_classifier"

UNTRAINED = 'model = build_model()  # no training at all\n'


def _grade(assignment: str, nb: nbformat.NotebookNode, tmp: Path, data: Path) -> NotebookRun:
    path = tmp / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    cfg = config.load(REPO, data_dir=str(data))
    checks, settings = authored.prepare(REPO / "source" / assignment, cfg.settings(assignment))
    release = REPO / "release" / assignment
    points = auto_points(release / f"{assignment}.ipynb")
    files = {p.name: p.read_bytes() for p in release.iterdir() if p.suffix != ".ipynb"}
    return grade_notebook(path, checks, points, cfg.sandbox(assignment), files, lambda: authored.namespace(settings),
                          settings)


def _short_spirals() -> nbformat.NotebookNode:
    """03.1's solution without the demonstrations, the training cell replaced by ``UNTRAINED``."""
    nb = nbformat.read(REPO / "source" / SPIRALS / f"{SPIRALS}.ipynb", as_version=4)
    keep = []
    for cell in nb.cells:
        gid = grade_id(cell)
        if cell.cell_type != "code":
            continue
        if gid == "train":
            cell.source = UNTRAINED
        if gid or "import keras" in cell.source or "X_val =" in cell.source or "X_val, " in cell.source:
            keep.append(cell)
    nb.cells = keep
    return nb


def test_forged_model_file_is_refused(tmp_path: Path, mnist_data: Path) -> None:
    """A "model" the student wrote by hand (a zip with a Lambda that runs code) earns nothing and
    runs nothing in the grader, even when the kernel's ``model`` fools the cell's visible check
    (it answers the validation labels)."""
    forge = '''\
import io, json, zipfile
_m = keras.Sequential([keras.Input((2,)), keras.layers.Lambda(lambda t: t), keras.layers.Dense(3)])
_m.save("keras_classifier.keras")

class _Cheat:
    def predict(self, x, verbose=0):
        return np.eye(3, dtype=np.float32)[y_val]

model = _Cheat()
'''
    nb = _short_spirals()
    save = next(i for i, c in enumerate(nb.cells) if grade_id(c) == "save_model")
    nb.cells.insert(save + 1, nbformat.v4.new_code_cell(forge))
    run = _grade(SPIRALS, nb, tmp_path, mnist_data)
    accuracy = next(r for r in run.results if r.item == "test_accuracy")
    assert accuracy.points == 0.0 and "Lambda layer" in accuracy.message, accuracy
    assert accuracy.message.startswith("keras_classifier.keras: "), accuracy  # the hidden check, past the visible


def test_hidden_mnist_split_is_out_of_reach(tmp_path: Path, mnist_data: Path) -> None:
    """From the kernel: the public data holds the 8,000 public digits only; the hidden file, its
    folder and its host path cannot be found or read."""
    hidden = mnist_data / HIDDEN / HIDDEN_FILE
    hunt = f'''\
import os, numpy as np
from lesson03_data import load_mnist
(_a, _b), (_c, _d) = load_mnist()
print("PUBLIC", len(_a) + len(_c), sorted(os.listdir(os.environ["COURSE_DATA_DIR"])))
_found = []
for _root, _dirs, _files in os.walk("/"):
    if _root == "/":
        _dirs[:] = [d for d in _dirs if d not in ("proc", "sys", "dev")]
    _found += [os.path.join(_root, n) for n in _files if "mnist" in n and not n.endswith((".py", ".pyc"))]
print("FOUND", _found)
for _p in [{str(hidden)!r}, {str(hidden.parent)!r}, os.environ["COURSE_DATA_DIR"] + "/../hidden/{HIDDEN_FILE}"]:
    try:
        print("READ", _p, len(open(_p, "rb").read()))
    except OSError as e:
        print("DENIED", _p, type(e).__name__)
'''
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(hunt)]
    run = _grade(DIGITS, nb, tmp_path, mnist_data)
    assert run.notebook is not None
    text = "\n".join(str(o.get("text", "")) for o in run.notebook.cells[0].outputs)
    assert "PUBLIC 8000 ['mnist.npz']" in text, text
    found = re.search(r"FOUND (\[.*\])", text)
    assert found and eval(found.group(1)) == ["/opt/course-data/mnist.npz"], text
    assert "READ" not in text and text.count("DENIED") == 3, text
    assert all(r.points == 0 for r in run.results)
