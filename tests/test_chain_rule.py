"""Assignment 03.3_chain_rule: its notebook's own test cells, its notebooks, a class graded end to end.

03.3 is an authored assignment (:mod:`autograder.authored`): its hidden checks are the hidden blocks
of the instructor notebook's test cells, which compare every gradient with ``tf.GradientTape`` and
with central differences (:mod:`nbexpect.gradients`) and explain a failure (index, expected and
returned value, a hint).  The fast tests run those blocks in this process against the solution's
functions (the references, the hidden inputs, junk answers).  ``TestClassBatch`` (marked slow) grades
submissions in sandboxed kernels into nbgrader's gradebook: the solution, the blank release, and
every variant of ``tests/corpus/chain_rule_variants.py``, several per submission where no check of
one can see another (:func:`pack`).  The message tests read the messages of that batch.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbexpect
import nbformat
import numpy as np
import pytest
from nbexpect import Failed, gradient_hint
from nbexpect.gradients import blame_stub, central_differences, expect_tuple, tape_gradients
from nbgrader.api import Gradebook

from autograder import authored, batch, config
from autograder.checks.base import Status
from autograder.demo import write_course
from autograder.gradebook import Course
from tests.conftest import REPO
from tests.corpus.chain_rule_variants import (
    DEPENDENTS,
    EXTRAS,
    SHARES_A_SUBMISSION_WITH_NONE_OF,
    VARIANTS,
    with_cell,
)

ASSIGNMENT = "03.3_chain_rule"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK
RELEASE = REPO / "release" / ASSIGNMENT / NOTEBOOK
ITEMS = ["test_d_sigmoid", "test_d_tanh", "test_d_softplus", "test_d_composite", "test_dense_forward",
         "test_dense_backward", "test_relu_forward", "test_relu_backward", "test_mlp_loss_and_grads",
         "test_train_mlp"]
POINTS = {"test_d_sigmoid": 1.0, "test_d_tanh": 1.0, "test_d_softplus": 1.0, "test_d_composite": 2.0,
          "test_dense_forward": 1.0, "test_dense_backward": 3.0, "test_relu_forward": 1.0,
          "test_relu_backward": 1.0, "test_mlp_loss_and_grads": 4.0, "test_train_mlp": 3.0}
AUTOMATIC, MANUAL = sum(POINTS.values()), 3.0
GRADIENT_ITEMS = {"test_d_sigmoid": 3, "test_d_tanh": 3, "test_d_softplus": 3, "test_d_composite": 3,
                  "test_dense_backward": 9, "test_relu_backward": 3, "test_mlp_loss_and_grads": 12}  # calls
TAPE_RTOL, NUMERIC_RTOL, NUMERIC_ATOL = 1e-6, 1e-5, 1e-7  # the test cells' tolerances
MIN_ACCURACY = 0.93
VARIANT_CASES = [(gid, name) for gid, variants in VARIANTS.items() for name in variants]
EXTRA_CASES = [(gid, name) for gid, extras in EXTRAS.items() for name in extras]
HIDDEN = re.compile(r"^### BEGIN HIDDEN TESTS\n(.*?)^### END HIDDEN TESTS\n?", re.S | re.M)


@functools.cache
def _settings() -> dict[str, Any]:
    return authored.read(REPO / "source" / ASSIGNMENT)


def cell_source(item: str) -> str:
    return str(dict(_settings()[authored.TESTS])[item])


def hidden(item: str) -> str:
    """The hidden block of ``item``'s test cell (one per cell)."""
    blocks = HIDDEN.findall(cell_source(item))
    assert len(blocks) == 1, item
    return str(blocks[0])


@functools.cache
def _solution_sources() -> tuple[str, ...]:
    nb = nbformat.read(SOLUTION, as_version=4)
    return tuple(c.source for c in nb.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))


def student(**replacements: Callable[..., Any] | str) -> dict[str, Any]:
    """The solution's namespace, as a kernel would hold it, with functions (name -> source or function) replaced."""
    namespace: dict[str, Any] = {"np": np}
    for source in _solution_sources():
        exec(source, namespace)
    for name, replacement in replacements.items():
        if isinstance(replacement, str):
            exec(replacement, namespace)
        else:
            namespace[name] = replacement
    return namespace


def run_hidden(item: str, namespace: dict[str, Any], source: str | None = None) -> None:
    """Run ``item``'s hidden block here, as plain nbgrader would in the kernel: ``namespace`` is the student's."""
    exec(compile(source if source is not None else hidden(item), f"<{item}>", "exec"), {"np": np, **namespace})


def failure(item: str, namespace: dict[str, Any], source: str | None = None) -> str:
    """The message of the :class:`nbexpect.Failed` that ``item``'s hidden block raises."""
    with pytest.raises(Failed) as info:
        run_hidden(item, namespace, source)
    return str(info.value)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[dict[str, Any]]]:
    """The calls the test cells make of ``expect_gradient`` and ``expect_close`` (which still judge)."""
    calls: dict[str, list[dict[str, Any]]] = {"expect_gradient": [], "expect_close": []}
    for name, calls_of in calls.items():
        original = getattr(nbexpect, name)

        def spy(got: object, want: Any, *, _original: Any = original, _calls: Any = calls_of, **kw: Any) -> None:
            _calls.append({"got": got, "want": np.array(want), **kw})
            _original(got, want, **kw)

        monkeypatch.setattr(nbexpect, name, spy)
    return calls


def relative_errors(expected: Any, got: Any, rtol: float, atol: float) -> Any:
    e, g = np.asarray(expected, dtype=np.float64), np.asarray(got, dtype=np.float64)
    return np.abs(g - e) / np.maximum(np.abs(e), atol / rtol)


def assert_fails(message: str, *words: str) -> None:
    for word in words:
        assert word in message, message


# --- the assignment's checks ----------------------------------------------------------------------


class TestAllChecks:
    def test_one_check_per_item_in_notebook_order(self) -> None:
        """The checks are the notebook's test cells, in order, served by the authored path."""
        assert [c.item for c in authored.checks(_settings())] == ITEMS
        nb = nbformat.read(RELEASE, as_version=4)
        cells = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert [m["grade_id"] for m in cells if not m["solution"]] == ITEMS
        assert {m["grade_id"]: float(m["points"]) for m in cells if not m["solution"]} == POINTS

    def test_hidden_checks_run_first(self) -> None:
        """Each test cell opens with its hidden block, so a mistake is reported with the teaching message."""
        for item in ITEMS:
            assert cell_source(item).startswith("### BEGIN HIDDEN TESTS\n"), item

    @pytest.mark.parametrize("item", ITEMS)
    def test_solution_passes_hidden_block(self, item: str) -> None:
        """The instructor's solution passes every hidden block (run here, as plain nbgrader would)."""
        run_hidden(item, student())

    def test_building_checks_imports_no_tensorflow(self) -> None:
        """Reading the assignment (once per batch) imports no TensorFlow: the test cells do, when they run."""
        code = ("import sys\nfrom pathlib import Path\nfrom autograder import authored\n"
                f"authored.checks(authored.read(Path({str(REPO / 'source' / ASSIGNMENT)!r})))\n"
                "assert 'tensorflow' not in sys.modules\n")
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, timeout=120)

    @pytest.mark.parametrize("item", ITEMS)
    def test_junk_answers_fail_with_a_message(self, item: str) -> None:
        """Strings, lists, NaN, wrong shapes, booleans, numbers and None, returned whole or as one part
        of a tuple or dict, fail with a message for the student (never another exception)."""
        function = item.removeprefix("test_")
        solution = student()[function]
        junk: list[object] = ["text", [1.0, 2.0], float("nan"), np.full(3, np.nan), np.zeros((2, 2)), True, 7, None]
        parts_of: dict[str, list[int | str]] = {
            "dense_forward": [0], "dense_backward": [0, 1, 2], "relu_forward": [0],
            "mlp_loss_and_grads": [0, 1, "W1", "b2"], "train_mlp": ["W1", "b1", "W2", "b2"]}
        parts: list[int | str | None] = [None, *parts_of.get(function, [])]

        def replaced(part: int | str | None, value: object) -> Callable[..., Any]:
            def answer(*args: Any, **kwargs: Any) -> Any:
                if part is None:
                    return value
                out = solution(*args, **kwargs)
                if isinstance(part, int):
                    return tuple(value if i == part else v for i, v in enumerate(out))
                if function == "mlp_loss_and_grads":
                    return out[0], {**out[1], part: value}
                return {**out, part: value}
            return answer

        for part in parts:
            for value in junk:
                message = failure(item, student(**{function: replaced(part, value)}))
                assert message.startswith(function), (part, value, message)


# --- references and hidden inputs -------------------------------------------------------------------


class TestReferences:
    @pytest.mark.parametrize("item", list(GRADIENT_ITEMS))
    def test_tape_and_central_differences_agree(self, item: str, recorded: dict[str, list[dict[str, Any]]]) -> None:
        """Every gradient is checked against both references, which agree 100 times more closely than
        the tolerance asks of students; the solution agrees with the tape to far within its tolerance."""
        run_hidden(item, student())
        calls = recorded["expect_gradient"]
        assert len(calls) == GRADIENT_ITEMS[item]
        for call in calls:
            assert call["numeric"] is not None and call["rtol"] == TAPE_RTOL
            assert (call["numeric_rtol"], call["numeric_atol"]) == (NUMERIC_RTOL, NUMERIC_ATOL)
            rel = relative_errors(call["want"], call["numeric"], NUMERIC_RTOL, NUMERIC_ATOL)
            assert float(rel.max()) < NUMERIC_RTOL / 100
            assert float(relative_errors(call["want"], call["got"], TAPE_RTOL, call["atol"]).max()) < TAPE_RTOL / 100

    def test_loss_references_agree(self, recorded: dict[str, list[dict[str, Any]]]) -> None:
        """TensorFlow's sparse softmax cross-entropy (the reference) and the numpy loss agree."""
        run_hidden("test_mlp_loss_and_grads", student())
        losses = [c for c in recorded["expect_close"] if c["label"] == "loss"]
        assert len(losses) == 3
        for call in losses:
            assert call["rtol"] == 1e-6
            assert float(call["want"]) == pytest.approx(call["got"], rel=1e-12)

    def test_hidden_inputs_catch_square_bugs(self) -> None:
        """dense_backward sees a square W with n == m, and rectangular ones."""
        shapes: list[tuple[tuple[int, ...], tuple[int, ...]]] = []
        forward = student()["dense_forward"]

        def dense_forward(x: Any, W: Any, b: Any) -> Any:
            shapes.append((x.shape, W.shape))
            return forward(x, W, b)

        run_hidden("test_dense_backward", student(dense_forward=dense_forward))
        assert any(W[0] == W[1] and x[0] == W[1] for x, W in shapes)
        assert any(W[0] != W[1] for _, W in shapes)

    def test_relu_inputs_avoid_the_kink(self) -> None:
        """No ReLU input or pre-activation is near 0, where the derivative is a convention."""
        seen: dict[str, list[Any]] = {"relu_forward": [], "relu_backward": [], "mlp": []}
        solution = student()

        def relu_forward(x: Any) -> Any:
            seen["relu_forward"].append(x.copy())
            return solution["relu_forward"](x)

        def mlp_loss_and_grads(params: Any, X: Any, y: Any) -> Any:
            seen["mlp"].append(X @ params["W1"] + params["b1"])
            return solution["mlp_loss_and_grads"](params, X, y)

        run_hidden("test_relu_forward", student(relu_forward=relu_forward))
        run_hidden("test_relu_backward", student(relu_forward=relu_forward))
        run_hidden("test_mlp_loss_and_grads", student(mlp_loss_and_grads=mlp_loss_and_grads))
        assert len(seen["relu_forward"]) == 6 and len(seen["mlp"]) == 3
        assert min(float(np.abs(x).min()) for x in seen["relu_forward"]) >= 0.05
        assert min(float(np.abs(z).min()) for z in seen["mlp"]) > 1e-3

    def test_derivative_inputs_reach_the_tails(self) -> None:
        """The derivatives are checked far out in the tails (|x| from 8 to 30), where they must stay finite."""
        for item in ("test_d_sigmoid", "test_d_tanh", "test_d_softplus", "test_d_composite"):
            seen: list[Any] = []
            function = item.removeprefix("test_")
            solution = student()[function]

            def record(x: Any, _solution: Any = solution, _seen: list[Any] = seen) -> Any:
                _seen.append(x.copy())
                return _solution(x)

            run_hidden(item, student(**{function: record}))
            assert [x.shape for x in seen] == [(8,), (3, 4), (2, 3, 2)]
            assert 8.0 <= float(np.abs(seen[0][4:]).min()) and float(np.abs(seen[0]).max()) <= 30.0


class TestThreshold:
    def test_threshold_is_the_notebooks(self) -> None:
        """train_mlp's threshold is written in its test cell; course.toml no longer sets it."""
        assert f"_MIN_ACCURACY = {MIN_ACCURACY}" in hidden("test_train_mlp")
        settings = config.load(REPO).settings(ASSIGNMENT)
        assert not any(key.startswith("train_mlp") for key in settings)

    def test_threshold_reaches_the_verdict(self) -> None:
        """A stricter threshold in the cell fails the solution, naming it."""
        source = hidden("test_train_mlp").replace(f"_MIN_ACCURACY = {MIN_ACCURACY}", "_MIN_ACCURACY = 0.999")
        assert_fails(failure("test_train_mlp", student(), source), "below the required 0.999")


class TestHelpers:
    """nbexpect's gradient checks as the test cells use them (messages, hints, references)."""

    def test_message_format(self) -> None:
        """The failure names the parameter and the first wrong entry, with both values and the errors."""
        expected = np.array([[0.5, 0.0123], [0.25, 1.0]])
        got = expected.copy()
        got[0, 1], got[1, 1] = 0.0456, 4.1
        with pytest.raises(Failed) as info:
            nbexpect.expect_gradient(got, expected, numeric=expected, name="mlp_loss_and_grads",
                                     param="grads['W1']", label="grads['W1']")
        assert str(info.value) == ("mlp_loss_and_grads: wrong grads['W1'] at grads['W1'][0, 1]: expected 0.0123 "
                                   "(got 0.0456), relative error 2.707; largest relative error 3.1")

    def test_numerical_reference_is_checked_too(self) -> None:
        """A value matching the tape but not the central differences fails, naming them."""
        with pytest.raises(Failed) as info:
            nbexpect.expect_gradient(np.ones(3), np.ones(3), numeric=np.array([1.0, 1.0, 2.0]), name="f",
                                     param="dx", label="dx")
        assert_fails(str(info.value), "f: wrong dx at dx[2]", "(compared with central differences)")

    def test_transposed_shape(self) -> None:
        """A gradient of the transposed shape is called so."""
        with pytest.raises(Failed) as info:
            nbexpect.expect_gradient(np.ones((2, 3)), np.ones((3, 2)), name="dense_backward", param="dW", label="dW")
        assert_fails(str(info.value), "expected dW of shape (3, 2) (got shape (2, 3))", "transposed shape")

    @pytest.mark.parametrize(("got", "hint"), [
        (lambda e: -e, "has the wrong sign"),
        (lambda e: e.T, "is the transpose"),
        (lambda e: 4 * e, "exactly 4 times the right answer, with n = 4 rows"),
        (lambda e: e / 4, "exactly 1/4 of the right answer"),
        (lambda e: 2.5 * e, "2.5 times the right answer"),
        (lambda e: e + 1.0, ""),
    ])
    def test_hints(self, got: Any, hint: str) -> None:
        """Simple transformations of the right answer are recognised; anything else gets no hint."""
        e = np.arange(1.0, 10.0).reshape(3, 3) ** 1.5
        text = gradient_hint("dW", e, got(e), rows=4)
        assert (hint in text) if hint else text == ""

    def test_references(self) -> None:
        """The tape and central differences give the gradient of a known function; inputs are untouched."""
        import tensorflow as tf

        x, w = np.array([[1.0, -2.0], [0.5, 3.0]]), np.array([[0.3], [-0.7]])
        kept = x.copy(), w.copy()
        value, (gx, gw) = tape_gradients(lambda a, b: tf.reduce_sum((a @ b) ** 2), x, w)
        assert value == pytest.approx(float(np.sum((x @ w) ** 2)), rel=1e-12)
        np.testing.assert_allclose(gx, 2 * (x @ w) @ w.T, rtol=1e-12)
        np.testing.assert_allclose(gw, 2 * x.T @ (x @ w), rtol=1e-12)
        nx, nw = central_differences(lambda a, b: np.sum((a @ b) ** 2), x, w)
        np.testing.assert_allclose(nx, gx, rtol=1e-8)
        np.testing.assert_allclose(nw, gw, rtol=1e-8)
        assert np.array_equal(x, kept[0]) and np.array_equal(w, kept[1])
        assert tape_gradients(lambda a, b: a[0] * 2.0, np.ones(2), np.ones(3))[1][1].tolist() == [0.0] * 3

    def test_expect_tuple(self) -> None:
        assert expect_tuple([1, 2], ("out", "cache"), name="f") == (1, 2)
        with pytest.raises(Failed, match=r"^f: expected a tuple \(out, cache\) \(got ndarray of shape \(2,\)"):
            expect_tuple(np.zeros(2), ("out", "cache"), name="f")

    def test_blame_stub(self) -> None:
        """The first helper that still raises NotImplementedError is named; others failing are not blamed."""

        def stub() -> None:
            raise NotImplementedError()

        def broken() -> None:
            raise ValueError("x")

        with pytest.raises(Failed) as info:
            blame_stub("g", [("ok", lambda: 1), ("broken", broken), ("h", stub), ("k", stub)])
        assert str(info.value) == ("g raised NotImplementedError: h, which it is meant to call, still raises "
                                   "NotImplementedError; implement h first")
        blame_stub("g", [("ok", lambda: 1), ("broken", broken)])  # none is a stub: g itself is


# --- the notebooks ------------------------------------------------------------------------------


class TestNotebooks:
    def test_derivation_is_a_manual_answer_with_a_locked_rubric(self) -> None:
        """The derivation cell is a 3-point markdown answer, blank in the release; the rubric follows, locked."""
        released = nbformat.read(RELEASE, as_version=4)
        source = nbformat.read(SOLUTION, as_version=4)
        ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in released.cells]
        at = ids.index("derivation_dW1")
        answer, rubric = released.cells[at], released.cells[at + 1]
        wanted = {"grade": True, "solution": True, "locked": False, "grade_id": "derivation_dW1", "points": 3,
                  "schema_version": 3, "task": False}
        assert source.cells[at].metadata["nbgrader"] == wanted
        assert answer.cell_type == "markdown" and answer.metadata["nbgrader"].items() >= wanted.items()
        assert "YOUR ANSWER HERE" in answer.source and "\\odot" not in answer.source
        assert "\\odot" in source.cells[at].source  # the model answer stays in the instructor's notebook
        assert rubric.cell_type == "markdown" and ids[at + 1] == "derivation_dW1_rubric"
        meta = rubric.metadata["nbgrader"]
        assert meta["locked"] and not meta["grade"] and not meta["solution"]
        assert rubric.source == source.cells[at + 1].source and "Rubric" in rubric.source

    def test_kernel_needs_only_numpy_and_matplotlib(self) -> None:
        """The student's kernel imports nothing heavy (grading stays fast): TensorFlow and nbexpect
        appear only in hidden blocks, which run in the grader."""
        nb = nbformat.read(SOLUTION, as_version=4)
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            kernel_side = HIDDEN.sub("", cell.source)
            for heavy in ("tensorflow", "keras", "import torch", "nbexpect"):
                assert heavy not in kernel_side, cell.source[:80]
        released = "\n".join(c.source for c in nbformat.read(RELEASE, as_version=4).cells)
        assert "tensorflow" not in released and "HIDDEN" not in released and "_MIN_ACCURACY" not in released


# --- a class graded end to end --------------------------------------------------------------------


Case = tuple[str, str]  # (grade_id, variant or extra name)


def _reach(gid: str) -> set[str]:
    return {gid, *DEPENDENTS.get(gid, set())}


def pack(cases: list[Case]) -> list[list[Case]]:
    """``cases`` in submissions: a case joins the first one where no check it can affect (its item and
    its dependents') is one another case can affect, and no function it calls is replaced."""
    submissions: list[list[Case]] = []
    for case in cases:
        gid = case[0]
        for members in submissions:
            if all(not (_reach(gid) & _reach(other)) and other not in SHARES_A_SUBMISSION_WITH_NONE_OF.get(gid, ())
                   for other, _ in members):
                members.append(case)
                break
        else:
            submissions.append([case])
    return submissions


def _source(case: Case) -> str:
    gid, name = case
    return VARIANTS[gid][name] if name in VARIANTS.get(gid, {}) else EXTRAS[gid][name]


def _student_id(members: list[Case]) -> str:
    return "+".join(f"{gid}--{name}" for gid, name in members)


SUBMISSIONS = pack(VARIANT_CASES + EXTRA_CASES)
WHERE = {case: _student_id(members) for members in SUBMISSIONS for case in members}


def _submission(members: list[Case]) -> nbformat.NotebookNode:
    """The solution with the cell of each case's grade_id replaced (``with_cell`` for the first)."""
    nb = with_cell(SOLUTION, members[0][0], _source(members[0]))
    by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
    for case in members[1:]:
        by_id[case[0]].source = _source(case)
    return nb


Graded = tuple[Course, dict[str, batch.SubmissionRun]]


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    """One batch: the solution, the blank release, and every variant and extra, packed."""
    students = {"solution": nbformat.read(SOLUTION, as_version=4), "blank": nbformat.read(RELEASE, as_version=4)}
    for members in SUBMISSIONS:
        students[_student_id(members)] = _submission(members)
    course = Course(write_course(tmp_path_factory.mktemp("course"), students, ASSIGNMENT))
    cfg = config.load(course.root, workers=2)
    runs = batch.grade(course, ASSIGNMENT, cfg, progress=False)
    return course, {r.job.student: r for r in runs}


def _results(run: batch.SubmissionRun) -> dict[str, tuple[Status, float, float, str]]:
    return {r.item: (r.status, r.points, r.max_points, r.message) for r in run.results[ASSIGNMENT]}


def result(graded: Graded, gid: str, name: str, item: str | None = None) -> tuple[Status, float, float, str]:
    """The result of ``item`` (by default the case's own) in the submission that holds the case."""
    return _results(graded[1][WHERE[(gid, name)]])[item or f"test_{gid}"]


def lost_by(graded: Graded, gid: str, name: str) -> dict[str, tuple[Status, float, float, str]]:
    """The items the case's submission lost among those the case can affect (no other case there can)."""
    results = _results(graded[1][WHERE[(gid, name)]])
    return {item: r for item, r in results.items()
            if item.removeprefix("test_") in _reach(gid) and r[0] is not Status.PASSED}


def lost_by_none(graded: Graded, members: list[Case]) -> dict[str, tuple[Status, float, float, str]]:
    """The items a submission lost that none of its cases can affect."""
    reach = set().union(*(_reach(gid) for gid, _ in members))
    return {item: r for item, r in _results(graded[1][_student_id(members)]).items()
            if item.removeprefix("test_") not in reach and r[0] is not Status.PASSED}


def failed(graded: Graded, gid: str, name: str, item: str | None = None) -> str:
    status, points, max_points, message = result(graded, gid, name, item)
    assert status is not Status.PASSED and points < max_points, message
    return message


class TestClassBatch:
    pytestmark = pytest.mark.slow

    def test_packing_keeps_cases_apart(self) -> None:
        """Every case is graded once; no check one case can affect is one another in its submission can."""
        assert sorted(WHERE) == sorted(VARIANT_CASES + EXTRA_CASES)
        for members in SUBMISSIONS:
            for i, (a, _) in enumerate(members):
                for b, _ in members[i + 1:]:
                    assert not (_reach(a) & _reach(b)) and b not in SHARES_A_SUBMISSION_WITH_NONE_OF.get(a, ())

    def test_solution_earns_every_automatic_point(self, graded_class: Graded) -> None:
        """The instructor's solution passes every hidden check; the derivation waits for a person."""
        course, runs = graded_class
        results = _results(runs["solution"])
        assert all(status is Status.PASSED for status, *_ in results.values()), results
        assert course.scores(ASSIGNMENT)["solution"] == (AUTOMATIC, AUTOMATIC + MANUAL)

    def test_blank_release_earns_zero(self, graded_class: Graded) -> None:
        """The untouched student notebook earns nothing, crashes nothing, and says what to do."""
        course, runs = graded_class
        assert course.scores(ASSIGNMENT)["blank"] == (0.0, AUTOMATIC + MANUAL)
        results = _results(runs["blank"])
        assert {status for status, *_ in results.values()} <= {Status.ERROR, Status.FAILED, Status.MISSING}
        assert "still the stub" in results["test_d_sigmoid"][3]
        assert "dense_forward, which raised NotImplementedError" in results["test_dense_backward"][3]

    @pytest.mark.parametrize(("gid", "variant"), VARIANT_CASES)
    def test_variant(self, gid: str, variant: str, graded_class: Graded) -> None:
        """A bug loses its own item, named in the message, and only items that call it; an
        alternative keeps everything."""
        lost = lost_by(graded_class, gid, variant)
        members = next(m for m in SUBMISSIONS if (gid, variant) in m)
        assert not lost_by_none(graded_class, members)
        if variant.startswith("alt_"):
            assert not lost, lost
            return
        message = failed(graded_class, gid, variant)
        assert gid in message
        assert set(lost) - {f"test_{gid}"} <= {f"test_{d}" for d in DEPENDENTS.get(gid, set())}, lost

    @pytest.mark.parametrize(("gid", "name"), EXTRA_CASES)
    def test_extra(self, gid: str, name: str, graded_class: Graded) -> None:
        """The extra cases lose their item (an ``ok_`` one keeps everything), and only items that call it."""
        lost = lost_by(graded_class, gid, name)
        if name.startswith("ok_"):
            assert not lost, lost
            return
        failed(graded_class, gid, name)
        assert set(lost) - {f"test_{gid}"} <= {f"test_{d}" for d in DEPENDENTS.get(gid, set())}, lost

    def test_derivation_needs_manual_grading(self, graded_class: Graded) -> None:
        """After the batch, the derivation of every submission waits for a person; the
        automatic items do not; a manual score then counts towards the total."""
        course, _runs = graded_class
        with Gradebook(course.db_url, course.course_id) as gb:
            for who in ("solution", "blank"):
                grade_ = gb.find_grade("derivation_dW1", ASSIGNMENT, ASSIGNMENT, who)
                assert grade_.needs_manual_grade and grade_.max_score == MANUAL and grade_.score == 0.0
                auto = [gb.find_grade(item, ASSIGNMENT, ASSIGNMENT, who) for item in ITEMS]
                assert not any(g.needs_manual_grade for g in auto)
            assert gb.find_submission(ASSIGNMENT, "solution").needs_manual_grade
            grade_ = gb.find_grade("derivation_dW1", ASSIGNMENT, ASSIGNMENT, "solution")
            grade_.manual_score = 2.5
            gb.db.commit()
        try:
            assert course.scores(ASSIGNMENT)["solution"] == (AUTOMATIC + 2.5, AUTOMATIC + MANUAL)
        finally:
            with Gradebook(course.db_url, course.course_id) as gb:
                gb.find_grade("derivation_dW1", ASSIGNMENT, ASSIGNMENT, "solution").manual_score = None
                gb.db.commit()

    def test_autograded_notebook_keeps_answer_and_rubric(self, graded_class: Graded) -> None:
        """formgrader's notebook shows the student's derivation and the release's rubric."""
        course, _runs = graded_class
        nb = nbformat.read(course.autograded_dir("solution", ASSIGNMENT) / NOTEBOOK, as_version=4)
        by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
        assert "\\odot" in by_id["derivation_dW1"].source
        assert by_id["derivation_dW1_rubric"].source == next(
            c.source for c in nbformat.read(RELEASE, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == "derivation_dW1_rubric")
        assert "HIDDEN" not in "\n".join(c.source for c in nb.cells if c.cell_type == "code")

    def test_gradebook_matches_results(self, graded_class: Graded) -> None:
        """Every submission's gradebook score is the sum of its verdicts' points."""
        course, runs = graded_class
        scores = course.scores(ASSIGNMENT)
        assert set(scores) == set(runs)
        for who, run in runs.items():
            assert scores[who][0] == pytest.approx(run.score)
            assert scores[who][1] == AUTOMATIC + MANUAL

    def test_instructor_notebook_runs_with_its_hidden_tests(self, tmp_path: Path) -> None:
        """Run top to bottom in a plain kernel, hidden tests included (what `nbgrader autograde` does)."""
        from nbclient import NotebookClient

        nb = nbformat.read(SOLUTION, as_version=4)
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
                       ).execute()
        errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]
        assert not errors, errors


# --- messages, from the graded batch ------------------------------------------------------------------


class TestMessages:
    pytestmark = pytest.mark.slow

    def test_missing_one_over_n_names_parameter_index_and_cause(self, graded_class: Graded) -> None:
        """The softmax gradient without 1/n: parameter, index, expected, got, errors, the hint."""
        message = failed(graded_class, "mlp_loss_and_grads", "bug_missing_1_over_n")
        assert_fails(message, "mlp_loss_and_grads: for X of shape (6, 3) and 4 classes, wrong grads['W1'] at "
                              "grads['W1'][", "]: expected ", " (got ", "), relative error ",
                     "; largest relative error ", "exactly 6 times the right answer", "1/n")

    def test_transposed_dw_on_square_w(self, graded_class: Graded) -> None:
        """A dW transposed only where the shapes allow it fails on the square case, saying so."""
        message = failed(graded_class, "dense_backward", "bug_dW_transposed_when_square")
        assert_fails(message, "dense_backward: for x of shape (4, 4), W of shape (4, 4) and b of shape (4,), "
                              "wrong dW at dW[", "dW is the transpose of the right answer")

    def test_db_wrong_axis_names_db(self, graded_class: Graded) -> None:
        """Summing over the wrong axis is reported on db, by shape or by value."""
        message = failed(graded_class, "dense_backward", "bug_db_wrong_axis")
        assert_fails(message, "dense_backward: ", "expected db of shape (4,) (got shape (5,))")

    def test_db_mean_hint(self, graded_class: Graded) -> None:
        """A mean where the sum belongs: 1/n of the right answer."""
        assert_fails(failed(graded_class, "dense_backward", "bug_db_mean"), "wrong db at db[0]",
                     "exactly 1/5 of the right answer")

    def test_relu_mask_ignored(self, graded_class: Graded) -> None:
        """Passing dout through unmasked is reported on dx."""
        assert_fails(failed(graded_class, "relu_backward", "bug_ignores_mask"),
                     "relu_backward: for x of shape (6,), wrong dx at dx[")

    def test_sign_hint(self, graded_class: Graded) -> None:
        """A derivative with the wrong sign says so."""
        assert_fails(failed(graded_class, "d_sigmoid", "bug_wrong_sign"),
                     "d_sigmoid: for x of shape (8,), wrong d_sigmoid(x) at x[0]", "has the wrong sign")

    def test_modified_input(self, graded_class: Graded) -> None:
        """Overwriting dout in place costs the item, naming dout."""
        assert_fails(failed(graded_class, "relu_backward", "bug_in_place"),
                     "relu_backward: ", "must not modify its input dout")

    def test_backward_blames_a_stub_forward(self, graded_class: Graded) -> None:
        """A backward check whose forward pass is still the stub says which function to write."""
        message = failed(graded_class, "dense_forward", "stub", "test_dense_backward")
        assert message == ("dense_backward: the check gets the cache from your dense_forward, which raised "
                           "NotImplementedError; fix dense_forward first")

    def test_network_blames_a_stub_layer(self, graded_class: Graded) -> None:
        """mlp_loss_and_grads and train_mlp name the stub they call; their own stub is reported as the stub."""
        for item, function in [("test_mlp_loss_and_grads", "mlp_loss_and_grads"), ("test_train_mlp", "train_mlp")]:
            assert_fails(failed(graded_class, "relu_backward", "stub", item),
                         f"{function} raised NotImplementedError: relu_backward, which it is meant to call, "
                         "still raises NotImplementedError")
        status, _, _, message = result(graded_class, "mlp_loss_and_grads", "stub")
        assert status is Status.ERROR
        assert message.startswith("mlp_loss_and_grads raised NotImplementedError: it is still the stub")

    def test_network_must_return_dict_of_grads(self, graded_class: Graded) -> None:
        """grads as a list, or a key missing, fail with the reason."""
        assert_fails(failed(graded_class, "mlp_loss_and_grads", "grads_as_list"),
                     "expected grads to be a dict with keys W1, b1, W2, b2 (got list of length 4)")
        assert_fails(failed(graded_class, "mlp_loss_and_grads", "grads_missing_b2"), "grads['b2']", "(got missing)")

    def test_train_mlp_names_the_accuracy(self, graded_class: Graded) -> None:
        """A trainer below the threshold is told its accuracy and what to look at."""
        assert_fails(failed(graded_class, "train_mlp", "bug_zero_init"),
                     "train_mlp: accuracy 0.500 on 1000 held-out points", "below the required 0.93", "initialisation")

    def test_train_mlp_params_are_validated(self, graded_class: Graded) -> None:
        """Biases of shape (1, m) are read as (m,); wrong shapes, NaN, missing keys and a tuple fail with a reason."""
        assert result(graded_class, "train_mlp", "ok_row_vector_biases")[0] is Status.PASSED
        for name, words in [("W1_of_3_inputs", "expected params['W1'] of shape (2, hidden)"),
                            ("W2_of_3_classes", "params['W2'] of shape (32, 2)"),
                            ("b1_nan", "finite"),
                            ("b2_missing", "(got missing)"),
                            ("returns_tuple", "expected a dict with keys W1, b1, W2, b2 (got tuple of length 1)")]:
            assert_fails(failed(graded_class, "train_mlp", name), "train_mlp: ", words)
