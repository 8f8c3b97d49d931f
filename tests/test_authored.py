"""A brand-new assignment written as a notebook only, with nbgrader cells, graded by
``autograder grade`` from its own test cells (visible asserts and hidden blocks), run on the
trusted side against the student's names in the sandboxed kernel (autograder.authored).

The assignment, ``04.0_linear_regression``, exists only in this test: the engine has no code for
it.  Its hidden tests use what instructors write in plain nbgrader: numpy, ``np.testing``, tuple
unpacking, a lambda passed to the student's function, and a check that an input was not changed.
"""

from __future__ import annotations

import shutil

import nbformat
import pytest

from autograder import batch, config
from autograder.checks.base import Status
from autograder.gradebook import Course
from tests.conftest import REPO

pytestmark = pytest.mark.slow

ASSIGNMENT = "04.0_linear_regression"
SOLUTION = {
    "predict": "def predict(X, w, b):\n    return X @ w + b\n",
    "mse_grads": ("def mse_grads(X, y, w, b):\n    error = predict(X, w, b) - y\n"
                  "    return 2 * X.T @ error / len(y), 2 * float(np.mean(error))\n"),
    "descend": ("def descend(grad_fn, w0, lr, steps):\n    w = w0.copy()\n    for _ in range(steps):\n"
                "        w = w - lr * grad_fn(w)\n    return w\n"),
}
TESTS = {
    "test_predict": """\
X = np.array([[1.0, 2.0], [3.0, 4.0]])
assert predict(X, np.array([1.0, 0.0]), 0.5).shape == (2,), "predict: one prediction per row of X"
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(4)
X = rng.normal(size=(7, 3))
w = rng.normal(size=3)
expected, kept = X @ w - 1.5, (X.copy(), w.copy())  # before the call: the student's code may change X and w
got = predict(X, w, -1.5)
assert np.array_equal(X, kept[0]) and np.array_equal(w, kept[1]), "predict: it changed its input X; work on a copy"
np.testing.assert_allclose(got, expected, rtol=1e-9)
### END HIDDEN TESTS
""",
    "test_mse_grads": """\
### BEGIN HIDDEN TESTS
rng = np.random.default_rng(5)
X, y, w = rng.normal(size=(20, 3)), rng.normal(size=20), rng.normal(size=3)
error = X @ w + 0.3 - y
dw, db = mse_grads(X, y, w, 0.3)
assert np.allclose(dw, 2 * X.T @ error / 20), f"mse_grads: dw is off by {np.max(np.abs(dw - 2 * X.T @ error / 20)):.3g}"
assert abs(db - 2 * error.mean()) < 1e-9
### END HIDDEN TESTS
""",
    "test_descend": """\
### BEGIN HIDDEN TESTS
calls = []
def grad(w):
    calls.append(1)
    return 2 * (w - np.array([3.0, -1.0]))
w = descend(grad, np.zeros(2), 0.1, 50)
assert len(calls) == 50, f"descend: call grad_fn once per step (it was called {len(calls)} times for 50 steps)"
np.testing.assert_allclose(w, [3.0, -1.0], atol=1e-3)
assert np.allclose(descend(lambda v: v, np.ones(2), 0.5, 1), [0.5, 0.5])
### END HIDDEN TESTS
""",
}
POINTS = {"test_predict": 2, "test_mse_grads": 3, "test_descend": 2}


def _cell(source: str, **nbgrader: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = {"schema_version": 3, "locked": False, **nbgrader}
    return cell


def instructor_notebook() -> nbformat.NotebookNode:
    """What the instructor writes: an import cell, a solution cell and a test cell per function."""
    nb = nbformat.v4.new_notebook()
    nb.cells.append(nbformat.v4.new_code_cell("import numpy as np"))
    for name, solution in SOLUTION.items():
        nb.cells.append(_cell(f"### BEGIN SOLUTION\n{solution}### END SOLUTION\n", grade_id=name, solution=True,
                              grade=False))
        test = f"test_{name}"
        nb.cells.append(_cell(TESTS[test], grade_id=test, grade=True, solution=False, points=POINTS[test],
                              locked=True))
    return nb


def student(release: nbformat.NotebookNode, **answers: str) -> nbformat.NotebookNode:
    nb = nbformat.from_dict(release)
    for cell in nb.cells:
        name = cell.metadata.get("nbgrader", {}).get("grade_id")
        if name in answers:
            cell.source = answers[name]
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, dict[str, batch.SubmissionRun]]:
    root = tmp_path_factory.mktemp("authored")
    shutil.copy(REPO / "nbgrader_config.py", root)
    (root / "course.toml").write_text("[grading]\nworkers = 2\n")  # no entry for the new assignment
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(instructor_notebook(), root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    course = Course(root)
    course.ensure_assignment(ASSIGNMENT)  # nbgrader generate_assignment: the release
    release = nbformat.read(course.release_dir(ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)
    edited = student(release, **SOLUTION)
    for cell in edited.cells:  # a student who turns the tests into no-ops and fakes the helpers
        if cell.metadata.get("nbgrader", {}).get("grade"):
            cell.source = "pass"
    edited.cells.insert(0, nbformat.v4.new_code_cell(
        "import numpy as np\nnp.testing.assert_allclose = lambda *a, **k: None\nnp.allclose = lambda *a, **k: True"))
    submissions = {
        "ada": student(release, **SOLUTION),
        "alt": student(release, predict="def predict(X, w, b):\n    return np.einsum('ij,j->i', X, w) + b\n",
                       mse_grads=("def mse_grads(X, y, w, b):\n    n = X.shape[0]\n    r = X.dot(w) + b - y\n"
                                  "    return (2.0 / n) * X.T.dot(r), 2.0 * r.sum() / n\n"),
                       descend=("def descend(grad_fn, w0, lr, steps):\n    w = np.array(w0, dtype=float)\n"
                                "    for step in range(steps):\n        w -= lr * grad_fn(w)\n    return w\n")),
        "bug": student(release, predict="def predict(X, w, b):\n    X *= 1.0001\n    return X @ w + b\n",
                       mse_grads=("def mse_grads(X, y, w, b):\n    e = X @ w + b - y\n"
                                  "    return X.T @ e / len(y), e.mean()\n"),
                       descend=SOLUTION["descend"].replace("range(steps)", "range(steps + 1)")),
        "blank": release,
        "edited": student(edited, predict="def predict(X, w, b):\n    return X @ w\n",
                          mse_grads="def mse_grads(X, y, w, b):\n    return 0, 0\n",
                          descend="def descend(grad_fn, w0, lr, steps):\n    return w0\n"),
    }
    for name, nb in submissions.items():
        folder = root / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-07 12:00:00.000000 UTC")
    runs = batch.grade(course, ASSIGNMENT, config.load(root), progress=False)
    return course, {r.job.student: r for r in runs}


def _results(run: batch.SubmissionRun) -> dict[str, tuple[Status, float, str]]:
    return {r.item: (r.status, r.points, r.message) for r in run.results[ASSIGNMENT]}


Graded = tuple[Course, dict[str, batch.SubmissionRun]]


def test_correct_and_alternative_answers_earn_every_point(graded: Graded) -> None:
    """The solution and a differently written correct answer get 7 / 7 from the notebook's own tests."""
    course, _ = graded
    scores = course.scores(ASSIGNMENT)
    assert scores["ada"] == (7.0, 7.0) and scores["alt"] == (7.0, 7.0)


def test_buggy_answers_lose_each_item_with_the_tests_own_message(graded: Graded) -> None:
    """Each bug loses its item, and the message is the instructor's assert message (never its code)."""
    course, runs = graded
    results = _results(runs["bug"])
    assert course.scores(ASSIGNMENT)["bug"] == (0.0, 7.0)
    assert results["test_predict"][2] == "predict: it changed its input X; work on a copy"
    assert results["test_mse_grads"][2].startswith("mse_grads: dw is off by")
    assert results["test_descend"][2] == "descend: call grad_fn once per step (it was called 51 times for 50 steps)"
    for status, _points, message in results.values():
        assert status is Status.FAILED and "np." not in message and "assert" not in message


def test_blank_release_earns_zero(graded: Graded) -> None:
    """The untouched release (its stubs raise before defining anything) earns nothing: each item
    is missing, and its message names the function."""
    course, runs = graded
    assert course.scores(ASSIGNMENT)["blank"] == (0.0, 7.0)
    results = _results(runs["blank"])
    assert {status for status, *_ in results.values()} == {Status.MISSING}
    for name in SOLUTION:
        assert name in results[f"test_{name}"][2]


def test_edited_tests_and_patched_helpers_earn_nothing(graded: Graded) -> None:
    """Test cells the student emptied and numpy helpers patched in the kernel change nothing: the
    instructor's test cells run outside the kernel with the grader's own numpy."""
    course, runs = graded
    assert course.scores(ASSIGNMENT)["edited"] == (0.0, 7.0)
    assert all(status is Status.FAILED for status, *_ in _results(runs["edited"]).values())
