"""References for gradient checks, and the checks around them: a returned tuple, a stub called.

A gradient test compares the student's gradient with two references (:func:`nbexpect.expect_gradient`
takes both): :func:`tape_gradients`, TensorFlow's automatic differentiation of the same computation
in float64 (exact up to rounding), and :func:`central_differences` of a numpy version of it.
TensorFlow is imported by the first :func:`tape_gradients` call only (about 5 s, once per process)::

    import tensorflow as tf
    from nbexpect import expect_gradient
    from nbexpect.gradients import central_differences, tape_gradients

    _, (tape,) = tape_gradients(lambda t: tf.reduce_sum(tf.math.sigmoid(t)), x)
    (numeric,) = central_differences(lambda a: np.sum(1 / (1 + np.exp(-a))), x)
    expect_gradient(d_sigmoid(x), tape, numeric=numeric, name="d_sigmoid", param="x")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nbexpect._format import Failed, FloatArray, describe

NUMERIC_EPS = 1e-5


def central_differences(f: Callable[..., Any], *arrays: npt.ArrayLike, eps: float = NUMERIC_EPS
                        ) -> tuple[FloatArray, ...]:
    """The gradient of the scalar ``f(*arrays)`` with respect to each array, by central differences
    (``f`` gets float64 copies, one entry moved by ``±eps`` at a time; the inputs are not touched)."""
    work = [np.array(a, dtype=np.float64) for a in arrays]
    grads = []
    for a in work:
        grad = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            old = a[index]
            a[index] = old + eps
            up = float(f(*work))
            a[index] = old - eps
            down = float(f(*work))
            a[index] = old
            grad[index] = (up - down) / (2.0 * eps)
        grads.append(grad)
    return tuple(grads)


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def tape_gradients(f: Callable[..., Any], *arrays: npt.ArrayLike) -> tuple[float, tuple[FloatArray, ...]]:
    """The value of the scalar ``f(*tensors)`` and its gradient with respect to each array, by
    ``tf.GradientTape``: the arrays become float64 constants, watched by the tape."""
    tf = _tensorflow()
    tensors = [tf.constant(np.asarray(a, dtype=np.float64), dtype=tf.float64) for a in arrays]
    with tf.GradientTape() as tape:
        for t in tensors:
            tape.watch(t)
        value = f(*tensors)
    grads = tape.gradient(value, tensors)
    out = tuple(np.zeros(np.shape(a)) if g is None else np.asarray(g.numpy(), dtype=np.float64)
                for a, g in zip(arrays, grads, strict=True))
    return float(value.numpy()), out


def expect_tuple(got: object, parts: Sequence[str], *, name: str, context: str = "") -> tuple[Any, ...]:
    """``got`` as a tuple when it is a tuple or list of ``len(parts)`` items, else :class:`Failed`:
    "dense_forward: expected a tuple (out, cache) (got ndarray of shape (5, 4), dtype float64)"."""
    if isinstance(got, tuple | list) and len(got) == len(parts):
        return tuple(got)
    raise Failed(f"{name}: {context}expected a tuple ({', '.join(parts)}) (got {describe(got)})")


def blame_stub(name: str, helpers: Sequence[tuple[str, Callable[[], object]]]) -> None:
    """For a call of ``name`` that raised ``NotImplementedError``: call each helper (a function
    ``name`` is meant to use, on small inputs) in order, and raise :class:`Failed` naming the first
    one that still raises ``NotImplementedError`` ("mlp_loss_and_grads raised NotImplementedError:
    relu_backward, which it is meant to call, still raises NotImplementedError; implement
    relu_backward first").  Returns when none does: then ``name`` itself is the stub, and the caller
    re-raises.  (Which function raised is not known from outside the kernel: ``name`` may be a stub
    too.)"""
    for helper, call in helpers:
        try:
            call()
        except NotImplementedError:
            raise Failed(f"{name} raised NotImplementedError: {helper}, which it is meant to call, still "
                         f"raises NotImplementedError; implement {helper} first") from None
        except Exception:  # another failure of the helper: its own test reports it
            continue
