"""Cheating and abusive submissions of an assignment written as a notebook only, graded by
``autograder grade`` (:func:`autograder.batch.grade`) in real jails from its own test cells.

The assignment is :mod:`tests.test_authored`'s ``04.0_linear_regression``, built the same way
in a temporary course; :mod:`tests.corpus.authored_target` fills the corpora in for it.

- Every trick of :func:`tests.corpus.tamper.tricks` and every attack of
  :data:`~tests.corpus.authored_target.ATTACKS` (forged in-kernel answers, a replaced kernel
  ``raw_input`` or in-kernel side, stub calls while names are looked up, lying objects, huge and
  recursive answers, exceptions that read like verdicts, stubs called endlessly, with hostile
  arguments or in a later test, sleeps, a killed kernel, arguments passed on through a file,
  the test's code hunted in the kernel, a background thread injecting prompts) on wrong answers
  earns 0 on every item, shows nothing hidden (the hidden blocks' lines, the constants the
  tests do not pass, the expected values, ``np.testing``'s report) in the autograded notebook
  or the feedback, and writes nothing it must not.
- Every habit of :func:`~tests.corpus.tamper.habits` and :data:`~tests.corpus.authored_target.HABITS`
  on the solution keeps full marks.
- Every case of :func:`tests.corpus.abuse.cases` on the solution ends in bounded time with the
  expected statuses; the network cases reach no server on 127.0.0.1.
- A cell that walks the whole file system the sandbox sees finds neither the instructor
  notebook nor the gradebook, and grading goes on undisturbed.
- The batch goes on: every submission is graded and recorded, none raises.

Wrong functions that change their array arguments in place are written back into the test's
arrays (by design: a test must see what the student's code did to its inputs), so a test cell
computes its expected values before the call, as tests/test_authored.py's do.

Everything is graded up front by the module fixture ``graded``: one ``batch.grade`` of every
submission, two at a time, under short limits (5 s a cell, 1 GiB), and one of the snooping
cell under longer ones; a watchdog kills the jail of a run that outlives its bound (see
:mod:`tests.test_security`). Feedback is then generated for every student with nbgrader.
"""

from __future__ import annotations

import hashlib
import html
import re
import shutil
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

import autograder.run.notebook as notebook_module
from autograder import batch, config, feedback
from autograder.checks.base import Status
from autograder.gradebook import Course
from tests import test_security as base
from tests.conftest import REPO
from tests.corpus import abuse, tamper
from tests.corpus.authored_target import (
    ARGUMENT_CHANGES,
    ATTACKS,
    HABITS,
    LINEAR_REGRESSION,
    WRONG,
    attacked,
)
from tests.test_authored import ASSIGNMENT, SOLUTION, TESTS, instructor_notebook, student
from tests.test_security import LocalServer

pytestmark = pytest.mark.slow

TARGET = LINEAR_REGRESSION
ITEMS = TARGET.items
FULL_MARKS = 7.0
LIMITS = "memory_mb = 1024\ncell_timeout_s = 5\nnotebook_timeout_s = 60\n"
"""course.toml's limits for every run but the snooping cell's."""
SNOOP_LIMITS = "memory_mb = 1024\ncell_timeout_s = 90\nnotebook_timeout_s = 150\n"
BOUND_S = 60.0
"""Seconds any run may take: the slowest case (a test that ignores the interrupt: 5 s, then 3 s
of grace before the kill, and the next test closed) plus kernel start and a wide margin."""
SNOOP_BOUND_S = 180.0

# --- what must never be shown -----------------------------------------------------------------

_HIDDEN_BLOCK = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)


def _hidden_test_lines() -> set[str]:
    """Lines of the hidden blocks (longer than 11 characters) that no visible part of a test shows."""
    visible = {ln.strip() for source in TESTS.values() for ln in _HIDDEN_BLOCK.sub("", source).splitlines()}
    return {ln.strip() for source in TESTS.values() for block in _HIDDEN_BLOCK.findall(source)
            for ln in block.splitlines() if len(ln.strip()) > 11} - visible


def _expected_values() -> set[str]:
    """The values the tests expect (what the solution returns to them), each as its first four
    decimals (``1.3115``), where it has more: a report of any of them shows at least that."""
    returned: list[Any] = []

    def recording(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            out = function(*args, **kwargs)
            returned.extend(out if isinstance(out, tuple) else [out])
            return out
        return call

    scope: dict[str, Any] = {"np": np}
    for source in SOLUTION.values():
        exec(source, scope)
    for name in SOLUTION:
        scope[name] = recording(scope[name])
    for source in TESTS.values():
        exec(source, dict(scope))
    shown = set()
    for value in np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in returned]):
        text = repr(abs(float(value)))
        if "e" not in text and abs(value * 1e4 - round(value * 1e4)) > 1e-6:
            shown.add(text[: text.index(".") + 5])
    return shown


HIDDEN_LINES = _hidden_test_lines()
EXPECTED = _expected_values()
MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS", "default_rng", "rtol=", "atol=", "DESIRED", "ACTUAL",
           "Mismatched elements", "Max absolute difference", "Max relative difference")
"""Pieces of the hidden tests (their seeds and tolerances) and of ``np.testing``'s report."""
HIDDEN_CONSTANT = re.compile(r"(?<![\d.])3\.0*\s*,\s*-1\.0*(?!\d)")
"""The minimum of the function that ``test_descend`` gives ``descend``'s gradient: never passed."""
assert len(HIDDEN_LINES) > 10 and len(EXPECTED) > 10, (HIDDEN_LINES, EXPECTED)


def leaks(text: str, own: str = "") -> list[str]:
    """Hidden material in ``text`` that is not in ``own`` (the student's own notebook: a student
    may type anything, a guess of a constant included)."""
    found = [s for s in (*HIDDEN_LINES, *MARKERS, *EXPECTED) if s in text and s not in own]
    return found + [m[0] for m in HIDDEN_CONSTANT.finditer(text) if not HIDDEN_CONSTANT.search(own)]


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """Every cell's source and every output's text, as one string."""
    parts = []
    for cell in nb.cells:
        parts.append(cell.source)
        for output in cell.get("outputs", []):
            parts += [str(output.get(k, "")) for k in ("text", "evalue")]
            parts += [str(v) for v in output.get("data", {}).values()]
            parts += [str(line) for line in output.get("traceback", [])]
    return "\n".join(parts)


def html_text(path: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(errors="replace")))


# --- the course, its submissions, and grading with a watchdog ---------------------------------


def make_course(root: Path, limits: str, submissions: Callable[[nbformat.NotebookNode], dict[str, Any]]) -> Course:
    """A course at ``root`` with the assignment (no entry in course.toml: graded from its own test
    cells), generated as nbgrader does, and the submissions ``submissions(release)`` makes."""
    shutil.copy(REPO / "nbgrader_config.py", root)
    (root / "course.toml").write_text(f"[grading]\nworkers = 2\n{limits}")
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    nbformat.write(instructor_notebook(), root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    course = Course(root)
    course.ensure_assignment(ASSIGNMENT)
    release = nbformat.read(course.release_dir(ASSIGNMENT) / f"{ASSIGNMENT}.ipynb", as_version=4)
    for name, nb in submissions(release).items():
        folder = root / "submitted" / name / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")
        (folder / "timestamp.txt").write_text("2026-12-07 12:00:00.000000 UTC")
    return course


class WatchedExecutor(batch.LocalExecutor):
    """The engine's local executor, with a watchdog per job that kills that job's own jail when it
    outlives ``bound_s``, the time each job took, and any exception a job raised (the job then
    ends unfinished, so that one test fails instead of the whole module)."""

    def __init__(self, workers: int, bound_s: float) -> None:
        super().__init__(workers)
        self.bound_s = bound_s
        self.seconds: dict[str, float] = {}
        self.stopped: set[str] = set()
        self.raised: dict[str, str] = {}

    def run(self, fn: Callable[[batch.Job], batch.SubmissionRun],
            jobs: Iterable[batch.Job]) -> Iterator[batch.SubmissionRun]:
        def watched(job: batch.Job) -> batch.SubmissionRun:
            me, fired = threading.get_ident(), threading.Event()

            def stop() -> None:
                jail = base._JAILS.get(me)
                if jail is not None and jail.cgroup is not None:
                    fired.set()
                    jail.cgroup.kill_all()

            watchdog = threading.Timer(self.bound_s, stop)
            watchdog.start()
            start = time.monotonic()
            try:
                return fn(job)
            except Exception:
                self.raised[job.student] = traceback.format_exc()
                return batch.unfinished(job, Status.ERROR, "grading raised")
            finally:
                watchdog.cancel()
                base._JAILS.pop(me, None)
                self.seconds[job.student] = time.monotonic() - start
                if fired.is_set():
                    self.stopped.add(job.student)

        return super().run(watched, jobs)


@dataclass
class Grading:
    """One course graded: its runs by student, what the watchdog saw, the feedback written."""

    course: Course
    submitted: dict[str, nbformat.NotebookNode]
    runs: dict[str, batch.SubmissionRun] = field(default_factory=dict)
    executor: WatchedExecutor | None = None
    feedback: feedback.Report | None = None
    seconds: float = 0.0

    def run(self, name: str) -> batch.SubmissionRun:
        assert self.executor is not None
        assert name not in self.executor.raised, self.executor.raised.get(name)
        return self.runs[name]

    def results(self, name: str) -> dict[str, tuple[Status, float, str]]:
        return {r.item: (r.status, r.points, r.message) for r in self.run(name).results[ASSIGNMENT]}

    def autograded(self, name: str) -> nbformat.NotebookNode:
        path = self.course.autograded_dir(name, ASSIGNMENT) / f"{ASSIGNMENT}.ipynb"
        return nbformat.read(path, as_version=4)

    def own(self, name: str) -> str:
        return "\n".join(cell.source for cell in self.submitted[name].cells)

    def feedback_files(self, name: str) -> list[Path]:
        assert self.feedback is not None
        return self.feedback.written.get(name, [])

    def in_bound(self, name: str, bound_s: float) -> None:
        assert self.executor is not None
        assert name not in self.executor.stopped, f"grading hung; the watchdog killed the jail after {bound_s:g} s"
        assert self.executor.seconds[name] < bound_s


def grade(course: Course, submitted: dict[str, nbformat.NotebookNode], bound_s: float) -> Grading:
    """``batch.grade`` every submission of ``course``, then nbgrader feedback for every student."""
    out = Grading(course, submitted, executor=WatchedExecutor(2, bound_s))
    start = time.monotonic()
    runs = batch.grade(course, ASSIGNMENT, config.load(course.root), executor=out.executor, progress=False)
    out.runs = {run.job.student: run for run in runs}
    out.feedback = feedback.generate(course, ASSIGNMENT)
    out.seconds = time.monotonic() - start
    return out


server = base.server
canary = base.canary
"""The local server the network cases try, and the fake gradebook the snooping cell hunts for."""


def protected_state(roots: Iterable[Path]) -> dict[str, str]:
    """sha256 of every file of ``source/`` and ``release/`` under each of ``roots``, of this
    repository's gradebook and of the files the write tricks try to create ("absent" if none)."""
    paths = [p for root in roots for top in ("source", "release") for p in sorted((root / top).rglob("*"))
             if p.is_file()]
    paths += [REPO / "gradebook.db", *(REPO / rel for rel in TARGET.pwned)]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent" for p in paths}


@dataclass
class Gradings:
    main: Grading
    snoop: Grading
    protected_before: dict[str, str]
    roots: tuple[Path, Path]
    canary_token: str


def _submissions(port: int) -> Callable[[nbformat.NotebookNode], dict[str, nbformat.NotebookNode]]:
    def make(release: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
        wrong, good = student(release, **WRONG), student(release, **SOLUTION)
        subs = {"wrong": wrong, "argument-changes": student(release, **{**WRONG, **ARGUMENT_CHANGES})}
        subs |= {f"attack-{name}": attacked(wrong, name) for name in ATTACKS}
        subs |= {f"tamper-{name}": tamper.tampered(wrong, name, TARGET) for name in tamper.tricks(TARGET)}
        subs |= {f"abuse-{name}": abuse.abused(good, name, port, TARGET) for name in abuse.cases(TARGET)}
        subs |= {f"habit-{name}": tamper.tampered(good, name, TARGET) for name in tamper.habits(TARGET)}
        subs |= {f"habit-{name}": attacked(good, name, HABITS) for name in HABITS}
        return subs
    return make


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, server: LocalServer,
           canary: tuple[Path, str]) -> Iterator[Gradings]:
    main_root, snoop_root = tmp_path_factory.mktemp("authored-course"), tmp_path_factory.mktemp("authored-snoop")
    main = make_course(main_root, LIMITS, _submissions(server.port))

    def snooping(release: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
        course_paths = tuple(str(p) for p in (main_root, main_root / "source", main_root / "gradebook.db",
                                              main_root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"))
        cell = tamper.snoop_cell(canary[0], TARGET, course_paths, ("linear_regression",))
        return {"snoop": tamper.insert_cells(student(release, **SOLUTION), cell, "first", "snoop")}

    snoop = make_course(snoop_root, SNOOP_LIMITS, snooping)
    roots = (main_root, snoop_root)
    before = protected_state(roots)
    read = {name: nbformat.read(p / f"{ASSIGNMENT}.ipynb", as_version=4)
            for name, p in main.submitted(ASSIGNMENT).items()}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notebook_module, "Jail", base._RecordingJail)
        main_grading = grade(main, read, BOUND_S)
        snoop_read = {name: nbformat.read(p / f"{ASSIGNMENT}.ipynb", as_version=4)
                      for name, p in snoop.submitted(ASSIGNMENT).items()}
        snoop_grading = grade(snoop, snoop_read, SNOOP_BOUND_S)
    yield Gradings(main_grading, snoop_grading, before, roots, canary[1])


# --- checks shared by the tests -------------------------------------------------------------------

_HEADER = re.compile(r"\[(passed|failed|error|timeout|out-of-memory|kernel died|missing)\] [\d.]+ / [\d.]+ points")


def verdict_outputs_are_the_graders(nb: nbformat.NotebookNode) -> None:
    """Each test cell of the autograded notebook has one output: the grader's header, then the
    message on one line, in which no status in brackets stands outside the student's «quotes»."""
    seen = set()
    for cell in nb.cells:
        item = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if item not in ITEMS:
            continue
        seen.add(item)
        assert len(cell.outputs) == 1, (item, cell.outputs)
        output = cell.outputs[0]
        text = output.get("text") or output.get("traceback", [""])[0]
        lines = text.splitlines()
        assert len(lines) == 2 and _HEADER.fullmatch(lines[0]), (item, text[:300])
        outside = re.sub(r"«[^«»]*»", "", lines[1])
        assert not _HEADER.search(outside) and not re.search(r"\[(passed|failed|error)\]", outside), (item, lines[1])
    assert seen == set(ITEMS)


def nothing_hidden_shown(grading: Grading, name: str) -> None:
    """No hidden material in the run's messages, its autograded notebook or its feedback."""
    own = grading.own(name)
    for r in grading.run(name).results[ASSIGNMENT]:
        assert not leaks(r.message, own), (r.item, r.message[:300])
    shown = leaks(notebook_text(grading.autograded(name)), own)
    assert not shown, shown[:3]
    assert grading.feedback is not None
    assert name not in grading.feedback.missing, grading.feedback.missing[name]
    files = grading.feedback_files(name)
    assert files
    for path in files:
        shown = leaks(html_text(path), own)
        assert not shown, (path.name, shown[:3])


def earns_nothing(grading: Grading, name: str) -> None:
    """0 points on every item, in bound, the verdicts the grader's, nothing hidden shown."""
    grading.in_bound(name, BOUND_S)
    results = grading.results(name)
    assert {item: points for item, (_, points, _) in results.items()} == dict.fromkeys(ITEMS, 0.0), \
        {item: (status.value, points, message[:150]) for item, (status, points, message) in results.items()}
    assert grading.course.scores(ASSIGNMENT)[name] == (0.0, FULL_MARKS)
    verdict_outputs_are_the_graders(grading.autograded(name))
    nothing_hidden_shown(grading, name)


# --- the tests ------------------------------------------------------------------------------------


def test_the_batch_goes_on(graded: Gradings) -> None:
    """Every submission was graded and recorded in the gradebook, none raised, none hung."""
    for grading in (graded.main, graded.snoop):
        assert grading.executor is not None
        assert not grading.executor.raised, "\n".join(grading.executor.raised.values())[-3000:]
        assert not grading.executor.stopped
        assert set(grading.runs) == set(grading.submitted)
        assert all(len(run.results[ASSIGNMENT]) == len(ITEMS) for run in grading.runs.values())
        assert set(grading.course.scores(ASSIGNMENT)) == set(grading.submitted)
    assert protected_state(graded.roots) == graded.protected_before


def test_leak_check_finds_hidden_material() -> None:
    """The leak check flags a hidden test line, a seed, np.testing's report of expected values and
    the hidden minimum, unless the student typed them; and not a plain message."""
    try:
        rng = np.random.default_rng(4)
        X, w = rng.normal(size=(7, 3)), rng.normal(size=3)
        np.testing.assert_allclose(X @ w, X @ w - 1.5, rtol=1e-9)
    except AssertionError as exc:
        report = str(exc)
    assert leaks(report) and [s for s in leaks(report) if s in EXPECTED]
    line = sorted(HIDDEN_LINES)[0]
    assert leaks(f"AssertionError\n----> 3 {line}") == [line]
    assert leaks("descend: expected array([ 3., -1.])") and leaks("the minimum is [3.0, -1.0]")
    assert not leaks("the minimum is [3.0, -1.0]", own="guess = [3.0, -1.0]")
    assert not leaks("check 8 of the test failed") and not leaks("mse_grads: dw is off by 2.48")


def test_wrong_submission_earns_nothing(graded: Gradings) -> None:
    """The base of every trick and attack fails each item, with the test's own messages."""
    earns_nothing(graded.main, "wrong")
    assert {status for status, *_ in graded.main.results("wrong").values()} == {Status.FAILED}


def test_library_assertions_show_no_expected_values(graded: Gradings) -> None:
    """``np.testing.assert_allclose`` failing in a hidden block reports which check failed, never
    its report of the expected values (the instructor's own messages are shown as written)."""
    results = graded.main.results("wrong")
    assert results["test_predict"][2] == "check 10 of the test failed"
    assert results["test_mse_grads"][2].startswith("mse_grads: dw is off by")


@pytest.mark.parametrize("name", list(tamper.tricks(TARGET)))
def test_trick_earns_nothing(name: str, graded: Gradings) -> None:
    """A trick of the tamper corpus on the wrong answers: 0 on every item, nothing hidden shown."""
    earns_nothing(graded.main, f"tamper-{name}")


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_earns_nothing(name: str, graded: Gradings) -> None:
    """An attack on this design, on the wrong answers: 0 on every item, the expected statuses,
    nothing hidden shown."""
    key = f"attack-{name}"
    earns_nothing(graded.main, key)
    results = graded.main.results(key)
    unexpected = {item: (results[item][0].value, sorted(s.value for s in statuses), results[item][2][:150])
                  for item, statuses in ATTACKS[name].expected.items() if results[item][0] not in statuses}
    assert not unexpected, unexpected


def test_the_kernel_never_holds_the_tests_code(graded: Gradings) -> None:
    """The student's functions searched frames, the garbage collector, the in-kernel module and
    files for pieces of the test cells during the tests, and found none."""
    for item, (_, _, message) in graded.main.results("attack-test_code_hunted_in_kernel").items():
        assert "raised NothingFound" in message, (item, message)


def test_forged_or_quoted_verdicts_stay_the_students(graded: Gradings) -> None:
    """Exceptions and type names that read like verdicts are shown quoted, on the message line."""
    results = graded.main.results("attack-exceptions_like_verdicts")
    assert results["test_predict"][2].startswith("predict raised ValueError: «")
    assert results["test_descend"][2].startswith("descend raised AssertionError: «")
    assert results["test_descend"][0] is Status.ERROR  # a class of the student's named AssertionError fails nothing
    results = graded.main.results("attack-types_named_like_verdicts")
    assert results["test_mse_grads"][2].startswith("«[passed] 3 / 3 points⏎"), results["test_mse_grads"]


@pytest.mark.parametrize("name", [*tamper.habits(TARGET), *HABITS])
def test_harmless_habit_keeps_full_marks(name: str, graded: Gradings) -> None:
    """An odd but honest habit on the solution: every item passes."""
    key = f"habit-{name}"
    graded.main.in_bound(key, BOUND_S)
    assert graded.main.course.scores(ASSIGNMENT)[key] == (FULL_MARKS, FULL_MARKS), graded.main.results(key)


@pytest.mark.parametrize("name", abuse.cases(TARGET))
def test_abuse_is_contained(name: str, graded: Gradings, server: LocalServer) -> None:
    """Abuse on the solution: bounded time, the expected statuses, no network."""
    key = f"abuse-{name}"
    graded.main.in_bound(key, BOUND_S)
    expected = abuse.expected_statuses(name, TARGET)
    results = graded.main.results(key)
    unexpected = {item: (status.value, sorted(s.value for s in expected[item]), message[:150])
                  for item, (status, _, message) in results.items() if status not in expected[item]}
    assert not unexpected, unexpected
    shows = abuse.cases(TARGET)[name].shows
    if shows is not None:
        notebook = graded.main.run(key).notebooks[ASSIGNMENT]
        assert notebook is not None
        cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith(f"# abuse: {name}"))
        output = "\n".join(str(o) for o in cell.get("outputs", []))
        assert shows in output, output[-2000:]
    assert server.received == []


def test_sandbox_sees_no_hidden_material(graded: Gradings) -> None:
    """A cell that walks the sandbox's file system and tries the course's paths (the instructor
    notebook, the gradebook) reads nothing hidden, and the solution still gets full marks."""
    grading = graded.snoop
    grading.in_bound("snoop", SNOOP_BOUND_S)
    notebook = grading.run("snoop").notebooks[ASSIGNMENT]
    assert notebook is not None
    cell = next(c for c in notebook.cells if c.cell_type == "code" and c.source.startswith("# snoop"))
    output = "\n".join(str(o) for o in cell.get("outputs", []))
    walked = re.search(r"walked (\d+) entries", output)
    assert walked and int(walked.group(1)) > 10_000, "the walk did not cover the file system"
    assert "IMPORTED" not in output and graded.canary_token not in output
    for path in (graded.roots[0] / "gradebook.db", graded.roots[0] / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"):
        assert f"cannot read {path} FileNotFoundError" in output, output[-3000:]
    shown = leaks(output)
    assert not shown, shown[:3]
    nothing_hidden_shown(grading, "snoop")
    assert grading.course.scores(ASSIGNMENT)["snoop"] == (FULL_MARKS, FULL_MARKS)


def test_changed_arguments_cannot_make_a_wrong_answer_pass(graded: Gradings) -> None:
    """Wrong functions that zero ``w`` (predict) or make ``y`` the predictions (mse_grads) in place."""
    earns_nothing(graded.main, "argument-changes")
