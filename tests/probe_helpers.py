"""Running a check's probe in-process, without a kernel, and the fake submissions fed to it.

``run_probe`` executes the probe the strict way (``exec`` with separate globals and locals,
where nested functions cannot see the probe's locals) or, with ``as_function=True``, as the
body of a function; probes must work both ways.  The result is then passed through
``to_plain``, a stand-in for the kernel boundary's decoder: it accepts only plain data and
hands back copies, so verdicts see what they would see in production.

``CORRECT`` is a complete correct submission of 03.0 (the optimizer steps are the references
of :mod:`autograder.checks.optimizers`); the other functions are typical wrong optimizer steps.
"""

from __future__ import annotations

import base64
import builtins
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.checks import optimizers
from autograder.checks.base import Check, Verdict

Array = npt.NDArray[np.float64]


def arr(b64: str, dtype: str, shape: tuple[int, ...]) -> np.ndarray[Any, Any]:
    """The probe-side decoder of :func:`autograder.checks.literal.array`."""
    return np.frombuffer(base64.b64decode(b64), dtype=dtype).reshape(shape).copy()


def _plain_value(value: object) -> object:
    if isinstance(value, np.ndarray):
        assert value.dtype.kind in "iuf", f"non-numeric array dtype {value.dtype}"
        return np.array(value)
    if isinstance(value, list):
        return [_plain_value(v) for v in value]
    assert type(value) in (bool, int, float, str), f"not plain data: {type(value).__name__}"
    return value


def to_plain(result: object) -> dict[str, object]:
    """Check that ``result`` is a dict of plain data (as the decoder would) and copy it."""
    assert isinstance(result, dict), f"result is {type(result).__name__}, not dict"
    out: dict[str, object] = {}
    for key, value in result.items():
        assert isinstance(key, str)
        out[key] = _plain_value(value)
    return out


def run_probe(check: Check, student: Mapping[str, Any], *, as_function: bool = False) -> dict[str, object]:
    """Execute ``check.probe`` against ``student`` (a user namespace) and return its result."""
    scope: dict[str, Any] = {"student": dict(student), "np": np, "arr": arr}
    if as_function:
        source = "def _probe(student, np, arr):\n" + textwrap.indent(check.probe, "    ")
        source += "\n    return result\n"
        namespace: dict[str, Any] = {"__builtins__": builtins}
        exec(source, namespace)
        return to_plain(namespace["_probe"](scope["student"], np, arr))
    exec(check.probe, {"__builtins__": builtins}, scope)
    return to_plain(scope["result"])


def grade(check: Check, student: Mapping[str, Any]) -> Verdict:
    """The verdict on ``student`` for ``check``, as the grader would compute it."""
    return check.verdict(run_probe(check, student))


# --- a correct submission ---------------------------------------------------------------------


def mse(y_true: Array, y_pred: Array) -> float:
    return float(np.mean((y_pred - y_true) ** 2))


def mse_grad(y_true: Array, y_pred: Array) -> Array:
    return 2.0 * (y_pred - y_true) / y_pred.size


def softmax(z: Array) -> Array:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


def cross_entropy(probs: Array, labels: Array) -> float:
    return float(-np.mean(np.log(probs[np.arange(len(labels)), labels])))


def softmax_cross_entropy_grad(logits: Array, labels: Array) -> Array:
    g = softmax(logits)
    g[np.arange(len(labels)), labels] -= 1.0
    return g / len(labels)


def numerical_gradient(f: Callable[[Array], float], x: Array, eps: float = 1e-5) -> Array:
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[index] = eps
        grad[index] = (f(x + step) - f(x - step)) / (2 * eps)
    return grad


def gradient_descent(grad_fn: Callable[[Array], Array], x0: Array, lr: float, steps: int) -> Array:
    trajectory = [x0.copy()]
    for _ in range(steps):
        trajectory.append(trajectory[-1] - lr * grad_fn(trajectory[-1]))
    return np.array(trajectory)


CORRECT: dict[str, Any] = {
    "mse": mse,
    "mse_grad": mse_grad,
    "softmax": softmax,
    "cross_entropy": cross_entropy,
    "softmax_cross_entropy_grad": softmax_cross_entropy_grad,
    "numerical_gradient": numerical_gradient,
    "gradient_descent": gradient_descent,
    "LR_TOO_SMALL": 1e-4,
    "LR_GOOD": 0.1,
    "LR_TOO_LARGE": 0.3,
    "sgd_step": optimizers.sgd_step,
    "momentum_step": optimizers.momentum_step,
    "rmsprop_step": optimizers.rmsprop_step,
    "adam_step": optimizers.adam_step,
}


# --- typical wrong optimizer steps ------------------------------------------------------------


def momentum_without_state(p: Array, g: Array, v: Array, lr: float, momentum: float = 0.9) -> Any:
    return optimizers.momentum_step(p, g, np.zeros_like(v), lr, momentum)


def momentum_other_velocity(p: Array, g: Array, v: Array, lr: float, momentum: float = 0.9) -> Any:
    v = momentum * v + g
    return p - lr * v, v


def momentum_ignoring_argument(p: Array, g: Array, v: Array, lr: float, momentum: float = 0.9) -> Any:
    return optimizers.momentum_step(p, g, v, lr, 0.9)


def adam_without_bias_correction(p: Array, g: Array, m: Array, v: Array, t: int, lr: float = 0.001,
                             beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> Any:
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    return p - lr * m / (np.sqrt(v) + eps), m, v


def adam_swapped_betas(p: Array, g: Array, m: Array, v: Array, t: int, lr: float = 0.001,
                  beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> Any:
    return optimizers.adam_textbook(p, g, m, v, t, lr, beta2, beta1, eps)


def adam_wrong_sign(p: Array, g: Array, m: Array, v: Array, t: int, lr: float = 0.001,
                     beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> Any:
    new, m, v = optimizers.adam_textbook(p, g, m, v, t, lr, beta1, beta2, eps)
    return 2 * p - new, m, v


def adam_without_state(p: Array, g: Array, m: Array, v: Array, t: int, lr: float = 0.001,
                   beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> Any:
    return optimizers.adam_step(p, g, np.zeros_like(m), np.zeros_like(v), t, lr, beta1, beta2, eps)


def adam_t_from_zero(p: Array, g: Array, m: Array, v: Array, t: int, lr: float = 0.001,
                      beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-7) -> Any:
    return optimizers.adam_textbook(p, g, m, v, t - 1 if t > 1 else t, lr, beta1, beta2, eps)


def rmsprop_without_sqrt(p: Array, g: Array, s: Array, lr: float = 0.001, rho: float = 0.9,
                     eps: float = 1e-7) -> Any:
    s = rho * s + (1 - rho) * g**2
    return p - lr * g / (s + eps), s


def rmsprop_without_state(p: Array, g: Array, s: Array, lr: float = 0.001, rho: float = 0.9,
                      eps: float = 1e-7) -> Any:
    return optimizers.rmsprop_step(p, g, np.zeros_like(s), lr, rho, eps)
