"""The value checks: closeness, gradients with hints, unchanged inputs, partial credit."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from nbexpect._format import (
    Failed,
    FloatArray,
    as_array,
    as_scalar,
    describe,
    fmt,
    fmt_index,
    relative_errors,
)

HINT_RTOL, HINT_ATOL = 1e-6, 1e-9  # how close a transformed answer must be for a hint


class Score(float):
    """Points earned by a test cell (nbgrader reads the cell's last value as its partial credit),
    with the message that explains them."""

    message: str

    def __new__(cls, points: float, message: str = "") -> Score:
        score = super().__new__(cls, points)
        score.message = message
        return score

    def __repr__(self) -> str:
        return float.__repr__(self)


def expect_float(got: object, *, name: str, label: str = "the result", context: str = "") -> float:
    """``got`` as a float when it is a finite real number (a 0-d array too), else :class:`Failed`."""
    return as_scalar(name, got, label, context)


def expect_shape(got: object, shape: tuple[int, ...], *, name: str, label: str = "the result",
                 context: str = "") -> FloatArray:
    """``got`` as a float64 array when it is a finite numeric ndarray of ``shape``, else :class:`Failed`."""
    return as_array(name, got, tuple(shape), label, context)


def expect_close(got: object, want: npt.ArrayLike, *, name: str, rtol: float = 1e-7, atol: float = 1e-12,
                 label: str = "the result", context: str = "") -> None:
    """``got`` must have ``want``'s form (a float for a scalar, else an array of its shape) and be
    close to it elementwise.  Failure: "softmax: wrong value at index (2, 1): expected 0.1234
    (got 0.0617); largest relative error 0.5"."""
    expected = np.asarray(want, dtype=np.float64)
    what = "value" if label == "the result" else label
    if expected.ndim == 0 and not isinstance(want, np.ndarray):
        value = as_scalar(name, got, label, context)
        error = float(relative_errors(expected, value, rtol, atol))
        if error > rtol:
            raise Failed(f"{name}: {context}wrong {what}: expected {fmt(float(expected))} (got {fmt(value)}); "
                         f"relative error {fmt(error)}")
        return
    values = as_array(name, got, tuple(expected.shape), label, context)
    rel = relative_errors(expected, values, rtol, atol)
    if rel.size == 0 or float(rel.max()) <= rtol:
        return
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape))
    where = f" at index {fmt_index(index)}" if index else ""
    raise Failed(f"{name}: {context}wrong {what}{where}: expected {fmt(expected[index])} "
                 f"(got {fmt(values[index])}); largest relative error {fmt(rel[index])}")


def _close(a: FloatArray, b: FloatArray) -> bool:
    return bool(np.allclose(a, b, rtol=HINT_RTOL, atol=HINT_ATOL))


def gradient_hint(label: str, expected: FloatArray, got: FloatArray, rows: int | None = None) -> str:
    """A likely cause when ``got`` is a simple transformation of ``expected`` (a wrong sign, a
    transpose, a missing or extra 1/n, a constant factor), else ``""``."""
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


def expect_gradient(got: object, want: npt.ArrayLike, *, name: str, param: str, label: str = "",
                    rtol: float = 1e-6, atol: float = 1e-9, context: str = "", rows: int | None = None,
                    numeric: npt.ArrayLike | None = None, numeric_rtol: float = 1e-4,
                    numeric_atol: float = 1e-6) -> None:
    """A gradient with respect to ``param`` (``label`` names it in messages, by default "the gradient
    with respect to PARAM") must match ``want`` (an exact reference, e.g. ``tf.GradientTape`` or a
    formula) and, when given, ``numeric`` (central differences, within their own tolerance).

    Failure: "dense_backward: for x of shape (4, 4), wrong dW at dW[0, 1]: expected 0.569 (got
    -0.3812), relative error 1.67; largest relative error 5.323; dW is the transpose of the right
    answer: ...".  The index is the first entry out of tolerance; a hint follows when one applies
    (:func:`gradient_hint`; ``rows`` is the batch size, for the 1/n hints)."""
    label = label or f"gradient with respect to {param}"
    reference = np.asarray(want, dtype=np.float64)
    shape = tuple(reference.shape)
    try:
        values = as_array(name, got, shape, f"the {label}" if not label.startswith("d") else label, context)
    except Failed as exc:
        if isinstance(got, np.ndarray) and len(shape) == 2 and tuple(got.shape) == shape[::-1] and shape[0] != shape[1]:
            raise Failed(f"{exc}; that is the transposed shape: check the order of the product") from None
        raise
    references = [(reference, rtol, atol, "")]
    if numeric is not None:
        references.append((np.asarray(numeric, dtype=np.float64), numeric_rtol, numeric_atol,
                           " (compared with central differences)"))
    for ref, r, a, source in references:
        rel = relative_errors(ref, values, r, a)
        bad = rel > r
        if not bad.any():
            continue
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        at = f"{param}[{', '.join(str(i) for i in index)}]" if index else param
        raise Failed(f"{name}: {context}wrong {label} at {at}: expected {fmt(ref[index])} (got {fmt(values[index])}), "
                     f"relative error {fmt(rel[index])}; largest relative error {fmt(rel.max())}{source}"
                     f"{gradient_hint(label, ref, values, rows)}")


def expect_unchanged(after: object, before: npt.ArrayLike, *, name: str, arg: str, context: str = "") -> None:
    """The input ``arg`` as it is after the call must still equal ``before`` exactly."""
    original = np.asarray(before, dtype=np.float64)
    message = f"{name}: {context}must not modify its input {arg}"
    if not (isinstance(after, np.ndarray) and after.dtype.kind in "iuf" and after.shape == original.shape):
        raise Failed(f"{message} (it became {describe(after)})")
    now = after.astype(np.float64)
    same = (now == original) | (np.isnan(now) & np.isnan(original))
    if same.all():
        return
    index = tuple(int(i) for i in np.argwhere(~same)[0])
    where = f"{arg}[{', '.join(str(i) for i in index)}]" if index else arg
    raise Failed(f"{message} ({where} changed from {fmt(original[index])} to {fmt(now[index])}); work on a copy")


def partial_credit(points: float, results: Iterable[str | None]) -> Score:
    """Equal shares of ``points`` for the parts that passed: each result is ``None`` (passed) or
    the message of a failed part.  Make it the cell's last expression: nbgrader reads it as the
    cell's points, and so does the trusted grader (with the messages)."""
    outcomes = list(results)
    if not outcomes:
        raise ValueError("partial_credit needs at least one part")
    failures = [m for m in outcomes if m is not None]
    earned = points * (len(outcomes) - len(failures)) / len(outcomes)
    return Score(earned, "; ".join(failures))
