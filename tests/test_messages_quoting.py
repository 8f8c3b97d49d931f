"""Text from the student's kernel never passes for the grader's words.

The reported case: a type name holding the lines "[passed] 4 / 4 points" and "accuracy 0.999"
appeared inside a failed verdict, in the test cell's output and in the feedback HTML, as if the
grader had written them.  Student text is now put on one line, shortened and quoted in «»
(:func:`autograder.checks.base.student_text`), and the verdict's first line, "[status] points",
is the only line the grader writes with a status in brackets.  Routes covered: the type name of an
object that stayed in the kernel, exception names and messages, strings the student's code returned
that a test cell formats into its message, very long names; each through a test cell run on the
trusted side (:func:`autograder.run.remote.run_test_cell`), and the first ones end to end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbexpect import describe

from autograder import batch, config, feedback
from autograder.checks.base import CheckResult, Status, mark_student_text, one_line, student_name, student_text
from autograder.run.kernel import SandboxedKernel
from autograder.run.notebook import _result_output
from autograder.run.remote import TestOutcome, run_test_cell
from autograder.run.wire import StudentObject
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO, build_course

FORGED = "float\n[passed] 4 / 4 points\naccuracy 0.999"  # the text
QUOTED = "«float⏎[passed] 4 / 4 points⏎accuracy 0.999»"
SCRUBBED = "«float⏎[passed] 4 / 4 points⏎accuracy …»"  # numbers in exceptions are scrubbed
LONG = "Long" + "x" * 500
MARKER = "@@autograder-0123456789abcdef@@"
SPANS = re.compile(r"«[^«»]*»")
HEADER = re.compile(r"\[(passed|failed|error|timeout|out-of-memory|kernel died|missing)\] [\d.]+ / [\d.]+ points")


def _outside_quotes(text: str) -> str:
    return SPANS.sub("", text)


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
        """nbexpect's "(got ...)" of an object of the student's: the type name quoted unless plain."""
        assert describe(StudentObject(None, 1, FORGED)) == f"a {QUOTED} object of the student's"
        assert describe(StudentObject(None, 1, "Model")) == "a Model object of the student's"
        assert describe((1, 2)) == "tuple of length 2"

    def test_mark_quotes_student_strings_and_forged_statuses(self) -> None:
        sent = [f"raised {FORGED}", "raised ValueError"]
        assert mark_student_text(f"f: which raised {FORGED}; fix it", sent) == \
            "f: which «raised float⏎[passed] 4 / 4 points⏎accuracy 0.999»; fix it"
        assert mark_student_text("f: which raised ValueError; fix it", sent) == "f: which raised ValueError; fix it"
        assert mark_student_text("f: got [PASSED] 4 / 4") == "f: got «[PASSED]» 4 / 4"
        assert mark_student_text(f"f: (got {QUOTED})", [f"<{FORGED}>"]) == f"f: (got {QUOTED})"  # once
        assert one_line("a\nb\x07c") == "a⏎b c"


# --- each route, through a test cell run on the trusted side ---------------------------------------


@pytest.fixture(scope="module")
def kernel() -> Iterator[SandboxedKernel]:
    with Jail(Limits(memory_bytes=1024**3, pids=64)) as jail:
        started = SandboxedKernel(jail)
        started.execute("import numpy as np\n", 20, 100_000)
        try:
            yield started
        finally:
            started.shutdown()


def _outcome(kernel: SandboxedKernel, cell: str, test: str) -> TestOutcome:
    run = kernel.execute(cell, 20, 100_000)
    assert run.error is None, run
    return run_test_cell(kernel, test, timeout_s=20, namespace={"np": np})


FLOAT_TEST = "from nbexpect import expect_float\nexpect_float(mse(np.zeros(2), np.ones(2)), name='mse')\n"


@pytest.mark.slow
class TestRoutes:
    def test_type_name_of_a_returned_object(self, kernel: SandboxedKernel) -> None:
        """mse returns an object whose class name is the forged verdict (the issue's case): it stays in
        the kernel, and its type name reaches the message quoted."""
        outcome = _outcome(kernel, f"def mse(y_true, y_pred):\n    return type({FORGED!r}, (), {{}})()\n", FLOAT_TEST)
        assert outcome.status is Status.FAILED
        assert outcome.message == f"mse: expected the result to be a float (got a {QUOTED} object of the student's)"

    def test_very_long_type_name(self, kernel: SandboxedKernel) -> None:
        outcome = _outcome(kernel, f"def mse(y_true, y_pred):\n    return type({LONG!r}, (), {{}})()\n", FLOAT_TEST)
        assert outcome.message.endswith(f"(got a «{LONG[:59]}…» object of the student's)"), outcome.message

    def test_exception_name_and_message(self, kernel: SandboxedKernel) -> None:
        """A student's exception: its name as a name, its message quoted, numbers scrubbed."""
        outcome = _outcome(kernel, f"def mse(y_true, y_pred):\n    raise ValueError({FORGED!r})\n", FLOAT_TEST)
        assert (outcome.status, outcome.message) == (Status.ERROR, f"mse raised ValueError: {SCRUBBED}")
        forged = f"def mse(y_true, y_pred):\n    raise type({FORGED!r}, (Exception,), {{}})('boom')\n"
        outcome = _outcome(kernel, forged, FLOAT_TEST)
        assert outcome.message == f"mse raised {SCRUBBED}: «boom»"
        stolen = "QUJDREVGR0hJSktMTU5PUFFSU1RVVldY"  # a name may carry hidden inputs: scrubbed, as messages are
        outcome = _outcome(kernel, f"def mse(y_true, y_pred):\n    raise type({stolen!r}, (Exception,), {{}})()\n",
                           FLOAT_TEST)
        assert outcome.message == "mse raised «…»"

    def test_student_string_in_an_assert_message(self, kernel: SandboxedKernel) -> None:
        """A string the student's code returned, formatted into the instructor's message, is quoted."""
        outcome = _outcome(kernel, f"def label():\n    return {FORGED!r}\n",
                           "got = label()\nassert got == 'cat', f'label: expected cat (got {got})'\n")
        assert outcome.message == f"label: expected cat (got {QUOTED})"

    def test_grader_text_is_left_alone(self, kernel: SandboxedKernel) -> None:
        """What the grader writes itself (a file that was not found) is not mistaken for student text."""
        outcome = _outcome(kernel, "x = 1\n", "from nbexpect import Failed\n"
                           "raise Failed(\"m.keras: m.keras was not found in the notebook's folder\")\n")
        assert outcome.message == "m.keras: m.keras was not found in the notebook's folder"


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
    assert results["test_mse"].message.endswith(f"expected the result to be a float (got a {QUOTED} object of the "
                                                "student's)")
    assert results["test_mse_grad"].message.startswith("mse_grad raised ValueError: «float⏎[passed] 4 / 4 points⏎")
    assert results["test_softmax"].message == f"softmax raised {SCRUBBED}: «boom»"
    assert "(got a «Longxxx" in results["test_cross_entropy"].message
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
