"""Hidden checks of 03.0: correct code passes, typical bugs fail with useful messages.

Probes run in-process (``tests/probe_helpers.py``) against reference or buggy ``student``
namespaces; no kernel is involved.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from autograder.checks import numeric, optimizers
from autograder.checks.base import Check, Verdict
from autograder.course import gradient_descent as course
from tests import probe_helpers as fakes
from tests.probe_helpers import grade, run_probe

Array = npt.NDArray[np.float64]

CHECKS = {check.item: check for check in course.checks()}


def verdict(item: str, **overrides: Any) -> Verdict:
    """The verdict on ``item`` for the correct submission with ``overrides`` swapped in."""
    return grade(CHECKS[item], {**fakes.CORRECT, **overrides})


def assert_fails(v: Verdict, *words: str) -> None:
    assert v.fraction == 0.0, v.message
    for word in words:
        assert word in v.message, v.message


# --- every check ------------------------------------------------------------------------------


class TestAllChecks:
    def test_one_check_per_item(self) -> None:
        """The items are those of the course spec, in order, each naming its student names."""
        assert list(CHECKS) == [
            "test_mse", "test_mse_grad", "test_softmax", "test_cross_entropy",
            "test_softmax_cross_entropy_grad", "test_numerical_gradient", "test_gradient_descent",
            "test_learning_rates", "test_sgd_step", "test_momentum_step", "test_rmsprop_step",
            "test_adam_step",
        ]
        for item, check in CHECKS.items():
            assert isinstance(check, Check) and "result = {}" in check.probe
            assert check.names and set(check.names) <= set(fakes.CORRECT), item

    @pytest.mark.parametrize("item", list(CHECKS))
    def test_correct_submission_passes(self, item: str) -> None:
        """A correct implementation earns full marks."""
        v = verdict(item)
        assert v.passed and v.fraction == 1.0, v.message

    @pytest.mark.parametrize("item", list(CHECKS))
    def test_probe_runs_as_function_body(self, item: str) -> None:
        """Probes work whether the runner execs them or wraps them in a function."""
        check = CHECKS[item]
        assert check.verdict(run_probe(check, fakes.CORRECT, as_function=True)).passed

    def test_same_seed_same_probes(self) -> None:
        """Hidden inputs are a pure function of the seed."""
        again = course.checks()
        other = course.checks(seed=1)
        assert [c.probe for c in again] == [c.probe for c in CHECKS.values()]
        assert again[0].probe != other[0].probe

    @pytest.mark.parametrize("item", list(CHECKS))
    def test_verdicts_never_raise_on_junk(self, item: str) -> None:
        """Missing keys, strings, lists, NaN and wrong shapes fail cleanly, never raise."""
        check = CHECKS[item]
        good = run_probe(check, fakes.CORRECT)
        junk: list[object] = ["<list>", "text", [1.0, 2.0], float("nan"), np.full(3, np.nan),
                              np.zeros((2, 2)), True, 7, None]
        assert check.verdict({}).fraction == 0.0
        for value in junk:
            for key in good:
                v = check.verdict({**good, key: value})
                assert isinstance(v, Verdict) and 0.0 <= v.fraction <= 1.0
            v = check.verdict(dict.fromkeys(good, value))
            assert v.fraction < 1.0, (value, v.message)


# --- loss functions ---------------------------------------------------------------------------


class TestLosses:
    def test_mse_sum_instead_of_mean(self) -> None:
        """A sum where a mean belongs fails, showing expected vs got."""
        v = verdict("test_mse", mse=lambda t, p: float(np.sum((p - t) ** 2)))
        assert_fails(v, "mse: ", "expected", "(got")

    def test_mse_array_result(self) -> None:
        """A per-axis mean returns an array, not a float."""
        assert_fails(verdict("test_mse", mse=lambda t, p: np.mean((p - t) ** 2, axis=0)),
                     "mse: ", "expected the result to be a float (got ndarray")

    def test_mse_grad_missing_factor_two(self) -> None:
        """A missing factor 2 is reported by parameter, index and relative error."""
        v = verdict("test_mse_grad", mse_grad=lambda t, p: (p - t) / p.size)
        assert_fails(v, "mse_grad: ", "gradient with respect to y_pred at y_pred[",
                     "largest relative error")

    def test_mse_grad_list(self) -> None:
        """A list is not an ndarray."""
        v = verdict("test_mse_grad", mse_grad=lambda t, p: list(fakes.mse_grad(t, p)))
        assert_fails(v, "mse_grad: ", "expected the gradient with respect to y_pred to be a numpy array",
                     "(got list)")

    def test_mse_grad_modifies_input(self) -> None:
        """Subtracting in place from y_pred changes the caller's array."""
        def in_place(t: Array, p: Array) -> Array:
            p -= t
            p *= 2.0 / p.size
            return p.copy()
        assert_fails(verdict("test_mse_grad", mse_grad=in_place), "must not modify its input y_pred")

    def test_softmax_without_shift_overflows(self) -> None:
        """Without subtracting the max, logits of 1e4 overflow to non-finite values."""
        def naive(z: Array) -> Array:
            with np.errstate(all="ignore"):
                return np.asarray(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True), dtype=np.float64)
        assert_fails(verdict("test_softmax", softmax=naive), "softmax: ", "finite values")

    def test_softmax_global_shift(self) -> None:
        """Shifting by the global max underflows rows far below it."""
        def global_shift(z: Array) -> Array:
            with np.errstate(all="ignore"):
                e = np.exp(z - z.max())
                return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)
        assert_fails(verdict("test_softmax", softmax=global_shift), "softmax: ")

    def test_softmax_columnwise(self) -> None:
        """Normalising over axis 0 is wrong."""
        def columns(z: Array) -> Array:
            e = np.exp(z - z.max(axis=0, keepdims=True))
            return np.asarray(e / e.sum(axis=0, keepdims=True), dtype=np.float64)
        assert_fails(verdict("test_softmax", softmax=columns), "softmax: ")

    def test_softmax_log_sum_exp_form_passes(self) -> None:
        """exp(z - logsumexp(z)) is an equally good answer."""
        def lse(z: Array) -> Array:
            m = z.max(axis=1, keepdims=True)
            log_sum = m + np.log(np.exp(z - m).sum(axis=1, keepdims=True))
            return np.asarray(np.exp(z - log_sum), dtype=np.float64)
        assert verdict("test_softmax", softmax=lse).passed

    def test_cross_entropy_guard_epsilon_passes(self) -> None:
        """A 1e-7 guard inside the log is accepted."""
        def guarded(p: Array, y: Array) -> float:
            return float(-np.mean(np.log(p[np.arange(len(y)), y] + 1e-7)))
        assert verdict("test_cross_entropy", cross_entropy=guarded).passed

    @pytest.mark.parametrize("bug", [
        lambda p, y: float(-np.sum(np.log(p[np.arange(len(y)), y]))),
        lambda p, y: float(-np.mean(np.log10(p[np.arange(len(y)), y]))),
        lambda p, y: float(-np.mean(np.eye(p.shape[1])[y] * np.log(p))),
    ])
    def test_cross_entropy_bugs(self, bug: Callable[[Array, Array], float]) -> None:
        """Sum instead of mean, log10, mean over all entries: all fail."""
        assert_fails(verdict("test_cross_entropy", cross_entropy=bug), "cross_entropy: ")

    def test_sce_grad_missing_mean(self) -> None:
        """Forgetting to divide by the number of rows fails, naming the logits."""
        v = verdict("test_softmax_cross_entropy_grad",
                    softmax_cross_entropy_grad=lambda z, y: fakes.softmax_cross_entropy_grad(z, y) * len(y))
        assert_fails(v, "softmax_cross_entropy_grad: ", "with respect to logits at logits[")


# --- gradients and descent --------------------------------------------------------------------


class TestNumericalGradient:
    def test_forward_difference_fails(self) -> None:
        """One-sided differences are not accurate enough (error ~eps * f'')."""
        def forward(f: Callable[[Array], float], x: Array, eps: float = 1e-5) -> Array:
            g = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                s = np.zeros_like(x)
                s[i] = eps
                g[i] = (f(x + s) - f(x)) / eps
            return g
        assert_fails(verdict("test_numerical_gradient", numerical_gradient=forward),
                     "numerical_gradient: ", "with respect to x", "largest relative error")

    def test_other_small_eps_passes(self) -> None:
        """Central differences with another sensible default eps are accepted."""
        def central(f: Callable[[Array], float], x: Array, eps: float = 1e-6) -> Array:
            return fakes.numerical_gradient(f, x, eps)
        assert verdict("test_numerical_gradient", numerical_gradient=central).passed

    def test_not_restoring_x(self) -> None:
        """Perturbing x in place without restoring it is reported."""
        def sloppy(f: Callable[[Array], float], x: Array, eps: float = 1e-5) -> Array:
            g = np.zeros_like(x)
            for i in np.ndindex(x.shape):
                x[i] += eps
                up = f(x)
                x[i] -= 2 * eps
                g[i] = (up - f(x)) / (2 * eps)
            return g
        assert_fails(verdict("test_numerical_gradient", numerical_gradient=sloppy),
                     "must not modify its input x")

    def test_flattened_result(self) -> None:
        """The gradient must keep x's shape."""
        v = verdict("test_numerical_gradient",
                    numerical_gradient=lambda f, x, eps=1e-5: fakes.numerical_gradient(f, x, eps).ravel())
        assert_fails(v, "numerical_gradient: ", "of shape (3, 4) (got shape (12,))")


class TestGradientDescent:
    def test_missing_first_row(self) -> None:
        """Returning only the steps (no x0 row) has the wrong shape."""
        v = verdict("test_gradient_descent",
                    gradient_descent=lambda g, x0, lr, n: fakes.gradient_descent(g, x0, lr, n)[1:])
        assert_fails(v, "gradient_descent: ", "of shape")

    def test_aliasing_rows(self) -> None:
        """Appending one array updated in place makes every row the last x."""
        def aliased(g: Callable[[Array], Array], x0: Array, lr: float, n: int) -> Array:
            x = x0.copy()
            rows = [x]
            for _ in range(n):
                x -= lr * g(x)
                rows.append(x)
            return np.array(rows)
        assert_fails(verdict("test_gradient_descent", gradient_descent=aliased),
                     "the first row of the trajectory must be x0")

    def test_modifies_x0(self) -> None:
        """Updating x0 itself is reported even when the trajectory is right."""
        def in_place(g: Callable[[Array], Array], x0: Array, lr: float, n: int) -> Array:
            rows = [x0.copy()]
            for _ in range(n):
                x0 -= lr * g(x0)
                rows.append(x0.copy())
            return np.array(rows)
        assert_fails(verdict("test_gradient_descent", gradient_descent=in_place),
                     "must not modify its input x0")

    def test_ascent(self) -> None:
        """Walking uphill fails with the step row in the index."""
        v = verdict("test_gradient_descent",
                    gradient_descent=lambda g, x0, lr, n: fakes.gradient_descent(g, x0, -lr, n))
        assert_fails(v, "gradient_descent: ", "row k is x after k steps")


class TestLearningRates:
    def test_partial_credit(self) -> None:
        """Each constant is worth a third; the message names the wrong one and its norm."""
        v = verdict("test_learning_rates", LR_GOOD=0.01)
        assert v.fraction == pytest.approx(2 / 3)
        assert "LR_GOOD = 0.01" in v.message and "norm after 100 steps is" in v.message
        assert "LR_TOO_SMALL" not in v.message

    def test_diverging_rate_is_not_too_small(self) -> None:
        """Three identical diverging rates earn only LR_TOO_LARGE's third: 'too small' must still descend."""
        v = verdict("test_learning_rates", LR_TOO_SMALL=1.0, LR_GOOD=1.0, LR_TOO_LARGE=1.0)
        assert v.fraction == pytest.approx(1 / 3)
        assert "LR_TOO_SMALL = 1" in v.message

    def test_all_wrong(self) -> None:
        """A negative, a string and a stable rate earn nothing and are all named."""
        v = verdict("test_learning_rates", LR_TOO_SMALL=-0.01, LR_GOOD="fast", LR_TOO_LARGE=1e-4)
        assert v.fraction == 0.0
        for name in ("LR_TOO_SMALL", "LR_GOOD must be a finite float (got str)", "LR_TOO_LARGE"):
            assert name in v.message, v.message

    @pytest.mark.parametrize(("name", "value"), [
        ("LR_TOO_SMALL", 0.0), ("LR_TOO_SMALL", -1e-4), ("LR_TOO_LARGE", float("nan")),
        ("LR_GOOD", float("inf")), ("LR_GOOD", 0.25),
    ])
    def test_misbehaving_values(self, name: str, value: float) -> None:
        """Zero, negative, NaN, infinite and unstable values lose that constant's third."""
        v = verdict("test_learning_rates", **{name: value})
        assert v.fraction == pytest.approx(2 / 3) and name in v.message

    def test_huge_rate_counts_as_diverging(self) -> None:
        """Overflow to inf is divergence, not a crash."""
        assert verdict("test_learning_rates", LR_TOO_LARGE=1e300).passed


# --- optimizers -------------------------------------------------------------------------------


class TestOptimizerChecks:
    @pytest.mark.parametrize(("item", "function"), [
        ("test_rmsprop_step", optimizers.rmsprop_textbook),
        ("test_adam_step", optimizers.adam_textbook),
    ])
    def test_textbook_form_passes(self, item: str, function: Callable[..., Any]) -> None:
        """Epsilon outside the square root (the textbook form) passes like Keras' form."""
        assert verdict(item, **{item.removeprefix("test_"): function}).passed

    def test_sgd_wrong_sign(self) -> None:
        """Ascending fails at step 1, naming params."""
        v = verdict("test_sgd_step", sgd_step=lambda p, g, lr: p + lr * g)
        assert_fails(v, "sgd_step: ", "wrong params after step 1 of 5")

    def test_sgd_in_place(self) -> None:
        """Updating params in place is reported."""
        def in_place(p: Array, g: Array, lr: float) -> Array:
            p -= lr * g
            return p.copy()
        assert_fails(verdict("test_sgd_step", sgd_step=in_place), "must not modify its input params")

    @pytest.mark.parametrize(("bug", "words"), [
        (fakes.momentum_without_state, ("wrong params after step 2",)),
        (fakes.momentum_ignoring_argument, ("params", "params of shape (5,)")),
        (lambda p, g, v, lr, momentum=0.9: p - lr * g, ("expected a tuple (params, velocity)",)),
    ])
    def test_momentum_bugs(self, bug: Callable[..., Any], words: tuple[str, ...]) -> None:
        """Dropped state, an ignored argument, a bare return."""
        assert_fails(verdict("test_momentum_step", momentum_step=bug), "momentum_step: ", *words)

    def test_momentum_textbook_velocity_passes(self) -> None:
        """The textbook convention v = mu*v + g, p -= lr*v gives the same params and passes."""
        assert verdict("test_momentum_step", momentum_step=fakes.momentum_other_velocity).passed

    @pytest.mark.parametrize(("bug", "words"), [
        (fakes.rmsprop_without_sqrt, ("wrong params after step 1",)),
        (fakes.rmsprop_without_state, ("wrong sq_avg after step 2",)),
    ])
    def test_rmsprop_bugs(self, bug: Callable[..., Any], words: tuple[str, ...]) -> None:
        """A missing square root or dropped state fails at the right step."""
        assert_fails(verdict("test_rmsprop_step", rmsprop_step=bug), "rmsprop_step: ", *words)

    @pytest.mark.parametrize(("bug", "words"), [
        (fakes.adam_without_bias_correction, ("wrong params after step 1",)),
        (fakes.adam_swapped_betas, ("wrong m after step 1",)),
        (fakes.adam_wrong_sign, ("wrong params after step 1",)),
        (fakes.adam_without_state, ("wrong m after step 2",)),
        (fakes.adam_t_from_zero, ("after step 2",)),
    ])
    def test_adam_bugs(self, bug: Callable[..., Any], words: tuple[str, ...]) -> None:
        """Bias correction, betas, sign, carried state and t all matter."""
        assert_fails(verdict("test_adam_step", adam_step=bug), "adam_step: ", *words)

    @pytest.mark.parametrize(("item", "keras_form", "textbook"), [
        ("test_rmsprop_step", optimizers.rmsprop_step, optimizers.rmsprop_textbook),
        ("test_adam_step", optimizers.adam_step, optimizers.adam_textbook),
    ])
    def test_epsilon_placement_far_inside_tolerance(
        self, item: str, keras_form: Callable[..., Any], textbook: Callable[..., Any]
    ) -> None:
        """On the hidden sequences the two forms differ by under a tenth of the tolerance."""
        result = run_probe(CHECKS[item], {item.removeprefix("test_"): textbook})
        worst = 0.0
        for key, got in result.items():
            if ".in." in key or not isinstance(got, np.ndarray):
                continue
            expected = run_probe(CHECKS[item], {item.removeprefix("test_"): keras_form})[key]
            assert isinstance(expected, np.ndarray)
            rel = numeric.relative_errors(expected, got, course.OPTIMIZER_RTOL, course.OPTIMIZER_ATOL)
            worst = max(worst, float(rel.max()))
        assert worst < course.OPTIMIZER_RTOL / 10


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
            opt = keras.optimizers.SGD(learning_rate=lr, momentum=hyper["momentum"])
            state = ("momentums",)
        elif name == "rmsprop":
            opt = keras.optimizers.RMSprop(learning_rate=lr, rho=hyper["rho"])
            state = ("_velocities",)
        else:
            opt = keras.optimizers.Adam(learning_rate=lr, beta_1=hyper["beta1"], beta_2=hyper["beta2"])
            state = ("_momentums", "_velocities")
        ours: tuple[Array, ...] = (params, *(np.zeros_like(params) for _ in state))
        for t in range(1, 7):
            g = rng.normal(size=params.shape)
            opt.apply([keras.ops.convert_to_tensor(g, dtype="float64")], [variable])
            if name == "momentum":
                ours = optimizers.momentum_step(ours[0], g, ours[1], lr, hyper["momentum"])
            elif name == "rmsprop":
                ours = optimizers.rmsprop_step(ours[0], g, ours[1], lr=lr, rho=hyper["rho"])
            else:
                ours = optimizers.adam_step(
                    ours[0], g, ours[1], ours[2], t, lr=lr, beta1=hyper["beta1"], beta2=hyper["beta2"]
                )
            theirs = [np.asarray(variable.numpy())]
            theirs += [np.asarray(getattr(opt, s)[0].numpy()) for s in state]
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-15)

    def test_sgd_without_momentum(self, keras: Any) -> None:
        """Plain SGD agrees too."""
        rng = np.random.default_rng(1)
        params = rng.normal(size=5)
        variable = keras.Variable(params, dtype="float64")
        opt = keras.optimizers.SGD(learning_rate=0.25)
        for _ in range(3):
            g = rng.normal(size=5)
            opt.apply([keras.ops.convert_to_tensor(g, dtype="float64")], [variable])
            params = optimizers.sgd_step(params, g, 0.25)
        np.testing.assert_allclose(params, variable.numpy(), rtol=1e-12)


# --- numeric helpers --------------------------------------------------------------------------


class TestNumericHelpers:
    def test_compare_arrays_message(self) -> None:
        """The message names the function, index, expected, got and relative error."""
        expected = np.zeros((3, 2))
        expected[2, 1] = 0.1234
        got = expected.copy()
        got[2, 1] = 0.0617
        v = numeric.compare_arrays("mse_grad", expected, got, rtol=1e-9, atol=1e-12)
        assert v.message == (
            "mse_grad: wrong value at index (2, 1): expected 0.1234 (got 0.0617); "
            "largest relative error 0.5"
        )

    @pytest.mark.parametrize(("got", "words"), [
        ([1.0, 2.0], "(got list of length 2)"),
        ("<tuple>", "(got tuple)"),
        (np.zeros(3), "of shape (2,) (got shape (3,))"),
        (np.array([1.0, np.inf]), "finite values (got inf at index 1)"),
    ])
    def test_strict_validation(self, got: object, words: str) -> None:
        """Non-arrays, wrong shapes and non-finite values fail before any comparison."""
        v = numeric.compare_arrays("f", np.zeros(2), got, rtol=1e-6, atol=1e-9)
        assert_fails(v, "f: expected", words)

    def test_scalar_accepts_zero_d_array_rejects_bool(self) -> None:
        """A 0-d array counts as a float; a bool does not."""
        assert numeric.compare_scalar("mse", 1.0, np.array(1.0), rtol=1e-9, atol=0).passed
        assert_fails(numeric.compare_scalar("mse", 1.0, True, rtol=1e-9, atol=0), "float")

    def test_check_unchanged_names_entry(self) -> None:
        """A modified input is reported at its first changed entry."""
        before = np.arange(4.0).reshape(2, 2)
        after = before.copy()
        after[1, 0] = 9.0
        v = numeric.check_unchanged("f", "x", before, after)
        assert_fails(v, "f: must not modify its input x (x[1, 0] changed from 2 to 9)")

    def test_guarded_turns_errors_into_failures(self) -> None:
        """A verdict that raises becomes a failed verdict naming the function."""
        @numeric.guarded("f")
        def broken(result: Any) -> Verdict:
            raise ValueError("boom")
        assert_fails(broken({}), "f: ")

