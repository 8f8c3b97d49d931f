"""The in-kernel side of :mod:`autograder.run.remote`, sent into the student's kernel as text.

:mod:`autograder.run.remote` executes this file's source in a fresh module object inside the
kernel, once per test cell (it is never imported there), and then sends it *operations*, one
``execute`` each (or, while the kernel waits in a stub, as the reply to the stub's request):
look up names, call a function or method, read an attribute, an item or a length.  It runs
the operation on the student's objects and hands back the answer as plain data over the
kernel's stdin channel (an ``input()`` prompt).  It knows no test: it receives names, call
arguments (data) and ids, never test code.

A student's code runs between the moments this module runs, and may replace anything it uses
(numpy, json, ``input``, this module itself).  That only changes what the answer *says*, and an
answer is data that the trusted side decodes strictly and judges with its own code: a student
able to forge an answer could as well have returned it.

Wire format (JSON; the trusted end is :class:`autograder.run.wire.Codec`): ``None``,
bools, ints, floats (NaN and infinities as JSON's extensions), strings and lists as themselves;
every other value is an object with exactly one key:

- ``{"__tuple__": [...]}``, ``{"__dict__": [[key, value], ...]}`` (any plain key);
- ``{"__nd__": [dtype, shape, base64]}`` a numpy array of a bool, integer or float dtype, and
  ``{"__sc__": [dtype, base64]}`` a numpy scalar of such a dtype;
- ``{"__obj__": [id, callable, typename]}`` any other object of the student's, kept here in a
  table and reached by its id;
- ``{"__cb__": id}`` a callable of the test's: here a stub that asks the trusted side for its
  value (:func:`_stub`).
"""

from __future__ import annotations

import base64
import builtins
import json
import sys
from collections.abc import Callable
from typing import Any

PREFIX = "\x1eautograder:"
"""Starts every prompt this side sends: the trusted side answers any other prompt with EOF."""
MAX_DEPTH = 24
NUMERIC_KINDS = "biuf"

_ask: Callable[[str], str] = builtins.input  # ipykernel's raw_input at the time this source runs
_user: dict[str, Any] = {}  # the kernel's user namespace (bound by the install snippet)
_objects: list[Any] = []  # id -> the student's object
_object_ids: dict[int, int] = {}  # id() -> its id in _objects
_stubs: dict[int, Callable[..., Any]] = {}  # callback id -> stub
_stub_ids: dict[int, int] = {}  # id() of a stub -> its callback id


class TestFunctionError(Exception):
    """A function of the test's, called by the student's code, failed on the trusted side."""


def bind(user: dict[str, Any]) -> None:
    """Use ``user`` (the kernel's user namespace) for look-ups."""
    global _user
    _user = user


def serve(request: str = "") -> None:
    """Run the operation ``request`` (JSON; when empty, asked for over stdin: a large one) and send
    its answer to the trusted side."""
    _send(_perform(json.loads(request or _ask(PREFIX + '{"ready": true}'))))


def _send(message: dict[str, Any]) -> Any:
    """Send ``message`` as an input prompt; the reply (JSON, or empty) is the trusted side's next word."""
    reply = _ask(PREFIX + json.dumps(message))
    return json.loads(reply) if reply else None


def _perform(op: dict[str, Any]) -> dict[str, Any]:
    """The answer to one operation: ``{"done": value}`` (with ``"args"``, the call's arguments
    after the call, when they changed), ``{"raised": [name, text]}`` or ``{"missing": names}``."""
    try:
        kind = op["op"]
        if kind == "lookup":
            names = [str(n) for n in op["names"]]
            missing = [n for n in names if n not in _user]
            if missing:
                return {"missing": missing}
            return {"done": [[n, _encode(_user[n])] for n in names]}
        target = _objects[int(op["target"])]
        if kind == "call":
            args, kwargs = _decode(op["args"]), _decode(op["kwargs"])
            result = target(*args, **kwargs)
            answer: dict[str, Any] = {"done": _encode(result)}
            after = [_encode(args), _encode(kwargs)]
            if json.dumps(after) != json.dumps([op["args"], op["kwargs"]]):
                answer["args"] = after
            return answer
        if kind == "getattr":
            return {"done": _encode(getattr(target, str(op["name"])))}
        if kind == "getitem":
            return {"done": _encode(target[_decode(op["key"])])}
        if kind == "len":
            return {"done": len(target)}
        return {"raised": ["ValueError", "unknown operation"]}
    except BaseException as exc:  # the student's exception, an interrupt, sys.exit(): all reported
        try:
            text = str(exc)[:400]
        except BaseException:
            text = ""
        return {"raised": [type(exc).__name__, text]}


def _numpy() -> Any:
    return sys.modules.get("numpy")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _handle(value: Any) -> dict[str, Any]:
    key = id(value)
    if key not in _object_ids:
        _object_ids[key] = len(_objects)
        _objects.append(value)  # kept alive, so its id() is not reused
    return {"__obj__": [_object_ids[key], callable(value), type(value).__name__]}


def _encode(value: Any, depth: int = 0) -> Any:
    """``value`` in the wire format; what is not plain data becomes a handle."""
    kind = type(value)
    if value is None or kind in (bool, int, float, str):
        return value
    if depth > MAX_DEPTH:
        return _handle(value)
    if kind is list:
        return [_encode(v, depth + 1) for v in value]
    if kind is tuple:
        return {"__tuple__": [_encode(v, depth + 1) for v in value]}
    if kind is dict:
        return {"__dict__": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]}
    if id(value) in _stub_ids and _stubs.get(_stub_ids[id(value)]) is value:
        return {"__cb__": _stub_ids[id(value)]}
    np = _numpy()
    if np is not None and kind is np.ndarray and value.dtype.kind in NUMERIC_KINDS and not value.dtype.fields:
        return {"__nd__": [value.dtype.str, list(value.shape), _b64(value.tobytes())]}  # C order, any ndim
    if np is not None and issubclass(kind, np.generic) and value.dtype.kind in NUMERIC_KINDS:
        array = np.asarray(value)
        return {"__sc__": [array.dtype.str, _b64(array.tobytes())]}
    return _handle(value)


def _array(dtype: str, shape: list[int], data: str) -> Any:
    import numpy as np

    return np.frombuffer(base64.b64decode(data), dtype=np.dtype(dtype)).reshape(tuple(shape)).copy()


def _decode(value: Any) -> Any:
    """A wire value from the trusted side as a Python value (stubs for the test's callables)."""
    if value is None or type(value) in (bool, int, float, str):
        return value
    if type(value) is list:
        return [_decode(v) for v in value]
    ((tag, body),) = value.items()
    if tag == "__tuple__":
        return tuple(_decode(v) for v in body)
    if tag == "__dict__":
        return {_decode(k): _decode(v) for k, v in body}
    if tag == "__nd__":
        return _array(*body)
    if tag == "__sc__":
        return _array(body[0], [], body[1])[()]
    if tag == "__obj__":
        return _objects[int(body[0])]
    if tag == "__cb__":
        return _stub(int(body))
    raise ValueError("unknown value")


def _stub(callback: int) -> Callable[..., Any]:
    """A stand-in for the test's callable number ``callback``: each call sends its arguments to
    the trusted side, runs what the trusted side asks meanwhile (calls of the student's functions
    made by the test's callable), and returns the value it sends back."""
    if callback in _stubs:
        return _stubs[callback]

    def test_function(*args: Any, **kwargs: Any) -> Any:
        reply = _send({"callback": callback, "args": _encode(list(args)), "kwargs": _encode(kwargs)})
        while isinstance(reply, dict) and "op" in reply:
            reply = _send(_perform(reply["op"]))
        if isinstance(reply, dict) and "value" in reply:
            return _decode(reply["value"])
        raise TestFunctionError("a function given by the test failed; check what your code passes to it")

    _stubs[callback] = test_function
    _stub_ids[id(test_function)] = callback
    return test_function
