"""Optimizer steps: numpy references and the check of a sequence of steps.

The ``*_step`` references follow the course contract's signatures and Keras 3's update rules
operation for operation (``keras/src/optimizers/sgd.py``, ``rmsprop.py``, ``adam.py``), so
they agree with ``keras.optimizers`` to rounding.  The ``*_textbook`` variants put epsilon
where most textbooks do; they differ from Keras only by epsilon's placement:

- RMSprop: Keras divides by ``sqrt(sq_avg + eps)``, the textbook by ``sqrt(sq_avg) + eps``.
- Adam: Keras folds the bias corrections into the step size,
  ``lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)``; the textbook divides
  ``m_hat = m / (1 - beta1**t)`` by ``sqrt(v_hat) + eps`` with ``v_hat = v / (1 - beta2**t)``.

A *sequence check* calls the student's step ``len(grads)`` times on hidden gradients, feeding
back the params and state it returned, and compares every step with the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.checks import literal
from autograder.checks.base import Plain, Verdict
from autograder.checks.numeric import (
    PLAIN_SOURCE,
    FloatArray,
    as_array,
    check_unchanged,
    compare_arrays,
    describe,
    failed,
    fetch,
    passed,
)

ArrayLike = npt.ArrayLike


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def sgd_step(params: ArrayLike, grads: ArrayLike, lr: float) -> FloatArray:
    """Plain gradient descent: ``params - lr * grads`` (Keras ``SGD(momentum=0)``)."""
    return _f(params) - _f(grads) * lr


def momentum_step(
    params: ArrayLike, grads: ArrayLike, velocity: ArrayLike, lr: float, momentum: float = 0.9
) -> tuple[FloatArray, FloatArray]:
    """Keras ``SGD(momentum=...)``: ``v = momentum * v - lr * g``; ``params + v``."""
    v = _f(velocity) * momentum - _f(grads) * lr
    return _f(params) + v, v


def rmsprop_step(
    params: ArrayLike,
    grads: ArrayLike,
    sq_avg: ArrayLike,
    lr: float = 0.001,
    rho: float = 0.9,
    eps: float = 1e-7,
) -> tuple[FloatArray, FloatArray]:
    """Keras ``RMSprop``: ``s = rho s + (1 - rho) g**2``; ``params - lr g / sqrt(s + eps)``."""
    g = _f(grads)
    s = rho * _f(sq_avg) + (1 - rho) * np.square(g)
    return _f(params) - (lr * g) / np.sqrt(s + eps), s


def rmsprop_textbook(
    params: ArrayLike,
    grads: ArrayLike,
    sq_avg: ArrayLike,
    lr: float = 0.001,
    rho: float = 0.9,
    eps: float = 1e-7,
) -> tuple[FloatArray, FloatArray]:
    """Textbook RMSprop: as :func:`rmsprop_step` but dividing by ``sqrt(s) + eps``."""
    g = _f(grads)
    s = rho * _f(sq_avg) + (1 - rho) * g**2
    return _f(params) - lr * g / (np.sqrt(s) + eps), s


def adam_step(
    params: ArrayLike,
    grads: ArrayLike,
    m: ArrayLike,
    v: ArrayLike,
    t: int,
    lr: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-7,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Keras ``Adam`` (``t`` counts from 1), bias corrections folded into the step size."""
    g = _f(grads)
    alpha = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
    m_new = _f(m) + (g - _f(m)) * (1 - beta1)
    v_new = _f(v) + (np.square(g) - _f(v)) * (1 - beta2)
    return _f(params) - (m_new * alpha) / (np.sqrt(v_new) + eps), m_new, v_new


def adam_textbook(
    params: ArrayLike,
    grads: ArrayLike,
    m: ArrayLike,
    v: ArrayLike,
    t: int,
    lr: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-7,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Textbook Adam (Kingma & Ba): bias-corrected ``m_hat / (sqrt(v_hat) + eps)``."""
    g = _f(grads)
    m_new = beta1 * _f(m) + (1 - beta1) * g
    v_new = beta2 * _f(v) + (1 - beta2) * g**2
    m_hat = m_new / (1 - beta1**t)
    v_hat = v_new / (1 - beta2**t)
    return _f(params) - lr * m_hat / (np.sqrt(v_hat) + eps), m_new, v_new


@dataclass(frozen=True)
class StepSpec:
    """How a step function is called: ``f(params, grads, *state, [t,] *args, **kwargs)``.

    ``returns`` names what it returns, params first; the state inputs carry the same names.
    A function without state returns params alone rather than a 1-tuple.
    """

    function: str
    returns: tuple[str, ...]
    takes_t: bool
    reference: Callable[..., Any]
    # Compare only params, not the returned state: the state is a convention of the form
    # used (textbook momentum keeps v = mu*v + g, Keras keeps v = mu*v - lr*g); both are
    # fed back unchanged, so a wrong or dropped state still shows in later params.
    params_only: bool = False

    @property
    def state(self) -> tuple[str, ...]:
        return self.returns[1:]


@dataclass(frozen=True)
class SequenceCase:
    """One hidden sequence: start values, one gradient per step, extra arguments."""

    params: FloatArray
    grads: tuple[FloatArray, ...]
    args: tuple[float, ...] = ()
    kwargs: Mapping[str, float] = field(default_factory=dict)

    def start(self, spec: StepSpec) -> tuple[FloatArray, ...]:
        """Params and zero state, as Keras starts."""
        zeros = tuple(np.zeros_like(self.params) for _ in spec.state)
        return (self.params, *zeros)


def _as_tuple(out: Any, n: int) -> tuple[Any, ...]:
    return (out,) if n == 1 else tuple(out)


def reference_trajectory(spec: StepSpec, case: SequenceCase) -> list[tuple[FloatArray, ...]]:
    """The reference's ``(params, *state)`` after each step, threading state as the probe does."""
    current = case.start(spec)
    steps: list[tuple[FloatArray, ...]] = []
    for k, g in enumerate(case.grads, start=1):
        t = (k,) if spec.takes_t else ()
        out = spec.reference(current[0], g, *current[1:], *t, *case.args, **dict(case.kwargs))
        current = tuple(_f(x) for x in _as_tuple(out, len(spec.returns)))
        steps.append(current)
    return steps


def sequence_probe(spec: StepSpec, cases: Sequence[SequenceCase]) -> str:
    """Probe source: run every case, recording outputs and the inputs after each call.

    Keys: ``c{case}.s{step}.{name}`` for each returned value, ``c{case}.s{step}.in.{name}``
    for each input as it is after the call, ``c{case}.s{step}.returned`` (a marker) when the
    return value does not have the expected form; that case then stops.
    """
    literals = []
    for case in cases:
        grads = "[" + ", ".join(literal.array(g) for g in case.grads) + "]"
        literals.append(
            f"({literal.array(case.params)}, {grads}, {tuple(case.args)!r}, "
            f"{dict(case.kwargs)!r})"
        )
    n_state = len(spec.state)
    inputs = ("params", "grads", *spec.state)
    return f"""{PLAIN_SOURCE}
result = {{}}
fn = student[{spec.function!r}]
cases = [{", ".join(literals)}]
for c in range(len(cases)):
    p, grads, args, kwargs = cases[c]
    state = []
    for i in range({n_state}):
        state.append(np.zeros_like(p))
    for k in range(1, len(grads) + 1):
        g = grads[k - 1]
        call = [p, g] + state
        if {spec.takes_t!r}:
            call.append(k)
        out = fn(*(call + list(args)), **kwargs)
        key = 'c%d.s%d.' % (c, k)
        for name, value in zip({inputs!r}, [p, g] + state):
            result[key + 'in.' + name] = _plain(value)
        if {n_state} == 0:
            out = (out,)
        elif not (isinstance(out, (tuple, list)) and len(out) == {n_state + 1}):
            kind = type(out).__name__
            if isinstance(out, (tuple, list)):
                kind = kind + ' of length %d' % len(out)
            result[key + 'returned'] = '<' + kind + '>'
            break
        for name, value in zip({spec.returns!r}, out):
            result[key + name] = _plain(value)
        p = out[0]
        state = list(out[1:])
"""


def _expected_form(spec: StepSpec) -> str:
    if len(spec.returns) == 1:
        return "the new params"
    return "a tuple (" + ", ".join(spec.returns) + ")"


def _case_verdicts(
    spec: StepSpec, c: int, case: SequenceCase, result: Plain, rtol: float, atol: float
) -> Verdict:
    name = spec.function
    inputs = ("params", "grads", *spec.state)
    before: tuple[FloatArray, ...] = case.start(spec)
    for k, expected in enumerate(reference_trajectory(spec, case), start=1):
        key = f"c{c}.s{k}."
        context = f"for params of shape {case.params.shape}, "
        step = f"step {k} of {len(case.grads)}"
        returned = fetch(result, key + "returned", None)
        if returned is not None:
            return failed(
                f"{name}: {context}expected {_expected_form(spec)} (got {describe(returned)}) "
                f"at {step}"
            )
        # State first: a wrong state explains a wrong params better than the reverse.
        order = [0] if spec.params_only else [*range(1, len(spec.returns)), 0]
        for i in order:
            quantity = spec.returns[i]
            verdict = compare_arrays(
                name,
                expected[i],
                fetch(result, key + quantity),
                rtol=rtol,
                atol=atol,
                label=f"{quantity} after {step}",
                context=context,
            )
            if not verdict.passed:
                return verdict
        originals = (before[0], case.grads[k - 1], *before[1:])
        for arg, original in zip(inputs, originals, strict=True):
            verdict = check_unchanged(
                name, arg, original, fetch(result, key + "in." + arg), f"{context}at {step}, "
            )
            if not verdict.passed:
                return verdict
        got = tuple(fetch(result, key + q) for q in spec.returns)
        checked = [as_array(name, g, tuple(case.params.shape)) for g in got]
        before = tuple(x for x in checked if not isinstance(x, Verdict))
    return passed(f"{name}: correct")


def sequence_verdict(
    spec: StepSpec, cases: Sequence[SequenceCase], result: Plain, rtol: float, atol: float
) -> Verdict:
    """Compare every step of every case with the reference; the first divergence fails.

    The message names the step, the returned quantity and its index, e.g. "adam_step: for
    params of shape (3, 4), wrong m after step 2 of 5 at index (1, 3): expected ... (got ...)".
    """
    for c, case in enumerate(cases):
        verdict = _case_verdicts(spec, c, case, result, rtol, atol)
        if not verdict.passed:
            return verdict
    steps = sum(len(case.grads) for case in cases)
    return passed(
        f"{spec.function}: matches the reference on {len(cases)} hidden sequences "
        f"({steps} steps)"
    )

