"""Run an instructor's test cell in the grader process, reaching the student's names through the kernel.

:func:`run_test_cell` executes the test cell's code (``exec``) on the trusted side.  Its asserts,
numpy, ``np.testing`` and imports are the grader's own, so nothing a student patches in the kernel
changes a verdict.  Only the cell's *free names* (loaded, never bound by the cell, not builtins,
not in ``namespace``) are the student's, and they are reached only through the kernel.

What crosses, and how (the wire format is described in :mod:`autograder.run.kernel_side`; its trusted
end, the codec and the handles, is :mod:`autograder.run.wire`):

- **Into the kernel, once per test cell**: the in-kernel side (:mod:`~autograder.run.kernel_side`,
  our code, executed as text in a fresh module) and, in the same ``execute``, the names to look up.
- **Into the kernel, per crossing**: one *operation*, each its own ``execute`` of a one-line snippet
  ``<bridge>.serve('<json>')`` (a large one is sent over stdin when the in-kernel side asks for it,
  as IPython is slow to run a huge cell): call object *id* with these arguments, read attribute *name*,
  item *key* or the length of object *id*.  Arguments are data only: numbers, strings, bools,
  ``None``, numeric numpy arrays, tuples, lists and dicts of these; ids of the student's own
  objects; and, for each callable of the test's (a lambda, a gradient), a bare number: in the kernel
  it becomes a stub.  **Never** the test cell's source, a callable's code or name, nor any value the
  test computes without passing it.
- **Out of the kernel**: answers, always over the kernel's stdin channel (the in-kernel side's
  ``input()`` prompt becomes an ``input_request`` that this module reads and answers): a returned
  value, the arguments as they are after the call (when they changed), an exception's name and
  text, the missing names, or a stub's call ``{"callback": id, "args": ...}``.  They are decoded
  strictly (:class:`~autograder.run.wire.Codec`): plain data becomes fresh copies; any other object
  stays in the kernel and arrives as a handle (:class:`~autograder.run.wire.StudentObject`) whose
  attributes, items and calls are further crossings; nothing the kernel sent is executed.  Arguments
  that changed are written back into the test's own objects in place
  (:func:`~autograder.run.wire.write_back`).
- **Stub calls**: the grader runs the test's real callable on the decoded arguments and answers
  with its plain result encoded, or with an operation of its own when that callable calls the
  student's code (the kernel runs it and answers; the exchange nests to any depth).  When the
  test's callable raises, the stub raises in the kernel, and once the student's call is over the
  test's exception is raised in the test, whether the student's code caught it or not.

Anything the in-kernel side relies on may be replaced by the student's code (numpy, json,
``input``, the bridge itself): that changes only what an answer says, and every answer is data
the trusted asserts judge, so a forged answer is one the student could have returned.  Replacing
``builtins.input`` changes nothing (ipykernel installs its own at every ``execute`` and the in-kernel
side keeps that one); a student who breaks the channel itself (the kernel's ``raw_input``) fails
their own calls.  Free names are the student's: a library the test uses must be imported by the
cell or given in ``namespace``; a name bound to a module in the kernel is refused (``error``), as it
is almost always a forgotten import that would let the student's patched numpy judge.

A failing ``assert`` of the cell's own code shows its message (a bare one: which check failed), and
so does a :class:`nbexpect.Failed` (the public helpers' messages show single values only); any other
assertion raised inside a library shows only which check failed, as ``np.testing``'s report prints
the expected values.  When the cell's last statement is an expression whose value is a
:class:`nbexpect.Score` (``partial_credit``, ``expect_accuracy``), that is the cell's points, as in
nbgrader's partial credit; no other value is (a number the student's code returned earns nothing).

The whole cell has ``timeout_s`` of wall time; a crossing in flight past it interrupts the kernel
(and stops it when it does not answer within 3 s) and the outcome is ``timeout``.  A timeout, a
kernel that died or a lost connection decides the outcome even when the test catches it.
"""

from __future__ import annotations

import ast
import builtins
import functools
import json
import re
import secrets
import symtable
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, ClassVar, NoReturn

import zmq
from nbexpect import Failed, Score
from nbexpect.grading import TimedOut

from autograder.checks.base import Status, mark_student_text, scrub, student_name
from autograder.run import plain
from autograder.run.kernel import SandboxedKernel
from autograder.run.plain import Undecodable
from autograder.run.wire import Codec, StudentError, StudentObject, student_error, write_back

CELL = "<test cell>"  # the file name of the test cell's code: frames with it are the cell's lines
KERNEL_SIDE = (Path(__file__).parent / "kernel_side.py").read_text()
PREFIX = "\x1eautograder:"  # kernel_side.PREFIX: every answer from the in-kernel side starts with it
EOF = "\x04"  # an input reply that makes input() raise EOFError in the kernel
MAX_ANSWER_CHARS = plain.MAX_RESULT_BYTES
INLINE_CHARS = 64 * 1024  # a larger operation is sent over stdin: IPython is slow to run a huge cell
SETTLE_S = 3.0  # how long an interrupted kernel gets to end the execute before it is stopped
HIDDEN_BEGIN, HIDDEN_END = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"


@dataclass(frozen=True)
class TestOutcome:
    """What running one test cell gave.  ``line`` is the cell's line (from 1) where it stopped,
    ``hidden`` whether that line is inside a hidden block; ``missing`` the undefined names."""

    __test__: ClassVar[bool] = False  # not a pytest test class

    status: Status  # passed, failed, error, timeout, missing, out-of-memory, kernel died
    message: str  # for the student: never the test's code
    line: int | None = None
    hidden: bool = False
    missing: tuple[str, ...] = ()
    kernel_alive: bool = True
    score: float | None = None  # the cell's points when its last expression is an nbexpect.Score


SCORE = "__autograder_score__"  # the name the cell's last expression is bound to


PARSING = threading.Lock()  # held around every ast.parse of grading code (see _prepared)


@functools.lru_cache(maxsize=256)
def _prepare(source: str) -> tuple[Any, tuple[str, ...]]:
    return _compile(source), tuple(free_names(source))


def _prepared(source: str) -> tuple[Any, list[str]]:
    """The cell's code and free names, made once per source.  Parsing is serialised: CPython 3.11's
    AST conversion keeps its recursion depth in interpreter-wide state, and grading threads that
    parse at once fail with "AST constructor recursion depth mismatch"."""
    with PARSING:
        code, names = _prepare(source)
    return code, list(names)


def _compile(source: str) -> Any:
    """The cell's code, its last expression (if any) bound to :data:`SCORE`."""
    tree = ast.parse(source, CELL)
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body[-1]
        tree.body[-1] = ast.copy_location(ast.Assign([ast.Name(SCORE, ast.Store())], last.value), last)
        ast.fix_missing_locations(tree)
    return compile(tree, CELL, "exec", dont_inherit=True)



class _Stop(BaseException):
    """The test cannot go on (timeout, dead kernel): its outcome, raised through the test's code."""

    def __init__(self, outcome: TestOutcome) -> None:
        super().__init__(outcome.status.value)
        self.outcome = outcome


class _Bridge:
    """The connection of one test cell to the kernel: operations out, answers and stub calls in."""

    def __init__(self, kernel: SandboxedKernel, timeout_s: float, hidden: frozenset[int]) -> None:
        self.kernel, self.client = kernel, kernel.client
        self.timeout_s, self.deadline, self.hidden = timeout_s, time.monotonic() + timeout_s, hidden
        self.name = f"__autograder_{secrets.token_hex(6)}__"  # the in-kernel side's name in the user namespace
        self.codec = Codec(self)
        self.installed = False
        self.msg_id: str | None = None  # the execute in flight
        self.functions: list[str] = []  # the student's functions being called, outermost first
        self.stop: _Stop | None = None  # once set, it decides the outcome
        self.failure: Exception | None = None  # a test callable's exception, raised after the call
        self.pending: str | None = None  # a large operation, sent when the kernel asks for it
        self.poller = zmq.Poller()
        self.channels = [("stdin", self.client.stdin_channel), ("shell", self.client.shell_channel),
                         ("iopub", self.client.iopub_channel)]
        for _, channel in self.channels:
            self.poller.register(channel.socket, zmq.POLLIN)

    # --- the Remote protocol: what the test's handles ask ---------------------------------------

    def call(self, target: StudentObject, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        function = target._label or student_name(target._type)
        sent_args, sent_kwargs = list(args), dict(kwargs)
        answer = self._operate({"op": "call", "target": target._id, "args": self.codec.encode(sent_args),
                                "kwargs": self.codec.encode(sent_kwargs)}, function)
        if "args" in answer:  # the arguments changed: make the test's own objects match, in place
            after = self._decode(answer["args"])
            if isinstance(after, list) and len(after) == 2:
                write_back(sent_args, after[0])
                write_back(sent_kwargs, after[1])
        return self._decode(answer["done"])

    def attribute(self, target: StudentObject, name: str) -> Any:
        label = f"{target._label or student_name(target._type)}.{name}"
        value = self._decode(self._operate({"op": "getattr", "target": target._id, "name": name}, label)["done"])
        if isinstance(value, StudentObject) and not value._label:
            value._label = label
        return value

    def item(self, target: StudentObject, key: Any) -> Any:
        function = target._label or student_name(target._type)
        answer = self._operate({"op": "getitem", "target": target._id, "key": self.codec.encode(key)}, function)
        return self._decode(answer["done"])

    def length(self, target: StudentObject) -> int:
        function = target._label or student_name(target._type)
        value = self._operate({"op": "len", "target": target._id}, function)["done"]
        if type(value) is not int or value < 0:
            raise Undecodable("the length is not a count")
        return value

    def lookup(self, names: list[str]) -> dict[str, Any] | list[str]:
        """The student's values of ``names``, or the names that are not defined."""
        answer = self._operate({"op": "lookup", "names": names}, "the notebook")
        if "missing" in answer:
            missing = answer["missing"]
            return [n for n in names if isinstance(missing, list) and n in missing] or list(names)
        pairs = answer["done"]
        if not (isinstance(pairs, list) and [p[0] for p in pairs if isinstance(p, list) and len(p) == 2] == names):
            raise Undecodable("the names came back in another form")
        found = {name: self._decode(value) for name, value in pairs}
        for name, value in found.items():
            if isinstance(value, StudentObject) and not value._label:
                value._label = name
        return found

    # --- one crossing ---------------------------------------------------------------------------

    def _decode(self, value: Any) -> Any:
        try:
            return self.codec.decode(value)
        except RecursionError as exc:
            raise Undecodable("the answer is nested too deeply") from exc

    def _operate(self, op: dict[str, Any], function: str) -> dict[str, Any]:
        """Send ``op`` and return its answer (``done``, with ``args`` when they changed); raise the
        student's exception, or the test callable's when one failed during the call."""
        if self.stop is not None:
            raise self.stop  # the test went on after a timeout or a dead kernel: stop it again
        if time.monotonic() > self.deadline:
            self.functions.append(function)
            self._timeout()
        request = json.dumps(op)
        top = self.msg_id is None
        self.functions.append(function)
        try:
            if top:
                code = "" if self.installed else (
                    f"{self.name} = __import__('types').ModuleType('autograder_kernel_side')\n"
                    f"exec({KERNEL_SIDE!r}, {self.name}.__dict__)\n{self.name}.bind(globals())\n")
                inline = len(request) <= INLINE_CHARS
                code += f"{self.name}.serve({repr(request) if inline else ''})\n"
                self.pending = None if inline else request
                self.installed = True
                self.failure = None
                self.msg_id = self.client.execute(code, silent=True, store_history=False, allow_stdin=True,
                                                  stop_on_error=False)
            else:  # the kernel waits in a stub for the test callable's value: ask this first
                self.client.input(json.dumps({"op": op}))
            answer = self._answer()
            if top:
                self.client.input("")
                self._finish()
        finally:
            self.functions.pop()
            if top:
                self.msg_id = None
        if top and self.failure is not None:
            failure, self.failure = self.failure, None
            raise failure
        if "raised" in answer:
            raise student_error(function, answer["raised"])
        if "done" not in answer and not (op["op"] == "lookup" and "missing" in answer):
            raise Undecodable("the kernel's answer has no value")
        return answer

    def _answer(self) -> dict[str, Any]:
        """Read the kernel's messages until the answer to the operation in flight, running the
        stub calls that come first."""
        while True:
            kind, content = self._next(answers=True)
            if kind == "execute_reply":
                raise self._fail(Status.ERROR, "the grader lost its connection to the notebook's kernel (the "
                                 "call ended without an answer); does your code replace input, json or "
                                 "other built-ins?", alive=True)
            prompt = content.get("prompt")
            message = _parse(prompt) if isinstance(prompt, str) else None
            if message is None:
                self.client.input(EOF)  # the student's own input(), or something malformed
            elif "ready" in message:
                self.client.input(self.pending or EOF)
                self.pending = None
            elif "callback" in message:
                self.client.input(self._callback(message))
            else:
                return message

    def _callback(self, message: dict[str, Any]) -> str:
        """Run the test's callable for a stub call; its answer, encoded."""
        try:
            if not 0 <= message["callback"] < len(self.codec.callbacks):
                raise LookupError("no such callable")
            function = self.codec.callbacks[message["callback"]]
            args, kwargs = self._decode(message["args"]), self._decode(message["kwargs"])
            if not (isinstance(args, list) and isinstance(kwargs, dict) and all(isinstance(k, str) for k in kwargs)):
                raise Undecodable("malformed arguments")
        except (Undecodable, LookupError, TypeError) as exc:
            self.failure = self.failure or exc
            return json.dumps({"raised": True})
        if self.failure is not None:
            return json.dumps({"raised": True})  # once the test's callable failed, it is not run again
        try:
            return json.dumps({"value": self.codec.encode(function(*args, **kwargs))})
        except Exception as exc:  # the test's own exception: raised in the test after the call
            self.failure = exc
            return json.dumps({"raised": True})

    def _next(self, answers: bool) -> tuple[str, dict[str, Any]]:
        """The next input request or execute reply of the execute in flight (stdin first); input
        requests are answered with EOF unless ``answers``.  Raises :class:`_Stop` at the deadline
        or when the kernel died."""
        while True:
            if time.monotonic() > self.deadline:
                self._timeout()
            for kind, content in self._poll(0.05):
                if kind == "input_request" and not answers:
                    self.client.input(EOF)
                elif kind in ("input_request", "execute_reply"):
                    return kind, content

    def _poll(self, seconds: float) -> Iterator[tuple[str, dict[str, Any]]]:
        """Messages of the execute in flight that arrive within ``seconds`` (iopub is drained)."""
        self._check_alive()
        ready = dict(self.poller.poll(int(seconds * 1000)))
        for name, channel in self.channels:
            if channel.socket not in ready:
                continue
            try:
                msg = channel.get_msg(timeout=0)
                parent, kind, content = msg["parent_header"].get("msg_id"), msg["msg_type"], msg["content"]
            except Exception:  # a malformed message (the kernel is the student's): ignore it
                continue
            if name != "iopub" and parent == self.msg_id and isinstance(content, dict):
                yield str(kind), content

    def _finish(self) -> None:
        """Wait for the end of the execute in flight (its answer is in)."""
        while self._next(answers=False)[0] != "execute_reply":
            pass

    def _settle(self) -> bool:
        """Interrupt the execute in flight and let it end, answering input with EOF; stop the kernel
        when it does not within :data:`SETTLE_S`.  Whether the kernel lives."""
        self.client.control_channel.send(self.client.session.msg("interrupt_request", {}))
        end = time.monotonic() + SETTLE_S
        while time.monotonic() < end:
            for kind, _ in self._poll(0.05):
                if kind == "input_request":
                    self.client.input(EOF)
                elif kind == "execute_reply":
                    return True
        self.kernel._killed_on_timeout = True  # kernel.execute then reports it as a timeout, not a crash
        self.kernel.kill()
        return False

    def _timeout(self) -> NoReturn:
        lines = _stack_lines()
        alive = self.msg_id is None or self._settle()
        function = self.functions[0] if self.functions else "the test"
        message = f"{function}: did not finish within the time limit of {self.timeout_s:g} s"
        if not alive:
            message += "; it did not stop when interrupted, so the kernel was stopped"
        raise self._fail(Status.TIMEOUT, message, alive, lines)

    def _check_alive(self) -> None:
        code = self.kernel.process.poll()
        if code is None:
            return
        cgroup = self.kernel.jail.cgroup
        if cgroup is not None and cgroup.oom_killed():
            limit = self.kernel.jail.limits.memory_bytes // 1024**2
            raise self._fail(Status.OUT_OF_MEMORY, f"the kernel ran out of memory (limit {limit} MiB) and was stopped")
        raise self._fail(Status.KERNEL_DIED, f"the kernel died (exit status {code}) during the test")

    def _fail(self, status: Status, message: str, alive: bool = False, lines: list[int] | None = None) -> _Stop:
        if self.stop is None:
            line, hidden = _where(_stack_lines() if lines is None else lines, self.hidden)
            self.stop = _Stop(TestOutcome(status, message, line, hidden, kernel_alive=alive))
        return self.stop

    def close(self) -> None:
        """Remove the in-kernel side from the user namespace (best effort)."""
        for _, channel in self.channels:
            self.poller.unregister(channel.socket)
        if not self.installed or self.kernel.process.poll() is not None:
            return
        msg_id = self.client.execute(f"globals().pop({self.name!r}, None)", silent=True, store_history=False,
                                     allow_stdin=False, stop_on_error=False)
        end = time.monotonic() + SETTLE_S
        while time.monotonic() < end:
            try:
                msg = self.client.shell_channel.get_msg(timeout=0.1)
                if msg["parent_header"].get("msg_id") == msg_id:
                    break
            except Exception:
                continue


def _parse(prompt: str) -> dict[str, Any] | None:
    """A message of the in-kernel side, or None."""
    if not prompt.startswith(PREFIX) or len(prompt) > MAX_ANSWER_CHARS:
        return None
    try:
        message = json.loads(prompt[len(PREFIX):])
    except (ValueError, RecursionError):
        return None
    keys = {"done", "raised", "missing", "callback", "ready"}
    if not (isinstance(message, dict) and len(keys & set(message)) == 1):
        return None
    if "callback" in message and not (type(message["callback"]) is int and "args" in message and "kwargs" in message):
        return None
    return message


def _stack_lines() -> list[int]:
    """The test cell's lines on the current stack, innermost first."""
    lines: list[int] = []
    frame: FrameType | None = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_filename == CELL:
            lines.append(frame.f_lineno)
        frame = frame.f_back
    return lines


def _traceback_lines(tb: TracebackType | None) -> list[int]:
    """The test cell's lines in a traceback, innermost first."""
    lines = []
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == CELL:
            lines.append(tb.tb_lineno)
        tb = tb.tb_next
    return lines[::-1]


def _raised_in_cell(tb: TracebackType | None) -> bool:
    """Whether the innermost frame of ``tb`` is the test cell's own code (an ``assert`` or ``raise``
    the instructor wrote), not a library's: ``np.testing``'s messages show the expected values."""
    last = None
    while tb is not None:
        last, tb = tb, tb.tb_next
    return last is not None and last.tb_frame.f_code.co_filename == CELL


def _where(lines: list[int], hidden: frozenset[int]) -> tuple[int | None, bool]:
    """The line to report (the innermost) and whether the failure is hidden: any of its lines is, so
    a visible helper called from a hidden line counts as hidden."""
    return (lines[0] if lines else None), any(line in hidden for line in lines)


def hidden_lines(source: str) -> frozenset[int]:
    """The lines (from 1) of ``source`` between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS``."""
    hidden: set[int] = set()
    inside = False
    for number, line in enumerate(re.split(r"\r\n|\r|\n", source), start=1):
        text = line.strip()
        if text.startswith(HIDDEN_BEGIN):
            inside = True
        elif text.startswith(HIDDEN_END):
            inside = False
        elif inside:
            hidden.add(number)
    return frozenset(hidden)


def free_names(source: str) -> list[str]:
    """Names ``source`` loads and never binds, at any depth (functions, lambdas, comprehensions),
    in sorted order.  Builtins are not removed here."""
    top = symtable.symtable(source, CELL, "exec")
    bound = {s.get_name() for s in top.get_symbols() if s.is_assigned() or s.is_imported() or s.is_namespace()}
    loaded = {s.get_name() for s in top.get_symbols() if s.is_referenced()}
    stack = list(top.get_children())
    while stack:
        table = stack.pop()
        stack.extend(table.get_children())
        for symbol in table.get_symbols():
            if symbol.is_declared_global() and symbol.is_assigned():
                bound.add(symbol.get_name())
            elif symbol.is_global() and symbol.is_referenced():
                loaded.add(symbol.get_name())
    return sorted(loaded - bound)


def _silent(*args: Any, **kwargs: Any) -> None:
    """The test cell's print()."""


def run_test_cell(kernel: SandboxedKernel, source: str, *, timeout_s: float,
                  namespace: dict[str, Any] | None = None) -> TestOutcome:
    """Run the instructor's test cell ``source`` in this process against the student's names in
    ``kernel`` (started, the student's cells run).  ``namespace`` holds trusted helpers (``np``);
    ``timeout_s`` is the cell's wall time.  Never raises for anything the student did."""
    hidden = hidden_lines(source)
    try:
        code, names = _prepared(source)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", None)
        return TestOutcome(Status.ERROR, f"the test cell is not valid Python (line {line})", line, line in hidden)
    # print() in a test cell is for students' kernels: here it prints nothing (a per-cell name, not a
    # redirection of sys.stdout, which the grading threads share)
    scope: dict[str, Any] = {"__builtins__": builtins, "__name__": "__test__", "print": _silent,
                             **(namespace or {})}
    names = [n for n in names if n not in scope and not hasattr(builtins, n)]
    bridge = _Bridge(kernel, timeout_s, hidden)
    try:
        outcome = _run(bridge, code, names, scope)
    finally:
        bridge.close()
    if bridge.stop is not None:
        return bridge.stop.outcome
    return outcome


def _run(bridge: _Bridge, code: Any, names: list[str], scope: dict[str, Any]) -> TestOutcome:
    try:
        found = bridge.lookup(names) if names else {}
    except _Stop as stop:
        return stop.outcome
    except Exception as exc:  # whatever the kernel's answers raised here (a stub call while names are looked up)
        return TestOutcome(Status.ERROR, f"the notebook's names could not be read ({exc}); does your code "
                           "replace json, numpy or built-ins?")
    if isinstance(found, list):
        verb = "is" if len(found) == 1 else "are"
        return TestOutcome(Status.MISSING, f"{', '.join(found)} {verb} not defined: define "
                           f"{'it' if len(found) == 1 else 'them'} in the solution cell, keep the name, and check "
                           "that the cell runs without error", missing=tuple(found))
    modules = [n for n, v in found.items() if isinstance(v, StudentObject) and v._type == "module"]
    if modules:
        return TestOutcome(Status.ERROR, f"the test uses {', '.join(modules)}, a module of the student's kernel: "
                           "import it in the test cell (or pass it in `namespace`); the test did not run")
    scope.update(found)
    try:
        exec(code, scope)
    except _Stop as stop:
        return stop.outcome
    except TimedOut as exc:  # a helper's evaluation past its limit (nbexpect.grading)
        line, hidden = _where(_traceback_lines(exc.__traceback__), bridge.hidden)
        return TestOutcome(Status.TIMEOUT, mark_student_text(str(exc), bridge.codec.received), line, hidden)
    except AssertionError as exc:
        line, hidden = _where(_traceback_lines(exc.__traceback__), bridge.hidden)
        own = _raised_in_cell(exc.__traceback__) or isinstance(exc, Failed)
        text = str(exc) if own else ""  # np.testing's text shows expected values
        message = mark_student_text(text, bridge.codec.received) if text else f"check {line} of the test failed"
        return TestOutcome(Status.FAILED, message, line, hidden)
    except Undecodable as exc:
        line, hidden = _where(_traceback_lines(exc.__traceback__), bridge.hidden)
        return TestOutcome(Status.ERROR, f"an answer from the notebook's kernel could not be read ({exc}); does your "
                           "code replace json, numpy or built-ins?", line, hidden)
    except StudentError as exc:
        line, hidden = _where(_traceback_lines(exc.__traceback__), bridge.hidden)
        if exc.name == "NotImplementedError":
            message = (f"{exc.function} raised NotImplementedError: it is still the stub; replace "
                       "`raise NotImplementedError()` with your solution")
        else:
            message = str(exc)
        return TestOutcome(Status.ERROR, message, line, hidden)
    except (Exception, SystemExit) as exc:
        line, hidden = _where(_traceback_lines(exc.__traceback__), bridge.hidden)
        detail = scrub(str(exc), 200)
        message = f"the test stopped at its line {line} with {type(exc).__name__}" + (f": {detail}" if detail else "")
        return TestOutcome(Status.ERROR, mark_student_text(message, bridge.codec.received), line, hidden)
    score = scope.get(SCORE)
    if type(score) is Score:  # the grader's own class: a number from the kernel is a plain float
        return TestOutcome(Status.PASSED, mark_student_text(score.message, bridge.codec.received),
                           score=float(score))
    return TestOutcome(Status.PASSED, "all checks of the test passed")
