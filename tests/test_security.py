"""Cheating and abusive submissions of 03.0 graded in real sandboxed kernels.

- Every trick of :data:`tests.corpus.tamper.TAMPER` on wrong solutions earns 0 points, leaves
  ``source/``, ``release/`` and the gradebook untouched, and shows nothing hidden (the hidden
  inputs, the instructor's tests, the grader's code and its in-kernel side's names) in messages or
  outputs.  03.0's checks are the instructor notebook's own test cells (:mod:`autograder.authored`),
  run on the trusted side.
- Every habit of :data:`~tests.corpus.tamper.HARMLESS` on the solution keeps full marks.
- Every case of :data:`tests.corpus.abuse.CASES` on the solution ends in bounded time with the
  expected statuses; the network cases reach no server on 127.0.0.1.
- A cell that searches the whole file system the sandbox sees finds no hidden material.

All notebooks are graded up front, two at a time, by the module fixture ``graded``; each test
then reads its own result. A watchdog stops a run that outlives its bound by killing the
processes of that run's own jail (nothing else), so a hanging grader fails one test instead of
the session. """

from __future__ import annotations

import hashlib
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import nbformat
import numpy as np
import pytest

import autograder.run.notebook as notebook_module
from autograder import authored
from autograder.checks.base import Check, Status
from autograder.run.notebook import NotebookRun, grade_id, grade_notebook
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits
from tests.corpus import abuse, tamper
from tests.corpus.tamper import HARMLESS, REPO, TAMPER

pytestmark = pytest.mark.slow

ASSIGNMENT = "03.0_gradient_descent"
SOLUTION = REPO / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
RELEASE = REPO / "release" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
SETTINGS = authored.read(REPO / "source" / ASSIGNMENT)
CHECKS = authored.checks(SETTINGS)


def trusted_namespace() -> dict[str, Any]:
    """The trusted namespace of 03.0's test cells: the instructor notebook's imports."""
    return authored.namespace(SETTINGS)


POINTS = {
    gid: float(cell.metadata["nbgrader"]["points"])
    for cell in nbformat.read(RELEASE, as_version=4).cells
    if (gid := grade_id(cell)) and cell.metadata["nbgrader"].get("grade")
}
FULL_MARKS = sum(POINTS.values())

LIMITS = Limits(cell_timeout_s=5, notebook_timeout_s=60, memory_bytes=1024**3)
BOUND_S = 30.0
"""Seconds any tamper or abuse run may take: the slowest case (a cell that ignores the interrupt,
5 s, then 3 s of grace before the kill) plus the notebook's own 3 s and a wide margin."""
ABUSE_BOUND_S = {"fork_bomb": 60.0}
"""Abuse that goes on beside the test cells: the fork bomb's processes spin until the kernel ends,
in the jail's own CPU quota, so each of the test cells' calls into the kernel waits for its share
(about 9 s alone; 30 s once, on 2 loaded cores)."""
SNOOP_LIMITS = Limits(cell_timeout_s=90, notebook_timeout_s=150, memory_bytes=1024**3)
SNOOP_BOUND_S = 180.0

# --- what must never be shown -----------------------------------------------------------------


def _hidden_test_lines() -> set[str]:
    """Lines of the instructor notebook's hidden tests that the release notebook does not show."""
    released = {ln.strip() for c in nbformat.read(RELEASE, as_version=4).cells for ln in c.source.splitlines()}
    lines: set[str] = set()
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 20}
    return lines - released


def _grader_code_lines() -> set[str]:
    """``def``/``class`` lines of the grader's checks and course code."""
    lines = set()
    for path in [*(REPO / "autograder" / "course").glob("*.py"), *(REPO / "autograder" / "checks").glob("*.py")]:
        for line in path.read_text().splitlines():
            text = line.strip()
            if text.startswith(("def ", "class ")) and len(text) > 20:
                lines.add(text)
    return lines


FloatArray = np.ndarray[Any, np.dtype[np.float64]]


def record_inputs(scope: dict[str, Any], tests: list[str], namespace: dict[str, Any]) -> FloatArray:
    """The magnitudes of every element of every float array that ``tests`` (test cells) pass to the
    callables of ``scope`` (the solution's names, made by running its cells here), sorted: the
    hidden inputs, as the kernel would receive them."""
    seen: list[np.ndarray[Any, Any]] = []

    def recording(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            seen.extend(np.array(a) for a in [*args, *kwargs.values()] if isinstance(a, np.ndarray))
            result = function(*args, **kwargs)
            if callable(getattr(result, "predict", None)):  # a model: what its predict() gets enters the kernel
                object.__setattr__(result, "predict", recording(result.predict))
            return result
        return call

    student = {name: recording(value) if callable(value) and not isinstance(value, type) else value
               for name, value in scope.items() if not name.startswith("__") and name != "np"}
    for source in tests:
        exec(source, {**namespace, **student})
    floats = [a.ravel() for a in seen if a.dtype.kind == "f"]
    return np.sort(np.abs(np.concatenate(floats))) if floats else np.zeros(0)


def _hidden_inputs() -> FloatArray:
    """03.0's hidden inputs: its test cells run here on the solution."""
    scope: dict[str, Any] = {"np": np}
    for cell in nbformat.read(SOLUTION, as_version=4).cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution"):
            exec(cell.source, scope)
    return record_inputs(scope, [c.test_source for c in CHECKS], trusted_namespace())


HIDDEN_MATERIAL = sorted(_hidden_test_lines() | _grader_code_lines())
PROBE_INTERNALS = ("__ag_", "@@autograder-", "_plain(", "student[", "c0.out", "c0.in.", "c0.s1.", "__autograder_")
"""Names of the grader's in-kernel code (probes before, the test cells' bridge now)."""
HIDDEN_INPUTS = _hidden_inputs()
HIDDEN_DIGITS = 8
"""A number printed with this many decimals or more that equals a hidden input to its last
decimal is taken for a piece of it (numpy prints 8; a random match is then one in millions)."""
assert HIDDEN_INPUTS.size > 500, "the test cells no longer pass hidden arrays; update _hidden_inputs"


def shows_hidden_input(token: str, inputs: FloatArray | None = None) -> bool:
    """Whether the number ``token`` is one of ``inputs`` (sorted magnitudes; 03.0's by default) to its
    last decimal."""
    inputs = HIDDEN_INPUTS if inputs is None else inputs
    value = float(token)
    tolerance = 10.0 ** -(len(token) - token.index(".") - 1)
    at = int(np.searchsorted(inputs, value - tolerance))
    return at < inputs.size and float(inputs[at]) <= value + tolerance


def leaks(text: str, *, probe_internals: bool) -> list[str]:
    """Pieces of hidden material in ``text``: grader code, hidden tests, hidden inputs (any number
    written with :data:`HIDDEN_DIGITS` decimals or more that is one of them), and with
    ``probe_internals`` the names of the grader's in-kernel code."""
    found = [s for s in HIDDEN_MATERIAL if s in text]
    found += [tok for tok in re.findall(rf"\d+\.\d{{{HIDDEN_DIGITS},}}", text) if shows_hidden_input(tok)]
    if probe_internals:
        found += [s for s in PROBE_INTERNALS if s in text]
    return found


def outputs_text(run: NotebookRun) -> str:
    """Everything the executed notebook's cells printed or raised, as one string."""
    assert run.notebook is not None
    return "\n".join(str(output) for cell in run.notebook.cells for output in cell.get("outputs", []))


def cell_outputs(run: NotebookRun, tag: str) -> str | None:
    """The outputs of the cell whose source starts with ``# <tag>``; None if it never finished."""
    assert run.notebook is not None
    for cell in run.notebook.cells:
        if cell.get("cell_type") == "code" and cell.source.startswith(f"# {tag}"):
            return "\n".join(str(o) for o in cell.get("outputs", [])) if cell.get("outputs") else None
    raise KeyError(tag)


# --- files the sandbox must not change ----------------------------------------------------------


def protected_state() -> dict[str, str]:
    """sha256 of every file of ``source/`` and ``release/`` and of the gradebook, plus the files the
    write tricks try to create (absent: ``"absent"``)."""
    paths = [p for top in ("source", "release") for p in sorted((REPO / top).rglob("*")) if p.is_file()]
    paths += [REPO / "gradebook.db", *(REPO / rel for rel in tamper.PWNED)]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent" for p in paths}


# --- a server on 127.0.0.1 that no sandbox may reach --------------------------------------------


@dataclass
class LocalServer:
    """A TCP listener and a UDP socket on 127.0.0.1, recording whatever reaches them."""

    port: int = 0
    received: list[str] = field(default_factory=list)

    def __enter__(self) -> LocalServer:
        self._tcp = socket.create_server(("127.0.0.1", 0))
        self.port = self._tcp.getsockname()[1]
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._udp.bind(("127.0.0.1", self.port))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        self._tcp.settimeout(0.2)
        self._udp.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, peer = self._tcp.accept()
                self.received.append(f"tcp connection from {peer}")
                conn.close()
            except TimeoutError:
                pass
            try:
                data, peer = self._udp.recvfrom(4096)
                self.received.append(f"udp datagram from {peer}: {data[:60]!r}")
            except TimeoutError:
                pass

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self._tcp.close()
        self._udp.close()


# --- grading two at a time, with a watchdog -----------------------------------------------------

_JAILS: dict[int, Jail] = {}  # the jail each worker thread is grading in


class _RecordingJail(Jail):
    """The engine's jail, remembered for its thread so that the watchdog can stop that run only."""

    def __enter__(self) -> Jail:
        jail = super().__enter__()
        _JAILS[threading.get_ident()] = jail
        return jail


@dataclass
class Graded:
    """One notebook's grading: the run, or the exception grade_notebook raised."""

    run: NotebookRun | None
    error: BaseException | None
    seconds: float
    stopped_by_watchdog: bool

    def result(self) -> NotebookRun:
        if self.error is not None:
            raise self.error
        assert self.run is not None
        return self.run

    def statuses(self) -> dict[str, Status]:
        return {r.item: r.status for r in self.result().results}

    def total(self) -> float:
        return sum(r.points for r in self.result().results)


def grade_watched(path: Path, checks: list[Check], points: dict[str, float], limits: Limits, bound_s: float,
                  files: dict[str, bytes] | None = None,
                  namespace: Callable[[], dict[str, Any]] = trusted_namespace,
                  settings: dict[str, Any] | None = None) -> Graded:
    """Grade ``path`` in this thread; a watchdog kills the run's jail if it outlives ``bound_s``."""
    stopped = threading.Event()
    me = threading.get_ident()

    def stop() -> None:
        jail = _JAILS.get(me)
        if jail is not None and jail.cgroup is not None:
            stopped.set()
            jail.cgroup.kill_all()

    watchdog = threading.Timer(bound_s, stop)
    watchdog.start()
    start = time.monotonic()
    try:
        run = grade_notebook(path, checks, points, limits, files, namespace, settings)
        error = None
    except Exception as exc:  # reported by the test that reads it
        run, error = None, exc
    finally:
        watchdog.cancel()
        _JAILS.pop(me, None)
    return Graded(run, error, time.monotonic() - start, stopped.is_set())


class Batch:
    """Notebooks graded in the background by ``workers`` threads; ``get(key)`` waits for one."""

    def __init__(self, folder: Path, workers: int = 2) -> None:
        self.folder = folder
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="grade")
        self.jobs: dict[str, Future[Graded]] = {}

    def submit(self, key: str, nb: nbformat.NotebookNode, limits: Limits = LIMITS, bound_s: float = BOUND_S, *,
               checks: list[Check] = CHECKS, points: dict[str, float] = POINTS,
               files: dict[str, bytes] | None = None,
               namespace: Callable[[], dict[str, Any]] = trusted_namespace,
               settings: dict[str, Any] | None = None) -> None:
        path = self.folder / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', key)}.ipynb"
        nbformat.write(nb, path)
        self.jobs[key] = self.pool.submit(grade_watched, path, checks, points, limits, bound_s, files, namespace,
                                      settings)

    def get(self, key: str) -> Graded:
        return self.jobs[key].result()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    with LocalServer() as srv:
        yield srv


@pytest.fixture(scope="module")
def canary(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A fake gradebook on the grading machine, outside the course, holding a unique token."""
    token = "canary-" + hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:24]
    path = tmp_path_factory.mktemp("secret") / "gradebook.db"
    path.write_text(f"SQLite format 3\0{token}\n")
    return path, token


@pytest.fixture(scope="module")
def protected() -> dict[str, str]:
    """The protected files' state before any submission ran."""
    return protected_state()


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, server: LocalServer, canary: tuple[Path, str],
           protected: dict[str, str]) -> Iterator[Batch]:
    """Every submission of this module, submitted at once in the order the tests read them."""
    folder = tmp_path_factory.mktemp("submissions")
    wrong_path = folder / "wrong.ipynb"
    nbformat.write(tamper.wrong_submission(SOLUTION), wrong_path)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notebook_module, "Jail", _RecordingJail)
        batch = Batch(folder)
        batch.submit("wrong", nbformat.read(wrong_path, as_version=4))
        for name in TAMPER:
            batch.submit(f"tamper:{name}", tamper.tampered(wrong_path, name))
        for name in HARMLESS:
            batch.submit(f"harmless:{name}", tamper.tampered(SOLUTION, name))
        for name in abuse.CASES:
            batch.submit(f"abuse:{name}", abuse.abused(SOLUTION, name, server.port),
                         bound_s=ABUSE_BOUND_S.get(name, BOUND_S))
        snoop = tamper.insert_cells(nbformat.read(SOLUTION, as_version=4), tamper.snoop_cell(canary[0]),
                                    "first", "snoop")
        batch.submit("snoop", snoop, SNOOP_LIMITS, SNOOP_BOUND_S)
        yield batch
        batch.pool.shutdown(wait=True, cancel_futures=True)


def _in_bound(graded: Graded, bound_s: float = BOUND_S) -> None:
    assert not graded.stopped_by_watchdog, f"grading hung; the watchdog killed the jail after {bound_s:g} s"
    assert graded.seconds < bound_s


# --- the tests ------------------------------------------------------------------------------------


def test_wrong_submission_earns_nothing(graded: Batch) -> None:
    """The base of every trick earns 0 points on its own, and its messages pass the leak checks."""
    got = graded.get("wrong")
    assert got.total() == 0.0, got.result().results
    assert set(got.statuses().values()) == {Status.FAILED}
    for r in got.result().results:
        assert not leaks(r.message, probe_internals=True), r


def test_leak_check_finds_hidden_inputs() -> None:
    """The leak check flags a hidden input (as repr or numpy prints it) and the grader's in-kernel
    names, and not a plain message."""
    value = float(HIDDEN_INPUTS[HIDDEN_INPUTS.size // 2])
    assert leaks(f"mse raised ValueError: ({-value!r},)", probe_internals=False)
    assert leaks(str(np.array([value, 1.0])), probe_internals=False)
    assert not leaks(str(np.array([value + 1e-7])), probe_internals=False)
    assert leaks("KeyError: 'c0.out'", probe_internals=True)
    assert leaks("NameError: __autograder_0a1b2c__", probe_internals=True)
    assert not leaks("mse: wrong value: expected 1.614 (got 11.3)", probe_internals=True)


@pytest.mark.parametrize("name", list(TAMPER))
def test_trick_earns_nothing(name: str, graded: Batch, protected: dict[str, str]) -> None:
    """A cheating trick on wrong solutions: 0 points, nothing hidden shown, nothing written."""
    got = graded.get(f"tamper:{name}")
    run = got.result()
    _in_bound(got)
    assert got.total() == 0.0, [(r.item, r.status.value, r.points, r.message[:100]) for r in run.results]
    for r in run.results:
        assert not leaks(r.message, probe_internals=True), (r.item, r.message[:300])
    shown = leaks(outputs_text(run), probe_internals=False)
    assert not shown, shown[:3]
    assert protected_state() == protected


@pytest.mark.parametrize("name", list(HARMLESS))
def test_harmless_habit_keeps_full_marks(name: str, graded: Batch) -> None:
    """An odd but honest habit on the solution: every item passes."""
    got = graded.get(f"harmless:{name}")
    run = got.result()
    _in_bound(got)
    assert got.total() == FULL_MARKS, [(r.item, r.status.value, r.message[:100]) for r in run.results]


@pytest.mark.parametrize("name", list(abuse.CASES))
def test_abuse_is_contained(name: str, graded: Batch, server: LocalServer, protected: dict[str, str]) -> None:
    """Abuse on the solution: bounded time, the expected statuses, no network, nothing written."""
    got = graded.get(f"abuse:{name}")
    _in_bound(got, ABUSE_BOUND_S.get(name, BOUND_S))
    run = got.result()
    expected = abuse.expected_statuses(name)
    wrong = {i: (s.value, sorted(x.value for x in expected[i])) for i, s in got.statuses().items()
             if s not in expected[i]}
    assert not wrong, wrong
    shows = abuse.CASES[name].shows
    if shows is not None:
        output = cell_outputs(run, f"abuse: {name}")
        assert output is not None and shows in output, output
    assert server.received == []
    assert protected_state() == protected


def test_sandbox_sees_no_hidden_material(graded: Batch, canary: tuple[Path, str]) -> None:
    """A cell that walks the sandbox's file system and tries the course's paths reads nothing
    hidden: no grader code, no hidden test, no canary from the grading machine."""
    got = graded.get("snoop")
    snooped(got, canary[1])
    shown = leaks(outputs_text(got.result()), probe_internals=False)
    assert not shown, shown[:3]
    assert got.total() == FULL_MARKS  # the snooping did not disturb grading


def snooped(got: Graded, token: str, bound_s: float = SNOOP_BOUND_S) -> str:
    """The snooping cell's output, once shown to have walked the whole file system the sandbox
    sees within ``bound_s`` without finding the canary or importing the grader."""
    _in_bound(got, bound_s)
    run = got.result()
    output = cell_outputs(run, "snoop")
    assert output is not None, "the snooping cell did not finish"
    walked = re.search(r"walked (\d+) entries", output)
    assert walked and int(walked.group(1)) > 10_000, "the walk did not cover the file system"
    assert "finder points to" in output  # the editable install's finder is visible; its target is not
    assert token not in outputs_text(run)
    assert "IMPORTED" not in output
    return output

