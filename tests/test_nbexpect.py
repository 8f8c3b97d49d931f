"""The public helper library ``nbexpect`` on its own: its messages, partial credit, and the optimizer
references of 03.0's hidden test cells (``_reference``, hidden from students), which must agree with
the real Keras optimizers to rounding.

No kernel is involved: the helpers are called in-process on plain values, as a test cell calls them
in the grader on what the student's functions returned.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import nbformat
import numpy as np
import numpy.typing as npt
import pytest
from nbexpect import (
    Failed,
    Score,
    expect_close,
    expect_float,
    expect_gradient,
    expect_shape,
    expect_steps,
    expect_unchanged,
    optimizers,
    partial_credit,
)
from nbexpect._format import relative_errors

from autograder.run.notebook import grade_id
from tests.conftest import REPO

Array = npt.NDArray[np.float64]


def _references() -> SimpleNamespace:
    """The ``_reference`` step of each optimizer test cell of 03.0 (in its hidden block), by name."""
    path = REPO / "source" / "03.0_gradient_descent" / "03.0_gradient_descent.ipynb"
    found: dict[str, Callable[..., Any]] = {}
    for cell in nbformat.read(path, as_version=4).cells:
        item = grade_id(cell) or ""
        tree = ast.parse(cell.source) if item.endswith("_step") and cell.cell_type == "code" else None
        for node in tree.body if tree else []:
            if isinstance(node, ast.FunctionDef) and node.name == "_reference":
                scope: dict[str, Any] = {"np": np}
                exec(compile(ast.Module([node], []), str(path), "exec"), scope)
                found[item.removeprefix("test_")] = scope["_reference"]
    assert set(found) == {"sgd_step", "momentum_step", "rmsprop_step", "adam_step"}, sorted(found)
    return SimpleNamespace(**found)


opt = _references()
RTOL, ATOL = 1e-4, 1e-6  # the optimizer tolerances of 03.0's test cells


def fails(call: Callable[[], object], *words: str) -> str:
    """The message of the :class:`Failed` that ``call`` raises; it must hold every word."""
    with pytest.raises(Failed) as info:
        call()
    message = str(info.value)
    for word in words:
        assert word in message, message
    return message


# --- textbook forms: epsilon where most textbooks put it --------------------------------------


def rmsprop_textbook(params: Array, grads: Array, sq_avg: Array, lr: float = 0.001, rho: float = 0.9,
                     eps: float = 1e-7) -> tuple[Array, Array]:
    """As :func:`nbexpect.optimizers.rmsprop_step` but dividing by ``sqrt(s) + eps``."""
    s = rho * sq_avg + (1 - rho) * grads**2
    return params - lr * grads / (np.sqrt(s) + eps), s


def adam_textbook(params: Array, grads: Array, m: Array, v: Array, t: int, lr: float = 0.001, beta1: float = 0.9,
                  beta2: float = 0.999, eps: float = 1e-7) -> tuple[Array, Array, Array]:
    """Kingma & Ba: bias-corrected ``m_hat / (sqrt(v_hat) + eps)``."""
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads**2
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return params - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def hidden_like_grads(rng: np.random.Generator, shape: tuple[int, ...], steps: int = 5) -> list[Array]:
    """Gradients as 03.0's test cells draw them: magnitudes in [0.5, 2], random signs."""
    return [rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape) for _ in range(steps)]


# --- messages -----------------------------------------------------------------------------------


class TestMessages:
    def test_expect_close_message(self) -> None:
        """The message names the function, index, expected, got and relative error."""
        expected = np.zeros((3, 2))
        expected[2, 1] = 0.1234
        got = expected.copy()
        got[2, 1] = 0.0617
        message = fails(lambda: expect_close(got, expected, name="mse_grad", rtol=1e-9, atol=1e-12))
        assert message == ("mse_grad: wrong value at index (2, 1): expected 0.1234 (got 0.0617); "
                           "largest relative error 0.5")

    @pytest.mark.parametrize(("got", "words"), [
        ([1.0, 2.0], "(got list of length 2)"),
        ((1.0,), "(got tuple of length 1)"),
        ("text", "(got str)"),
        (np.zeros(3), "of shape (2,) (got shape (3,))"),
        (np.array([1.0, np.inf]), "finite values (got inf at index 1)"),
        (np.array([True, False]), "a numeric array (got dtype bool)"),
    ])
    def test_strict_validation(self, got: object, words: str) -> None:
        """Non-arrays, wrong shapes, bools and non-finite values fail before any comparison."""
        fails(lambda: expect_close(got, np.zeros(2), name="f", rtol=1e-6, atol=1e-9), "f: expected", words)

    def test_scalar_accepts_zero_d_array_rejects_bool(self) -> None:
        """A 0-d array counts as a float; a bool does not, nor a non-finite number."""
        expect_close(np.array(1.0), 1.0, name="mse", rtol=1e-9, atol=0)
        assert expect_float(np.array(2.5), name="f") == 2.5
        fails(lambda: expect_close(True, 1.0, name="mse", rtol=1e-9, atol=0), "mse: ", "float (got bool True)")
        fails(lambda: expect_float(float("nan"), name="f", label="LR"), "expected LR to be finite")
        fails(lambda: expect_close(2.0, 1.0, name="mse"), "mse: wrong value: expected 1 (got 2); relative error 1")

    def test_expect_unchanged_names_entry(self) -> None:
        """A modified input is reported at its first changed entry."""
        before = np.arange(4.0).reshape(2, 2)
        after = before.copy()
        after[1, 0] = 9.0
        fails(lambda: expect_unchanged(after, before, name="f", arg="x"),
              "f: must not modify its input x (x[1, 0] changed from 2 to 9); work on a copy")
        expect_unchanged(before.copy(), before, name="f", arg="x")
        fails(lambda: expect_unchanged([0.0, 1.0], before, name="f", arg="x"), "(it became list of length 2)")

    def test_expect_shape(self) -> None:
        assert expect_shape(np.ones((2, 3), dtype=int), (2, 3), name="f").dtype == np.float64
        fails(lambda: expect_shape(np.ones(6), (2, 3), name="f", label="the trajectory", context="for x0, "),
              "f: for x0, expected the trajectory of shape (2, 3) (got shape (6,))")

    @pytest.mark.parametrize(("transform", "words"), [
        (lambda g: -g, "has the wrong sign"),
        (lambda g: g.T, "is the transpose of the right answer"),
        (lambda g: 4 * g, "exactly 4 times the right answer, with n = 4 rows: is a 1/n missing?"),
        (lambda g: g / 4, "exactly 1/4 of the right answer, with n = 4 rows"),
        (lambda g: 0.5 * g, "it is 0.5 times the right answer"),
    ])
    def test_gradient_hints(self, transform: Callable[[Array], Array], words: str) -> None:
        """Simple transformations of the right gradient come with a likely cause."""
        want = np.random.default_rng(0).normal(size=(4, 4))
        fails(lambda: expect_gradient(transform(want), want, name="g", param="W", rows=4),
              "g: wrong gradient with respect to W at W[", "largest relative error", words)

    def test_gradient_transposed_shape(self) -> None:
        want = np.ones((2, 3))
        fails(lambda: expect_gradient(np.ones((3, 2)), want, name="g", param="W"), "that is the transposed shape")

    def test_failed_is_an_assertion_error(self) -> None:
        assert issubclass(Failed, AssertionError)


class TestPartialCredit:
    def test_shares(self) -> None:
        """Equal shares for the parts that passed; the failures' messages joined."""
        score = partial_credit(2, [None, "LR_GOOD is wrong", None])
        assert isinstance(score, Score) and float(score) == pytest.approx(4 / 3)
        assert score.message == "LR_GOOD is wrong"
        assert repr(score) == repr(4 / 3)  # nbgrader reads the cell's output as a number
        assert float(partial_credit(3, [None])) == 3.0 and partial_credit(3, [None]).message == ""
        assert float(partial_credit(1, ["a", "b"])) == 0.0 and partial_credit(1, ["a", "b"]).message == "a; b"

    def test_needs_a_part(self) -> None:
        with pytest.raises(ValueError):
            partial_credit(1, [])


# --- expect_steps ---------------------------------------------------------------------------------


class TestExpectSteps:
    def run(self, step: Callable[..., Any], kind: str, **kwargs: Any) -> None:
        kinds: dict[str, tuple[Callable[..., Any], tuple[str, ...], bool]] = {
            "sgd": (opt.sgd_step, ("params",), False),
            "momentum": (opt.momentum_step, ("params", "velocity"), False),
            "rmsprop": (opt.rmsprop_step, ("params", "sq_avg"), False),
            "adam": (opt.adam_step, ("params", "m", "v"), True),
        }
        reference, returns, takes_t = kinds[kind]
        rng = np.random.default_rng(5)
        expect_steps(step, reference, name=f"{kind}_step", params=rng.normal(size=(3, 4)),
                     grads=hidden_like_grads(rng, (3, 4)), returns=returns, takes_t=takes_t, rtol=RTOL, atol=ATOL,
                     **kwargs)

    def test_references_and_textbook_forms_pass(self) -> None:
        """Each reference passes against itself, the textbook forms against Keras' forms."""
        self.run(opt.sgd_step, "sgd", args=(0.1,))
        self.run(opt.momentum_step, "momentum", args=(0.1,))
        self.run(rmsprop_textbook, "rmsprop", kwargs={"lr": 0.01})
        self.run(adam_textbook, "adam", kwargs={"lr": 0.01})

    def test_textbook_momentum_velocity_passes_on_params_only(self) -> None:
        def textbook(p: Array, g: Array, v: Array, lr: float, momentum: float = 0.9) -> tuple[Array, Array]:
            v = momentum * v + g
            return p - lr * v, v

        self.run(textbook, "momentum", args=(0.1,), params_only=True)
        fails(lambda: self.run(textbook, "momentum", args=(0.1,)), "wrong velocity after step 1 of 5")

    def test_failures(self) -> None:
        """A wrong sign, a dropped state, a bare return and an in-place update are each named."""
        fails(lambda: self.run(lambda p, g, lr: p + lr * g, "sgd", args=(0.1,)),
              "sgd_step: for params of shape (3, 4), wrong params after step 1 of 5 at index")

        def no_state(p: Array, g: Array, s: Array, lr: float = 0.001, rho: float = 0.9,
                     eps: float = 1e-7) -> tuple[Array, Array]:
            new_p, new_s = opt.rmsprop_step(p, g, np.zeros_like(s), lr, rho, eps)
            return np.asarray(new_p), np.asarray(new_s)

        fails(lambda: self.run(no_state, "rmsprop"), "rmsprop_step: ", "wrong sq_avg after step 2 of 5")
        fails(lambda: self.run(lambda p, g, v, lr: p - lr * g, "momentum", args=(0.1,)),
              "expected a tuple (params, velocity) (got ndarray of shape (3, 4), dtype float64) at step 1 of 5")

        def in_place(p: Array, g: Array, lr: float) -> Array:
            p -= lr * g
            return p.copy()

        fails(lambda: self.run(in_place, "sgd", args=(0.1,)),
              "sgd_step: for params of shape (3, 4), at step 1 of 5, must not modify its input params")


# --- the references against Keras ----------------------------------------------------------------


def test_epsilon_placement_far_inside_tolerance() -> None:
    """On sequences like 03.0's hidden ones (the same hyperparameters, gradients of magnitude 0.5 to
    2), Keras' and the textbook's placement of epsilon differ by under a tenth of the tolerance."""
    rng = np.random.default_rng(20261126)
    cases: list[tuple[Callable[..., Any], Callable[..., Any], int, bool, dict[str, float]]] = [
        (opt.rmsprop_step, rmsprop_textbook, 1, False, kwargs)
        for kwargs in ({"lr": 0.01}, {"lr": 0.02, "rho": 0.8}, {})
    ] + [
        (opt.adam_step, adam_textbook, 2, True, kwargs)
        for kwargs in ({"lr": 0.01}, {"lr": 0.02, "beta1": 0.8, "beta2": 0.99}, {})
    ]
    worst = 0.0
    for keras_form, textbook, n_state, takes_t, kwargs in cases:
        params = rng.normal(size=(3, 4))
        ours: tuple[Array, ...] = (params, *(np.zeros_like(params) for _ in range(n_state)))
        theirs = ours
        for k, g in enumerate(hidden_like_grads(rng, params.shape), start=1):
            t = (k,) if takes_t else ()
            ours = tuple(keras_form(ours[0], g, *ours[1:], *t, **kwargs))
            theirs = tuple(textbook(theirs[0], g, *theirs[1:], *t, **kwargs))
            for a, b in zip(ours, theirs, strict=True):
                worst = max(worst, float(relative_errors(a, b, RTOL, ATOL).max()))
    assert worst < RTOL / 10


@pytest.fixture(scope="module")
def keras() -> Any:
    """Keras 3 on the TensorFlow backend, imported only by the tests that need it."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    return keras


class TestReferencesMatchKeras:
    # Keras rounds beta/rho to float32 inside the update even for float64 variables, so the
    # exact comparison uses hyperparameters that float32 represents exactly.
    @pytest.mark.parametrize(("name", "hyper", "rtol"), [
        ("momentum", {"lr": 0.125, "momentum": 0.75}, 1e-12),
        ("rmsprop", {"lr": 0.015625, "rho": 0.75}, 1e-12),
        ("adam", {"lr": 0.03125, "beta1": 0.75, "beta2": 0.984375}, 1e-12),
        ("momentum", {"lr": 0.01, "momentum": 0.9}, 1e-6),
        ("rmsprop", {"lr": 0.001, "rho": 0.9}, 1e-6),
        ("adam", {"lr": 0.001, "beta1": 0.9, "beta2": 0.999}, 1e-6),
    ])
    def test_six_steps(self, keras: Any, name: str, hyper: dict[str, float], rtol: float) -> None:
        """Params and state agree with keras.optimizers fed the same gradients (float64)."""
        rng = np.random.default_rng(0)
        params = rng.normal(size=(3, 4))
        variable = keras.Variable(params, dtype="float64")
        lr = hyper["lr"]
        state: tuple[str, ...]
        if name == "momentum":
            optimizer = keras.optimizers.SGD(learning_rate=lr, momentum=hyper["momentum"])
            state = ("momentums",)
        elif name == "rmsprop":
            optimizer = keras.optimizers.RMSprop(learning_rate=lr, rho=hyper["rho"])
            state = ("_velocities",)
        else:
            optimizer = keras.optimizers.Adam(learning_rate=lr, beta_1=hyper["beta1"], beta_2=hyper["beta2"])
            state = ("_momentums", "_velocities")
        ours: tuple[Array, ...] = (params, *(np.zeros_like(params) for _ in state))
        for t in range(1, 7):
            g = rng.normal(size=params.shape)
            optimizer.apply([keras.ops.convert_to_tensor(g, dtype="float64")], [variable])
            if name == "momentum":
                ours = opt.momentum_step(ours[0], g, ours[1], lr, hyper["momentum"])
            elif name == "rmsprop":
                ours = opt.rmsprop_step(ours[0], g, ours[1], lr=lr, rho=hyper["rho"])
            else:
                ours = opt.adam_step(ours[0], g, ours[1], ours[2], t, lr=lr, beta1=hyper["beta1"],
                                     beta2=hyper["beta2"])
            theirs = [np.asarray(variable.numpy())]
            theirs += [np.asarray(getattr(optimizer, s)[0].numpy()) for s in state]
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)

    def test_sgd_without_momentum(self, keras: Any) -> None:
        """Plain SGD agrees too."""
        rng = np.random.default_rng(1)
        params = rng.normal(size=5)
        variable = keras.Variable(params, dtype="float64")
        optimizer = keras.optimizers.SGD(learning_rate=0.25)
        for _ in range(3):
            g = rng.normal(size=5)
            optimizer.apply([keras.ops.convert_to_tensor(g, dtype="float64")], [variable])
            params = opt.sgd_step(params, g, 0.25)
        np.testing.assert_allclose(params, variable.numpy(), rtol=1e-12)

    @pytest.mark.parametrize(("kind", "hyper", "rtol"), [
        ("sgd", {"lr": 0.25}, 1e-12),
        ("momentum", {"lr": 0.125, "momentum": 0.75}, 1e-12),
        ("momentum", {"lr": 0.125}, 1e-6),  # the default momentum, 0.9, rounded to float32 by Keras
        ("rmsprop", {"lr": 0.015625, "rho": 0.75}, 1e-12),
        ("adam", {"lr": 0.03125, "beta1": 0.75, "beta2": 0.984375}, 1e-12),
    ])
    def test_keras_steps(self, keras: Any, kind: str, hyper: dict[str, float], rtol: float) -> None:
        """:func:`nbexpect.optimizers.keras_steps` runs the real optimizer: the references match it."""
        rng = np.random.default_rng(2)
        params = rng.normal(size=(2, 3))
        grads = hidden_like_grads(rng, params.shape, steps=4)
        got = optimizers.keras_steps(kind, params, grads, **hyper)
        references: dict[str, Callable[..., Any]] = {"sgd": opt.sgd_step, "momentum": opt.momentum_step,
                                                     "rmsprop": opt.rmsprop_step, "adam": opt.adam_step}
        reference = references[kind]
        n_state = {"sgd": 0, "adam": 2}.get(kind, 1)
        current: tuple[Array, ...] = (params, *(np.zeros_like(params) for _ in range(n_state)))
        for t, (g, keras_params) in enumerate(zip(grads, got, strict=True), start=1):
            if kind == "sgd":
                current = (reference(current[0], g, hyper["lr"]),)
            elif kind == "momentum":
                current = reference(current[0], g, current[1], hyper["lr"], hyper.get("momentum", 0.9))
            elif kind == "rmsprop":
                current = reference(current[0], g, current[1], lr=hyper["lr"], rho=hyper["rho"])
            else:
                current = reference(current[0], g, current[1], current[2], t, lr=hyper["lr"], beta1=hyper["beta1"],
                                    beta2=hyper["beta2"])
            np.testing.assert_allclose(current[0], keras_params, rtol=rtol, atol=1e-15)
