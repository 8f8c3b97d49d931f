"""The strict decoder of plain data from a jail (the model evaluator's answer; the numpy arrays of
the test cells' crossings, :mod:`autograder.run.wire`).

It accepts parsed JSON: str-keyed objects, lists, strings, numbers, booleans, ``None`` and numpy
arrays of a numeric or boolean dtype (dtype string, shape and base64 bytes).  No object is
unpickled and nothing a jail sent is ever called or compared as a live object.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import numpy as np

MAX_RESULT_BYTES = 64 * 1024**2
ALLOWED_KINDS = "biuf"


class Undecodable(ValueError):
    """The kernel's answer is not plain data in the expected form."""


def decode(value: Any, depth: int = 0) -> Any:
    """Turn parsed JSON into plain Python and numpy values, refusing anything else."""
    if depth > 24:
        raise Undecodable("the answer is nested too deeply")
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list):
        return [decode(v, depth + 1) for v in value]
    if isinstance(value, dict):
        if set(value) == {"__nd__"}:
            return _array(value["__nd__"])
        return {str(k): decode(v, depth + 1) for k, v in value.items()}
    raise Undecodable(f"unexpected JSON value of type {type(value).__name__}")


def _array(spec: Any) -> np.ndarray[Any, Any]:
    if not (isinstance(spec, list) and len(spec) == 3):
        raise Undecodable("malformed array")
    dtype_str, shape, data = spec
    if not isinstance(dtype_str, str) or not isinstance(data, str) or not isinstance(shape, list):
        raise Undecodable("malformed array")
    try:
        dtype = np.dtype(dtype_str)
    except (TypeError, ValueError, SyntaxError) as exc:
        raise Undecodable(f"unknown dtype {dtype_str[:40]!r}") from exc
    if dtype.kind not in ALLOWED_KINDS or dtype.hasobject or dtype.fields is not None:
        raise Undecodable(f"dtype {dtype_str!r} is not numeric")
    if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise Undecodable("malformed array shape")
    try:
        raw = base64.b64decode(data, validate=True)
        count = 1
        for n in shape:
            count *= n
        if count * dtype.itemsize != len(raw):
            raise Undecodable("array bytes do not match its shape")
        return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
    except (binascii.Error, ValueError, OverflowError) as exc:
        raise Undecodable(f"malformed array ({type(exc).__name__})") from exc
