"""The test cell runs in the grader, the student's names stay in the kernel (autograder.run.remote).

Fast tests check the pieces on plain values: free names, hidden lines, the wire format (the
trusted :class:`~autograder.run.wire.Codec` against the in-kernel side imported here), writing
arguments back, student errors and handles.  Slow tests start real sandboxed kernels: ``kernel``
is one per module for well-behaved students (each test defines its own names); tampering and
timeouts get kernels of their own.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from autograder.checks.base import Status
from autograder.run import kernel_side, remote
from autograder.run.kernel import SandboxedKernel
from autograder.run.plain import Undecodable
from autograder.run.remote import TestOutcome, free_names, hidden_lines, run_test_cell
from autograder.run.wire import Codec, StudentError, StudentFunction, StudentObject, student_error, write_back
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits

TRUSTED = {"np": np, "StudentObject": StudentObject}


# --- fast: the pieces --------------------------------------------------------------------------


class TestFreeNames:
    def test_names_loaded_and_never_bound_at_any_depth(self) -> None:
        """Names in nested functions, lambdas, comprehensions and class bodies count; bound ones do not."""
        source = (
            "import numpy as np\nfrom math import pi\nx = f(a)\n"
            "def g(y):\n    global counter\n    counter = 1\n    return h(y) + [k for k in ks if k > lo]\n"
            "class C:\n    z = zz\nlam = lambda t: t * w + x\nfor i in range(3):\n    print(i, counter)\n"
        )
        assert free_names(source) == ["a", "f", "h", "ks", "lo", "print", "range", "w", "zz"]

    def test_hidden_lines_are_between_the_markers(self) -> None:
        """Lines strictly between BEGIN and END HIDDEN TESTS are hidden, whatever the line endings."""
        source = "a = 1\r\n### BEGIN HIDDEN TESTS\r\nb = 2\nc = 3\n### END HIDDEN TESTS\nd = 4\n"
        assert hidden_lines(source) == frozenset({3, 4})


def _same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and bool(np.array_equal(a, b, equal_nan=a.dtype.kind == "f"))
    if isinstance(a, np.generic):
        return bool(a.dtype == b.dtype and (a == b or (a != a and b != b)))
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _wire(value: Any) -> Any:
    return json.loads(json.dumps(value))


VALUES: list[Any] = [
    None, True, 0, -7, 2**80, 1.5, float("nan"), float("-inf"), "héllo ✓", [],
    (1, "a", (2.0, None)), {"w": np.ones((2, 3)), 3: [1, 2], (1, "k"): {"x": False}},
    np.arange(6, dtype=np.int8).reshape(2, 3), np.array([True, False]), np.zeros((0, 4), dtype=">f4"),
    np.float32(0.25), np.int64(-3), np.bool_(True), np.array(2.5),
    np.asfortranarray(np.arange(6.0).reshape(2, 3)), np.arange(10)[::3], np.arange(6.0).reshape(2, 3).T,
]


class TestWireFormat:
    @pytest.mark.parametrize("value", VALUES, ids=repr)
    def test_plain_values_round_trip_through_both_ends(self, value: Any) -> None:
        """The trusted encoder, the in-kernel decoder and encoder and the trusted decoder keep value and type."""
        codec = Codec()
        in_kernel = kernel_side._decode(_wire(codec.encode(value)))
        assert _same(in_kernel, value)
        assert _same(codec.decode(_wire(kernel_side._encode(in_kernel))), value)

    def test_other_objects_become_handles_and_callables_stubs(self) -> None:
        """A student's object crosses as a handle (callable or not) and the test's callable as a stub."""
        class Model:
            def predict(self, x: Any) -> Any:
                return x

        codec, model = Codec(), Model()
        handle, method = codec.decode(_wire(kernel_side._encode([model, model.predict])))
        assert type(handle) is StudentObject and type(method) is StudentFunction
        assert codec.decode(_wire(kernel_side._encode(model))) is handle  # one handle per object
        assert kernel_side._decode(_wire(codec.encode(handle))) is model
        stub = kernel_side._decode(_wire(codec.encode(len)))
        assert callable(stub) and stub is not len and stub.__name__ == "test_function"
        assert codec.decode(_wire(kernel_side._encode(stub))) is len  # it goes back as the test's own

    @pytest.mark.parametrize("wire", [
        {"__nd__": ["|O", [1], "AAAAAAAAAAA="]}, {"a": 1, "b": 2}, {"__tuple__": 3}, {"__cb__": 0},
        {"__dict__": [[[1], 2]]}, {"__obj__": [-1, True, "f"]}, {"__sc__": ["<U1", "QQAAAA=="]}, {"__eval__": "1"},
    ], ids=repr)
    def test_anything_else_is_refused(self, wire: Any) -> None:
        """Object arrays, unknown tags, unhashable keys and unknown callables raise Undecodable."""
        with pytest.raises(Undecodable):
            Codec().decode(wire)

    def test_the_test_cannot_send_arbitrary_objects(self) -> None:
        """Sets, object arrays and the like are refused before anything is sent."""
        for value in ({1, 2}, np.array([object()]), range(3)):
            with pytest.raises(TypeError):
                Codec().encode(value)


class TestWriteBack:
    def test_arrays_lists_and_dicts_are_updated_in_place(self) -> None:
        """Nested arrays keep their identity; lists and dicts take the student's changes."""
        w, b = np.zeros(3), np.zeros(2)
        params = {"w": w, "b": b, "gone": 1}
        items = [w, 5]
        write_back(params, {"w": np.ones(3), "b": np.full(2, 2.0), "new": "x"})
        write_back(items, [np.arange(3.0), 5, 6])
        assert params["w"] is w and params["b"] is b and "gone" not in params and params["new"] == "x"
        assert np.array_equal(b, [2, 2]) and items[2:] == [6] and items[0] is not w

    def test_an_array_of_another_shape_is_left_alone(self) -> None:
        """A student cannot reshape the test's array through the copy back."""
        x = np.zeros(3)
        write_back(x, np.ones(4))
        assert np.array_equal(x, np.zeros(3))


class TestStudentErrors:
    def test_a_builtin_exception_can_be_caught_by_its_class(self) -> None:
        """``except ValueError`` catches a student's ValueError; its text loses decimals and is quoted."""
        error = student_error("f", ["ValueError", "bad rate 0.125"])
        assert isinstance(error, ValueError) and isinstance(error, StudentError)
        assert str(error) == "f raised ValueError: «bad rate …»"

    def test_assertion_and_odd_names_are_not_mixed_in(self) -> None:
        """A student's AssertionError is not a failed check; a forged name is scrubbed and quoted."""
        assert not isinstance(student_error("f", ["AssertionError", "ok"]), AssertionError)
        assert type(student_error("f", ["UnicodeDecodeError", ""])) is StudentError
        assert student_error("f", ["Secret 12.5 value", ""]).name == "«Secret … value»"


class TestHandles:
    def test_a_handle_offers_no_interface_of_its_own(self) -> None:
        """No dunder or private attribute reaches the kernel, no truth value, equal only to itself."""
        handle = StudentObject(None, 0, "Box")
        with pytest.raises(AttributeError):
            handle.__array_interface__  # noqa: B018
        with pytest.raises(TypeError):
            bool(handle)
        other: object = 1
        assert handle != StudentObject(None, 0, "Box") and handle != other and handle == handle
        with pytest.raises(RuntimeError):
            handle.anything  # noqa: B018  (no kernel here)


# --- slow: real kernels ------------------------------------------------------------------------

LIMITS = Limits(memory_bytes=1024**3, cell_timeout_s=20)


def _start(jail: Jail, *cells: str) -> SandboxedKernel:
    kernel = SandboxedKernel(jail)
    _cells(kernel, *cells)
    return kernel


def _cells(kernel: SandboxedKernel, *cells: str) -> None:
    """Run the student's cells; none may fail."""
    for cell in cells:
        run = kernel.execute(cell, 20, 100_000)
        assert run.error is None and not run.timed_out, run


@pytest.fixture(scope="module")
def kernel() -> Iterator[SandboxedKernel]:
    with Jail(LIMITS) as jail:
        started = _start(jail, "import numpy as np\n")
        try:
            yield started
        finally:
            started.shutdown()


def _run(kernel: SandboxedKernel, source: str, timeout_s: float = 20) -> TestOutcome:
    return run_test_cell(kernel, source, timeout_s=timeout_s, namespace=dict(TRUSTED))


MSE_TEST = """\
y = np.array([1.0, 2.0, 4.0])
p = np.array([1.5, 2.0, 3.0])
assert abs(mse(y, p) - 0.4166666666666667) < 1e-9, f"mse: expected 0.4167 (got {mse(y, p):.4g})"
"""


@pytest.mark.slow
class TestGrading:
    def test_one_test_cell_passes_a_correct_and_fails_a_buggy_function(self, kernel: SandboxedKernel) -> None:
        """The same cell grades two students; the failed assert's message is formatted in the grader."""
        _cells(kernel, "def mse(y, p):\n    return float(np.mean((p - y) ** 2))\n")
        assert _run(kernel, MSE_TEST).status is Status.PASSED
        _cells(kernel, "def mse(y, p):\n    return float(np.mean(np.abs(p - y)))\n")
        outcome = _run(kernel, MSE_TEST)
        assert (outcome.status, outcome.message, outcome.line) == (Status.FAILED, "mse: expected 0.4167 (got 0.5)", 3)

    def test_a_returned_tuple_unpacks_and_dicts_round_trip(self, kernel: SandboxedKernel) -> None:
        """Tuples stay tuples (unpacking works), dicts keep non-string keys, numpy scalars their dtype."""
        _cells(kernel, "def momentum(p, g, v, lr):\n    v = 0.9 * v + g\n    return p - lr * v, v\n"
                       "def table():\n    return {(0, 1): np.float32(0.5), 'n': [1, (2, 3)]}\n")
        outcome = _run(kernel, """\
new_p, new_v = momentum(np.ones(2), np.full(2, 2.0), np.zeros(2), 0.1)
np.testing.assert_allclose(new_p, [0.8, 0.8])
np.testing.assert_allclose(new_v, [2.0, 2.0])
result = momentum(1.0, 2.0, 0.0, 0.1)
assert type(result) is tuple and len(result) == 2
t = table()
assert t == {(0, 1): 0.5, "n": [1, (2, 3)]} and type(t[(0, 1)]) is np.float32
""")
        assert outcome.status is Status.PASSED, outcome

    def test_the_tests_gradient_is_called_by_the_students_loop(self, kernel: SandboxedKernel) -> None:
        """A test function given as an argument runs in the grader; its calls are counted there."""
        test = """\
calls = []
def grad(x):
    calls.append(x.copy())
    return 2.0 * (x - np.array([3.0, -1.0]))
trajectory = gradient_descent(grad, np.zeros(2), 0.1, 25)
assert len(calls) == 25, f"gradient_descent: expected 25 gradient evaluations (got {len(calls)})"
np.testing.assert_allclose(calls[1], [0.6, -0.2])
np.testing.assert_allclose(trajectory[-1], [3.0, -1.0], atol=0.02)
assert gradient_descent(lambda x: 0 * x, np.ones(1), 0.1, 3)[-1] == 1.0
"""
        _cells(kernel, "def gradient_descent(grad_fn, x0, lr, steps):\n    xs = [x0.copy()]\n"
                       "    for _ in range(steps):\n        xs.append(xs[-1] - lr * grad_fn(xs[-1]))\n"
                       "    return np.array(xs)\n")
        assert _run(kernel, test).status is Status.PASSED
        _cells(kernel, "def gradient_descent(grad_fn, x0, lr, steps):\n    xs = [x0.copy()]\n"
                       "    for _ in range(steps):\n        grad_fn(xs[-1])\n"
                       "        xs.append(xs[-1] - lr * grad_fn(xs[-1]))\n    return np.array(xs)\n")
        outcome = _run(kernel, test)
        assert outcome.status is Status.FAILED
        assert outcome.message == "gradient_descent: expected 25 gradient evaluations (got 50)"

    def test_the_tests_callable_may_call_the_students_functions(self, kernel: SandboxedKernel) -> None:
        """Nested crossings: the student's code calls a test lambda that calls the student's mse."""
        _cells(kernel, "def mse(y, p):\n    return float(np.mean((p - y) ** 2))\n"
                       "def numerical_gradient(f, x, eps=1e-5):\n    g = np.zeros_like(x)\n"
                       "    for i in range(x.size):\n        e = np.zeros_like(x)\n        e[i] = eps\n"
                       "        g[i] = (f(x + e) - f(x - e)) / (2 * eps)\n    return g\n")
        outcome = _run(kernel, """\
y = np.array([1.0, 2.0])
g = numerical_gradient(lambda p: mse(y, p), np.zeros(2))
np.testing.assert_allclose(g, [-1.0, -2.0], atol=1e-6)
""")
        assert outcome.status is Status.PASSED, outcome

    def test_a_failing_test_callable_fails_the_test_even_when_the_student_catches_it(
            self, kernel: SandboxedKernel) -> None:
        """An assert inside the test's callable decides, whatever the student's try/except does."""
        _cells(kernel, "def careless(f, x):\n    try:\n        return f(x)\n    except Exception:\n        return 0\n")
        outcome = _run(kernel, "def f(x):\n    assert x.shape == (3,), 'f: called with the wrong shape'\n"
                               "    return 1\ncareless(f, np.zeros(2))\n")
        assert (outcome.status, outcome.message, outcome.line) == (Status.FAILED, "f: called with the wrong shape", 2)

    def test_mutating_an_input_is_detected(self, kernel: SandboxedKernel) -> None:
        """Arguments come back after the call into the test's own arrays and lists."""
        test = """\
x0 = np.array([1.0, 3.0])
copy = x0.copy()
out = normalize(x0)
np.testing.assert_allclose(out, [0.25, 0.75])
assert np.array_equal(x0, copy), "normalize: changed its input; work on a copy"
"""
        _cells(kernel, "def normalize(x):\n    return x / x.sum()\n")
        assert _run(kernel, test).status is Status.PASSED
        _cells(kernel, "def normalize(x):\n    x /= x.sum()\n    return x\n", "def grow(items):\n    items.append(4)\n")
        outcome = _run(kernel, test)
        assert (outcome.status, outcome.message) == (Status.FAILED, "normalize: changed its input; work on a copy")
        assert _run(kernel, "items = [1]\ngrow(items)\nassert items == [1, 4]\n").status is Status.PASSED

    def test_a_non_plain_result_is_a_handle_that_cannot_fake_equality(self, kernel: SandboxedKernel) -> None:
        """An object with ``__eq__`` always True stays in the kernel; its attributes and methods still work."""
        _cells(kernel, "class Box:\n    size = 3\n    def __eq__(self, other):\n        return True\n"
                       "    def __bool__(self):\n        return True\n    def double(self, x):\n        return 2 * x\n"
                       "def make():\n    return Box()\n")
        outcome = _run(kernel, "b = make()\nassert isinstance(b, StudentObject) and b.size == 3\n"
                               "np.testing.assert_allclose(b.double(np.ones(2)), [2, 2])\n")
        assert outcome.status is Status.PASSED, outcome
        assert _run(kernel, "assert make() == 42\n").status is Status.FAILED
        assert _run(kernel, "np.testing.assert_array_equal(make(), 42)\n").status in (Status.FAILED, Status.ERROR)
        outcome = _run(kernel, "assert make()\n")
        assert outcome.status is Status.ERROR and "no truth value" in outcome.message

    def test_a_student_exception_is_an_error_or_caught_by_the_test(self, kernel: SandboxedKernel) -> None:
        """Uncaught: an error naming the function and the exception, decimals scrubbed; a test may expect it."""
        _cells(kernel, "def step(lr):\n    if lr < 0:\n        raise ValueError(f'negative rate {lr}')\n"
                       "    return lr\n")
        outcome = _run(kernel, "step(-0.125)\n")
        assert (outcome.status, outcome.message) == (Status.ERROR, "step raised ValueError: «negative rate …»")
        expects = ("try:\n    step(-1.5)\nexcept ValueError:\n    pass\n"
                   "else:\n    raise AssertionError('step: no error')\n")
        assert _run(kernel, expects).status is Status.PASSED

    def test_a_large_argument_crosses_over_stdin_intact(
            self, kernel: SandboxedKernel, monkeypatch: pytest.MonkeyPatch) -> None:
        """Arrays of a few MB travel over the stdin channel, not in the executed cell, and come back exact."""
        codes: list[str] = []
        execute = kernel.client.execute

        def recording_execute(code: str, *args: Any, **kwargs: Any) -> str:
            codes.append(code)
            return str(execute(code, *args, **kwargs))

        monkeypatch.setattr(kernel.client, "execute", recording_execute)
        _cells(kernel, "def scale(x):\n    x *= 2\n    return x[::-1]\n")
        codes.clear()
        outcome = _run(kernel, "x = np.random.default_rng(0).random(500_000)\nold = x.copy()\nr = scale(x)\n"
                               "assert np.array_equal(x, 2 * old) and np.array_equal(r, x[::-1])\n")
        assert outcome.status is Status.PASSED, outcome
        assert max(len(code) for code in codes) < remote.INLINE_CHARS + len(remote.KERNEL_SIDE) + 1000

    def test_an_undefined_name_is_missing(self, kernel: SandboxedKernel) -> None:
        """Names are looked up before the test runs; undefined ones make it missing, naming them."""
        _cells(kernel, "def mse(y, p):\n    return 0.0\n")
        outcome = _run(kernel, "assert mse(1, 1) == 0\nassert adam_stepper(1) == 2\n")
        assert outcome.status is Status.MISSING and outcome.missing == ("adam_stepper",)
        assert "adam_stepper is not defined" in outcome.message

    def test_a_module_of_the_kernel_is_never_used_by_the_test(self, kernel: SandboxedKernel) -> None:
        """A test that forgot ``import numpy`` would call the student's numpy: it is refused instead."""
        outcome = run_test_cell(kernel, "np.testing.assert_allclose(1, 1)\n", timeout_s=20)
        assert outcome.status is Status.ERROR and "import it in the test cell" in outcome.message

    def test_a_bare_assert_in_a_hidden_block_reports_its_line_only(self, kernel: SandboxedKernel) -> None:
        """The message names the line's number, never its code; ``hidden`` tells it from a visible one."""
        _cells(kernel, "def mse(y, p):\n    return 0.0\n")
        source = "x = np.ones(2)\nassert mse(x, x) == 0\n### BEGIN HIDDEN TESTS\nh = np.array([1.0, 2.0])\n" \
                 "assert mse(h, 2 * h) > 0.5\n### END HIDDEN TESTS\n"
        outcome = _run(kernel, source)
        assert (outcome.status, outcome.message, outcome.line, outcome.hidden) == (
            Status.FAILED, "check 5 of the test failed", 5, True)
        helper = "def positive(v):\n    assert v > 0.5\n### BEGIN HIDDEN TESTS\npositive(mse(1, 3))\n"
        outcome = _run(kernel, helper)  # a visible helper's assert, called from a hidden line, is hidden
        assert (outcome.status, outcome.line, outcome.hidden) == (Status.FAILED, 2, True)

    def test_the_kernel_receives_call_arguments_and_nothing_else_of_the_test(
            self, kernel: SandboxedKernel, monkeypatch: pytest.MonkeyPatch) -> None:
        """Recorded at the client: no test source, no hidden constant, no callable's code, only arguments."""
        sent: list[str] = []
        execute, reply = kernel.client.execute, kernel.client.input

        def recording_execute(code: str, *args: Any, **kwargs: Any) -> str:
            sent.append(code)
            return str(execute(code, *args, **kwargs))

        def recording_input(value: str) -> None:
            sent.append(value)
            reply(value)

        monkeypatch.setattr(kernel.client, "execute", recording_execute)
        monkeypatch.setattr(kernel.client, "input", recording_input)
        _cells(kernel, "def double(x):\n    return 2 * x\n", "def apply(f, x):\n    return f(x)\n")
        sent.clear()
        source = """\
### BEGIN HIDDEN TESTS
SECRET_SCALE = 7.123456789
hidden_target = np.array([2.718281828, 3.14159]) * SECRET_SCALE
np.testing.assert_allclose(double(np.array([13.579, 24.68])), [27.158, 49.36])
assert apply(lambda v: v * SECRET_SCALE, 2.0) == 2.0 * SECRET_SCALE
### END HIDDEN TESTS
"""
        assert _run(kernel, source).status is Status.PASSED
        wire = "\n".join(sent)
        argument = base64.b64encode(np.array([13.579, 24.68]).tobytes()).decode()
        assert argument in wire and "2.0" in wire  # the arguments did cross
        target = base64.b64encode((np.array([2.718281828, 3.14159]) * 7.123456789).tobytes()).decode()
        for secret in ("SECRET_SCALE", "7.123456789", "hidden_target", target, "assert", "HIDDEN", "lambda",
                       "27.158", "np.testing"):
            assert secret not in wire, secret


TAMPER = """\
import builtins, json
import numpy as np
import numpy.testing
np.testing.assert_allclose = lambda *a, **k: None
np.testing.assert_array_equal = lambda *a, **k: None
np.allclose = lambda *a, **k: True
np.array_equal = lambda *a, **k: True
np.isclose = lambda *a, **k: np.array(True)
builtins.abs = lambda x: 0
builtins.round = lambda x, n=None: 1
builtins.input = lambda prompt='': '{"done": 0.41666666666666667}'
def mse(y, p):
    builtins.input = lambda prompt='': '{"value": 1}'
    return 123.0
"""


@pytest.mark.slow
def test_a_student_who_patches_numpy_and_builtins_still_fails() -> None:
    """Every helper the asserts use is the grader's: a wrong answer fails whatever the kernel patched."""
    with Jail(LIMITS) as jail:
        kernel = _start(jail, TAMPER)
        try:
            for test in (MSE_TEST, "np.testing.assert_allclose(mse(np.ones(2), np.ones(2)), 0.0)\n",
                         "assert np.allclose(mse(np.ones(2), np.ones(2)), 0.0)\n",
                         "assert round(mse(1, 2)) == 1\n"):
                outcome = _run(kernel, test)
                assert outcome.status is Status.FAILED, (test, outcome)
            _cells(kernel, "def mse(y, p):\n    return float(np.mean((p - y) ** 2))\n")
            assert _run(kernel, MSE_TEST).status is Status.PASSED
            # Forging the channel itself (the kernel's raw_input) only breaks the student's own calls.
            _cells(kernel, "def mse(y, p):\n    return 1.0\n",
                   "type(get_ipython().kernel).raw_input = lambda self, prompt='': "
                   "'{\"value\": 0.41666666666666667}'\n")
            outcome = _run(kernel, MSE_TEST)
            assert outcome.status is Status.ERROR and "connection" in outcome.message, outcome
        finally:
            kernel.shutdown()


@pytest.mark.slow
def test_a_call_past_the_time_limit_is_a_timeout() -> None:
    """An endless loop is interrupted and the kernel stays usable; one that ignores the interrupt
    is stopped within the grace period and reported as such."""
    cells = ("def forever(x):\n    while True:\n        pass\n",
             "import signal\ndef stubborn(x):\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
             "    while True:\n        pass\n",
             "def ok(x):\n    return x\n")
    with Jail(LIMITS) as jail:
        kernel = _start(jail, *cells)
        try:
            outcome = _run(kernel, "x = ok(1)\ntry:\n    forever(x)\nexcept BaseException:\n    pass\n", timeout_s=1.5)
            assert (outcome.status, outcome.line, outcome.kernel_alive) == (Status.TIMEOUT, 3, True)
            assert outcome.message == "forever: did not finish within the time limit of 1.5 s"
            assert _run(kernel, "assert ok(2) == 2\n").status is Status.PASSED
            outcome = _run(kernel, "stubborn(1)\n", timeout_s=1)
            assert (outcome.status, outcome.kernel_alive) == (Status.TIMEOUT, False)
            assert "the kernel was stopped" in outcome.message and kernel.process.poll() is not None
        finally:
            kernel.shutdown()


def test_the_in_kernel_side_is_the_module_sent() -> None:
    """What is sent is this module's own text, and both ends agree on the prompt prefix."""
    assert remote.KERNEL_SIDE == open(kernel_side.__file__).read()
    assert remote.PREFIX == kernel_side.PREFIX


@pytest.mark.slow
class TestHelpers:
    """nbexpect's helpers in a test cell: their messages shown, a Score as the cell's points, only theirs."""

    def test_a_helpers_failure_shows_its_message_even_when_hidden(self, kernel: SandboxedKernel) -> None:
        _cells(kernel, "def mse_grad(y, p):\n    return (p - y) / p.size\n")
        outcome = _run(kernel, """\
from nbexpect import expect_gradient
### BEGIN HIDDEN TESTS
y, p = np.zeros(4), np.arange(4.0)
expect_gradient(mse_grad(y, p), 2 * (p - y) / 4, name="mse_grad", param="y_pred")
### END HIDDEN TESTS
""")
        assert (outcome.status, outcome.line, outcome.hidden) == (Status.FAILED, 4, True)
        assert outcome.message.startswith("mse_grad: wrong gradient with respect to y_pred at y_pred[1]: expected 0.5 "
                                          "(got 0.25)"), outcome.message
        assert outcome.message.endswith("it is 0.5 times the right answer"), outcome.message

    def test_partial_credit_is_the_cells_points(self, kernel: SandboxedKernel) -> None:
        _cells(kernel, "A, B, C = 1.0, 2.0, 30.0\n")
        outcome = _run(kernel, """\
from nbexpect import partial_credit
partial_credit(3, [None if A == 1 else "A is wrong", None if B == 2 else "B is wrong",
                   None if C == 3 else f"C = {C!r}: expected 3"])
""")
        assert (outcome.status, outcome.score, outcome.message) == (Status.PASSED, 2.0, "C = 30.0: expected 3")

    def test_a_number_from_the_kernel_is_no_score(self, kernel: SandboxedKernel) -> None:
        """The last expression's value counts only when it is nbexpect's Score, never the student's float."""
        _cells(kernel, "def points():\n    return 99.0\n")
        outcome = _run(kernel, "x = 1\npoints()\n")
        assert (outcome.status, outcome.score) == (Status.PASSED, None)
        outcome = _run(kernel, "from nbexpect import Score\nScore(points())\n")  # the test's own choice
        assert outcome.score == 99.0

    def test_a_helpers_timeout_is_a_timeout(self, kernel: SandboxedKernel) -> None:
        outcome = _run(kernel, "from nbexpect.grading import TimedOut\nraise TimedOut('model: took too long')\n")
        assert (outcome.status, outcome.message) == (Status.TIMEOUT, "model: took too long")
