"""Assignment 03.3_chain_rule: its hidden checks, its notebooks, and a class graded end to end.

The fast tests run the checks' probes in-process (``tests/probe_helpers.py``) against the
instructor's solution, taken from the solution cells of the source notebook, with one cell at a
time replaced by a variant of ``tests/corpus/chain_rule_variants.py``.  ``TestClassBatch``
(marked slow) grades the same submissions in sandboxed kernels into nbgrader's gradebook.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest
from nbgrader.api import Gradebook

from autograder import batch, config
from autograder.checks import gradients, literal
from autograder.checks.base import Status, Verdict
from autograder.checks.numeric import relative_errors
from autograder.config import ConfigError
from autograder.course import chain_rule, checks_for
from autograder.demo import write_course
from autograder.gradebook import Course
from tests.conftest import REPO
from tests.corpus.chain_rule_variants import DEPENDENTS, VARIANTS, with_cell
from tests.probe_helpers import run_probe

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
CHECKS = {check.item: check for check in chain_rule.checks()}
VARIANT_CASES = [(gid, name) for gid, variants in VARIANTS.items() for name in variants]


@functools.cache
def _solution_sources() -> tuple[str, ...]:
    nb = nbformat.read(SOLUTION, as_version=4)
    return tuple(c.source for c in nb.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution"))


def student(**replacements: str) -> dict[str, Any]:
    """The solution's namespace, as a kernel would hold it, with cells (grade_id -> source) replaced."""
    namespace: dict[str, Any] = {"np": np}
    for source in _solution_sources():
        exec(source, namespace)
    for source in replacements.values():
        exec(source, namespace)
    return namespace


def grade(item: str, namespace: dict[str, Any]) -> Verdict:
    check = CHECKS[item]
    return check.verdict(run_probe(check, namespace))


def raises_in_probe(item: str, namespace: dict[str, Any]) -> str | None:
    """The exception the probe lets through (the engine reports it as an error), or None."""
    try:
        run_probe(CHECKS[item], namespace)
    except Exception as exc:
        return type(exc).__name__
    return None


def assert_fails(v: Verdict, *words: str) -> None:
    assert v.fraction == 0.0, v.message
    for word in words:
        assert word in v.message, v.message


# --- the checks on the solution -----------------------------------------------------------------


class TestAllChecks:
    def test_one_check_per_item_in_notebook_order(self) -> None:
        """The checks are the notebook's test cells, in order, and the registry serves them."""
        assert list(CHECKS) == ITEMS
        nb = nbformat.read(RELEASE, as_version=4)
        cells = [c.metadata["nbgrader"] for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        assert [m["grade_id"] for m in cells if not m["solution"]] == ITEMS
        assert {m["grade_id"]: float(m["points"]) for m in cells if not m["solution"]} == POINTS
        assert [c.item for c in checks_for(ASSIGNMENT)] == ITEMS

    @pytest.mark.parametrize("item", ITEMS)
    def test_solution_passes(self, item: str) -> None:
        """The instructor's solution earns every item."""
        v = grade(item, student())
        assert v.passed and v.fraction == 1.0, v.message

    @pytest.mark.parametrize("item", ITEMS)
    def test_probe_runs_as_function_body(self, item: str) -> None:
        """Probes work whether the runner execs them or wraps them in a function."""
        check = CHECKS[item]
        assert check.verdict(run_probe(check, student(), as_function=True)).passed

    def test_same_seed_same_probes(self) -> None:
        """Hidden inputs are a pure function of the seed."""
        again = chain_rule.checks()
        other = chain_rule.checks(seed=1)
        assert [c.probe for c in again] == [c.probe for c in CHECKS.values()]
        assert all(a.probe != b.probe for a, b in zip(again, other, strict=True))

    def test_building_checks_computes_no_reference(self) -> None:
        """checks() (called once per submission) never runs TensorFlow or central differences."""
        before = chain_rule._expected_cached.cache_info()
        chain_rule.checks(seed=12345)
        assert chain_rule._expected_cached.cache_info() == before

    @pytest.mark.parametrize("item", ITEMS)
    def test_verdicts_never_raise_on_junk(self, item: str) -> None:
        """Missing keys, strings, lists, NaN and wrong shapes fail cleanly, never raise."""
        check = CHECKS[item]
        good = run_probe(check, student())
        junk: list[object] = ["<list>", "text", [1.0, 2.0], float("nan"), np.full(3, np.nan),
                              np.zeros((2, 2)), True, 7, None]
        assert check.verdict({}).fraction == 0.0
        for value in junk:
            for key in good:
                v = check.verdict({**good, key: value})
                assert isinstance(v, Verdict) and 0.0 <= v.fraction <= 1.0
            assert check.verdict(dict.fromkeys(good, value)).fraction < 1.0, value

    @pytest.mark.parametrize("item", ITEMS)
    def test_probe_holds_no_reference(self, item: str) -> None:
        """Probes carry hidden inputs only: no expected gradient, no held-out point."""
        probe = CHECKS[item].probe
        hidden = chain_rule.hidden_inputs(chain_rule.SEED)
        X_held, _ = hidden.held_out
        assert literal.array(X_held) not in probe
        if item != "test_train_mlp":
            for ref in chain_rule.expected(chain_rule.SEED, "mlp_loss_and_grads"):
                assert all(literal.array(g) not in probe for g in ref.tape)


# --- references ---------------------------------------------------------------------------------


class TestReferences:
    @pytest.mark.parametrize("function", [*chain_rule.DERIVATIVES, "dense_backward", "relu_backward",
                                          "mlp_loss_and_grads"])
    def test_tape_and_central_differences_agree(self, function: str) -> None:
        """The two references agree 100 times more closely than the tolerance asks of students."""
        for ref in chain_rule.expected(chain_rule.SEED, function):
            for tape, numeric in zip(ref.tape, ref.numeric, strict=True):
                rel = relative_errors(tape, numeric, gradients.NUMERIC_RTOL, gradients.NUMERIC_ATOL)
                assert float(rel.max()) < gradients.NUMERIC_RTOL / 100

    def test_loss_references_agree(self) -> None:
        """TensorFlow's sparse softmax cross-entropy and the numpy log-sum-exp loss agree."""
        hidden = chain_rule.hidden_inputs(chain_rule.SEED)
        for ref, (params, X, y) in zip(chain_rule.expected(chain_rule.SEED, "mlp_loss_and_grads"), hidden.mlp,
                                       strict=True):
            assert ref.value == pytest.approx(chain_rule.mlp_loss(params, X, y), rel=1e-12)

    def test_hidden_inputs_catch_square_bugs(self) -> None:
        """dense_backward sees a square W with n == m, and rectangular ones."""
        shapes = [(x.shape, W.shape) for x, W, _, _ in chain_rule.hidden_inputs(chain_rule.SEED).dense_back]
        assert any(W[0] == W[1] and x[0] == W[1] for x, W in shapes)
        assert any(W[0] != W[1] for _, W in shapes)

    def test_relu_inputs_avoid_the_kink(self) -> None:
        """No ReLU input or pre-activation is near 0, where the derivative is a convention."""
        hidden = chain_rule.hidden_inputs(chain_rule.SEED)
        assert min(float(np.abs(x).min()) for x in hidden.relu) >= 0.05
        assert min(float(np.abs(x).min()) for x, _ in hidden.relu_back) >= 0.05
        assert min(float(np.abs(X @ p["W1"] + p["b1"]).min()) for p, X, _ in hidden.mlp) > 1e-3

    def test_hidden_inputs_are_read_only(self) -> None:
        """The cached inputs cannot be changed by accident."""
        x = chain_rule.hidden_inputs(chain_rule.SEED).derivatives["d_sigmoid"][0]
        with pytest.raises(ValueError):
            x[0] = 1.0


# --- every variant, in-process ------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # a diverging trainer overflows
@pytest.mark.parametrize(("gid", "variant"), VARIANT_CASES)
def test_variant_in_process(gid: str, variant: str) -> None:
    """A bug loses its item (and only items that call it); an alternative loses nothing."""
    namespace = student(**{gid: VARIANTS[gid][variant]})
    lost = {}
    for item in ITEMS:
        error = raises_in_probe(item, namespace)
        v = grade(item, namespace) if error is None else Verdict(0.0, f"raised {error}")
        if not v.passed:
            lost[item] = v.message
    if variant.startswith("alt_"):
        assert not lost, lost
        return
    assert f"test_{gid}" in lost
    assert set(lost) - {f"test_{gid}"} <= {f"test_{d}" for d in DEPENDENTS.get(gid, set())}, lost


# --- messages -----------------------------------------------------------------------------------


class TestMessages:
    def test_missing_one_over_n_names_parameter_index_and_cause(self) -> None:
        """The softmax gradient without 1/n: parameter, index, expected, got, errors, the hint."""
        v = grade("test_mlp_loss_and_grads",
                  student(mlp_loss_and_grads=VARIANTS["mlp_loss_and_grads"]["bug_missing_1_over_n"]))
        assert_fails(v, "mlp_loss_and_grads: for X of shape (6, 3) and 4 classes, grads['W1'] at index (",
                     "): expected ", " (got ", "), relative error ", "; largest relative error ",
                     "exactly 6 times the right answer", "1/n")

    def test_transposed_dw_on_square_w(self) -> None:
        """A dW transposed only where the shapes allow it fails on the square case, saying so."""
        v = grade("test_dense_backward",
                  student(dense_backward=VARIANTS["dense_backward"]["bug_dW_transposed_when_square"]))
        assert_fails(v, "dense_backward: for x of shape (4, 4), W of shape (4, 4) and b of shape (4,), dW at index",
                     "dW is the transpose of the right answer")

    def test_db_wrong_axis_names_db(self) -> None:
        """Summing over the wrong axis is reported on db, by shape or by value."""
        v = grade("test_dense_backward", student(dense_backward=VARIANTS["dense_backward"]["bug_db_wrong_axis"]))
        assert_fails(v, "dense_backward: ", "expected db of shape (4,) (got shape (5,))")

    def test_db_mean_hint(self) -> None:
        """A mean where the sum belongs: 1/n of the right answer."""
        v = grade("test_dense_backward", student(dense_backward=VARIANTS["dense_backward"]["bug_db_mean"]))
        assert_fails(v, "db at index 0", "exactly 1/5 of the right answer")

    def test_relu_mask_ignored(self) -> None:
        """Passing dout through unmasked is reported on dx."""
        v = grade("test_relu_backward", student(relu_backward=VARIANTS["relu_backward"]["bug_ignores_mask"]))
        assert_fails(v, "relu_backward: for x of shape (6,), dx at index ")

    def test_sign_hint(self) -> None:
        """A derivative with the wrong sign says so."""
        v = grade("test_d_sigmoid", student(d_sigmoid=VARIANTS["d_sigmoid"]["bug_wrong_sign"]))
        assert_fails(v, "d_sigmoid: for x of shape (8,), the derivative at index 0", "has the wrong sign")

    def test_modified_input(self) -> None:
        """Overwriting dout in place costs the item, naming dout."""
        v = grade("test_relu_backward", student(relu_backward=VARIANTS["relu_backward"]["bug_in_place"]))
        assert_fails(v, "relu_backward: ", "must not modify its input dout")

    def test_backward_blames_a_stub_forward(self) -> None:
        """A backward check whose forward pass is still the stub says which function to write."""
        stub = "def dense_forward(x, W, b):\n    raise NotImplementedError()\n"
        v = grade("test_dense_backward", student(dense_forward=stub))
        assert_fails(v, "dense_backward: the check gets the cache from your dense_forward, which raised "
                        "NotImplementedError; fix dense_forward first")

    def test_network_blames_a_stub_layer(self) -> None:
        """mlp_loss_and_grads and train_mlp name the stub they call; their own stub is re-raised."""
        stub = "def relu_backward(dout, cache):\n    raise NotImplementedError()\n"
        namespace = student(relu_backward=stub)
        for item, function in [("test_mlp_loss_and_grads", "mlp_loss_and_grads"), ("test_train_mlp", "train_mlp")]:
            assert_fails(grade(item, namespace), f"{function}: it calls relu_backward, which still raises")
        own = "def mlp_loss_and_grads(params, X, y):\n    raise NotImplementedError()\n"
        assert raises_in_probe("test_mlp_loss_and_grads", student(mlp_loss_and_grads=own)) == "NotImplementedError"

    def test_network_must_return_dict_of_grads(self) -> None:
        """grads as a list, or a key missing, fail with the reason."""
        as_list = VARIANTS["mlp_loss_and_grads"]["alt_logsumexp"].replace(
            "    return loss, grads", "    return loss, [grads[k] for k in ('W1', 'b1', 'W2', 'b2')]")
        assert_fails(grade("test_mlp_loss_and_grads", student(mlp_loss_and_grads=as_list)),
                     "expected grads to be a dict with keys W1, b1, W2, b2 (got list)")
        missing = VARIANTS["mlp_loss_and_grads"]["alt_logsumexp"].replace(
            "    return loss, grads", "    del grads['b2']\n    return loss, grads")
        assert_fails(grade("test_mlp_loss_and_grads", student(mlp_loss_and_grads=missing)),
                     "grads['b2']", "(got missing)")

    def test_train_mlp_names_the_accuracy(self) -> None:
        """A trainer below the threshold is told its accuracy and what to look at."""
        v = grade("test_train_mlp", student(train_mlp=VARIANTS["train_mlp"]["bug_zero_init"]))
        assert_fails(v, "train_mlp: accuracy 0.500 on 1000 held-out points", "below the required 0.93",
                     "initialisation")


class TestCompareToReferences:
    def test_message_format(self) -> None:
        """The failure reads like the course's example, index being the first wrong entry."""
        expected = np.array([[0.5, 0.0123], [0.25, 1.0]])
        got = expected.copy()
        got[0, 1], got[1, 1] = 0.0456, 4.1
        v = gradients.compare_to_references("mlp_loss_and_grads", "grads['W1']", expected, expected, got)
        assert v.message == ("mlp_loss_and_grads: grads['W1'] at index (0, 1): expected 0.0123 (got 0.0456), "
                             "relative error 2.707; largest relative error 3.1")

    def test_numerical_reference_is_checked_too(self) -> None:
        """A value matching the tape but not the central differences fails, naming them."""
        tape, numeric = np.ones(3), np.array([1.0, 1.0, 2.0])
        v = gradients.compare_to_references("f", "dx", tape, numeric, np.ones(3))
        assert_fails(v, "f: dx at index 2", "(compared with central differences)")

    def test_transposed_shape(self) -> None:
        """A gradient of the transposed shape is called so."""
        v = gradients.compare_to_references("dense_backward", "dW", np.ones((3, 2)), np.ones((3, 2)), np.ones((2, 3)))
        assert_fails(v, "expected dW of shape (3, 2) (got shape (2, 3))", "transposed shape")

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
        text = gradients.gradient_hint("dW", e, got(e), rows=4)
        assert (hint in text) if hint else text == ""


# --- settings -----------------------------------------------------------------------------------


class TestSettings:
    def test_threshold_from_settings(self) -> None:
        """course.toml's train_mlp_min_accuracy reaches the verdict."""
        strict = {c.item: c for c in chain_rule.checks({"train_mlp_min_accuracy": 0.999})}["test_train_mlp"]
        v = strict.verdict(run_probe(strict, student()))
        assert_fails(v, "below the required 0.999")
        assert chain_rule.min_accuracy({}) == chain_rule.DEFAULT_MIN_ACCURACY
        assert chain_rule.min_accuracy({"train_mlp_min_accuracy": 1, "hidden_data_dir": "x", "gpu": False}) == 1.0

    def test_course_configuration(self) -> None:
        """The course's own table passes validation and sets a threshold the solution clears."""
        settings = config.load(REPO).settings(ASSIGNMENT)
        assert 0.9 <= chain_rule.min_accuracy(settings) <= 0.95

    @pytest.mark.parametrize("settings", [
        {"train_mlp_min_accuracy": 0.3}, {"train_mlp_min_accuracy": 1.5}, {"train_mlp_min_accuracy": "0.9"},
        {"train_mlp_min_accuracy": True}, {"train_mlp_min_acc": 0.9},
    ])
    def test_bad_settings_name_the_key(self, settings: dict[str, Any]) -> None:
        """A wrong value or a misspelt key is a configuration error naming the key."""
        with pytest.raises(ConfigError, match=r'assignments\."03.3_chain_rule"\.train_mlp_min_acc'):
            chain_rule.checks(settings)


class TestTrainVerdict:
    def _result(self, **params: Any) -> dict[str, Any]:
        good = run_probe(CHECKS["test_train_mlp"], student())
        return {**good, **{f"p.{k}": v for k, v in params.items()}}

    def test_row_vector_biases_accepted(self) -> None:
        """Biases of shape (1, m) are read as (m,)."""
        good = self._result()
        v = CHECKS["test_train_mlp"].verdict(self._result(b1=good["p.b1"][None, :], b2=good["p.b2"][None, :]))
        assert v.passed, v.message

    @pytest.mark.parametrize(("params", "words"), [
        ({"W1": np.zeros((3, 32))}, "expected params['W1'] of shape (2, hidden)"),
        ({"W2": np.zeros((32, 3))}, "params['W2'] of shape (32, 2)"),
        ({"b1": np.full(32, np.nan)}, "finite"),
        ({"b2": "<missing>"}, "(got missing)"),
    ])
    def test_malformed_params(self, params: dict[str, Any], words: str) -> None:
        """Wrong shapes, NaN and missing keys fail with a reason."""
        assert_fails(CHECKS["test_train_mlp"].verdict(self._result(**params)), "train_mlp: ", words)

    def test_not_a_dict(self) -> None:
        """A tuple of arrays is not the dict asked for."""
        v = grade("test_train_mlp", student(train_mlp="def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):\n"
                                                      "    return (np.zeros((2, 4)),)\n"))
        assert_fails(v, "expected a dict with keys W1, b1, W2, b2 (got tuple)")


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

    def test_notebook_needs_only_numpy_and_matplotlib(self) -> None:
        """The kernel imports nothing heavy: grading stays fast."""
        text = "\n".join(c.source for c in nbformat.read(SOLUTION, as_version=4).cells if c.cell_type == "code")
        assert "tensorflow" not in text and "keras" not in text and "import torch" not in text


# --- a class graded end to end --------------------------------------------------------------------


def _student_id(gid: str, variant: str) -> str:
    return f"{gid}--{variant}"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, dict[str, batch.SubmissionRun]]:
    """One batch: the solution, the blank release, and every variant of every function."""
    students = {"solution": nbformat.read(SOLUTION, as_version=4), "blank": nbformat.read(RELEASE, as_version=4)}
    for gid, name in VARIANT_CASES:
        students[_student_id(gid, name)] = with_cell(SOLUTION, gid, VARIANTS[gid][name])
    course = Course(write_course(tmp_path_factory.mktemp("course"), students, ASSIGNMENT))
    cfg = config.load(course.root, workers=2)
    runs = batch.grade(course, ASSIGNMENT, cfg, progress=False)
    return course, {r.job.student: r for r in runs}


def _results(run: batch.SubmissionRun) -> dict[str, tuple[Status, float, float, str]]:
    return {r.item: (r.status, r.points, r.max_points, r.message) for r in run.results[ASSIGNMENT]}


class TestClassBatch:
    pytestmark = pytest.mark.slow

    def test_solution_earns_every_automatic_point(self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]
                                                  ) -> None:
        """The instructor's solution passes every hidden check; the derivation waits for a person."""
        course, runs = graded_class
        results = _results(runs["solution"])
        assert all(status is Status.PASSED for status, *_ in results.values()), results
        assert course.scores(ASSIGNMENT)["solution"] == (AUTOMATIC, AUTOMATIC + MANUAL)

    def test_blank_release_earns_zero(self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
        """The untouched student notebook earns nothing, crashes nothing, and says what to do."""
        course, runs = graded_class
        assert course.scores(ASSIGNMENT)["blank"] == (0.0, AUTOMATIC + MANUAL)
        results = _results(runs["blank"])
        assert {status for status, *_ in results.values()} <= {Status.ERROR, Status.FAILED, Status.MISSING}
        assert "still the stub" in results["test_d_sigmoid"][3]
        assert "dense_forward, which raised NotImplementedError" in results["test_dense_backward"][3]

    @pytest.mark.parametrize(("gid", "variant"), VARIANT_CASES)
    def test_variant(self, gid: str, variant: str, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]
                     ) -> None:
        """A bug loses its own item, named in the message, and only items that call it; an
        alternative keeps everything."""
        _course, runs = graded_class
        results = _results(runs[_student_id(gid, variant)])
        lost = {item: r for item, r in results.items() if r[0] is not Status.PASSED}
        if variant.startswith("alt_"):
            assert not lost, lost
            return
        status, points, max_points, message = results[f"test_{gid}"]
        assert status is not Status.PASSED and points < max_points, message
        assert gid in message
        assert set(lost) - {f"test_{gid}"} <= {f"test_{d}" for d in DEPENDENTS.get(gid, set())}, lost

    def test_derivation_needs_manual_grading(self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]
                                             ) -> None:
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

    def test_autograded_notebook_keeps_answer_and_rubric(
            self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
        """formgrader's notebook shows the student's derivation and the release's rubric."""
        course, _runs = graded_class
        nb = nbformat.read(course.autograded_dir("solution", ASSIGNMENT) / NOTEBOOK, as_version=4)
        by_id = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
        assert "\\odot" in by_id["derivation_dW1"].source
        assert by_id["derivation_dW1_rubric"].source == next(
            c.source for c in nbformat.read(RELEASE, as_version=4).cells
            if c.metadata.get("nbgrader", {}).get("grade_id") == "derivation_dW1_rubric")

    def test_gradebook_matches_results(self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
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

