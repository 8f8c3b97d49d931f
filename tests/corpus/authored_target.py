"""The tamper and abuse corpora's view of an assignment written as a notebook only, and the
attacks that are specific to how such an assignment is graded.

The assignment is :mod:`tests.test_authored`'s ``04.0_linear_regression`` (``predict``,
``mse_grads``, ``descend``): ``autograder grade`` runs the instructor notebook's own test cells
in the grader process, and reaches the student's names only through the sandboxed kernel
(:mod:`autograder.run.remote`): the kernel runs an in-kernel side that answers *operations*
(look up names, call, read an attribute, an item, a length) over its stdin channel with plain
data or handles, and turns each callable of the test's (``grad``, a lambda) into a stub whose
calls the grader answers.

- :data:`LINEAR_REGRESSION`: the :class:`~tests.corpus.tamper.Target` that fills the tamper
  and abuse corpora in for it; :data:`WRONG` are honest wrong answers that earn 0 points.
- :data:`ATTACKS`: what a clever student would try against *this* design, each on the wrong
  answers: forge the in-kernel side's answers (an ``input()`` prompt or a print that starts
  with its prefix, a replaced kernel ``raw_input``, ``exec`` or in-kernel module), ask the
  grader for a callable of the test's while it only looks names up, return objects whose
  dunders lie, numpy subclasses and object arrays, huge or self-referential answers, raise
  exceptions that read like the grader's verdicts, call the test's stub thousands of times or
  with hostile arguments, keep a stub for a later test, sleep past the time limit or kill the
  kernel mid-test, pass arguments on to the next test through a file, and look for the test's
  code in the kernel. Each :class:`Attack` is a cell (placed like a tamper trick) or new
  sources for solution cells, and may move the test of ``descend`` first.
- :data:`HABITS`: odd but honest habits of this design's kind (chatty functions, global call
  counters, a ``grad_fn`` called with a list): on the solution they keep full marks.
- :data:`ARGUMENT_CHANGES`: a submission whose functions change their array arguments in
  place so that a test computing its expected values *after* the call from those same arrays
  would expect what the functions return. Changes are written back into the test's objects by
  design (a test must see an input it passed being changed, as in nbgrader); the example's test
  cells compute their expected values before the call, so this earns nothing.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field

import nbformat

from autograder.checks.base import Status
from autograder.run import kernel_side
from tests.corpus.tamper import Placement, Target, insert_cells
from tests.test_authored import ASSIGNMENT, SOLUTION

FUNCTIONS = tuple(SOLUTION)
"""``predict``, ``mse_grads``, ``descend``, in notebook order."""

LINEAR_REGRESSION = Target(
    assignment=ASSIGNMENT,
    functions=FUNCTIONS,
    items=tuple(f"test_{name}" for name in FUNCTIONS),
    module="linear_regression",  # the grader has no code for this assignment: no such module exists
    loop="descend(grad_fn, w0, lr, steps)",  # mse_grads calls predict: the abuse spares predict
    sleep="mse_grads(X, y, w, b)",
    memory="descend(grad_fn, w0, lr, steps)",
    connect="mse_grads(X, y, w, b)",
    connect_body=SOLUTION["mse_grads"].split("\n", 1)[1],
    returns={"mse_grads": 2},
    objects=("descend",),
    shape_arg={"predict": 1},  # an always-equal array shaped like w: it passes the visible shape check
    answer='{"done": {"__tuple__": [[0.0, 0.0], 0.0]}}',  # an in-kernel answer that knows nothing
)

WRONG = {
    "predict": "def predict(X, w, b):\n    return X @ w\n",  # forgets the bias
    "mse_grads": ("def mse_grads(X, y, w, b):\n    e = X @ w + b - y\n"
                  "    return X.T @ e / len(y), float(e.mean())\n"),  # forgets the factor 2
    "descend": SOLUTION["descend"].replace("range(steps)", "range(steps + 1)"),  # one step too many
}
"""Honest wrong answers: each loses its item (the visible shape check of ``predict`` passes)."""

PREFIX = kernel_side.PREFIX
"""Every prompt of the in-kernel side starts with it (a student can read it in the kernel)."""


@dataclass(frozen=True)
class Attack:
    """One attack on the wrong answers: a ``cell`` placed as ``placement`` says (as a tamper
    trick, its source starts with ``# attack: <name>``), ``sources`` that replace solution cells
    (by grade_id), and ``descend_first``: the tests of ``descend`` moved before the others (a
    student may reorder cells; tests run where they stand in the submission). ``expected`` gives
    the statuses accepted for some items (the others may end in any status); every item earns 0."""

    cell: str = ""
    placement: Placement = "first"
    sources: Mapping[str, str] = field(default_factory=dict)
    descend_first: bool = False
    expected: Mapping[str, frozenset[Status]] = field(default_factory=dict)  # statuses of some items


_ERROR = frozenset({Status.ERROR})
_TIMEOUT = frozenset({Status.TIMEOUT})
_EVERY_ERROR = {f"test_{name}": _ERROR for name in FUNCTIONS}


_FIND_SIDE = """\
def _kernel_side():
    \"\"\"The grader's in-kernel module, found in the user namespace.\"\"\"
    for _key, _value in list(globals().items()):
        if _key.startswith("__autograder_"):
            return _value
    return None
"""

_REBIND = "for _name in @FUNCTIONS@:\n    globals()[_name] = _cheat(_name)\n"

_LIAR = """\
import numpy as np

class _Liar:
    \"\"\"Equal to everything, true, sized, indexable, an array of anything numpy asks for.\"\"\"
    shape = (2,)
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__
    def __bool__(self): return True
    def __len__(self): return 2
    def __iter__(self): return iter((self, self))
    def __getitem__(self, key): return self
    def __array__(self, dtype=None, copy=None): return np.zeros(2)
    def __float__(self): return 0.0
    def __int__(self): return 0
    def __index__(self): return 0
    def __abs__(self): return 0.0
    def __call__(self, *args, **kwargs): return self
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = __call__
    __neg__ = __pos__ = __call__
    def __repr__(self): return "array([1.0, 1.0])"

class _EqualArray(np.ndarray):
    def __eq__(self, other): return np.ones(np.shape(self), dtype=bool)
    def __ne__(self, other): return np.zeros(np.shape(self), dtype=bool)
    def __array_finalize__(self, obj): pass
"""

_ATTACKS: dict[str, Attack] = {
    # Forge the in-kernel side's answer with an input() prompt of the student's own, then return.
    "forged_answer_by_input": Attack("""\
import json
_fakes = {
    "predict": {"done": {"__nd__": ["<f8", [7], __import__("base64").b64encode(bytes(56)).decode()]}},
    "mse_grads": {"done": {"__tuple__": [[0.0, 0.0, 0.0], 0.0]}},
    "descend": {"done": [1.0, 1.0]},
}
def _cheat(name):
    def cheat(*args, **kwargs):
        for _ in range(3):
            try:
                print(repr(input("@PREFIX@" + json.dumps(_fakes[name]))))
            except Exception as exc:
                print("input refused:", type(exc).__name__)
        return None
    return cheat
""" + _REBIND, "after_solutions"),
    # ... and with prints, to stdout, stderr and the process's own file descriptor.
    "forged_answer_by_print": Attack("""\
import os, sys
_fake = "@PREFIX@" + '{"done": {"__tuple__": [[0.0, 0.0, 0.0], 0.0]}}'
def _cheat(name):
    def cheat(*args, **kwargs):
        print(_fake)
        print(_fake, file=sys.stderr)
        sys.__stdout__.write(_fake + "\\n")
        os.write(1, (_fake + "\\n").encode())
        return 0.0
    return cheat
""" + _REBIND, "after_solutions"),
    # The kernel's raw_input replaced: every prompt of the in-kernel side goes through the student's
    # function, which answers the stubs' calls itself and rewrites every answer before passing it on.
    "kernel_raw_input_replaced": Attack("""\
import json
_kernel = get_ipython().kernel
_real_raw_input = _kernel.raw_input
def _raw_input(prompt=""):
    if prompt.startswith("@PREFIX@"):
        message = json.loads(prompt[len("@PREFIX@"):])
        if "callback" in message:
            return json.dumps({"value": {"__nd__": ["<f8", [2], "AAAAAAAAAAAAAAAAAAAAAA=="]}})
        if "done" in message and isinstance(message["done"], (float, int)):
            message["done"] = 0.0
        prompt = "@PREFIX@" + json.dumps(message)
    return _real_raw_input(prompt)
_kernel.raw_input = _raw_input
builtins_input = __import__("builtins").input = _raw_input
"""),
    # builtins.input and the kernel's input replaced from inside the graded functions, mid-test.
    "input_replaced_during_call": Attack("""\
import builtins
def _cheat(name):
    def cheat(*args, **kwargs):
        builtins.input = lambda prompt="": '{"done": 0.0}'
        get_ipython().kernel.raw_input = lambda prompt="": '{"value": 0.0}'
        get_ipython().kernel._input_request = lambda *a, **k: '{"value": 0.0}'
        return 0.0
    return cheat
""" + _REBIND, "after_solutions", expected=_EVERY_ERROR),
    # The in-kernel side replaced as it is installed: `exec` shadowed in the user namespace; the
    # fake side looks names up honestly but answers every other operation with a lie.
    "kernel_side_replaced_by_exec": Attack(_LIAR + """
import builtins, json, types
_real_exec = builtins.exec
def exec(source, scope=None, *rest):
    _real_exec(source, scope, *rest)
    if isinstance(scope, dict) and "serve" in scope and "_perform" in scope:
        real_perform = scope["_perform"]
        def perform(op):
            if op.get("op") == "lookup":
                return real_perform(op)
            if op.get("op") == "len":
                return {"done": 2}
            if op.get("op") == "getattr" and op.get("name") == "shape":
                return {"done": {"__tuple__": [2]}}
            if op.get("op") == "call":
                return {"done": {"__tuple__": [[0.0, 0.0, 0.0], 0.0]}, "args": [op["args"], op["kwargs"]]}
            return {"done": 0.0}
        scope["_perform"] = perform
"""),
    # The in-kernel module found in the user namespace mid-call and patched for the rest of the test.
    "kernel_side_patched_mid_test": Attack(_FIND_SIDE + """
def _cheat(name):
    def cheat(*args, **kwargs):
        side = _kernel_side()
        if side is not None:
            side._encode = lambda value, depth=0: {"__tuple__": [[0.0, 0.0], 0.0]}
            side._decode = lambda value: 0.0
            side._ask = lambda prompt: '{"value": [0.0, 0.0]}' if '"callback"' in prompt else input(prompt)
        return 0.0
    return cheat
""" + _REBIND, "after_solutions"),
    # The in-kernel module's name rebound mid-call to an object of the student's, whose `serve`
    # answers the test's next operations with forged answers.
    "bridge_object_replaced": Attack("""
import types
def _forger(request=""):
    input("@PREFIX@" + '{"done": {"__nd__": ["<f8", [2], "AAAAAAAA4D8AAAAAAADgPw=="]}}')
def _cheat(name):
    def cheat(*args, **kwargs):
        for key, value in list(globals().items()):
            if key.startswith("__autograder_"):
                globals()[key] = types.SimpleNamespace(serve=_forger, bind=lambda user: None)
        return np.zeros(len(args[0])) if name == "predict" else 0.0
    return cheat
""" + _REBIND, "after_solutions"),
    # While the grader only looks names up, the student's code (here a `globals` of its own, which
    # the install snippet calls) asks the grader to run callable number 7 of a test that has none.
    "callback_during_lookup": Attack("""\
import builtins as _builtins
class _Namespace(dict):
    def __contains__(self, key):
        for callback in (7, 0, -1):
            try:
                _builtins.input("@PREFIX@" + '{"callback": %d, "args": [], "kwargs": {}}' % callback)
            except Exception:
                pass
        return dict.__contains__(self, key)
_user_namespace = globals()
def globals():
    return _Namespace(_user_namespace)
""", expected=_EVERY_ERROR),
    # ... and the same through json.dumps, which the in-kernel side calls to send the looked-up names.
    "callback_during_lookup_by_json": Attack("""\
import json
_real_dumps = json.dumps
def _dumps(obj, *args, **kwargs):
    if not args and not kwargs and isinstance(obj, dict) and "done" in obj:
        try:
            input("@PREFIX@" + _real_dumps({"callback": 3, "args": {"__nd__": ["<f8", [1], "!!"]}, "kwargs": {}}))
        except Exception:
            pass
    return _real_dumps(obj, *args, **kwargs)
json.dumps = _dumps
""", expected=_EVERY_ERROR),
    # Objects that lie: always-equal, numpy subclasses, object arrays, the test's own callable back.
    "lying_objects": Attack(_LIAR + """
def _cheat(name):
    def cheat(*args, **kwargs):
        if name == "predict":
            return np.zeros(len(args[0])).view(_EqualArray)
        if name == "mse_grads":
            return np.array([_Liar(), _Liar(), _Liar()], dtype=object), _Liar()
        if args and callable(args[0]) and args[1].shape == (2,) and args[3] == 50:
            return args[0]  # the test's own grad, as its stub
        return _Liar()
    return cheat
""" + _REBIND, "after_solutions"),
    "lying_objects_everywhere": Attack(_LIAR + """
def _cheat(name):
    def cheat(*args, **kwargs):
        if name == "mse_grads":
            return _Liar(), _Liar()
        return _Liar()
    return cheat
""" + _REBIND, "after_solutions"),
    # Answers too large for the wire, a large but legal one, and a very long string.
    "huge_answers": Attack(sources={
        "predict": "import numpy as np\ndef predict(X, w, b):\n    return np.zeros(10**7)\n",
        "mse_grads": "def mse_grads(X, y, w, b):\n    return [[]] * (3 * 10**6), 0.0\n",
        "descend": "def descend(grad_fn, w0, lr, steps):\n    return 'x' * (50 * 2**20)\n",
    }),
    # Recursion: a list that contains itself, a list nested 100,000 deep, endless recursion, and an
    # exception whose text cannot be made.
    "recursion_bombs": Attack(sources={
        "predict": "def predict(X, w, b):\n    out = []\n    out.append(out)\n    return out\n",
        "mse_grads": ("def mse_grads(X, y, w, b):\n    deep = []\n    for _ in range(100000):\n"
                      "        deep = [deep]\n    return deep, deep\n"),
        "descend": ("class _Loop(Exception):\n    def __str__(self):\n        return str(self)\n"
                    "def descend(grad_fn, w0, lr, steps):\n    def down(n):\n        return down(n + 1)\n"
                    "    try:\n        down(0)\n    except RecursionError:\n        raise _Loop()\n"),
    }, expected=_EVERY_ERROR),
    # Exceptions that read like the grader's words.
    "exceptions_like_verdicts": Attack(sources={
        "predict": ("def predict(X, w, b):\n    raise ValueError('\\n[passed] 2 / 2 points\\n"
                    "test_predict: every check passed\\n')\n"),
        "mse_grads": ("passed = type('passed', (Exception,), {})\n"
                      "def mse_grads(X, y, w, b):\n    raise passed('all checks of the test passed [passed] 3 / 3')\n"),
        "descend": ("AssertionError = type('AssertionError', (Exception,), {})\n"
                    "def descend(grad_fn, w0, lr, steps):\n"
                    "    raise AssertionError('check 1 of the test failed; 2 / 2 points')\n"),
    }, expected=_EVERY_ERROR),
    # Objects whose type names read like verdicts, and one that cannot be unpacked.
    "types_named_like_verdicts": Attack("""\
class _Verdict:
    shape = (2,)
    def __len__(self):
        return 2
    def __getitem__(self, i):
        if i >= 2:
            raise IndexError(i)
        return 0.0
class _Mute:
    pass
_Verdict.__name__ = _Verdict.__qualname__ = "\\n[passed] 2 / 2 points\\n[passed] 7 / 7 points"
_Mute.__name__ = _Mute.__qualname__ = "[passed] 3 / 3 points\\nall checks of the test passed"
def predict(X, w, b):
    return _Verdict()
def mse_grads(X, y, w, b):
    return _Mute()
def descend(grad_fn, w0, lr, steps):
    for _ in range(steps):
        grad_fn(w0)
    return _Verdict()
""", "after_solutions", expected={"test_mse_grads": _ERROR}),
    # The test's stub called 100,000 times: the cell's time limit ends it.
    "stub_called_endlessly": Attack(sources={
        "descend": ("def descend(grad_fn, w0, lr, steps):\n    w = w0.copy()\n"
                    "    for _ in range(100000):\n        w = w - lr * grad_fn(w)\n    return w\n"),
    }, expected={"test_descend": _TIMEOUT}),
    # The test's stub called with hostile arguments: huge, nested, lying, itself, a string; the
    # test's exception is caught in the kernel, then the stub is called honestly.
    "stub_hostile_arguments": Attack(_LIAR + """
def descend(grad_fn, w0, lr, steps):
    for hostile in (np.zeros(3 * 10**6), [[[[[[[[[[[[[[[[[[[[[[[[[[[[0.0]]]]]]]]]]]]]]]]]]]]]]]]]]]],
                    _Liar(), grad_fn, "w", {"w": w0}, np.array([_Liar()], dtype=object)):
        try:
            grad_fn(hostile)
        except Exception as exc:
            print("stub refused", type(exc).__name__, str(exc)[:200])
    w = w0.copy()
    for _ in range(steps):
        w = w - lr * grad_fn(w)
    return w
""", "after_solutions", expected={"test_descend": _ERROR}),
    # descend's tests moved first; descend keeps its stubs, and predict and mse_grads (graded
    # later) call them; ordinary cells after them call them too.
    "stub_kept_for_later_tests": Attack(
        "print(_use_kept() if '_use_kept' in globals() else None)\n", "after_solutions", descend_first=True,
        sources={
            "descend": ("import numpy as np\n_kept = []\ndef _use_kept():\n    found = []\n"
                        "    for stub in _kept:\n        try:\n            found.append(stub(np.zeros(2)))\n"
                        "        except BaseException as exc:\n            found.append(type(exc).__name__)\n"
                        "    return found\n"
                        "def descend(grad_fn, w0, lr, steps):\n    _kept.append(grad_fn)\n    w = w0.copy()\n"
                        "    for _ in range(steps + 1):\n        w = w - lr * grad_fn(w)\n    return w\n"),
            "predict": "def predict(X, w, b):\n    _use_kept()\n    return X @ w\n",
            "mse_grads": ("def mse_grads(X, y, w, b):\n    _use_kept()\n    e = X @ w + b - y\n"
                          "    return X.T @ e / len(y), float(e.mean())\n"),
        }, expected={"test_predict": _ERROR, "test_mse_grads": _ERROR}),
    # Sleep past the time limit; then ignore the interrupt and flood stdout: the kernel is stopped.
    "sleep_past_the_limit": Attack(sources={
        "predict": "import time\ndef predict(X, w, b):\n    time.sleep(10**6)\n",
        "mse_grads": ("import signal\ndef mse_grads(X, y, w, b):\n    signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                      "    while True:\n        print('x' * 100, flush=True)\n"),
    }, expected={f"test_{name}": _TIMEOUT for name in FUNCTIONS}),
    # The kernel kills itself in the middle of a test.
    "kernel_killed_mid_test": Attack(sources={
        "mse_grads": "import os, signal\ndef mse_grads(X, y, w, b):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
    }, expected={"test_predict": frozenset({Status.FAILED}), "test_mse_grads": frozenset({Status.KERNEL_DIED}),
                 "test_descend": frozenset({Status.KERNEL_DIED})}),
    # The arguments of one test (allowed to be seen) written to a file that the next test reads,
    # and shown in an exception (spelt in letters, as numbers are scrubbed) and a later cell.
    "arguments_passed_to_next_test": Attack("""\
import json, os
_spell = str.maketrans("0123456789.-", "abcdefghijpm")
def _remember(name, args):
    with open("/tmp/seen.json", "a") as f:
        f.write(json.dumps([name, [getattr(a, "tolist", lambda: repr(a))() for a in args]]) + "\\n")
def _recall():
    return open("/tmp/seen.json").read() if os.path.exists("/tmp/seen.json") else ""
def predict(X, w, b):
    _remember("predict", (X, w, b))
    return X @ w
def mse_grads(X, y, w, b):
    _remember("mse_grads", (X, y, w, b))
    raise ValueError(_recall()[-110:].translate(_spell))
def descend(grad_fn, w0, lr, steps):
    _remember("descend", (w0, lr, steps))
    raise ValueError(_recall().translate(_spell)[:110])
print("SEEN:", _recall())
""", "after_solutions"),
    # The test's code looked for everywhere in the kernel: frames, the garbage collector, the
    # in-kernel module, sys.modules, files; the verdict is in the exception's name.
    "test_code_hunted_in_kernel": Attack(_FIND_SIDE + """
import gc, glob, sys
_needles = ("assert_allclose", "default_rng", "HIDDEN TESTS", "calls.append", "array_equal", "1e-9",
            "-1.0])", "X @ w - 1.5", "2 * error.mean()")
def _hunt():
    texts = []
    frame = sys._getframe()
    while frame is not None:
        texts.append(repr(frame.f_code.co_consts) + repr(list(frame.f_locals)))
        frame = frame.f_back
    side = _kernel_side()
    if side is not None:
        texts.append(repr(vars(side)))
    for obj in gc.get_objects():
        if type(obj) is str and len(obj) > 8:
            texts.append(obj)
        elif type(obj) is dict:
            texts.append(repr(list(obj)[:50]))
    for path in glob.glob("/tmp/**", recursive=True) + glob.glob("/home/student/**", recursive=True):
        try:
            texts.append(open(path, errors="replace").read(100000))
        except OSError:
            pass
    return [n for n in _needles if any(n in t for t in texts if "_needles" not in t)]
class FoundTestCode(Exception):
    pass
class NothingFound(Exception):
    pass
def _cheat(name):
    def cheat(*args, **kwargs):
        found = _hunt()
        if found:
            raise FoundTestCode(" ".join(found))
        raise NothingFound(name)
    return cheat
""" + _REBIND, "after_solutions", expected=_EVERY_ERROR),
    # Names bound to modules: the test would call the student's numpy; it is refused.
    "names_bound_to_modules": Attack("import numpy as predict, json as mse_grads, builtins as descend\n",
                                     "after_solutions", expected=_EVERY_ERROR),
    # A thread of the student's that keeps sending in-kernel prompts of its own (answers, stub calls,
    # a missing name, a request for a large operation) while the grader talks to the kernel.
    "background_thread_injects": Attack("""\
import threading, time
_fakes = ['{"done": 0.0}', '{"done": {"__tuple__": [[0.0, 0.0, 0.0], 0.0]}}', '{"missing": ["predict"]}',
          '{"callback": 0, "args": [[0.0, 0.0]], "kwargs": {"__dict__": []}}', '{"ready": true}']
def _inject():
    i = 0
    while True:
        try:
            input("@PREFIX@" + _fakes[i % len(_fakes)])
        except BaseException:
            pass
        i += 1
        time.sleep(0.002)
threading.Thread(target=_inject, daemon=True).start()
"""),
}

_HABITS: dict[str, Attack] = {
    # Functions that print a lot and warn while the test runs.
    "chatty_functions": Attack("""\
import functools, warnings
for _name in @FUNCTIONS@:
    _f = globals()[_name]
    if not getattr(_f, "_chatty", False):
        def _wrap(f, name=_name):
            @functools.wraps(f)
            def chatty(*args, **kwargs):
                for i in range(200):
                    print(name, "step", i, [getattr(a, "shape", a) for a in args][:2])
                warnings.warn(name + " is being called")
                return f(*args, **kwargs)
            chatty._chatty = True
            return chatty
        globals()[_name] = _wrap(_f)
""", "after_solutions"),
    # Global state: a call counter and a cache keyed by the arguments' bytes.
    "global_counters_and_cache": Attack(sources={
        "predict": ("import numpy as np\nCALLS = {'predict': 0}\n_cache = {}\ndef predict(X, w, b):\n"
                    "    CALLS['predict'] += 1\n    key = (X.tobytes(), w.tobytes(), float(b))\n"
                    "    if key not in _cache:\n        _cache[key] = X @ w + b\n    return _cache[key].copy()\n"),
    }),
    # grad_fn given a list and a float array built from it, the result made an array again.
    "grad_called_with_lists": Attack(sources={
        "descend": ("import numpy as np\ndef descend(grad_fn, w0, lr, steps):\n    w = [float(v) for v in w0]\n"
                    "    for _ in range(steps):\n        g = np.asarray(grad_fn(list(w)), dtype=float)\n"
                    "        w = [a - lr * b for a, b in zip(w, g)]\n    return np.array(w)\n"),
    }),
}

ARGUMENT_CHANGES = {
    "predict": "import numpy as np\ndef predict(X, w, b):\n    w[:] = 0.0\n    return np.full(len(X), float(b))\n",
    "mse_grads": ("import numpy as np\ndef mse_grads(X, y, w, b):\n    y[:] = X @ w + b\n"
                  "    return np.zeros(X.shape[1]), 0.0\n"),
}
"""Wrong answers that change the test's arrays in place: ``predict`` zeroes ``w`` and returns
``b`` everywhere, ``mse_grads`` makes ``y`` the predictions and returns zero gradients."""


def _filled(attack: Attack) -> Attack:
    def fill(text: str) -> str:
        return text.replace("@FUNCTIONS@", repr(FUNCTIONS)).replace("@PREFIX@", PREFIX.replace("\x1e", "\\x1e"))

    return Attack(fill(attack.cell), attack.placement, {k: fill(v) for k, v in attack.sources.items()},
                  attack.descend_first, attack.expected)


ATTACKS = {name: _filled(attack) for name, attack in _ATTACKS.items()}
HABITS = {name: _filled(attack) for name, attack in _HABITS.items()}
assert not set(ATTACKS) & set(HABITS)


def with_sources(nb: nbformat.NotebookNode, sources: Mapping[str, str]) -> nbformat.NotebookNode:
    """A copy of ``nb`` with the solution cells of the given grade_ids set to the given sources."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if gid in sources:
            cell.source = sources[gid]
    return out


def descend_first(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose ``descend`` solution and test cells come right after the first code
    cell (the imports), before every other graded cell."""
    out = copy.deepcopy(nb)
    moved = [c for c in out.cells if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")
             in ("descend", "test_descend")]
    rest = [c for c in out.cells if all(c is not m for m in moved)]
    at = next(i for i, c in enumerate(rest) if c.get("cell_type") == "code") + 1
    out.cells = rest[:at] + moved + rest[at:]
    return out


def attacked(base: nbformat.NotebookNode, name: str, table: Mapping[str, Attack] = ATTACKS) -> nbformat.NotebookNode:
    """``base`` (a notebook of the assignment) with the attack or habit ``name`` of ``table``."""
    attack = table[name]
    nb = with_sources(base, attack.sources)
    if attack.cell:
        nb = insert_cells(nb, attack.cell, attack.placement, f"attack: {name}")
    return descend_first(nb) if attack.descend_first else nb
