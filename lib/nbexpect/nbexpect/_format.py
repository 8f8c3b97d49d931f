"""Numbers and values in messages: four significant digits, a type and shape, never a whole input.

Closeness is relative with a floor: an element passes when its *relative error*
``|got - expected| / max(|expected|, atol / rtol)`` is at most ``rtol``, that is when
``|got - expected| <= max(rtol * |expected|, atol)``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
NUMERIC_KINDS = "iuf"  # signed, unsigned, floating; bool and complex are refused
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


class Failed(AssertionError):
    """A check of a test cell failed; its text is written for the student and shows at most single
    values, so graders may show it (a plain ``AssertionError`` from a library may not be)."""


def fmt(x: object) -> str:
    """A number to about four significant digits (``nan``/``inf`` spelled out)."""
    if isinstance(x, bool | np.bool_):
        return str(bool(x))
    if isinstance(x, int | np.integer):
        return str(int(x))
    if isinstance(x, float | np.floating):
        return f"{float(x):.4g}"
    return describe(x)


def fmt_index(index: tuple[int, ...]) -> str:
    """``(2, 1)`` for 2-D and higher, ``2`` for 1-D."""
    return str(index[0]) if len(index) == 1 else "(" + ", ".join(str(i) for i in index) + ")"


def name_of(text: str, limit: int = 60) -> str:
    """A name chosen by the student's code (a type), as it is when it is a plain name, else quoted."""
    if len(text) <= limit and _NAME.fullmatch(text):
        return text
    text = " ".join(text.split()).replace("«", "‹").replace("»", "›")
    return "«" + (text if len(text) <= limit else text[: limit - 1] + "…") + "»"


def describe(value: object) -> str:
    """What a value is, for "(got ...)": its type and shape, never its whole content."""
    if value is None:
        return "None"
    if isinstance(value, str):
        return "str"
    if isinstance(value, np.ndarray):
        return f"ndarray of shape {tuple(value.shape)}, dtype {value.dtype}"
    if isinstance(value, list | tuple):
        return f"{type(value).__name__} of length {len(value)}"
    if isinstance(value, bool | int | float | np.number):
        return f"{type(value).__name__} {fmt(value)}"
    kind = type(value)
    if kind.__module__.startswith("autograder."):  # an object that stayed in the student's kernel
        return repr(value).strip("<>")
    return name_of(kind.__name__)


def is_real_scalar(value: object) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def as_array(name: str, got: object, shape: tuple[int, ...], label: str = "the result",
             context: str = "") -> FloatArray:
    """``got`` as float64 if it is a finite numeric ndarray of ``shape``; else :class:`Failed`."""
    head = f"{name}: {context}expected {label}"
    if not isinstance(got, np.ndarray):
        raise Failed(f"{head} to be a numpy array of shape {shape} (got {describe(got)})")
    if got.dtype.kind not in NUMERIC_KINDS:
        raise Failed(f"{head} to be a numeric array (got dtype {got.dtype})")
    if tuple(got.shape) != tuple(shape):
        raise Failed(f"{head} of shape {shape} (got shape {tuple(got.shape)})")
    values = got.astype(np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        where = f" at index {fmt_index(index)}" if index else ""
        raise Failed(f"{head} to hold finite values (got {fmt(values[index])}{where})")
    return values


def as_scalar(name: str, got: object, label: str = "the result", context: str = "") -> float:
    """``got`` as a float if it is a finite real number (or a 0-d numeric array); else :class:`Failed`."""
    value: Any = got
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in NUMERIC_KINDS:
        value = got[()]
    if not is_real_scalar(value):
        raise Failed(f"{name}: {context}expected {label} to be a float (got {describe(got)})")
    number = float(value)
    if not np.isfinite(number):
        raise Failed(f"{name}: {context}expected {label} to be finite (got {fmt(number)})")
    return number


def relative_errors(expected: npt.ArrayLike, got: npt.ArrayLike, rtol: float, atol: float) -> FloatArray:
    """Elementwise ``|got - expected| / max(|expected|, atol / rtol)``."""
    e = np.asarray(expected, dtype=np.float64)
    g = np.asarray(got, dtype=np.float64)
    return np.asarray(np.abs(g - e) / np.maximum(np.abs(e), atol / rtol), dtype=np.float64)
