"""The trusted end of the wire to the student's kernel: the codec, the handles, the student's errors.

The format is described in :mod:`autograder.run.kernel_side`, its in-kernel end; the connection
that carries it is :mod:`autograder.run.remote`'s, seen here as the :class:`Remote` protocol.

- **Going in** (:meth:`Codec.encode`): data only: numbers, strings, bools, ``None``, numeric numpy
  arrays, tuples, lists and dicts of these; ids of the student's own objects; and, for each
  callable of the test's (a lambda, a gradient), a bare number: in the kernel it becomes a stub,
  and a stub's call names that number (:attr:`Codec.callbacks`).  Anything else is a ``TypeError``.
- **Coming back** (:meth:`Codec.decode`): answers are decoded strictly: plain data becomes fresh
  copies (arrays through :func:`autograder.run.plain.decode`); any other object stays in the kernel
  and arrives as a :class:`StudentObject` (:class:`StudentFunction` when callable) whose attributes,
  items and calls are further crossings; nothing is unpickled, nothing the kernel sent is executed,
  and a handle has no ``__eq__``, truth value or array interface the student controls.  Anything
  else is :class:`~autograder.run.plain.Undecodable`.
- **Arguments that changed** are written into the test's own arrays, lists and dicts in place
  (:func:`write_back`), so ``x0 = ...; f(x0)`` shows the test what the student's code did to ``x0``.
- **An exception of the student's** arrives as its name and text, and is raised in the test as a
  :class:`StudentError` (:func:`student_error`), also an instance of the built-in exception it names.
"""

from __future__ import annotations

import base64
import builtins
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from autograder.checks.base import scrub, student_name, student_text
from autograder.run import plain
from autograder.run.plain import Undecodable

MAX_DEPTH = 24
NUMERIC_KINDS = "biuf"


class StudentError(Exception):
    """The student's code raised ``name`` during a call made by the test; ``detail`` is its text
    without numbers (:func:`autograder.checks.base.scrub`), already quoted.  When ``name`` is a
    built-in exception, the error is also an instance of it (``except ValueError`` works)."""

    def __init__(self, function: str, name: str, detail: str) -> None:
        super().__init__(function, name, detail)
        self.function, self.name, self.detail = function, name, detail

    def __str__(self) -> str:
        return f"{self.function} raised {self.name}" + (f": {self.detail}" if self.detail else "")


_ERROR_CLASSES: dict[str, type[StudentError]] = {}
_NOT_MIXED = (AssertionError, StopIteration, StopAsyncIteration)


def student_error(function: str, raised: Any) -> StudentError:
    """The :class:`StudentError` for an in-kernel ``[name, text]``."""
    name, text = (str(raised[0]), str(raised[1])) if isinstance(raised, list) and len(raised) == 2 else ("?", "")
    base = getattr(builtins, name, None)
    known = isinstance(base, type) and issubclass(base, Exception) and not issubclass(base, _NOT_MIXED)
    shown = name if known else student_name(scrub(name))
    detail = student_text(scrub(text), 120) if text else ""
    if known and isinstance(base, type):
        if name not in _ERROR_CLASSES:
            _ERROR_CLASSES[name] = type(name, (StudentError, base), {"__module__": "student"})
        try:
            return _ERROR_CLASSES[name](function, shown, detail)
        except TypeError:  # a built-in exception whose constructor needs more (UnicodeDecodeError)
            pass
    return StudentError(function, shown, detail)


class Remote(Protocol):
    """What a :class:`StudentObject` asks of the connection to its kernel."""

    def call(self, target: StudentObject, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any: ...
    def attribute(self, target: StudentObject, name: str) -> Any: ...
    def item(self, target: StudentObject, key: Any) -> Any: ...
    def length(self, target: StudentObject) -> int: ...


class StudentObject:
    """An object of the student's that stays in the kernel (a model, an instance): its public
    attributes, items and length are crossings that return plain data or further handles.  It
    compares equal only to itself, has no truth value, no arithmetic and no array interface."""

    __slots__ = ("_id", "_label", "_remote", "_type")

    def __init__(self, remote: Remote | None, ident: int, typename: str, label: str = "") -> None:
        self._remote, self._id, self._type, self._label = remote, ident, typename, label

    def _connection(self) -> Remote:
        if self._remote is None:
            raise RuntimeError("this student object has no connection to a kernel")
        return self._remote

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # dunders (numpy's __array_interface__, ...) and private names stay out
            raise AttributeError(name)
        return self._connection().attribute(self, name)

    def __getitem__(self, key: Any) -> Any:
        return self._connection().item(self, key)

    def __len__(self) -> int:
        return self._connection().length(self)

    def __bool__(self) -> bool:
        raise TypeError(f"{self._describe()} is not plain data: it has no truth value in a test")

    def _describe(self) -> str:
        return self._label or f"a {student_name(self._type)} object of the student's"

    def __repr__(self) -> str:
        return f"<{self._describe()}>"


class StudentFunction(StudentObject):
    """A callable of the student's: each call is one crossing (:func:`autograder.run.remote.run_test_cell`)."""

    __slots__ = ()

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._connection().call(self, args, kwargs)


class Codec:
    """The trusted end of the wire format: :meth:`encode` what goes into the kernel, :meth:`decode`
    what comes back (strictly; :class:`~autograder.run.plain.Undecodable` otherwise).  It keeps the
    handles it made (one per kernel object), the test's callables it sent, and every string the
    kernel sent (:attr:`received`, for :func:`~autograder.checks.base.mark_student_text`)."""

    def __init__(self, remote: Remote | None = None) -> None:
        self.remote = remote
        self.objects: dict[int, StudentObject] = {}
        self.callbacks: list[Callable[..., Any]] = []
        self._callback_ids: dict[int, int] = {}
        self.received: set[str] = set()

    def encode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise TypeError("the test passed a value nested too deeply to the student's code")
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str):
            return str(value)
        if isinstance(value, np.generic):
            if value.dtype.kind not in NUMERIC_KINDS:
                raise TypeError(f"the test passed a numpy {value.dtype} scalar; only numbers cross into the kernel")
            scalar = np.asarray(value)
            return {"__sc__": [scalar.dtype.str, _b64(scalar.tobytes())]}
        if isinstance(value, int):
            return int(value)
        if isinstance(value, float):
            return float(value)
        if isinstance(value, np.ndarray):
            if value.dtype.kind not in NUMERIC_KINDS or value.dtype.fields:
                raise TypeError(f"the test passed an array of dtype {value.dtype}; only numeric arrays cross")
            return {"__nd__": [value.dtype.str, list(value.shape), _b64(value.tobytes())]}  # C order, any ndim
        if isinstance(value, tuple):
            return {"__tuple__": [self.encode(v, depth + 1) for v in value]}
        if isinstance(value, list):
            return [self.encode(v, depth + 1) for v in value]
        if isinstance(value, dict):
            return {"__dict__": [[self.encode(k, depth + 1), self.encode(v, depth + 1)] for k, v in value.items()]}
        if isinstance(value, StudentObject):
            return {"__obj__": [value._id, isinstance(value, StudentFunction), value._type]}
        if callable(value):
            if id(value) not in self._callback_ids:
                self._callback_ids[id(value)] = len(self.callbacks)
                self.callbacks.append(value)  # kept alive, so its id() is not reused
            return {"__cb__": self._callback_ids[id(value)]}
        raise TypeError(f"the test passed a {type(value).__name__} to the student's code; only plain data "
                        "(numbers, strings, numeric arrays, tuples, lists, dicts) and functions cross")

    def decode(self, value: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise Undecodable("the answer is nested too deeply")
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            self.received.add(value)
            return value
        if isinstance(value, list):
            return [self.decode(v, depth + 1) for v in value]
        if not (isinstance(value, dict) and len(value) == 1):
            raise Undecodable(f"unexpected value of type {type(value).__name__}")
        ((tag, body),) = value.items()
        if tag == "__tuple__" and isinstance(body, list):
            return tuple(self.decode(v, depth + 1) for v in body)
        if tag == "__dict__" and isinstance(body, list):
            out: dict[Any, Any] = {}
            for pair in body:
                if not (isinstance(pair, list) and len(pair) == 2):
                    raise Undecodable("malformed dict")
                key = self.decode(pair[0], depth + 1)
                try:
                    out[key] = self.decode(pair[1], depth + 1)
                except TypeError as exc:
                    raise Undecodable("a dict key is not hashable") from exc
            return out
        if tag == "__nd__":
            return plain.decode({"__nd__": body})
        if tag == "__sc__" and isinstance(body, list) and len(body) == 2:
            return plain.decode({"__nd__": [body[0], [], body[1]]})[()]
        if tag == "__obj__" and isinstance(body, list) and len(body) == 3:
            ident, is_callable, typename = body
            if not (type(ident) is int and ident >= 0 and type(is_callable) is bool and type(typename) is str):
                raise Undecodable("malformed object reference")
            if ident not in self.objects:
                kind = StudentFunction if is_callable else StudentObject
                self.objects[ident] = kind(self.remote, ident, typename[:200])
            return self.objects[ident]
        if tag == "__cb__" and type(body) is int and 0 <= body < len(self.callbacks):
            return self.callbacks[body]
        raise Undecodable(f"unexpected value {student_text(tag, 40)}")


def write_back(target: Any, new: Any) -> None:
    """Make the trusted argument ``target`` what the student's call left it (``new``, decoded), in
    place: arrays of the same shape are overwritten, lists and dicts updated, element by element
    where they still match, so the test's other references see what the student's code did."""
    if isinstance(target, np.ndarray) and isinstance(new, np.ndarray):
        if target.shape == new.shape and target.flags.writeable:
            np.copyto(target, new, casting="unsafe")
    elif isinstance(target, list) and isinstance(new, list):
        if len(target) != len(new):
            target[:] = new
            return
        for i, (old, value) in enumerate(zip(target, new, strict=False)):
            if _mergeable(old, value):
                write_back(old, value)
            else:
                target[i] = value
    elif isinstance(target, dict) and isinstance(new, dict):
        for key in [k for k in target if k not in new]:
            del target[key]
        for key, value in new.items():
            if key in target and _mergeable(target[key], value):
                write_back(target[key], value)
            else:
                target[key] = value
    elif isinstance(target, tuple) and isinstance(new, tuple) and len(target) == len(new):
        for old, value in zip(target, new, strict=True):
            if _mergeable(old, value):
                write_back(old, value)


def _mergeable(old: Any, new: Any) -> bool:
    if isinstance(old, np.ndarray):
        return isinstance(new, np.ndarray) and old.shape == new.shape
    return any(isinstance(old, t) and isinstance(new, t) for t in (list, dict)) or (
        isinstance(old, tuple) and isinstance(new, tuple) and len(old) == len(new))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
