"""Submissions that attack the machine rather than the score: endless loops, sleeps, huge
allocations, fork bombs, full disks, network connections, signals to other processes.

:func:`cases` builds the table for one assignment (a :class:`~tests.corpus.tamper.Target`:
which graded functions the function cases replace, and the items in order); ``CASES`` is
03.0's. ``CASES[name]`` says what the abuse is and what grading must make of it when the rest
of the notebook is the instructor's solution: the abusive ``source`` is either a new cell after
the imports (``replaces=None``) or the whole source of the solution cell with grade_id
``replaces``; ``expected`` maps each affected item to the statuses accepted for it, and every
other item must pass. ``shows`` is text the abusive cell's own output must contain (proof that
the limit, not luck, stopped it); ``None`` where the cell is not expected to finish.

``ABUSE`` and ``EXPECTED`` are 03.0's cases as plain tables. Sources may contain ``__PORT__``,
the port of a TCP server the test runs on 127.0.0.1 (and only there): :func:`abused` fills it in.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from autograder.checks.base import Status
from tests.corpus.tamper import GRADIENT_DESCENT, Target

ITEMS = GRADIENT_DESCENT.items
"""The graded items of 03.0 in notebook order."""


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


_FORK_BOMB = """\
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
"""

_FILL = """\
import errno
_written = 0
try:
    with open("{folder}/fill.bin", "wb") as _f:
        while True:
            _f.write(b"\\0" * 2**20)
            _f.flush()
            _written += 1
except OSError as e:
    print("{folder} full after", _written, "MiB:", errno.errorcode.get(e.errno))
"""

_CONNECT = """\
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
"""

_CONNECT_IN_FUNCTION = """\
import socket
def {signature}:
    try:
        with socket.create_connection(("127.0.0.1", __PORT__), timeout=3) as s:
            s.sendall(repr(locals()).encode())  # the hidden inputs
    except OSError:
        pass
"""

_KILL = """\
import os, signal
for _target in (os.getppid(), 1, -1):
    try:
        os.kill(_target, signal.SIGKILL)
        print("SIGKILL sent to", _target)
    except OSError as e:
        print("kill", _target, "refused:", type(e).__name__)
"""

_IGNORE_SIGINT = "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n"


def _name(signature: str) -> str:
    return signature.split("(", 1)[0]


def cases(target: Target) -> dict[str, AbuseCase]:
    """The abuse cases for ``target``'s notebook."""
    items = target.items

    def _from(item: str, statuses: frozenset[Status]) -> dict[str, frozenset[Status]]:
        """``item`` and every item after it (a dead kernel takes the rest of the notebook with it)."""
        return {i: statuses for i in items[items.index(item):]}

    loop, sleep, memory = _name(target.loop), _name(target.sleep), _name(target.memory)
    return {
        # A cell that never ends is interrupted; the notebook goes on (a file saved after it is a timeout).
        "loop_in_cell": AbuseCase("while True:\n    pass\n", expected=dict.fromkeys(target.saved, _TIMEOUT)),
        # A graded function that never returns times out its own item only.
        "loop_in_function": AbuseCase(
            f"def {target.loop}:\n    while True:\n        pass\n",
            replaces=loop, expected={f"test_{loop}": _TIMEOUT},
        ),
        "sleep_in_function": AbuseCase(
            f"import time\ndef {target.sleep}:\n    time.sleep(10**6)\n",
            replaces=sleep, expected={f"test_{sleep}": _TIMEOUT},
        ),
        # 8 GiB of ones, every page touched: the memory limit stops the kernel.
        "memory_8gib_in_cell": AbuseCase(
            "import numpy as np\nbig = np.ones(2**30)\nprint(big.sum())\n",
            expected=_from(items[0], _OOM),
        ),
        "memory_8gib_in_function": AbuseCase(
            f"def {target.memory}:\n    big = np.ones(2**30)\n    return big.sum()\n",
            replaces=memory, expected=_from(f"test_{memory}", _OOM),
        ),
        # Every process forks until the pids limit refuses; children exit on the interrupt.
        "fork_bomb": AbuseCase(
            _FORK_BOMB, expected=_from(items[0], _DEAD | {Status.PASSED}) | dict.fromkeys(target.saved, _DEAD),
        ),
        # Write until the size limit says no.
        "fill_home": AbuseCase(
            _FILL.format(folder="/home/student") + "import os\nos.remove('/home/student/fill.bin')\n", shows="ENOSPC",
        ),
        "fill_tmp": AbuseCase(_FILL.format(folder="/tmp"), shows="ENOSPC"),
        # The only network there is: a server the test runs on 127.0.0.1.
        "connect_in_cell": AbuseCase(_CONNECT, shows="no network"),
        "connect_in_function": AbuseCase(
            _CONNECT_IN_FUNCTION.format(signature=target.connect) + target.connect_body,
            replaces=_name(target.connect),
        ),
        # Signals to the parent, to every process and to pid 1.
        "kill_parent_and_all": AbuseCase(
            _KILL, expected=_from(items[0], frozenset({Status.PASSED, Status.KERNEL_DIED})), shows="refused",
        ),
        # Ignore the interrupt: the kernel must be killed.
        "sigint_ignored_loop": AbuseCase(_IGNORE_SIGINT + "    pass\n", expected=_from(items[0], _DEAD)),
        # ... while flooding stdout, so that the grader is never idle waiting for a message.
        "sigint_ignored_print_flood": AbuseCase(
            _IGNORE_SIGINT + "    print('x' * 100, flush=True)\n", expected=_from(items[0], _DEAD),
        ),
    }


CASES = cases(GRADIENT_DESCENT)
ABUSE: dict[str, str] = {name: case.source for name, case in CASES.items()}
EXPECTED: dict[str, dict[str, frozenset[Status]]] = {name: dict(case.expected) for name, case in CASES.items()}


def expected_statuses(name: str, target: Target = GRADIENT_DESCENT) -> dict[str, frozenset[Status]]:
    """Every item's accepted statuses for abuse ``name`` on ``target``'s solution notebook."""
    affected = cases(target)[name].expected
    return {item: affected.get(item, frozenset({Status.PASSED})) for item in target.items}


def abused(base_nb: Path | nbformat.NotebookNode, name: str, port: int = 0,
           target: Target = GRADIENT_DESCENT) -> nbformat.NotebookNode:
    """The notebook ``base_nb`` (a path or a notebook) with ``target``'s abuse ``name``; ``__PORT__``
    becomes ``port``.

    The abusive cell's source starts with ``# abuse: <name>``.
    """
    case = cases(target)[name]
    source = f"# abuse: {name}\n" + case.source.replace("__PORT__", str(port))
    nb = copy.deepcopy(nbformat.read(base_nb, as_version=4) if isinstance(base_nb, Path) else base_nb)
    if case.replaces is None:
        at = next(i for i, c in enumerate(nb.cells) if c.get("cell_type") == "code") + 1
        nb.cells.insert(at, nbformat.v4.new_code_cell(source))
        return nb
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == case.replaces:
            cell.source = source
            return nb
    raise KeyError(case.replaces)
