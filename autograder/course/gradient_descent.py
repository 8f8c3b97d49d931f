"""Hidden checks of assignment ``03.0_gradient_descent`` (see COURSE_SPEC.md, section 03.0).

Inputs are drawn from ``np.random.default_rng(seed)``; probes call the student's functions on
them in the kernel and hand back the returned values and the inputs as they are after each
call.  Verdicts compare with trusted references here.

Tolerances: an element passes when ``|got - expected| <= max(rtol * |expected|, atol)``
(:mod:`autograder.checks.numeric`).  Margins below were measured on the default seed.

- closed formulas (``mse``, ``mse_grad``, the descent loop): rtol 1e-9, atol 1e-12; correct
  operation orders differ by ~1e-15.
- ``softmax`` and ``softmax_cross_entropy_grad``: rtol 1e-5; the max-shifted and log-sum-exp
  forms agree to 5e-13 even for logits of 1e4, a 1e-7 guard in the denominator to 1e-7.
- ``cross_entropy``: rtol 1e-4; true-class probabilities are at least 0.02, so ``np.clip`` or a
  1e-7 guard inside the log moves the loss by < 4e-7 relative.
- ``numerical_gradient``: rtol 1e-6, atol 1e-8; central differences (eps 1e-4 to 1e-6) are
  within 6e-9 of the analytic gradient, forward differences off by 1.5e-4 (150x outside).
- optimizer steps (``sgd_step`` ... ``adam_step``): rtol 1e-4, atol 1e-6; gradients are in
  [0.5, 2] in magnitude, so Keras' and the textbook's epsilon placement differ by < 2e-6
  (60x inside), while a missing bias correction, a wrong sign, swapped betas, a dropped state
  or t counted from 0 are off by > 0.15 (1500x outside).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import numpy as np

from autograder.checks import literal
from autograder.checks.base import Check, Plain, Verdict
from autograder.checks.calls import Case, Source, calls_check
from autograder.checks.numeric import (
    FloatArray,
    as_array,
    as_scalar,
    compare_arrays,
    compare_gradient,
    compare_scalar,
    describe,
    failed,
    fetch,
    fmt,
    fmt_index,
    guarded,
    passed,
)
from autograder.checks.optimizers import (
    SequenceCase,
    StepSpec,
    adam_step,
    momentum_step,
    rmsprop_step,
    sequence_probe,
    sequence_verdict,
    sgd_step,
)

SEED = 20261126

FORMULA_RTOL, FORMULA_ATOL = 1e-9, 1e-12
SOFTMAX_RTOL, SOFTMAX_ATOL = 1e-5, 1e-12
CROSS_ENTROPY_RTOL, CROSS_ENTROPY_ATOL = 1e-4, 1e-12
SCE_GRAD_RTOL, SCE_GRAD_ATOL = 1e-5, 1e-10
NUMGRAD_RTOL, NUMGRAD_ATOL = 1e-6, 1e-8
OPTIMIZER_RTOL, OPTIMIZER_ATOL = 1e-4, 1e-6
OPTIMIZER_STEPS = 5

# Learning-rate exercise: f(x) = 0.5 * x @ A @ x, A = diag(1, 10), from (1, 1), 100 steps.
LR_MATRIX = np.diag([1.0, 10.0])
LR_START = np.array([1.0, 1.0])
LR_STEPS = 100
LR_GOOD_BELOW, LR_TOO_LARGE_ABOVE, LR_TOO_SMALL_ABOVE = 1e-3, 1e3, 0.5


def softmax_reference(z: FloatArray) -> FloatArray:
    """Row-wise softmax, shifted by each row's maximum."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def _mse_checks(rng: np.random.Generator) -> list[Check]:
    mse_cases, grad_cases = [], []
    for shape in [(7,), (4, 3), (2, 5)]:
        t, p = rng.normal(size=shape), rng.normal(size=shape)
        args = (("y_true", t), ("y_pred", p))
        mse = float(np.mean((p - t) ** 2))
        grad = 2.0 * (p - t) / p.size
        mse_cases.append(
            Case(args, partial(compare_scalar, "mse", mse, rtol=FORMULA_RTOL, atol=FORMULA_ATOL))
        )
        grad_cases.append(Case(args, partial(compare_gradient, "mse_grad", "y_pred", grad,
                                              rtol=FORMULA_RTOL, atol=FORMULA_ATOL)))
    return [calls_check("test_mse", "mse", mse_cases),
            calls_check("test_mse_grad", "mse_grad", grad_cases)]


def _softmax_check(rng: np.random.Generator) -> Check:
    logits = [
        3.0 * rng.normal(size=(4, 5)),
        # rows far apart (about +1e4, -1e4, 0): shifting by the global maximum fails
        np.array([[9990.0], [-9990.0], [0.0]]) + rng.uniform(-8.0, 8.0, size=(3, 6)),
        rng.uniform(-1e4, 1e4, size=(2, 4)),
        rng.normal(size=(1, 3)),
    ]
    cases = [
        Case((("z", z),), partial(compare_arrays, "softmax", softmax_reference(z),
                                   rtol=SOFTMAX_RTOL, atol=SOFTMAX_ATOL))
        for z in logits
    ]
    return calls_check("test_softmax", "softmax", cases)


def _cross_entropy_checks(rng: np.random.Generator) -> list[Check]:
    ce_cases = []
    for n, k in [(6, 4), (10, 3), (1, 5)]:
        u = rng.uniform(0.1, 1.0, size=(n, k))  # every probability is at least 0.02
        probs = u / u.sum(axis=1, keepdims=True)
        labels = rng.integers(0, k, size=n).astype(np.int64)
        expected = float(-np.mean(np.log(probs[np.arange(n), labels])))
        judge = partial(compare_scalar, "cross_entropy", expected,
                        rtol=CROSS_ENTROPY_RTOL, atol=CROSS_ENTROPY_ATOL)
        ce_cases.append(Case((("probs", probs), ("labels", labels)), judge))
    grad_cases = []
    for n, k in [(6, 4), (5, 3), (1, 3)]:
        z = 3.0 * rng.normal(size=(n, k))
        labels = rng.integers(0, k, size=n).astype(np.int64)
        grad = softmax_reference(z)
        grad[np.arange(n), labels] -= 1.0
        judge = partial(compare_gradient, "softmax_cross_entropy_grad", "logits", grad / n,
                        rtol=SCE_GRAD_RTOL, atol=SCE_GRAD_ATOL)
        grad_cases.append(Case((("logits", z), ("labels", labels)), judge))
    return [
        calls_check("test_cross_entropy", "cross_entropy", ce_cases),
        calls_check("test_softmax_cross_entropy_grad", "softmax_cross_entropy_grad", grad_cases),
    ]


# Scalar functions for numerical_gradient: probe source and trusted analytic gradient.
_NUMGRAD_FUNCTIONS: list[tuple[str, Callable[[FloatArray], FloatArray]]] = [
    ("float(np.sum(np.sin(x) * x ** 2))", lambda x: np.cos(x) * x**2 + 2.0 * x * np.sin(x)),
    ("float(np.log(1.0 + np.sum(x ** 2)))", lambda x: 2.0 * x / (1.0 + np.sum(x**2))),
    ("float(np.sum(np.exp(0.5 * x) * x))", lambda x: np.exp(0.5 * x) * (1.0 + 0.5 * x)),
]


def _numerical_gradient_check(rng: np.random.Generator) -> Check:
    setup, cases = [], []
    shapes = [(6,), (3, 4), (2, 2, 3)]
    for i, (shape, (source, gradient)) in enumerate(zip(shapes, _NUMGRAD_FUNCTIONS, strict=True)):
        setup.append(f"def _f{i}(x, np=np):\n    return {source}")
        x = 1.5 * rng.normal(size=shape)
        judge = partial(compare_gradient, "numerical_gradient", "x", gradient(x),
                        rtol=NUMGRAD_RTOL, atol=NUMGRAD_ATOL)
        cases.append(Case((("f", Source(f"_f{i}")), ("x", x)), judge))
    return calls_check("test_numerical_gradient", "numerical_gradient", cases, "\n".join(setup))


def descent_reference(
    grad_fn: Callable[[FloatArray], FloatArray], x0: FloatArray, lr: float, steps: int
) -> FloatArray:
    """The trajectory ``x_{k+1} = x_k - lr * grad_fn(x_k)``, shape ``(steps + 1, *x0.shape)``."""
    rows = [np.array(x0, dtype=np.float64)]
    for _ in range(steps):
        rows.append(rows[-1] - lr * grad_fn(rows[-1]))
    return np.stack(rows)


def _trajectory_judge(expected: FloatArray, steps: int) -> Callable[..., Verdict]:
    name, x0 = "gradient_descent", expected[0]

    def judge(got: object, context: str) -> Verdict:
        ctx = f"{context.removesuffix(', ')} and {steps} steps, "
        traj = as_array(name, got, tuple(expected.shape), "the trajectory", ctx)
        if isinstance(traj, Verdict):
            return traj
        if not np.allclose(traj[0], x0, rtol=FORMULA_RTOL, atol=FORMULA_ATOL):
            index = tuple(int(i) for i in np.argwhere(~np.isclose(traj[0], x0))[0])
            return failed(
                f"{name}: {ctx}the first row of the trajectory must be x0: at index "
                f"{fmt_index(index)} expected {fmt(x0[index])} (got {fmt(traj[0][index])})"
            )
        return compare_arrays(name, expected, traj, rtol=FORMULA_RTOL, atol=FORMULA_ATOL,
                              label="trajectory value (row k is x after k steps)", context=ctx)

    return judge


def _gradient_descent_check(rng: np.random.Generator) -> Check:
    m = rng.normal(size=(3, 3))
    a = m @ m.T / 3.0 + 0.5 * np.eye(3)  # symmetric positive definite
    b = rng.normal(size=3)
    c = rng.uniform(0.5, 2.0, size=(2, 3))
    setup = (
        f"def _g0(x, A={literal.array(a)}, b={literal.array(b)}):\n    return A @ x - b\n"
        f"def _g1(x, c={literal.array(c)}, np=np):\n    return c * x + np.sin(x)\n"
        "def _g2(x):\n    return 2.0 * x"
    )
    runs: list[tuple[str, Callable[[FloatArray], FloatArray], FloatArray, float, int]] = [
        ("_g0", lambda x: a @ x - b, rng.normal(size=3), 1.0 / float(np.linalg.eigvalsh(a)[-1]), 20),
        ("_g1", lambda x: c * x + np.sin(x), rng.normal(size=(2, 3)), 0.2, 12),
        ("_g2", lambda x: 2.0 * x, rng.normal(size=4), 0.25, 1),
    ]
    cases = [
        Case(
            (("grad_fn", Source(source)), ("x0", x0), ("lr", lr), ("steps", steps)),
            _trajectory_judge(descent_reference(grad_fn, x0, lr, steps), steps),
        )
        for source, grad_fn, x0, lr, steps in runs
    ]
    return calls_check("test_gradient_descent", "gradient_descent", cases, setup)


_LR_NAMES = ("LR_TOO_SMALL", "LR_GOOD", "LR_TOO_LARGE")


def descent_norm(lr: float) -> float:
    """Norm of x after ``LR_STEPS`` descent steps on the learning-rate quadratic (inf if it blew up)."""
    x = LR_START.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(LR_STEPS):
            x = x - lr * (LR_MATRIX @ x)
            if not np.all(np.isfinite(x)):
                return float("inf")
        norm = float(np.linalg.norm(x))
    return norm if np.isfinite(norm) else float("inf")


def _judge_lr(name: str, got: object) -> str | None:
    """None if the constant behaves as asked, else what is wrong with it."""
    value = as_scalar("learning_rates", got, name)
    if isinstance(value, Verdict):
        return f"{name} must be a finite float (got {describe(got)})"
    norm = descent_norm(value)
    but = f", but the norm after {LR_STEPS} steps is {fmt(norm)}"
    if name == "LR_GOOD" and not norm < LR_GOOD_BELOW:
        return f"LR_GOOD = {fmt(value)} should bring the norm below {fmt(LR_GOOD_BELOW)}{but}"
    if name == "LR_TOO_LARGE" and not norm > LR_TOO_LARGE_ABOVE:
        return (
            f"LR_TOO_LARGE = {fmt(value)} should make descent diverge "
            f"(norm above {fmt(LR_TOO_LARGE_ABOVE)}){but}"
        )
    # "Too small" crawls: it still descends (the norm stays finite and below the start's,
    # sqrt(2)) but has not got far; a rate that diverges is too large, not too small.
    if name == "LR_TOO_SMALL" and not (value > 0 and LR_TOO_SMALL_ABOVE < norm < np.sqrt(2.0)):
        return (
            f"LR_TOO_SMALL = {fmt(value)} should be positive, still descend, and leave the norm "
            f"between {fmt(LR_TOO_SMALL_ABOVE)} and the starting norm {fmt(np.sqrt(2.0))}{but}"
        )
    return None


def _learning_rates_check() -> Check:
    probe = "result = {}\n" + "".join(
        f"try:\n    result[{n!r}] = float(student[{n!r}])\n"
        f"except Exception:\n    result[{n!r}] = '<' + type(student[{n!r}]).__name__ + '>'\n"
        for n in _LR_NAMES
    )

    @guarded("learning_rates")
    def verdict(result: Plain) -> Verdict:
        problems = [p for n in _LR_NAMES if (p := _judge_lr(n, fetch(result, n))) is not None]
        right = len(_LR_NAMES) - len(problems)
        if not problems:
            return passed("learning_rates: all three constants behave as asked")
        return Verdict(
            right / len(_LR_NAMES),
            f"learning_rates: {right} of {len(_LR_NAMES)} constants behave as asked. "
            + "; ".join(problems),
        )

    return Check("test_learning_rates", _LR_NAMES, probe, verdict)


_STEP_SPECS = {
    "sgd_step": StepSpec("sgd_step", ("params",), False, sgd_step),
    "momentum_step": StepSpec("momentum_step", ("params", "velocity"), False, momentum_step, params_only=True),
    "rmsprop_step": StepSpec("rmsprop_step", ("params", "sq_avg"), False, rmsprop_step),
    "adam_step": StepSpec("adam_step", ("params", "m", "v"), True, adam_step),
}

# Per optimizer: (shape, positional extras, keyword extras) of each hidden sequence.
_SEQUENCES: dict[str, list[tuple[tuple[int, ...], tuple[float, ...], dict[str, float]]]] = {
    "sgd_step": [((3, 4), (0.1,), {}), ((5,), (0.05,), {})],
    "momentum_step": [((3, 4), (0.1,), {}), ((5,), (0.05,), {"momentum": 0.5})],
    "rmsprop_step": [((3, 4), (), {"lr": 0.01}), ((5,), (), {"lr": 0.02, "rho": 0.8})],
    "adam_step": [
        ((3, 4), (), {"lr": 0.01}),
        ((5,), (), {"lr": 0.02, "beta1": 0.8, "beta2": 0.99}),
    ],
}


def _hidden_gradient(rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
    """Magnitudes in [0.5, 2] with random signs: far from 0, so epsilon hardly matters."""
    magnitude = rng.uniform(0.5, 2.0, size=shape)
    return np.asarray(magnitude * rng.choice([-1.0, 1.0], size=shape), dtype=np.float64)


def _optimizer_check(rng: np.random.Generator, function: str) -> Check:
    spec = _STEP_SPECS[function]
    cases = [
        SequenceCase(
            rng.normal(size=shape),
            tuple(_hidden_gradient(rng, shape) for _ in range(OPTIMIZER_STEPS)),
            args,
            kwargs,
        )
        for shape, args, kwargs in _SEQUENCES[function]
    ]

    @guarded(function)
    def verdict(result: Plain) -> Verdict:
        return sequence_verdict(spec, cases, result, OPTIMIZER_RTOL, OPTIMIZER_ATOL)

    return Check(f"test_{function}", (function,), sequence_probe(spec, cases), verdict)


def checks(settings: Mapping[str, Any] | None = None, seed: int = SEED) -> list[Check]:
    """One check per graded item of 03.0, hidden inputs drawn from ``default_rng(seed)``
    (03.0 has no settings)."""
    rng = np.random.default_rng(seed)
    return [
        *_mse_checks(rng),
        _softmax_check(rng),
        *_cross_entropy_checks(rng),
        _numerical_gradient_check(rng),
        _gradient_descent_check(rng),
        _learning_rates_check(),
        *(_optimizer_check(rng, f) for f in _STEP_SPECS),
    ]
