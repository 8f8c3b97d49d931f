"""Numeric closeness for verdicts: strict validation of returned values and teaching messages.

Everything here is pure: it takes the trusted expected value and the decoded value the
student's code returned, and builds a :class:`~autograder.checks.base.Verdict`.  Messages
start with the function's name, read "expected X (got Y)" and show numbers to four
significant digits.  They may show a single value at the failing index, never a whole hidden
input.

Closeness is relative with a floor: an element passes when its *relative error*
``|got - expected| / max(|expected|, atol / rtol)`` is at most ``rtol``, that is when
``|got - expected| <= max(rtol * |expected|, atol)``.  Away from zero this is the plain
relative error the messages report; near zero ``atol`` takes over.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.checks.base import Plain, Verdict, student_name

FloatArray = npt.NDArray[np.float64]

_NUMERIC_KINDS = "iuf"  # signed, unsigned, floating; bool and complex are rejected

PLAIN_SOURCE = """\
def _plain(x, np=np):
    if isinstance(x, np.ndarray):
        if x.dtype.kind in 'iuf':
            return np.array(x)
        return '<ndarray of dtype ' + str(x.dtype) + '>'
    if isinstance(x, bool):
        return bool(x)
    if isinstance(x, int):
        return int(x)
    if isinstance(x, float):
        return float(x)
    if isinstance(x, np.generic) and x.dtype.kind in 'iuf':
        return x.item()
    return '<' + type(x).__name__ + '>'
"""
"""Probe source defining ``_plain(x)``: a copy of ``x`` as plain data, or a ``"<typename>"``
marker for anything else (read back by :func:`describe`).  Closure-free, so it works whether
the probe runs as a function body or under ``exec`` with separate globals and locals."""


def passed(message: str) -> Verdict:
    """Full marks with ``message``."""
    return Verdict(1.0, message)


def failed(message: str) -> Verdict:
    """No marks with ``message``."""
    return Verdict(0.0, message)


def guarded(name: str) -> Callable[[Callable[[Plain], Verdict]], Callable[[Plain], Verdict]]:
    """Make a verdict function total: any exception becomes a failed verdict naming ``name``.

    Verdicts are written to handle malformed data explicitly; this is the safety net that
    keeps one odd submission from stopping a grading run.
    """

    def wrap(verdict: Callable[[Plain], Verdict]) -> Callable[[Plain], Verdict]:
        @functools.wraps(verdict)
        def safe(result: Plain) -> Verdict:
            try:
                return verdict(result)
            except Exception as exc:  # the point is to never raise
                return failed(
                    f"{name}: the values returned could not be checked "
                    f"({type(exc).__name__}); return the types the exercise asks for"
                )

        return safe

    return wrap


def fmt(x: object) -> str:
    """A number to about four significant digits (``nan``/``inf`` spelled out)."""
    if isinstance(x, bool):
        return str(x)
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    if isinstance(x, (float, np.floating)):
        return f"{float(x):.4g}"
    return describe(x)


def fmt_index(index: tuple[int, ...]) -> str:
    """``(2, 1)`` for 2-D and higher, ``2`` for 1-D."""
    if len(index) == 1:
        return str(index[0])
    return "(" + ", ".join(str(i) for i in index) + ")"


def describe(value: object) -> str:
    """What a returned value is, for "(got ...)" — type and shape, never the whole content.

    Probes report values they cannot hand back as plain data with a marker ``"<typename>"``;
    such a marker is shown as the type name, which the student chose: quoted unless it is a plain
    name (:func:`~autograder.checks.base.student_name`).
    """
    if value is None:
        return "None"
    if isinstance(value, str):
        if value.startswith("<") and value.endswith(">") and len(value) > 2:
            return _marker(value[1:-1])
        return "str"
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {tuple(value.shape)}, dtype {value.dtype}"
    if isinstance(value, (list, tuple)):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, (bool, int, float, np.number)):
        return f"{type(value).__name__} {fmt(value)}"
    return type(value).__name__


_MARKER_FORMS = (re.compile(r"(ndarray of dtype )(.+)()", re.S), re.compile(r"()(.+)( of length \d+)", re.S))


def _marker(text: str) -> str:
    """A probe's marker text with its student-chosen part (a type or dtype name) made safe: the
    probes write "TYPE", "ndarray of dtype DTYPE" and "TYPE of length N"."""
    for form in _MARKER_FORMS:
        if match := form.fullmatch(text):
            return match[1] + student_name(match[2]) + match[3]
    return student_name(text)


def _is_real_scalar(value: object) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    return isinstance(value, (int, float, np.integer, np.floating))


def as_array(
    name: str, got: object, shape: tuple[int, ...], label: str = "the result", context: str = ""
) -> FloatArray | Verdict:
    """``got`` as float64 if it is a finite numeric ndarray of ``shape``; else a failed verdict."""
    head = f"{name}: {context}expected {label}"
    if not isinstance(got, np.ndarray):
        return failed(f"{head} to be a numpy array of shape {shape} (got {describe(got)})")
    if got.dtype.kind not in _NUMERIC_KINDS:
        return failed(f"{head} to be a numeric array (got dtype {got.dtype})")
    if tuple(got.shape) != tuple(shape):
        return failed(f"{head} of shape {shape} (got shape {tuple(got.shape)})")
    values = got.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {fmt_index(index)}" if index else ""
        return failed(f"{head} to hold finite values (got {fmt(values[index])}{where})")
    return values


def as_scalar(
    name: str, got: object, label: str = "the result", context: str = ""
) -> float | Verdict:
    """``got`` as a float if it is a finite real number (or a 0-d numeric array)."""
    value: object = got
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in _NUMERIC_KINDS:
        value = got[()]
    if not _is_real_scalar(value):
        return failed(f"{name}: {context}expected {label} to be a float (got {describe(got)})")
    number = float(value)  # type: ignore[arg-type]
    if not np.isfinite(number):
        return failed(f"{name}: {context}expected {label} to be finite (got {fmt(number)})")
    return number


def relative_errors(
    expected: npt.ArrayLike, got: npt.ArrayLike, rtol: float, atol: float
) -> FloatArray:
    """Elementwise ``|got - expected| / max(|expected|, atol / rtol)`` (see the module docstring)."""
    e = np.asarray(expected, dtype=np.float64)
    g = np.asarray(got, dtype=np.float64)
    return np.asarray(np.abs(g - e) / np.maximum(np.abs(e), atol / rtol), dtype=np.float64)


def compare_arrays(
    name: str,
    expected: npt.ArrayLike,
    got: object,
    *,
    rtol: float,
    atol: float,
    label: str = "the result",
    context: str = "",
) -> Verdict:
    """Validate ``got`` strictly, then compare it elementwise with ``expected``.

    ``context`` (for example ``"for inputs of shape (4, 3), "``) follows the name.
    Failure: "mse_grad: wrong value at index (2, 1): expected 0.1234 (got 0.0617);
    largest relative error 0.5".
    """
    exp = np.asarray(expected, dtype=np.float64)
    values = as_array(name, got, tuple(exp.shape), label, context)
    if isinstance(values, Verdict):
        return values
    rel = relative_errors(exp, values, rtol, atol)
    if rel.size == 0 or float(rel.max()) <= rtol:
        return passed(f"{name}: correct")
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape))
    where = f" at index {fmt_index(index)}" if index else ""
    what = "value" if label == "the result" else label
    return failed(
        f"{name}: {context}wrong {what}{where}: expected {fmt(exp[index])} "
        f"(got {fmt(values[index])}); largest relative error {fmt(rel[index])}"
    )


def compare_gradient(
    name: str,
    param: str,
    expected: npt.ArrayLike,
    got: object,
    *,
    rtol: float,
    atol: float,
    context: str = "",
) -> Verdict:
    """Like :func:`compare_arrays` for a gradient with respect to ``param``.

    Failure: "mse_grad: wrong gradient with respect to y_pred at y_pred[2, 1]: expected
    0.1234 (got 0.0617); largest relative error 0.5".
    """
    exp = np.asarray(expected, dtype=np.float64)
    label = f"the gradient with respect to {param}"
    values = as_array(name, got, tuple(exp.shape), label, context)
    if isinstance(values, Verdict):
        return values
    rel = relative_errors(exp, values, rtol, atol)
    if rel.size == 0 or float(rel.max()) <= rtol:
        return passed(f"{name}: correct")
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(rel)), rel.shape))
    at = f"{param}[{', '.join(str(i) for i in index)}]" if index else param
    return failed(
        f"{name}: {context}wrong gradient with respect to {param} at {at}: "
        f"expected {fmt(exp[index])} (got {fmt(values[index])}); "
        f"largest relative error {fmt(rel[index])}"
    )


def compare_scalar(
    name: str,
    expected: float,
    got: object,
    *,
    rtol: float,
    atol: float,
    context: str = "",
) -> Verdict:
    """Validate that ``got`` is a finite real number and compare it with ``expected``."""
    value = as_scalar(name, got, context=context)
    if isinstance(value, Verdict):
        return value
    rel = float(relative_errors(expected, value, rtol, atol))
    if rel <= rtol:
        return passed(f"{name}: correct")
    return failed(
        f"{name}: {context}wrong value: expected {fmt(expected)} (got {fmt(value)}); "
        f"relative error {fmt(rel)}"
    )


def check_unchanged(
    name: str, arg: str, original: npt.ArrayLike, after: object, context: str = ""
) -> Verdict:
    """Pass when the input ``arg`` seen after the call still equals ``original`` exactly."""
    orig = np.asarray(original, dtype=np.float64)
    message = f"{name}: {context}must not modify its input {arg}"
    if (
        not isinstance(after, np.ndarray)
        or after.dtype.kind not in _NUMERIC_KINDS
        or tuple(after.shape) != tuple(orig.shape)
    ):
        return failed(f"{message} (it became {describe(after)})")
    now = after.astype(np.float64)
    same = (now == orig) | (np.isnan(now) & np.isnan(orig))
    if same.all():
        return passed(f"{name}: inputs unchanged")
    index = tuple(int(i) for i in np.argwhere(~same)[0])
    where = f"{arg}[{', '.join(str(i) for i in index)}]" if index else arg
    return failed(
        f"{message} ({where} changed from {fmt(orig[index])} to {fmt(now[index])}); "
        "work on a copy"
    )


def fetch(result: Plain, key: str, default: Any = "<missing>") -> Any:
    """``result[key]`` when ``result`` is a mapping holding it, else the ``<missing>`` marker."""
    try:
        return result[key]
    except (KeyError, TypeError, IndexError):
        return default
