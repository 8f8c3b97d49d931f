"""The kernel boundary: the probe wrapper sent into the kernel and the strict decoder of
what comes back.

Only JSON travels back, printed after a random marker.  The decoder accepts str-keyed
objects, lists, strings, numbers, booleans, ``None`` and numpy arrays of a numeric or boolean
dtype (dtype string, shape and base64 bytes); anything else the student's code produced
arrives as a ``"<typename>"`` string.  No object is unpickled and nothing the kernel sent is
ever called or compared as a live object.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograder.checks.base import Check

MAX_RESULT_BYTES = 64 * 1024**2
ALLOWED_KINDS = "biuf"


class Undecodable(ValueError):
    """The kernel's answer is not plain data in the expected form."""


@dataclass(frozen=True)
class Probe:
    """The source sent to the kernel for one check, and the marker its answer follows."""

    source: str
    marker: str


_WRAPPER = '''\
def __ag_probe__():
    import base64 as _b64
    import numpy as np
    def arr(b, d, s):
        return np.frombuffer(_b64.b64decode(b), dtype=d).reshape(s).copy()
    student = globals()
    missing = [n for n in {names!r} if n not in student]
    if missing:
        return {{"__missing__": missing}}
    scope = {{"student": student, "np": np, "arr": arr}}
    try:
        exec({probe!r}, scope)
    except BaseException as e:
        return {{"__error__": [type(e).__name__, str(e)[:400]]}}
    return scope.get("result")
def __ag_encode__(v, depth=0):
    import base64 as _b64
    import numpy as np
    if depth > 20:
        return "<too deep>"
    if v is None or type(v) in (bool, int, float, str):
        return v
    if isinstance(v, np.generic) and v.dtype.kind in "biuf":
        return v.item()
    if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
        a = np.ascontiguousarray(v)
        return {{"__nd__": [a.dtype.str, list(a.shape), _b64.b64encode(a.tobytes()).decode()]}}
    if type(v) in (list, tuple):
        return [__ag_encode__(x, depth + 1) for x in v]
    if type(v) is dict:
        return {{str(k): __ag_encode__(x, depth + 1) for k, x in v.items()}}
    return "<" + type(v).__name__ + ">"
import json as __ag_json__
print("\\n{marker}" + __ag_json__.dumps(__ag_encode__(__ag_probe__())))
del __ag_probe__, __ag_encode__, __ag_json__
'''


def wrap(check: Check) -> Probe:
    """The code that runs ``check.probe`` in the kernel and prints its result as plain JSON."""
    marker = "@@autograder-" + secrets.token_hex(8) + "@@"
    return Probe(_WRAPPER.format(names=check.names, probe=check.probe, marker=marker), marker)


def extract(stdout: str, marker: str) -> Any:
    """Decode the last answer after ``marker`` in ``stdout``; raise :class:`Undecodable`."""
    _head, found, tail = stdout.rpartition(marker)
    if not found:
        raise Undecodable("no answer came back from the kernel")
    text = tail.split("\n", 1)[0]
    if len(text) > MAX_RESULT_BYTES:
        raise Undecodable(f"the answer is larger than {MAX_RESULT_BYTES} bytes")
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise Undecodable("the answer is not JSON") from exc
    try:
        return decode(raw)
    except RecursionError as exc:
        raise Undecodable("the answer is nested too deeply") from exc


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
