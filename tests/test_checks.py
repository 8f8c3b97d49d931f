"""Hidden checks of 03.0: correct code passes, typical bugs fail with useful messages.

The checks are the instructor notebook's own test cells (``source/03.0_gradient_descent``), run on
the trusted side against the student's names in a sandboxed kernel (:mod:`autograder.authored`,
:mod:`autograder.run.remote`); their hidden blocks use :mod:`nbexpect`.  Every case here is one
replaced solution cell and what grading must make of it.  Cases that touch different items share a
submission (:data:`ROUNDS`), so the whole module grades a dozen notebooks, in one batch of
:func:`autograder.batch.grade`, and each test reads its own item's result.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass

import nbformat
import pytest

from autograder import authored, batch, config
from autograder.checks.base import CheckResult, Status
from autograder.run.remote import free_names
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO, build_course

pytestmark = pytest.mark.slow

SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK
SETTINGS = authored.read(REPO / "source" / ASSIGNMENT)
ITEMS = [
    "test_mse", "test_mse_grad", "test_softmax", "test_cross_entropy", "test_softmax_cross_entropy_grad",
    "test_numerical_gradient", "test_gradient_descent", "test_learning_rates", "test_sgd_step",
    "test_momentum_step", "test_rmsprop_step", "test_adam_step",
]
LEARNING_RATES = ("LR_TOO_SMALL", "LR_GOOD", "LR_TOO_LARGE")


@dataclass(frozen=True)
class Case:
    """One replaced solution cell (``gid``) and the verdict on its item: full marks (``fraction`` 1),
    none, or a share; the words the message must contain, and those it must not."""

    gid: str
    name: str
    source: str
    fraction: float = 0.0
    words: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()

    @property
    def item(self) -> str:
        return f"test_{self.gid}"

    @property
    def id(self) -> str:
        return f"{self.gid}-{self.name}"


def _rates(small: str = "1e-4", good: str = "0.1", large: str = "0.3") -> str:
    return f"LR_TOO_SMALL = {small}\nLR_GOOD = {good}\nLR_TOO_LARGE = {large}\n"


_MOMENTUM = "def momentum_step(params, grads, velocity, lr, momentum=0.9):\n"
_RMSPROP = "def rmsprop_step(params, grads, sq_avg, lr=0.001, rho=0.9, eps=1e-7):\n"
_ADAM = "def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):\n"
_ADAM_TEXTBOOK = """\
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    new = params - lr * m_hat / (np.sqrt(v_hat) + eps)
"""
_FORWARD_DIFFERENCE = """\
def numerical_gradient(f, x, eps=1e-5):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        s = np.zeros_like(x)
        s[i] = eps
        g[i] = (f(x + s) - f(x)) / eps
    return g
"""
_CENTRAL = """\
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad
"""

CASES: list[Case] = [
    # --- loss functions ---
    Case("mse", "sum_instead_of_mean", "def mse(y_true, y_pred):\n    return float(np.sum((y_pred - y_true) ** 2))\n",
         words=("mse: ", "expected", "(got")),
    Case("mse", "array_result", "def mse(y_true, y_pred):\n    return np.mean((y_pred - y_true) ** 2, axis=0)\n",
         words=("mse: ", "expected the result to be a float (got ndarray")),
    Case("mse_grad", "missing_factor_two",
         "def mse_grad(y_true, y_pred):\n    return (y_pred - y_true) / y_pred.size\n",
         words=("mse_grad: ", "gradient with respect to y_pred at y_pred[", "largest relative error")),
    Case("mse_grad", "list", "def mse_grad(y_true, y_pred):\n    return list(2.0 * (y_pred - y_true) / y_pred.size)\n",
         words=("mse_grad: ", "expected the gradient with respect to y_pred to be a numpy array",
                "(got list of length")),
    Case("mse_grad", "modifies_input", "def mse_grad(y_true, y_pred):\n    y_pred -= y_true\n"
         "    y_pred *= 2.0 / y_pred.size\n    return y_pred.copy()\n", words=("must not modify its input y_pred",)),
    Case("softmax", "without_shift_overflows", "def softmax(z):\n    with np.errstate(all='ignore'):\n"
         "        return np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)\n", words=("softmax: ", "finite values")),
    Case("softmax", "global_shift", "def softmax(z):\n    with np.errstate(all='ignore'):\n"
         "        e = np.exp(z - z.max())\n"
         "        return e / e.sum(axis=1, keepdims=True)\n", words=("softmax: ",)),
    Case("softmax", "columnwise", "def softmax(z):\n    e = np.exp(z - z.max(axis=0, keepdims=True))\n"
         "    return e / e.sum(axis=0, keepdims=True)\n", words=("softmax: ",)),
    Case("softmax", "log_sum_exp_form_passes", "def softmax(z):\n    m = z.max(axis=1, keepdims=True)\n"
         "    log_sum = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))\n    return np.exp(z - log_sum)\n",
         fraction=1.0),
    Case("cross_entropy", "guard_epsilon_passes", "def cross_entropy(probs, labels):\n"
         "    return float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-7)))\n", fraction=1.0),
    Case("cross_entropy", "sum", "def cross_entropy(probs, labels):\n"
         "    return float(-np.sum(np.log(probs[np.arange(len(labels)), labels])))\n", words=("cross_entropy: ",)),
    Case("cross_entropy", "log10", "def cross_entropy(probs, labels):\n"
         "    return float(-np.mean(np.log10(probs[np.arange(len(labels)), labels])))\n", words=("cross_entropy: ",)),
    Case("cross_entropy", "mean_over_all_entries", "def cross_entropy(probs, labels):\n"
         "    return float(-np.mean(np.eye(probs.shape[1])[labels] * np.log(probs)))\n", words=("cross_entropy: ",)),
    Case("softmax_cross_entropy_grad", "missing_mean", "def softmax_cross_entropy_grad(logits, labels):\n"
         "    e = np.exp(logits - logits.max(axis=1, keepdims=True))\n    g = e / e.sum(axis=1, keepdims=True)\n"
         "    g[np.arange(len(labels)), labels] -= 1.0\n    return g\n",
         words=("softmax_cross_entropy_grad: ", "with respect to logits at logits[")),
    # --- gradients and descent ---
    Case("numerical_gradient", "forward_difference", _FORWARD_DIFFERENCE,
         words=("numerical_gradient: ", "with respect to x", "largest relative error")),
    Case("numerical_gradient", "other_small_eps_passes", _CENTRAL.replace("eps=1e-5", "eps=1e-6"), fraction=1.0),
    Case("numerical_gradient", "not_restoring_x", """\
def numerical_gradient(f, x, eps=1e-5):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += eps
        up = f(x)
        x[i] -= 2 * eps
        g[i] = (up - f(x)) / (2 * eps)
    return g
""", words=("must not modify its input x",)),
    Case("numerical_gradient", "flattened_result", _CENTRAL.replace("return grad", "return grad.ravel()"),
         words=("numerical_gradient: ", "of shape (3, 4) (got shape (12,))")),
    Case("gradient_descent", "missing_first_row", """\
def gradient_descent(grad_fn, x0, lr, steps):
    trajectory = [x0.copy()]
    for _ in range(steps):
        trajectory.append(trajectory[-1] - lr * grad_fn(trajectory[-1]))
    return np.array(trajectory)[1:]
""", words=("gradient_descent: ", "of shape")),
    Case("gradient_descent", "aliasing_rows", """\
def gradient_descent(grad_fn, x0, lr, steps):
    x = x0.copy()
    rows = [x]
    for _ in range(steps):
        x -= lr * grad_fn(x)
        rows.append(x)
    return np.array(rows)
""", words=("the first row of the trajectory must be x0",)),
    Case("gradient_descent", "modifies_x0", """\
def gradient_descent(grad_fn, x0, lr, steps):
    rows = [x0.copy()]
    for _ in range(steps):
        x0 -= lr * grad_fn(x0)
        rows.append(x0.copy())
    return np.array(rows)
""", words=("must not modify its input x0",)),
    Case("gradient_descent", "ascent", """\
def gradient_descent(grad_fn, x0, lr, steps):
    trajectory = [x0.copy()]
    for _ in range(steps):
        trajectory.append(trajectory[-1] + lr * grad_fn(trajectory[-1]))
    return np.array(trajectory)
""", words=("gradient_descent: ", "row k is x after k steps")),
    # --- learning rates: a third of the points per constant ---
    Case("learning_rates", "partial_credit", _rates(good="0.01"), 2 / 3,
         ("LR_GOOD = 0.01", "norm after 100 steps is"), absent=("LR_TOO_SMALL",)),
    Case("learning_rates", "diverging_rate_is_not_too_small", _rates("1.0", "1.0", "1.0"), 1 / 3,
         ("LR_TOO_SMALL = 1",)),
    Case("learning_rates", "all_wrong", _rates("-0.01", "'fast'", "1e-4"), 0.0,
         ("LR_TOO_SMALL", "LR_GOOD must be a finite float (got str)", "LR_TOO_LARGE")),
    Case("learning_rates", "too_small_zero", _rates(small="0.0"), 2 / 3, ("LR_TOO_SMALL",)),
    Case("learning_rates", "too_small_negative", _rates(small="-1e-4"), 2 / 3, ("LR_TOO_SMALL",)),
    Case("learning_rates", "too_large_nan", _rates(large="float('nan')"), 2 / 3, ("LR_TOO_LARGE",)),
    Case("learning_rates", "good_inf", _rates(good="float('inf')"), 2 / 3, ("LR_GOOD",)),
    Case("learning_rates", "good_unstable", _rates(good="0.25"), 2 / 3, ("LR_GOOD",)),
    Case("learning_rates", "huge_rate_counts_as_diverging", _rates(large="1e300"), 1.0),
    # --- optimizers ---
    Case("rmsprop_step", "textbook_form_passes", _RMSPROP + "    sq_avg = rho * sq_avg + (1 - rho) * grads ** 2\n"
         "    return params - lr * grads / (np.sqrt(sq_avg) + eps), sq_avg\n", fraction=1.0),
    Case("adam_step", "textbook_form_passes", _ADAM + _ADAM_TEXTBOOK + "    return new, m, v\n", fraction=1.0),
    Case("sgd_step", "wrong_sign", "def sgd_step(params, grads, lr):\n    return params + lr * grads\n",
         words=("sgd_step: ", "wrong params after step 1 of 5")),
    Case("sgd_step", "in_place",
         "def sgd_step(params, grads, lr):\n    params -= lr * grads\n    return params.copy()\n",
         words=("must not modify its input params",)),
    Case("momentum_step", "without_state",
         _MOMENTUM + "    velocity = momentum * np.zeros_like(velocity) - lr * grads\n"
         "    return params + velocity, velocity\n", words=("momentum_step: ", "wrong params after step 2")),
    Case("momentum_step", "ignoring_argument", _MOMENTUM + "    velocity = 0.9 * velocity - lr * grads\n"
         "    return params + velocity, velocity\n", words=("momentum_step: ", "params", "params of shape (5,)")),
    Case("momentum_step", "bare_return", _MOMENTUM + "    return params - lr * grads\n",
         words=("momentum_step: ", "expected a tuple (params, velocity)")),
    Case("momentum_step", "textbook_velocity_passes", _MOMENTUM + "    velocity = momentum * velocity + grads\n"
         "    return params - lr * velocity, velocity\n", fraction=1.0),
    Case("rmsprop_step", "without_sqrt", _RMSPROP + "    sq_avg = rho * sq_avg + (1 - rho) * grads ** 2\n"
         "    return params - lr * grads / (sq_avg + eps), sq_avg\n",
         words=("rmsprop_step: ", "wrong params after step 1")),
    Case("rmsprop_step", "without_state", _RMSPROP + "    sq_avg = (1 - rho) * grads ** 2\n"
         "    return params - lr * grads / np.sqrt(sq_avg + eps), sq_avg\n",
         words=("rmsprop_step: ", "wrong sq_avg after step 2")),
    Case("adam_step", "without_bias_correction", _ADAM + "    m = beta1 * m + (1 - beta1) * grads\n"
         "    v = beta2 * v + (1 - beta2) * grads ** 2\n    return params - lr * m / (np.sqrt(v) + eps), m, v\n",
         words=("adam_step: ", "wrong params after step 1")),
    Case("adam_step", "swapped_betas", _ADAM + "    beta1, beta2 = beta2, beta1\n" + _ADAM_TEXTBOOK
         + "    return new, m, v\n", words=("adam_step: ", "wrong m after step 1")),
    Case("adam_step", "wrong_sign", _ADAM + _ADAM_TEXTBOOK + "    return 2 * params - new, m, v\n",
         words=("adam_step: ", "wrong params after step 1")),
    Case("adam_step", "without_state", _ADAM + "    m, v = np.zeros_like(m), np.zeros_like(v)\n" + _ADAM_TEXTBOOK
         + "    return new, m, v\n", words=("adam_step: ", "wrong m after step 2")),
    Case("adam_step", "t_from_zero",
         _ADAM + "    t = t - 1 if t > 1 else t\n" + _ADAM_TEXTBOOK + "    return new, m, v\n",
         words=("adam_step: ", "after step 2")),
]


def _rounds(cases: list[Case]) -> list[list[Case]]:
    """The cases in as few submissions as possible, at most one case per item in each."""
    rounds: list[list[Case]] = []
    for case in cases:
        target = next((r for r in rounds if all(c.gid != case.gid for c in r)), None)
        if target is None:
            rounds.append(target := [])
        target.append(case)
    return rounds


ROUNDS = _rounds(CASES)
ROUND_OF = {case.id: f"round{i}" for i, cases in enumerate(ROUNDS) for case in cases}

JUNK = ["'text'", "None", "[1.0, 2.0]", "np.full(3, np.nan)", "True", "7", "np.zeros((2, 2))", "(np.ones(3),)"]
"""Returned values that are no answer: every check must fail cleanly on them."""


def _functions() -> dict[str, str]:
    """Each graded function's signature line, by grade_id, from the solution."""
    out = {}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.source.startswith("def "):
            out[gid] = cell.source.splitlines()[0]
    return out


def junk_cells(shift: int) -> dict[str, str]:
    """Every function returning a junk value (``shift`` picks which), the constants junk too."""
    cells = {gid: f"{signature}\n    return {JUNK[(i + shift) % len(JUNK)]}\n"
             for i, (gid, signature) in enumerate(_functions().items())}
    value = JUNK[shift % len(JUNK)]
    cells["learning_rates"] = _rates(value, value, value)
    return cells


def submission(cells: dict[str, str]) -> nbformat.NotebookNode:
    nb: nbformat.NotebookNode = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in cells and cell.metadata["nbgrader"].get("solution"):
            cell.source = cells.pop(gid)
    assert not cells, f"no solution cells {sorted(cells)}"
    return nb


Results = dict[str, dict[str, CheckResult]]


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Results:
    """The solution, every round of cases and two junk submissions, graded in one batch."""
    students = {"solution": nbformat.read(SOLUTION, as_version=4)}
    for i, cases in enumerate(ROUNDS):
        students[f"round{i}"] = submission({c.gid: c.source for c in cases})
    for shift in (0, 3):
        students[f"junk{shift}"] = submission(junk_cells(shift))
    course = build_course(tmp_path_factory.mktemp("course"), students)
    runs = batch.grade(course, ASSIGNMENT, config.load(course.root, workers=2), progress=False)
    return {r.job.student: {res.item: res for res in r.results[ASSIGNMENT]} for r in runs}


# --- every check ------------------------------------------------------------------------------


def test_one_test_cell_per_item() -> None:
    """The items are those of the course spec, in order; each test cell reaches only its own names."""
    checks = authored.checks(SETTINGS)
    assert [c.item for c in checks] == ITEMS
    namespace = authored.namespace(SETTINGS)
    for check in checks:
        names = {n for n in free_names(check.test_source) if n not in namespace and not hasattr(builtins, n)}
        own = set(LEARNING_RATES) if check.item == "test_learning_rates" else {check.item.removeprefix("test_")}
        assert names == own, (check.item, names)
        assert "### BEGIN HIDDEN TESTS" in check.test_source and "from nbexpect import" in check.test_source


def test_correct_submission_passes(graded: Results) -> None:
    """The instructor's solution earns every point of every item."""
    for item, result in graded["solution"].items():
        assert result.status is Status.PASSED and result.points == result.max_points, (item, result.message)


@pytest.mark.parametrize("shift", [0, 3])
def test_junk_fails_cleanly(shift: int, graded: Results) -> None:
    """Strings, None, lists, NaN, bools, ints, wrong shapes and tuples earn nothing and each fails
    with a message naming the function (the constants: naming them), never an error of the test."""
    for item, result in graded[f"junk{shift}"].items():
        assert result.status is Status.FAILED and result.points == 0.0, (item, result.status, result.message)
        name = "LR_" if item == "test_learning_rates" else item.removeprefix("test_")
        assert name in result.message, (item, result.message)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_case(case: Case, graded: Results) -> None:
    """A bug loses its item (or its share) with a message holding the expected words; an
    alternative earns it; items the round does not touch are unaffected."""
    result = graded[ROUND_OF[case.id]][case.item]
    assert result.points == pytest.approx(case.fraction * result.max_points), (result.status, result.message)
    if case.fraction == 1.0:
        assert result.status is Status.PASSED, result.message
    else:
        assert result.status is Status.FAILED, result.message
    for word in case.words:
        assert word in result.message, result.message
    for word in case.absent:
        assert word not in result.message, result.message


def test_untouched_items_pass(graded: Results) -> None:
    """In each round, the items no case replaced keep full marks: the cases do not interfere."""
    for i, cases in enumerate(ROUNDS):
        touched = {c.item for c in cases}
        for item, result in graded[f"round{i}"].items():
            if item not in touched:
                assert result.status is Status.PASSED, (i, item, result.message)
