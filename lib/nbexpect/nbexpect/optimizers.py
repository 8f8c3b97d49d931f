"""Optimizer steps: the check of a sequence of steps, and the real Keras optimizers to compare with.

A test cell writes its reference step (hidden: this library is in the students' runtime too, so it
ships no ready-made ``adam_step``), and may confirm it against :func:`keras_steps`, which runs the
real Keras optimizer.  Textbook forms differ from Keras only by where epsilon goes: RMSprop divides
by ``sqrt(s + eps)`` in Keras and ``sqrt(s) + eps`` in textbooks; Adam folds its bias corrections
into the step size.  Both are far inside a tolerance of 1e-4 on gradients of magnitude 0.5 to 2.

:func:`expect_steps` calls the student's step function several times, feeding back the params and
state it returned, and compares every step with a reference: the first divergence fails, naming the
step, the quantity and its index.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nbexpect._checks import expect_close, expect_unchanged
from nbexpect._format import Failed, FloatArray, as_array, describe

ArrayLike = npt.ArrayLike


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


KERAS = {"sgd": ("SGD", {"lr": "learning_rate"}),
         "momentum": ("SGD", {"lr": "learning_rate", "momentum": "momentum"}),
         "rmsprop": ("RMSprop", {"lr": "learning_rate", "rho": "rho", "eps": "epsilon"}),
         "adam": ("Adam", {"lr": "learning_rate", "beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"})}


def keras_steps(kind: str, params: ArrayLike, grads: Sequence[ArrayLike], **hyper: float) -> list[FloatArray]:
    """The params after each step of the real Keras optimizer ``kind`` (sgd, momentum, rmsprop, adam)
    on a float64 variable, with the course's hyperparameter names (lr, momentum, rho, beta1, ...)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    cls, names = KERAS[kind]
    options: dict[str, Any] = {names[k]: v for k, v in hyper.items()}
    if kind == "momentum":
        options.setdefault("momentum", 0.9)
    optimizer = getattr(keras.optimizers, cls)(**options)
    variable = keras.Variable(_f(params), dtype="float64")
    optimizer.build([variable])
    out = []
    for g in grads:
        optimizer.apply_gradients([(keras.ops.convert_to_tensor(_f(g), dtype="float64"), variable)])
        out.append(np.asarray(keras.ops.convert_to_numpy(variable), dtype=np.float64))
    return out


def _form(returns: Sequence[str]) -> str:
    return "the new params" if len(returns) == 1 else "a tuple (" + ", ".join(returns) + ")"


def expect_steps(step: Callable[..., Any], reference: Callable[..., Any], *, name: str, params: ArrayLike,
                 grads: Sequence[ArrayLike], returns: Sequence[str] = ("params",), takes_t: bool = False,
                 args: Sequence[Any] = (), kwargs: Mapping[str, Any] | None = None, params_only: bool = False,
                 rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Call ``step(params, grads, *state, [t,] *args, **kwargs)`` once per gradient, starting from
    ``params`` and zero state, feeding back what it returned, and compare each step with ``reference``
    (same signature).  ``returns`` names what the step returns, params first (one name: params alone,
    not a 1-tuple); ``params_only`` compares params only (a state kept by another convention).  The
    inputs must not change.  Failure: "adam_step: for params of shape (3, 4), wrong m after step 2 of 5
    at index (1, 3): expected ... (got ...)"."""
    kwargs = dict(kwargs or {})
    state_names = tuple(returns[1:])
    inputs = ("params", "grads", *state_names)
    start = _f(params)
    mine: tuple[Any, ...] = (start.copy(), *(np.zeros_like(start) for _ in state_names))
    ref: tuple[FloatArray, ...] = (start.copy(), *(np.zeros_like(start) for _ in state_names))
    context = f"for params of shape {start.shape}, "
    for k, g in enumerate(grads, start=1):
        step_text = f"step {k} of {len(grads)}"
        t = (k,) if takes_t else ()
        grad = _f(g)
        call = [mine[0], grad.copy(), *mine[1:]]
        before = [np.array(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in call]
        out = step(*call, *t, *args, **kwargs)
        if len(returns) > 1 and not (isinstance(out, tuple | list) and len(out) == len(returns)):
            raise Failed(f"{name}: {context}expected {_form(returns)} (got {describe(out)}) at {step_text}")
        got = (out,) if len(returns) == 1 else tuple(out)
        expected = reference(ref[0], grad, *ref[1:], *t, *args, **kwargs)
        expected = (expected,) if len(returns) == 1 else tuple(expected)
        # state first: a wrong state explains a wrong params better than the reverse
        for i in [0] if params_only else [*range(1, len(returns)), 0]:
            expect_close(got[i], _f(expected[i]), name=name, rtol=rtol, atol=atol,
                         label=f"{returns[i]} after {step_text}", context=context)
        for arg, now, old in zip(inputs, call, before, strict=True):
            if isinstance(old, np.ndarray):
                expect_unchanged(now, old, name=name, arg=arg, context=f"{context}at {step_text}, ")
        mine = tuple(as_array(name, x, tuple(start.shape)) for x in got)
        ref = tuple(_f(x) for x in expected)
