"""Gradients checked twice: against ``tf.GradientTape`` and against central differences.

A :class:`Computation` is a trusted scalar function of some float64 arrays, written once for
numpy and once for TensorFlow.  :func:`tape_gradients` and :func:`central_differences` give the
two references; :func:`compare_to_references` judges a student's gradient against both and
writes the teaching message: the parameter, the first wrong index, the largest relative error
and, where it fits, a hint (a wrong sign, a transpose, a missing 1/n).  TensorFlow is imported
on first use only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.checks.base import Verdict
from autograder.checks.numeric import FloatArray, as_array, failed, fmt, fmt_index, passed, relative_errors

TAPE_RTOL, TAPE_ATOL = 1e-6, 1e-10
NUMERIC_RTOL, NUMERIC_ATOL = 1e-5, 1e-7
NUMERIC_EPS = 1e-5


@dataclass(frozen=True)
class Computation:
    """A scalar function of some arrays, written twice: with numpy and with TensorFlow."""

    numpy: Callable[[Sequence[FloatArray]], float]
    tensorflow: Callable[[Any, Sequence[Any]], Any]  # (tf module, tensors) -> scalar tensor


def central_differences(f: Callable[[Sequence[FloatArray]], float], args: Sequence[FloatArray],
                        eps: float = NUMERIC_EPS) -> tuple[FloatArray, ...]:
    """The gradient of ``f`` with respect to each of ``args`` by central differences."""
    work = [np.array(a, dtype=np.float64) for a in args]
    grads = []
    for a in work:
        grad = np.zeros_like(a)
        for index in np.ndindex(a.shape):
            old = a[index]
            a[index] = old + eps
            up = f(work)
            a[index] = old - eps
            down = f(work)
            a[index] = old
            grad[index] = (up - down) / (2.0 * eps)
        grads.append(grad)
    return tuple(grads)


def _tensorflow() -> Any:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


def tape_gradients(computation: Computation, args: Sequence[FloatArray]) -> tuple[float, tuple[FloatArray, ...]]:
    """The value of ``computation`` and its gradient with respect to each of ``args`` by
    ``tf.GradientTape`` in float64."""
    tf = _tensorflow()
    tensors = [tf.constant(a, dtype=tf.float64) for a in args]
    with tf.GradientTape() as tape:
        for t in tensors:
            tape.watch(t)
        value = computation.tensorflow(tf, tensors)
    grads = tape.gradient(value, tensors)
    return float(value.numpy()), tuple(np.asarray(g.numpy(), dtype=np.float64) for g in grads)


def _close(a: FloatArray, b: FloatArray) -> bool:
    return bool(np.allclose(a, b, rtol=TAPE_RTOL, atol=TAPE_ATOL))


def gradient_hint(label: str, expected: FloatArray, got: FloatArray, rows: int | None = None) -> str:
    """A likely cause when ``got`` is a simple transformation of ``expected``, else ``""``."""
    if _close(got, -expected):
        return f"; {label} has the wrong sign"
    if expected.ndim == 2 and expected.shape[0] == expected.shape[1] and _close(got, expected.T):
        return f"; {label} is the transpose of the right answer: check which factor is transposed and the order"
    norm = float(np.vdot(expected, expected))
    if norm == 0.0:
        return ""
    scale = float(np.vdot(expected, got)) / norm
    if scale == 0.0 or abs(scale - 1.0) < 1e-6 or not _close(got, scale * expected):
        return ""
    if rows and rows > 1 and abs(scale - rows) < 1e-6 * rows:
        return f"; it is exactly {rows} times the right answer, with n = {rows} rows: is a 1/n missing?"
    if rows and rows > 1 and abs(scale * rows - 1.0) < 1e-6:
        return f"; it is exactly 1/{rows} of the right answer, with n = {rows} rows: did a sum become a mean?"
    return f"; it is {fmt(scale)} times the right answer"


def compare_to_references(function: str, label: str, tape: FloatArray, numeric: FloatArray, got: object,
                          context: str = "", rows: int | None = None) -> Verdict:
    """Validate ``got`` and compare it with the tape's gradient, then the numerical one.

    Failure: "dense_backward: for x of shape (4, 4), W of shape (4, 4) and b of shape (4,),
    dW at index (0, 1): expected 0.569 (got -0.3812), relative error 1.67; largest relative
    error 5.323; dW is the transpose of the right answer: ...".  The index is the first entry
    out of tolerance in row-major order; a hint follows when one applies (:func:`gradient_hint`)."""
    shape = tuple(tape.shape)
    values = as_array(function, got, shape, label, context)
    if isinstance(values, Verdict):
        if isinstance(got, np.ndarray) and len(shape) == 2 and tuple(got.shape) == shape[::-1]:
            return failed(f"{values.message}; that is the transposed shape: check the order of the product")
        return values
    references = (("", tape, TAPE_RTOL, TAPE_ATOL),
                  (" (compared with central differences)", numeric, NUMERIC_RTOL, NUMERIC_ATOL))
    for source, reference, rtol, atol in references:
        rel = relative_errors(reference, values, rtol, atol)
        bad = rel > rtol
        if not bad.any():
            continue
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        return failed(
            f"{function}: {context}{label} at index {fmt_index(index) if index else '()'}: "
            f"expected {fmt(reference[index])} (got {fmt(values[index])}), relative error {fmt(rel[index])}; "
            f"largest relative error {fmt(rel.max())}{source}{gradient_hint(label, reference, values, rows)}"
        )
    return passed(f"{function}: {label} correct")
