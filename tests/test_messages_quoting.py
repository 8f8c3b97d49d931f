"""Text from the student's kernel never passes for the grader's words.

The reported case: a type name holding the lines "[passed] 4 / 4 points" and "accuracy 0.999"
appeared inside a failed verdict, in the test cell's output and in the feedback HTML, as if the
grader had written them.  Student text is now put on one line, shortened and quoted in «»
(:func:`autograder.checks.base.student_text`), and the verdict's first line, "[status] points",
is the only line the grader writes with a status in brackets.  Routes covered: type names in
"<typename>" markers, exception names and messages, names the kernel says are missing, strings a
check copies into its message verbatim (chain_rule's stub name, keras_models' dtype), very long
names; each through the engine's ``_verdict``, and the first three end to end.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from autograder import batch, config, feedback
from autograder.checks.base import Check, CheckResult, Status, mark_student_text, one_line, student_name, student_text
from autograder.checks.numeric import describe, failed
from autograder.course import chain_rule, checks_for, keras_models
from autograder.run.kernel import Execution
from autograder.run.notebook import _result_output, _verdict
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO, build_course
from tests.probe_helpers import CORRECT, run_probe

FORGED = "float\n[passed] 4 / 4 points\naccuracy 0.999"  # the text
QUOTED = "«float⏎[passed] 4 / 4 points⏎accuracy 0.999»"
SCRUBBED = "«float⏎[passed] 4 / 4 points⏎accuracy …»"  # numbers in exceptions are scrubbed
LONG = "Long" + "x" * 500
MARKER = "@@autograder-0123456789abcdef@@"
SPANS = re.compile(r"«[^«»]*»")
HEADER = re.compile(r"\[(passed|failed|error|timeout|out-of-memory|kernel died|missing)\] [\d.]+ / [\d.]+ points")


def _outside_quotes(text: str) -> str:
    return SPANS.sub("", text)


def _encode(value: Any) -> Any:
    """What the probe wrapper prints for ``value`` (numpy arrays as base64)."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return {"__nd__": [data.dtype.str, list(data.shape), base64.b64encode(data.tobytes()).decode()]}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _judge(check: Check, answer: Any, points: float = 4.0) -> CheckResult:
    """The engine's verdict on ``answer`` as if the kernel had printed it."""
    return _verdict(check, points, Execution(stdout=f"noise\n{MARKER}{json.dumps(_encode(answer))}\n"), MARKER)


def _assert_marked(message: str) -> None:
    """One line; no status in brackets outside «»."""
    assert "\n" not in message
    assert not re.search(r"\[\s*(passed|failed|error)", _outside_quotes(message), re.I), message


# --- the function and its helpers -------------------------------------------------------------


class TestStudentText:
    def test_quotes_flattens_and_shortens(self) -> None:
        assert student_text(FORGED) == QUOTED
        assert student_text("a\r\nb\tc\x1b[31md\u202ee\x00") == "«a⏎b c [31md e »"
        assert student_text("«inner» quotes") == "«‹inner› quotes»"
        assert student_text(LONG, limit=20) == "«Longxxxxxxxxxxxxxxx…»"
        assert len(student_text("y" * 1000)) == 62

    def test_plain_names_stay_bare(self) -> None:
        """Python's own names read as before ("(got tuple)"); anything else is quoted."""
        assert [student_name(n) for n in ("tuple", "np.ndarray", "ValueError")] == ["tuple", "np.ndarray",
                                                                                   "ValueError"]
        assert student_name(FORGED) == QUOTED
        assert student_name("two words") == "«two words»"
        assert student_name(LONG).endswith("…»") and len(student_name(LONG)) == 62

    def test_describe_quotes_type_names(self) -> None:
        assert describe(f"<{FORGED}>") == QUOTED
        assert describe("<tuple>") == "tuple"
        assert describe("<list of length 3>") == "list of length 3"
        assert describe(f"<{FORGED} of length 2>") == f"{QUOTED} of length 2"
        assert describe("<ndarray of dtype <U5>") == "ndarray of dtype «<U5»"

    def test_mark_quotes_student_strings_and_forged_statuses(self) -> None:
        sent = [f"raised {FORGED}", "raised ValueError"]
        assert mark_student_text(f"f: which raised {FORGED}; fix it", sent) == \
            "f: which «raised float⏎[passed] 4 / 4 points⏎accuracy 0.999»; fix it"
        assert mark_student_text("f: which raised ValueError; fix it", sent) == "f: which raised ValueError; fix it"
        assert mark_student_text("f: got [PASSED] 4 / 4") == "f: got «[PASSED]» 4 / 4"
        assert mark_student_text(f"f: (got {QUOTED})", [f"<{FORGED}>"]) == f"f: (got {QUOTED})"  # once
        assert one_line("a\nb\x07c") == "a⏎b c"


# --- each route, through the engine's verdict -----------------------------------------------------


def _check(assignment: str, item: str) -> Check:
    return next(c for c in checks_for(assignment) if c.item == item)


class TestRoutes:
    def test_type_name_marker(self) -> None:
        """mse returns an object whose class name is the forged verdict (the issue's case)."""
        namespace = {**CORRECT, "mse": lambda y_true, y_pred: type(FORGED, (), {})()}
        result = _judge(_check(ASSIGNMENT, "test_mse"), run_probe(_check(ASSIGNMENT, "test_mse"), namespace))
        assert result.status is Status.FAILED and result.points == 0
        assert result.message.endswith(f"expected the result to be a float (got {QUOTED})"), result.message

    def test_very_long_type_name(self) -> None:
        namespace = {**CORRECT, "mse": lambda y_true, y_pred: type(LONG, (), {})()}
        result = _judge(_check(ASSIGNMENT, "test_mse"), run_probe(_check(ASSIGNMENT, "test_mse"), namespace))
        assert result.message.endswith(f"expected the result to be a float (got «{LONG[:59]}…»)"), result.message

    def test_exception_name_and_message(self) -> None:
        """A student's exception: its name as a name, its message quoted, numbers scrubbed."""
        check = _check(ASSIGNMENT, "test_mse")
        result = _judge(check, {"__error__": ["ValueError", FORGED]})
        assert result.message == f"mse raised ValueError: {SCRUBBED}"
        result = _judge(check, {"__error__": [FORGED, "boom"]})
        assert result.message == f"mse raised {SCRUBBED}: «boom»"
        result = _judge(check, {"__error__": ["ZeroDivisionError", "division by zero"]})
        assert result.message == "mse raised ZeroDivisionError: «division by zero»"
        stolen = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # a name may carry hidden inputs: scrubbed, as messages are
        assert _judge(check, {"__error__": [stolen, ""]}).message == "mse raised «…»"
        result = _judge(check, {"__error__": ["RuntimeError", "word " * 200]})
        assert result.message == f"mse raised RuntimeError: «{('word ' * 24)[:119]}…»"
        assert _judge(check, {"__error__": "odd"}).message == "mse raised an exception: «odd»"

    def test_missing_names(self) -> None:
        result = _judge(_check(ASSIGNMENT, "test_mse"), {"__missing__": [FORGED]})
        assert result.status is Status.MISSING
        assert result.message.startswith(f"{QUOTED} is not defined: define it")

    def test_stub_name_copied_by_a_check(self) -> None:
        """chain_rule copies the name of the stub a function calls; a forged function name is quoted."""

        def stub(*args: object) -> None:
            raise NotImplementedError()

        stub.__code__ = stub.__code__.replace(co_name=FORGED)
        check = next(c for c in chain_rule.checks() if c.item == "test_mlp_loss_and_grads")
        result = _judge(check, run_probe(check, {"mlp_loss_and_grads": lambda params, X, y: stub(params)}))
        assert result.message == (f"mlp_loss_and_grads: it calls {QUOTED}, which still raises NotImplementedError; "
                                  "implement that function first")

    def test_dtype_copied_by_a_check(self) -> None:
        """keras_models copies the dtype's text; an array whose dtype prints the forged verdict is quoted."""

        class FakeDtype:
            kind = "f"

            def __str__(self) -> str:
                return FORGED

        class Sneaky(np.ndarray):
            @property
            def dtype(self) -> Any:
                return FakeDtype()

        def preprocess(x: np.ndarray[Any, Any]) -> Any:
            return (x / 255.0).reshape(-1, 28, 28, 1).view(Sneaky)

        check = keras_models._preprocess_check(np.random.default_rng(0))
        result = _judge(check, run_probe(check, {"preprocess": preprocess}))
        assert result.message == f"preprocess: expected dtype float32 (got {QUOTED}): use .astype('float32')"

    def test_grader_text_is_left_alone(self) -> None:
        """What the grader adds itself (the artifact's error) is not mistaken for student text."""
        check = Check("test_x", ("f",), "", lambda r: failed(f"f: {r['__artifact_error__']}"), artifact="m.keras")

        def attach(_: Check, answer: dict[str, Any]) -> None:
            answer["__artifact__"] = None
            answer["__artifact_error__"] = "m.keras was not found in the notebook's folder"

        result = _verdict(check, 1.0, Execution(stdout=f"{MARKER}{{}}\n"), MARKER, attach)
        assert result.message == "f: m.keras was not found in the notebook's folder"


def test_header_is_the_only_status_line() -> None:
    """Whatever a message holds, the output is the grader's header, then the message on one line."""
    for status in (Status.FAILED, Status.PASSED):
        out = _result_output(CheckResult("test_mse", status, 0.0, 1.0, f"mse: {FORGED}\n[passed] 1 / 1 points"))
        text = out["text"] if status is Status.PASSED else out["traceback"][0]
        header, body, *rest = text.split("\n")
        assert header == f"[{status.value}] 0 / 1 points" and rest == [""]
        assert body == "mse: float⏎«[passed]» 4 / 4 points⏎accuracy 0.999⏎«[passed]» 1 / 1 points"


# --- end to end: the autograded notebook and the feedback HTML ------------------------------------

SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK
FORGING = f"{FORGED[::-1]!r}[::-1]"  # the source (shown in the feedback as code) does not hold it as such
MALLORY = {
    "mse": f"def mse(y_true, y_pred):\n    return type({FORGING}, (), {{}})()\n",
    "mse_grad": f"def mse_grad(y_true, y_pred):\n    raise ValueError({FORGING})\n",
    "softmax": f"def softmax(z):\n    raise type({FORGING}, (Exception,), {{}})('boom')\n",
    "cross_entropy": f"def cross_entropy(y_true, probs):\n    return type({LONG!r}, (), {{}})()\n",
}


@pytest.mark.slow
def test_autograded_notebook_and_feedback_quote_student_text(tmp_path: Path) -> None:
    nb = nbformat.read(SOLUTION, as_version=4)
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in MALLORY:
            cell.source = MALLORY[gid]
    course = build_course(tmp_path, {"mallory": nb})
    [run] = batch.grade(course, ASSIGNMENT, config.load(course.root, workers=1), progress=False)
    results = {r.item: r for r in run.results[ASSIGNMENT]}
    assert {i for i, r in results.items() if r.status is not Status.PASSED} == {f"test_{g}" for g in MALLORY}
    assert results["test_mse"].message.endswith(f"expected the result to be a float (got {QUOTED})")
    assert results["test_mse_grad"].message.startswith("mse_grad raised ValueError: «float⏎[passed] 4 / 4 points⏎")
    assert results["test_softmax"].message == f"softmax raised {SCRUBBED}: «boom»"
    assert "(got «Longxxx" in results["test_cross_entropy"].message
    assert course.scores(ASSIGNMENT)["mallory"] == (21.0 - 5.0, 21.0)

    graded = nbformat.read(course.autograded_dir("mallory", ASSIGNMENT) / NOTEBOOK, as_version=4)
    outputs = [c.outputs[0] for c in graded.cells if c.metadata.get("nbgrader", {}).get("grade", False)]
    assert len(outputs) == len(results)
    for output in outputs:
        text = output["text"] if output["output_type"] == "stream" else output["traceback"][0]
        header, body, end = text.split("\n")
        assert HEADER.fullmatch(header) and end == ""
        _assert_marked(body)
    texts = "\n".join(str(o) for o in outputs)
    assert QUOTED in texts and "4 / 4 points" not in _outside_quotes(texts)

    [html] = feedback.render(course, ASSIGNMENT)
    page = html.read_text()
    assert QUOTED in page
    assert "4 / 4 points" not in _outside_quotes(page)
    assert _outside_quotes(page).count("[passed]") == len(results) - len(MALLORY)  # the grader's headers only
