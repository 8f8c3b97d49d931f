"""Hidden checks of assignment ``03.3_chain_rule`` (see COURSE_SPEC.md, section 03.3).

Hidden inputs are drawn from ``np.random.default_rng(seed)`` in the notebook's order and travel
to the kernel as exact literals; probes call the student's functions and hand back what they
returned and the inputs as they are after each call.

Every gradient (the ``d_*`` derivatives, ``dense_backward``, ``relu_backward`` and
``mlp_loss_and_grads``) is compared with two references computed here, on the trusted side:

- ``tf.GradientTape`` on the same computation in float64, exact up to rounding.  TensorFlow is
  imported by the first verdict that needs it (building checks stays fast) and the references
  are cached per seed, so a grading process pays for them once.
- central differences of a numpy implementation (eps 1e-5; the reference's own error is below
  1e-9).  ReLU inputs stay at least 0.05 (the network's pre-activations at least 1e-3) away
  from the kink, so both references are smooth there.

Tolerances: an element passes when ``|got - expected| <= max(rtol * |expected|, atol)``.

- against the tape: rtol 1e-6, atol 1e-10.  Correct forms agree to 1e-12 relative, except
  ``s * (1 - s)`` and ``1 - tanh(x)**2`` in the far tails (|x| up to 30), where the value is
  tiny and the absolute error stays below 1e-16.
- against central differences: rtol 1e-5, atol 1e-7.
- ``dense_forward`` and ``relu_forward``: rtol 1e-9, atol 1e-12; the loss of
  ``mlp_loss_and_grads``: rtol 1e-6.
- The bugs these checks exist for (a transposed ``dW``, ``db`` summed over the wrong axis, a
  ReLU gradient without its mask, a missing ``1/n``) are off by order 1.

``train_mlp`` is called in the kernel, with its default arguments, on ``TRAIN_POINTS`` points
of two noisy moons; the parameters it returns are evaluated here on ``HELD_OUT_POINTS`` held-out
points that never enter the kernel.  It passes at an accuracy of at least
``train_mlp_min_accuracy`` (course.toml; ``DEFAULT_MIN_ACCURACY`` when absent).  Measured over
100 data seeds: the reference trainer scores 0.968 to 0.99 (mean 0.987), the best linear
classifier 0.87 to 0.90, a trainer that starts from zeros 0.5.
"""

from __future__ import annotations

import functools
import textwrap
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.checks import literal
from autograder.checks.base import Check, Plain, Verdict
from autograder.checks.calls import Case, calls_check
from autograder.checks.gradients import (
    Computation,
    central_differences,
    compare_to_references,
    tape_gradients,
)
from autograder.checks.numeric import (
    PLAIN_SOURCE,
    FloatArray,
    as_array,
    as_scalar,
    check_unchanged,
    compare_arrays,
    describe,
    failed,
    fetch,
    fmt,
    guarded,
    passed,
    relative_errors,
)
from autograder.config import ConfigError

IntArray = npt.NDArray[np.int64]

SEED = 20261203

FORWARD_RTOL, FORWARD_ATOL = 1e-9, 1e-12
LOSS_RTOL, LOSS_ATOL = 1e-6, 1e-12

PARAMS = ("W1", "b1", "W2", "b2")
DERIVATIVES = ("d_sigmoid", "d_tanh", "d_softplus", "d_composite")
TRAIN_POINTS, HELD_OUT_POINTS, MOONS_NOISE = 400, 1000, 0.15

MIN_ACCURACY_KEY = "train_mlp_min_accuracy"
DEFAULT_MIN_ACCURACY = 0.93


# --- trusted references -----------------------------------------------------------------------


def make_moons(n: int, noise: float, rng: np.random.Generator) -> tuple[FloatArray, IntArray]:
    """Two interleaved half circles, centred on the origin, with Gaussian noise; labels 0 and 1.

    The notebook's ``make_moons`` draws from the same distribution."""
    n0 = n // 2
    t = rng.uniform(0.0, np.pi, size=n)
    upper = np.stack([np.cos(t[:n0]), np.sin(t[:n0])], axis=1)
    lower = np.stack([1.0 - np.cos(t[n0:]), 0.5 - np.sin(t[n0:])], axis=1)
    X = np.concatenate([upper, lower]) - np.array([0.5, 0.25]) + noise * rng.normal(size=(n, 2))
    y = np.concatenate([np.zeros(n0, dtype=np.int64), np.ones(n - n0, dtype=np.int64)])
    order = rng.permutation(n)
    return np.asarray(X[order], dtype=np.float64), np.asarray(y[order], dtype=np.int64)


def mlp_logits(params: Mapping[str, FloatArray], X: FloatArray) -> FloatArray:
    """``relu(X @ W1 + b1) @ W2 + b2``."""
    hidden = np.maximum(X @ params["W1"] + params["b1"], 0.0)
    return np.asarray(hidden @ params["W2"] + params["b2"], dtype=np.float64)


def mlp_loss(params: Mapping[str, FloatArray], X: FloatArray, y: IntArray) -> float:
    """Mean cross-entropy of ``softmax(mlp_logits)`` against integer labels (log-sum-exp form)."""
    z = mlp_logits(params, X)
    return float(np.mean(np.logaddexp.reduce(z, axis=1) - z[np.arange(len(y)), y]))


def _sigmoid(x: FloatArray) -> FloatArray:
    return np.asarray(0.5 * (1.0 + np.tanh(0.5 * x)), dtype=np.float64)


# The function each d_* differentiates, elementwise: (numpy, TensorFlow).
_ELEMENTWISE: dict[str, tuple[Callable[[FloatArray], FloatArray], Callable[[Any, Any], Any]]] = {
    "d_sigmoid": (_sigmoid, lambda tf, x: tf.math.sigmoid(x)),
    "d_tanh": (np.tanh, lambda tf, x: tf.math.tanh(x)),
    "d_softplus": (lambda x: np.logaddexp(0.0, x), lambda tf, x: tf.math.softplus(x)),
    "d_composite": (lambda x: np.log1p(np.exp(np.sin(3.0 * x))),
                    lambda tf, x: tf.math.log(1.0 + tf.math.exp(tf.math.sin(3.0 * x)))),
}


def _elementwise(function: str) -> Computation:
    f_np, f_tf = _ELEMENTWISE[function]
    return Computation(lambda a: float(np.sum(f_np(a[0]))), lambda tf, t: tf.reduce_sum(f_tf(tf, t[0])))


def _dense(dout: FloatArray) -> Computation:
    return Computation(lambda a: float(np.sum((a[0] @ a[1] + a[2]) * dout)),
                       lambda tf, t: tf.reduce_sum((t[0] @ t[1] + t[2]) * dout))


def _relu(dout: FloatArray) -> Computation:
    return Computation(lambda a: float(np.sum(np.maximum(a[0], 0.0) * dout)),
                       lambda tf, t: tf.reduce_sum(tf.nn.relu(t[0]) * dout))


def _mlp(X: FloatArray, y: IntArray) -> Computation:
    def tensorflow(tf: Any, t: Sequence[Any]) -> Any:
        logits = tf.nn.relu(X @ t[0] + t[1]) @ t[2] + t[3]
        return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=logits))

    return Computation(lambda a: mlp_loss(dict(zip(PARAMS, a, strict=True)), X, y), tensorflow)


# --- hidden inputs ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GradientCase:
    """One call whose gradients are checked: the arrays differentiated and the computation."""

    args: tuple[FloatArray, ...]
    computation: Computation


@dataclass(frozen=True)
class Hidden:
    """Every hidden input of one seed (arrays are read-only)."""

    derivatives: dict[str, tuple[FloatArray, ...]]  # d_* -> x per case
    dense: tuple[tuple[FloatArray, FloatArray, FloatArray], ...]  # dense_forward: (x, W, b)
    dense_back: tuple[tuple[FloatArray, FloatArray, FloatArray, FloatArray], ...]  # (x, W, b, dout)
    relu: tuple[FloatArray, ...]
    relu_back: tuple[tuple[FloatArray, FloatArray], ...]  # (x, dout)
    mlp: tuple[tuple[dict[str, FloatArray], FloatArray, IntArray], ...]  # (params, X, y)
    train: tuple[FloatArray, IntArray]
    held_out: tuple[FloatArray, IntArray]

    def gradient_cases(self, function: str) -> list[GradientCase]:
        if function in DERIVATIVES:
            return [GradientCase((x,), _elementwise(function)) for x in self.derivatives[function]]
        if function == "dense_backward":
            return [GradientCase((x, W, b), _dense(dout)) for x, W, b, dout in self.dense_back]
        if function == "relu_backward":
            return [GradientCase((x,), _relu(dout)) for x, dout in self.relu_back]
        if function == "mlp_loss_and_grads":
            return [GradientCase(tuple(p[k] for k in PARAMS), _mlp(X, y)) for p, X, y in self.mlp]
        raise KeyError(function)


def _frozen(a: npt.ArrayLike) -> FloatArray:
    out = np.array(a, dtype=np.float64)
    out.setflags(write=False)
    return out


def _away_from_zero(x: FloatArray, gap: float) -> FloatArray:
    """``x`` moved away from 0 by ``gap`` (no ReLU input sits on the kink)."""
    return _frozen(x + gap * np.sign(x))


def _derivative_inputs(rng: np.random.Generator) -> tuple[FloatArray, ...]:
    tails = rng.uniform(8.0, 30.0, size=4) * np.array([-1.0, 1.0, -1.0, 1.0])
    return (_frozen(np.concatenate([3.0 * rng.normal(size=4), tails])),
            _frozen(2.0 * rng.normal(size=(3, 4))),
            _frozen(rng.uniform(-3.0, 3.0, size=(2, 3, 2))))


def _mlp_case(rng: np.random.Generator, n: int, d: int, h: int, k: int
              ) -> tuple[dict[str, FloatArray], FloatArray, IntArray]:
    while True:  # redraw until no pre-activation is within 1e-3 of the ReLU's kink
        X = rng.normal(size=(n, d))
        params = {"W1": 0.8 * rng.normal(size=(d, h)), "b1": 0.3 * rng.normal(size=h),
                  "W2": 0.8 * rng.normal(size=(h, k)), "b2": 0.3 * rng.normal(size=k)}
        if np.abs(X @ params["W1"] + params["b1"]).min() > 1e-3:
            break
    labels = rng.integers(0, k, size=n).astype(np.int64)
    labels.setflags(write=False)
    return {name: _frozen(value) for name, value in params.items()}, _frozen(X), labels


@functools.cache
def hidden_inputs(seed: int) -> Hidden:
    """The hidden inputs of ``seed``, drawn in the notebook's order."""
    rng = np.random.default_rng(seed)
    derivatives = {function: _derivative_inputs(rng) for function in DERIVATIVES}
    dense = tuple((_frozen(rng.normal(size=(n, d))), _frozen(rng.normal(size=(d, m))), _frozen(rng.normal(size=m)))
                  for n, d, m in [(5, 3, 4), (2, 6, 1), (3, 3, 3)])
    # A square W (so a transposed dW has the right shape) and n == m (so does db over axis 1).
    dense_back = tuple(
        (_frozen(rng.normal(size=(n, d))), _frozen(rng.normal(size=(d, m))), _frozen(rng.normal(size=m)),
         _frozen(rng.normal(size=(n, m))))
        for n, d, m in [(5, 3, 4), (4, 4, 4), (1, 2, 6)]
    )
    relu = tuple(_away_from_zero(rng.normal(size=s), 0.05) for s in [(7,), (3, 5), (2, 3, 4)])
    relu_back = tuple((_away_from_zero(rng.normal(size=s), 0.05), _frozen(rng.normal(size=s)))
                      for s in [(6,), (4, 5), (2, 3, 4)])
    mlp = tuple(_mlp_case(rng, *shape) for shape in [(6, 3, 5, 4), (8, 2, 6, 3), (5, 4, 3, 2)])
    X, y = make_moons(TRAIN_POINTS, MOONS_NOISE, rng)
    X_held, y_held = make_moons(HELD_OUT_POINTS, MOONS_NOISE, rng)
    for a in (X, y, X_held, y_held):
        a.setflags(write=False)
    return Hidden(derivatives, dense, dense_back, relu, relu_back, mlp, (X, y), (X_held, y_held))


@dataclass(frozen=True)
class Expected:
    """The references of one gradient case: the function's value and its gradients, twice."""

    value: float
    tape: tuple[FloatArray, ...]
    numeric: tuple[FloatArray, ...]


_tape_lock = threading.Lock()


@functools.cache
def _expected_cached(seed: int, function: str) -> tuple[Expected, ...]:
    out = []
    for case in hidden_inputs(seed).gradient_cases(function):
        value, tape = tape_gradients(case.computation, case.args)
        out.append(Expected(value, tape, central_differences(case.computation.numpy, case.args)))
    return tuple(out)


def expected(seed: int, function: str) -> tuple[Expected, ...]:
    """Both references for each hidden case of ``function`` (TensorFlow runs on the first call)."""
    with _tape_lock:
        return _expected_cached(seed, function)


# --- comparing gradients ----------------------------------------------------------------------



# --- probes -----------------------------------------------------------------------------------

# Probe source: ``ret = CALL``; a NotImplementedError raised by another function than FUNCTION
# (a stub that FUNCTION calls) is recorded as that function's name in ``result[KEY]``.
_STUB_TRAP = """\
try:
    ret = {call}
except NotImplementedError as e:
    tb = e.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    if tb.tb_frame.f_code.co_name == {function!r}:
        raise
    result[{key!r}] = tb.tb_frame.f_code.co_name
    ret = None
"""


def _store(ret: str, prefix: str, names: Sequence[str | None]) -> list[str]:
    """Probe lines storing the parts of the tuple ``ret`` as ``prefix + name`` (``None``: not
    kept), or ``ret`` itself for a single name; a wrong kind of tuple is kept as ``prefix + "ret"``."""
    if len(names) == 1:
        return [f"result[{prefix + str(names[0])!r}] = _plain({ret})"]
    lines = [f"if isinstance({ret}, (tuple, list)) and len({ret}) == {len(names)}:"]
    lines += [f"    result[{prefix + n!r}] = _plain({ret}[{i}])" for i, n in enumerate(names) if n is not None]
    lines += ["else:", f"    result[{prefix + 'ret'!r}] = '<' + type({ret}).__name__ + '>'"]
    return lines


def _returned(function: str, result: Plain, prefix: str, what: str) -> Verdict | None:
    """A failure when the function did not return the tuple ``what``."""
    kind = fetch(result, prefix + "ret", None)
    if kind is None:
        return None
    return failed(f"{function}: expected a tuple {what} (got {describe(kind)})")


def _stub_called(function: str, result: Plain) -> Verdict | None:
    """A failure when the function calls another that is still a stub."""
    name = fetch(result, "stub", None)
    if name is None:
        return None
    return failed(f"{function}: it calls {name if isinstance(name, str) else '?'}, which still raises "
                  "NotImplementedError; implement that function first")


def _unchanged(function: str, result: Plain, prefix: str,
               originals: Sequence[tuple[str, npt.ArrayLike]], context: str) -> Verdict | None:
    """A failure when one of the inputs was modified by the call."""
    for name, original in originals:
        v = check_unchanged(function, name, original, fetch(result, f"{prefix}in.{name}"), context)
        if not v.passed:
            return v
    return None


def _shape_context(arrays: Sequence[tuple[str, npt.NDArray[Any]]]) -> str:
    """``"for x of shape (4, 3), W of shape (3, 2) and b of shape (2,), "``."""
    parts = [f"{n} of shape {tuple(a.shape)}" for n, a in arrays]
    return "for " + (", ".join(parts[:-1]) + " and " if len(parts) > 1 else "") + parts[-1] + ", "


def _literals(args: Sequence[tuple[str, npt.NDArray[Any]]]) -> str:
    return "[" + ", ".join(literal.array(a) for _, a in args) + "]"


# --- the checks -------------------------------------------------------------------------------


def _derivative_check(seed: int, function: str) -> Check:
    def judge(case: int, got: object, context: str) -> Verdict:
        ref = expected(seed, function)[case]
        return compare_to_references(function, "the derivative", ref.tape[0], ref.numeric[0], got, context)

    cases = [Case((("x", x),), partial(judge, c)) for c, x in enumerate(hidden_inputs(seed).derivatives[function])]
    return calls_check(f"test_{function}", function, cases)


def _forward_check(seed: int, function: str) -> Check:
    hidden = hidden_inputs(seed)
    calls: list[tuple[tuple[str, FloatArray], ...]]
    if function == "dense_forward":
        calls = [(("x", x), ("W", W), ("b", b)) for x, W, b in hidden.dense]
    else:
        calls = [(("x", x),) for x in hidden.relu]
    lines = [PLAIN_SOURCE, "result = {}", f"fn = student[{function!r}]"]
    for c, args in enumerate(calls):
        lines += [f"args = {_literals(args)}", "ret = fn(*args)", *_store("ret", f"c{c}.", ["out", None])]
        lines += [f"result['c{c}.in.{n}'] = _plain(args[{i}])" for i, (n, _) in enumerate(args)]

    @guarded(function)
    def verdict(result: Plain) -> Verdict:
        for c, args in enumerate(calls):
            a = dict(args)
            want = a["x"] @ a["W"] + a["b"] if function == "dense_forward" else np.maximum(a["x"], 0.0)
            ctx = _shape_context(args)
            v = _returned(function, result, f"c{c}.", "(out, cache)") or compare_arrays(
                function, want, fetch(result, f"c{c}.out"), rtol=FORWARD_RTOL, atol=FORWARD_ATOL,
                label="out", context=ctx)
            if v.passed:
                v = _unchanged(function, result, f"c{c}.", args, ctx) or v
            if not v.passed:
                return v
        return passed(f"{function}: correct on {len(calls)} hidden cases")

    return Check(f"test_{function}", (function,), "\n".join(lines) + "\n", verdict)


def _backward_check(seed: int, function: str) -> Check:
    """``dense_backward`` or ``relu_backward``, given the cache of the student's own forward."""
    hidden = hidden_inputs(seed)
    forward = function.replace("backward", "forward")
    calls: list[tuple[tuple[tuple[str, FloatArray], ...], FloatArray]]
    if function == "dense_backward":
        calls = [((("x", x), ("W", W), ("b", b)), dout) for x, W, b, dout in hidden.dense_back]
        grads: tuple[str, ...] = ("dx", "dW", "db")
    else:
        calls = [((("x", x),), dout) for x, dout in hidden.relu_back]
        grads = ("dx",)
    lines = [PLAIN_SOURCE, "result = {}", f"fn = student[{function!r}]"]
    for c, (args, dout) in enumerate(calls):
        lines += [
            f"args = {_literals(args)}",
            f"dout = {literal.array(dout)}",
            "try:",
            f"    fwd = student[{forward!r}](*args)",
            "except Exception as e:",
            f"    result['c{c}.forward'] = 'raised ' + type(e).__name__",
            "else:",
            "    if isinstance(fwd, (tuple, list)) and len(fwd) == 2:",
            "        ret = fn(dout, fwd[1])",
            *("        " + line for line in _store("ret", f"c{c}.", grads)),
            f"        result['c{c}.in.dout'] = _plain(dout)",
            "    else:",
            f"        result['c{c}.forward'] = 'returned ' + type(fwd).__name__ + ' instead of a pair (out, cache)'",
        ]
    what = "(" + ", ".join(grads) + ")"

    @guarded(function)
    def verdict(result: Plain) -> Verdict:
        refs = expected(seed, function)
        for c, (args, dout) in enumerate(calls):
            problem = fetch(result, f"c{c}.forward", None)
            if problem is not None:
                return failed(f"{function}: the check gets the cache from your {forward}, which "
                              f"{problem if isinstance(problem, str) else 'failed'}; fix {forward} first")
            ctx = _shape_context(args)
            v = _returned(function, result, f"c{c}.", what)
            if v is not None:
                return v
            rows = int(args[0][1].shape[0]) if function == "dense_backward" else None
            for i, name in enumerate(grads):
                v = compare_to_references(function, name, refs[c].tape[i], refs[c].numeric[i],
                                          fetch(result, f"c{c}.{name}"), ctx, rows)
                if not v.passed:
                    return v
            v = check_unchanged(function, "dout", dout, fetch(result, f"c{c}.in.dout"), ctx)
            if not v.passed:
                return v
        return passed(f"{function}: correct on {len(calls)} hidden cases")

    return Check(f"test_{function}", (function, forward), "\n".join(lines) + "\n", verdict)


def _mlp_check(seed: int) -> Check:
    function = "mlp_loss_and_grads"
    cases = hidden_inputs(seed).mlp
    literals = []
    for params, X, y in cases:
        entries = ", ".join(f"{k!r}: {literal.array(params[k])}" for k in PARAMS)
        literals.append(f"    ({{{entries}}}, {literal.array(X)}, {literal.array(y)}),")
    probe = "\n".join([
        PLAIN_SOURCE, "result = {}", f"fn = student[{function!r}]", "cases = [", *literals, "]",
        "for c in range(len(cases)):",
        "    params, X, y = cases[c]",
        "    given = dict(params)",
        textwrap.indent(_STUB_TRAP.format(call="fn(params, X, y)", function=function, key="stub"), "    "),
        "    if 'stub' in result:",
        "        break",
        "    p = 'c' + str(c) + '.'",
        "    if isinstance(ret, (tuple, list)) and len(ret) == 2:",
        "        result[p + 'loss'] = _plain(ret[0])",
        "        grads = ret[1]",
        "        if isinstance(grads, dict):",
        f"            for k in {PARAMS!r}:",
        "                result[p + 'grad.' + k] = _plain(grads[k]) if k in grads else '<missing>'",
        "        else:",
        "            result[p + 'grads'] = '<' + type(grads).__name__ + '>'",
        "    else:",
        "        result[p + 'ret'] = '<' + type(ret).__name__ + '>'",
        "    for k in given:",
        "        result[p + 'in.' + str(k)] = _plain(given[k])",
        "    result[p + 'in.X'] = _plain(X)",
        "    result[p + 'in.y'] = _plain(y)",
    ]) + "\n"

    @guarded(function)
    def verdict(result: Plain) -> Verdict:
        stub = _stub_called(function, result)
        if stub is not None:
            return stub
        refs = expected(seed, function)
        for c, (params, X, y) in enumerate(cases):
            ctx = f"for X of shape {tuple(X.shape)} and {params['W2'].shape[1]} classes, "
            v = _returned(function, result, f"c{c}.", "(loss, grads)") or _mlp_case_verdict(
                function, result, f"c{c}.", refs[c], ctx, int(X.shape[0]))
            if v.passed:
                originals = [*((f"params[{k!r}]", params[k]) for k in PARAMS), ("X", X), ("y", y)]
                for name, original in originals:
                    key = name.removeprefix("params['").removesuffix("']")
                    v = check_unchanged(function, name, original, fetch(result, f"c{c}.in.{key}"), ctx)
                    if not v.passed:
                        break
            if not v.passed:
                return v
        return passed(f"{function}: loss and gradients correct on {len(cases)} hidden cases")

    return Check("test_mlp_loss_and_grads", (function,), probe, verdict)


def _mlp_case_verdict(function: str, result: Plain, prefix: str, ref: Expected, ctx: str, rows: int) -> Verdict:
    loss = as_scalar(function, fetch(result, prefix + "loss"), "the loss", ctx)
    if isinstance(loss, Verdict):
        return loss
    rel = float(relative_errors(ref.value, loss, LOSS_RTOL, LOSS_ATOL))
    if rel > LOSS_RTOL:
        return failed(f"{function}: {ctx}wrong loss: expected {fmt(ref.value)} (got {fmt(loss)}); "
                      f"relative error {fmt(rel)}")
    kind = fetch(result, prefix + "grads", None)
    if kind is not None:
        return failed(f"{function}: expected grads to be a dict with keys {', '.join(PARAMS)} (got {describe(kind)})")
    for i, name in enumerate(PARAMS):
        v = compare_to_references(function, f"grads[{name!r}]", ref.tape[i], ref.numeric[i],
                                  fetch(result, f"{prefix}grad.{name}"), ctx, rows)
        if not v.passed:
            return v
    return passed(f"{function}: correct")


# --- train_mlp --------------------------------------------------------------------------------


def min_accuracy(settings: Mapping[str, Any]) -> float:
    """``train_mlp_min_accuracy`` from the assignment's settings (validated), or the default.

    Other keys belong to the engine (limits, data folders) and are left alone, except
    misspellings of this assignment's own: any other ``train_mlp_*`` key is an error."""
    unknown = sorted(k for k in settings if k.startswith("train_mlp_") and k != MIN_ACCURACY_KEY)
    if unknown:
        raise ConfigError(f'assignments."03.3_chain_rule".{unknown[0]} is not a setting of 03.3 '
                          f"(did you mean {MIN_ACCURACY_KEY}?); fix course.toml")
    value = settings.get(MIN_ACCURACY_KEY, DEFAULT_MIN_ACCURACY)
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.5 < value <= 1.0:
        raise ConfigError(f'assignments."03.3_chain_rule".{MIN_ACCURACY_KEY} = {value!r} must be a number '
                          "above 0.5 (chance) and at most 1.0 (set it in course.toml)")
    return float(value)


def _param(function: str, params: Plain, name: str, shape: tuple[int, ...]) -> FloatArray | Verdict:
    """``params[name]`` as an array of ``shape``; a bias of shape ``(1, m)`` counts as ``(m,)``."""
    got = fetch(params, f"p.{name}")
    if isinstance(got, np.ndarray) and len(shape) == 1 and got.shape == (1, *shape):
        got = got.reshape(shape)
    return as_array(function, got, shape, f"params[{name!r}]")


def evaluate_params(function: str, result: Plain, X: FloatArray, y: IntArray) -> float | Verdict:
    """The accuracy on ``(X, y)`` of the parameters a ``train_mlp`` probe returned."""
    kind = fetch(result, "params", None)
    if kind is not None:
        return failed(f"{function}: expected a dict with keys {', '.join(PARAMS)} (got {describe(kind)})")
    W1 = fetch(result, "p.W1")
    if not (isinstance(W1, np.ndarray) and W1.ndim == 2 and W1.shape[0] == X.shape[1] and W1.shape[1] > 0):
        return failed(f"{function}: expected params['W1'] of shape ({X.shape[1]}, hidden) (got {describe(W1)})")
    hidden, classes = int(W1.shape[1]), int(y.max()) + 1
    arrays: dict[str, FloatArray] = {}
    for name, shape in [("W1", (X.shape[1], hidden)), ("b1", (hidden,)), ("W2", (hidden, classes)),
                        ("b2", (classes,))]:
        value = _param(function, result, name, shape)
        if isinstance(value, Verdict):
            return value
        arrays[name] = value
    with np.errstate(all="ignore"):
        logits = mlp_logits(arrays, X)
    return float(np.mean(np.argmax(logits, axis=1) == y))


def _train_check(seed: int, threshold: float) -> Check:
    function = "train_mlp"
    X, y = hidden_inputs(seed).train
    X_held, y_held = hidden_inputs(seed).held_out
    probe = "\n".join([
        PLAIN_SOURCE, "result = {}", f"X = {literal.array(X)}", f"y = {literal.array(y)}",
        _STUB_TRAP.format(call=f"student[{function!r}](X, y)", function=function, key="stub"),
        "if isinstance(ret, dict):",
        f"    for k in {PARAMS!r}:",
        "        result['p.' + k] = _plain(ret[k]) if k in ret else '<missing>'",
        "elif 'stub' not in result:",
        "    result['params'] = '<' + type(ret).__name__ + '>'",
        "result['in.X'] = _plain(X)",
        "result['in.y'] = _plain(y)",
    ]) + "\n"

    @guarded(function)
    def verdict(result: Plain) -> Verdict:
        stub = _stub_called(function, result)
        if stub is not None:
            return stub
        accuracy = evaluate_params(function, result, X_held, y_held)
        if isinstance(accuracy, Verdict):
            return accuracy
        where = f"on {len(y_held)} held-out points of the same two moons"
        if accuracy < threshold:
            return failed(
                f"{function}: accuracy {accuracy:.3f} {where}, below the required {threshold:g} (a correct "
                "trainer with the default arguments reaches about 0.98). Check the initialisation (random, "
                "scaled by sqrt(2 / fan_in), not zeros), the sign of the update, and that all four "
                "parameters are updated in every epoch"
            )
        ctx = f"for X of shape {tuple(X.shape)}, "
        v = _unchanged(function, result, "", [("X", X), ("y", y)], ctx)
        return v or passed(f"{function}: accuracy {accuracy:.3f} {where} (at least {threshold:g} needed)")

    return Check(f"test_{function}", (function,), probe, verdict)


def checks(settings: Mapping[str, Any] | None = None, seed: int = SEED) -> list[Check]:
    """One check per graded item of 03.3, in the notebook's order (the derivation is graded by
    hand and has none); hidden inputs are drawn from ``default_rng(seed)``."""
    threshold = min_accuracy(settings or {})
    return [
        *(_derivative_check(seed, f) for f in DERIVATIVES),
        _forward_check(seed, "dense_forward"),
        _backward_check(seed, "dense_backward"),
        _forward_check(seed, "relu_forward"),
        _backward_check(seed, "relu_backward"),
        _mlp_check(seed),
        _train_check(seed, threshold),
    ]
