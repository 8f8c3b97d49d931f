"""Submissions of 03.0 that attack the machine rather than the score: endless loops, sleeps, huge
allocations, fork bombs, full disks, network connections, signals to other processes.

``CASES[name]`` says what the abuse is and what grading must make of it when the rest of the
notebook is the instructor's solution: the abusive ``source`` is either a new cell after the
imports (``replaces=None``) or the whole source of the solution cell with grade_id
``replaces``; ``expected`` maps each affected item to the statuses accepted for it, and every
other item must pass. ``shows`` is text the abusive cell's own output must contain (proof that
the limit, not luck, stopped it); ``None`` where the cell is not expected to finish.

``ABUSE`` and ``EXPECTED`` are the same cases as plain tables. Sources may contain ``__PORT__``,
the port of a TCP server the test runs on 127.0.0.1 (and only there): :func:`abused` fills it in.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.checks.base import Status

ITEMS = (
    "test_mse", "test_mse_grad", "test_softmax", "test_cross_entropy", "test_softmax_cross_entropy_grad",
    "test_numerical_gradient", "test_gradient_descent", "test_learning_rates", "test_sgd_step",
    "test_momentum_step", "test_rmsprop_step", "test_adam_step",
)
"""The graded items of 03.0 in notebook order."""


def _from(item: str, statuses: frozenset[Status]) -> dict[str, frozenset[Status]]:
    """``item`` and every item after it (a dead kernel takes the rest of the notebook with it)."""
    return {i: statuses for i in ITEMS[ITEMS.index(item):]}


_TIMEOUT = frozenset({Status.TIMEOUT})
_DEAD = frozenset({Status.KERNEL_DIED, Status.TIMEOUT})
_OOM = frozenset({Status.OUT_OF_MEMORY})


@dataclass(frozen=True)
class AbuseCase:
    """One abusive cell and the verdicts grading must reach despite it."""

    source: str
    replaces: str | None = None  # grade_id of the solution cell replaced; None: a new cell
    expected: Mapping[str, frozenset[Status]] = field(default_factory=dict)  # affected items
    shows: str | None = None  # text the abusive cell's output must contain


_MSE = "    return float(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2))\n"

CASES: dict[str, AbuseCase] = {
    # A cell that never ends is interrupted; the notebook goes on.
    "loop_in_cell": AbuseCase("while True:\n    pass\n"),
    # A graded function that never returns times out its own item only.
    "loop_in_function": AbuseCase(
        "def mse(y_true, y_pred):\n    while True:\n        pass\n",
        replaces="mse", expected={"test_mse": _TIMEOUT},
    ),
    "sleep_in_function": AbuseCase(
        "import time\ndef mse_grad(y_true, y_pred):\n    time.sleep(10**6)\n",
        replaces="mse_grad", expected={"test_mse_grad": _TIMEOUT},
    ),
    # 8 GiB of ones, every page touched: the memory limit stops the kernel.
    "memory_8gib_in_cell": AbuseCase(
        "import numpy as np\nbig = np.ones(2**30)\nprint(big.sum())\n",
        expected=_from(ITEMS[0], _OOM),
    ),
    "memory_8gib_in_function": AbuseCase(
        "def softmax(z):\n    big = np.ones(2**30)\n    return big[: z.size].reshape(z.shape)\n",
        replaces="softmax", expected=_from("test_softmax", _OOM),
    ),
    # Every process forks until the pids limit refuses; children exit on the interrupt.
    "fork_bomb": AbuseCase(
        """\
import os, time
_parent = os.getpid()
try:
    while True:
        try:
            os.fork()
        except OSError:
            time.sleep(0.01)
finally:
    if os.getpid() != _parent:
        os._exit(0)
""",
        expected=_from(ITEMS[0], _DEAD | {Status.PASSED}),
    ),
    # Write until the size limit says no.
    "fill_home": AbuseCase(
        """\
import errno
_written = 0
try:
    with open("/home/student/fill.bin", "wb") as _f:
        while True:
            _f.write(b"\\0" * 2**20)
            _f.flush()
            _written += 1
except OSError as e:
    print("/home/student full after", _written, "MiB:", errno.errorcode.get(e.errno))
import os
os.remove("/home/student/fill.bin")
""",
        shows="ENOSPC",
    ),
    "fill_tmp": AbuseCase(
        """\
import errno
_written = 0
try:
    with open("/tmp/fill.bin", "wb") as _f:
        while True:
            _f.write(b"\\0" * 2**20)
            _f.flush()
            _written += 1
except OSError as e:
    print("/tmp full after", _written, "MiB:", errno.errorcode.get(e.errno))
""",
        shows="ENOSPC",
    ),
    # The only network there is: a server the test runs on 127.0.0.1.
    "connect_in_cell": AbuseCase(
        """\
import socket
for _kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
    try:
        with socket.socket(socket.AF_INET, _kind) as _s:
            _s.settimeout(3)
            _s.connect(("127.0.0.1", __PORT__))
            _s.sendall(b"hello from the sandbox")
            print("sent", _kind)
    except OSError as e:
        print("no network:", _kind, type(e).__name__)
""",
        shows="no network",
    ),
    "connect_in_function": AbuseCase(
        """\
import socket
def mse(y_true, y_pred):
    try:
        with socket.create_connection(("127.0.0.1", __PORT__), timeout=3) as s:
            s.sendall(repr((y_true.tolist(), y_pred.tolist())).encode())
    except OSError:
        pass
""" + _MSE,
        replaces="mse",
    ),
    # Signals to the parent, to every process and to pid 1.
    "kill_parent_and_all": AbuseCase(
        """\
import os, signal
for _target in (os.getppid(), 1, -1):
    try:
        os.kill(_target, signal.SIGKILL)
        print("SIGKILL sent to", _target)
    except OSError as e:
        print("kill", _target, "refused:", type(e).__name__)
""",
        expected=_from(ITEMS[0], frozenset({Status.PASSED, Status.KERNEL_DIED})),
        shows="refused",
    ),
    # Ignore the interrupt: the kernel must be killed.
    "sigint_ignored_loop": AbuseCase(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass\n",
        expected=_from(ITEMS[0], _DEAD),
    ),
    # ... while flooding stdout, so that the grader is never idle waiting for a message.
    "sigint_ignored_print_flood": AbuseCase(
        "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"
        "    print('x' * 100, flush=True)\n",
        expected=_from(ITEMS[0], _DEAD),
    ),
}

ABUSE: dict[str, str] = {name: case.source for name, case in CASES.items()}
EXPECTED: dict[str, dict[str, frozenset[Status]]] = {name: dict(case.expected) for name, case in CASES.items()}


def expected_statuses(name: str) -> dict[str, frozenset[Status]]:
    """Every item's accepted statuses for abuse ``name`` on the solution notebook."""
    affected = CASES[name].expected
    return {item: affected.get(item, frozenset({Status.PASSED})) for item in ITEMS}


def abused(base_nb: Path, name: str, port: int = 0) -> nbformat.NotebookNode:
    """The notebook at ``base_nb`` with abuse ``name``; ``__PORT__`` becomes ``port``.

    The abusive cell's source starts with ``# abuse: <name>``.
    """
    case = CASES[name]
    source = f"# abuse: {name}\n" + case.source.replace("__PORT__", str(port))
    nb = copy.deepcopy(nbformat.read(base_nb, as_version=4))
    if case.replaces is None:
        at = next(i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code") + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell(source))
        return nb
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == case.replaces:
            cell.source = source
            return nb
    raise KeyError(case.replaces)
