"""Cheating submissions: one trick cell each, combined with wrong solutions.

The tricks are written once and filled in for one assignment at a time: a :class:`Target`
names what an assignment grades (its functions, constants, items, the grader's module) and
:func:`tricks` and :func:`habits` build its tables. The module-level tables are 03.0's.

``TAMPER[name]`` is the source of one code cell a cheating student adds; ``PLACEMENT[name]``
says where it goes (``"first"``: right after the notebook's first code cell, its imports;
``"after_solutions"``: after every solution cell, so that it runs after the student's own
definitions and before each hidden check). Tricks that replace the graded functions rebind
every graded name, so one cell serves every item. None of them knows a correct answer: each
must earn 0 points when combined with wrong code (:func:`wrong_submission`) and must neither
read nor change the course's hidden material (``source/``, the gradebook, the grader's code,
hidden data).

``HARMLESS[name]`` are odd but honest habits (a wrapped ``print``, numpy settings, an identity
input transformer, a noisy stdout); combined with the instructor's solution they must keep
full marks.

:func:`tampered` builds a submission from a base notebook and one trick of either table;
:func:`snoop_cell` is a cell that looks for hidden material everywhere the sandbox can see.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import nbformat

from tests.corpus.gradient_descent_variants import VARIANTS

REPO = Path(__file__).resolve().parents[2]
"""The course root on the grading machine (the sandbox must not see it)."""

Placement = Literal["first", "after_solutions"]


@dataclass(frozen=True)
class Target:
    """What the tamper and abuse corpora need to know of one assignment.

    ``loop``, ``sleep``, ``memory`` and ``connect`` are the signatures (``"mse(y_true, y_pred)"``)
    of the graded functions that :mod:`tests.corpus.abuse` replaces with a function that loops,
    sleeps, allocates 8 GiB, or connects to a server and then computes ``connect_body`` (a
    correct body). Each graded function ``f`` is checked by the item ``test_f``. An item of
    ``saved`` is a timeout once any cell before it was stopped at its time limit: the grader
    cannot tell a stopped training run from other cells.
    """

    assignment: str  # nbgrader assignment id
    functions: tuple[str, ...]  # graded functions, in notebook order
    items: tuple[str, ...]  # automatically graded items, in notebook order
    module: str  # a word of the assignment the snooping cell looks for in file names
    loop: str
    sleep: str
    memory: str
    connect: str
    connect_body: str
    constants: tuple[str, ...] = ()  # graded constants
    returns: Mapping[str, int] = field(default_factory=dict)  # functions returning a tuple: its length
    objects: tuple[str, ...] = ()  # functions a cheat answers with an always-equal object, not an array
    shape_arg: Mapping[str, int] = field(default_factory=dict)  # whose shape a cheat's array copies (default 0)
    answer: str = "{}"  # a fake probe answer (JSON): keys this assignment's checks read, values that know nothing
    hidden_files: tuple[str, ...] = ()  # where a student might look for hidden data, from the sandbox
    saved: tuple[str, ...] = ()  # items judged from a file the notebook saves (a model trained in a cell)

    @property
    def notebook(self) -> str:
        """The instructor notebook, relative to :data:`REPO`."""
        return f"source/{self.assignment}/{self.assignment}.ipynb"

    @property
    def pwned(self) -> tuple[str, ...]:
        """Files (relative to :data:`REPO`) that the trick ``write_hidden_files`` tries to create."""
        return ("pwned-by-student.txt", f"source/{self.assignment}/pwned.txt", "autograded/pwned.txt")


GRADIENT_DESCENT = Target(
    assignment="03.0_gradient_descent",
    functions=("mse", "mse_grad", "softmax", "cross_entropy", "softmax_cross_entropy_grad", "numerical_gradient",
               "gradient_descent", "sgd_step", "momentum_step", "rmsprop_step", "adam_step"),
    items=("test_mse", "test_mse_grad", "test_softmax", "test_cross_entropy", "test_softmax_cross_entropy_grad",
           "test_numerical_gradient", "test_gradient_descent", "test_learning_rates", "test_sgd_step",
           "test_momentum_step", "test_rmsprop_step", "test_adam_step"),
    module="gradient_descent",
    loop="mse(y_true, y_pred)",
    sleep="mse_grad(y_true, y_pred)",
    memory="softmax(z)",
    connect="mse(y_true, y_pred)",
    connect_body="    return float(np.mean((np.asarray(y_pred) - np.asarray(y_true)) ** 2))\n",
    constants=("LR_TOO_SMALL", "LR_GOOD", "LR_TOO_LARGE"),
    returns={"momentum_step": 2, "rmsprop_step": 2, "adam_step": 3},
    objects=("mse", "cross_entropy"),
    shape_arg={"gradient_descent": -1},
    answer='{"c0.out": 0.0, "c1.out": 0.0, "c2.out": 0.0, "c3.out": 0.0, "LR_GOOD": 0.0}',
)
"""03.0: numpy functions, three learning-rate constants, optimizer steps returning tuples."""

FUNCTIONS = GRADIENT_DESCENT.functions
CONSTANTS = GRADIENT_DESCENT.constants
RETURNS = dict(GRADIENT_DESCENT.returns)
"""How many arrays the optimizer steps return as a tuple (the others return one value)."""

PWNED = GRADIENT_DESCENT.pwned
"""Files (relative to :data:`REPO`) that :data:`TAMPER` ``write_hidden_files`` tries to create."""


def _fill(source: str, target: Target) -> str:
    """Substitute the course's absolute path and ``target``'s names into a trick's source."""
    return (source.replace("@REPO@", repr(str(REPO)))
            .replace("@ASSIGNMENT@", target.assignment)
            .replace("@MODULE@", target.module)
            .replace("@FUNCTIONS@", repr(target.functions))
            .replace("@CONSTANTS@", repr(target.constants))
            .replace("@RETURNS@", repr(dict(target.returns)))
            .replace("@OBJECTS@", repr(target.objects))
            .replace("@SHAPE_ARG@", repr(dict(target.shape_arg)))
            .replace("@HIDDEN_FILES@", repr(list(target.hidden_files)))
            .replace("@ANSWER@", repr(target.answer)))


# Rebinds every graded function to ``_cheat(name)`` and every constant to ``_cheat_constant``.
_REBIND = """
for _name in @FUNCTIONS@:
    globals()[_name] = _cheat(_name)
for _name in @CONSTANTS@:
    globals()[_name] = _cheat_constant
"""

_MAGIC = """
import numpy as np

class _AlwaysEqual:
    \"\"\"Equal to everything, true, sized, indexable, and arithmetic returns itself.\"\"\"
    def __eq__(self, other): return True
    def __ne__(self, other): return False
    __lt__ = __le__ = __gt__ = __ge__ = __eq__
    __hash__ = object.__hash__
    def __bool__(self): return True
    def __len__(self): return 3
    def __iter__(self): return iter((self, self, self))
    def __getitem__(self, key): return self
    def __array__(self, dtype=None, copy=None): return np.zeros(3)
    def __float__(self): return float("nan")
    def __index__(self): return 0
    def __getattr__(self, name): return self
    def __call__(self, *args, **kwargs): return self
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __call__
    def __repr__(self): return "1.0"

class _EqualArray(np.ndarray):
    \"\"\"An ndarray subclass whose comparisons are all true.\"\"\"
    def __eq__(self, other): return np.ones(np.shape(self), dtype=bool)
    def __ne__(self, other): return np.zeros(np.shape(self), dtype=bool)
    def __array_finalize__(self, obj): pass
"""

_TAMPER: dict[str, str] = {
    # (a) make the visible asserts pass whatever the values
    "assert_helpers_patched": """\
import numpy as np
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
np.testing.assert_almost_equal = lambda *args, **kwargs: None
np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *args, **kwargs: True
""",
    # (b) functions return objects equal to everything
    "always_equal_objects": _MAGIC + """
def _cheat(name):
    def cheat(*args, **kwargs):
        if name in @RETURNS@:
            return tuple(np.zeros(3).view(_EqualArray) for _ in range(@RETURNS@[name]))
        if name in @OBJECTS@ or not args:
            return _AlwaysEqual()
        return np.zeros(np.shape(args[@SHAPE_ARG@.get(name, 0)])).view(_EqualArray)
    return cheat
_cheat_constant = _AlwaysEqual()
""" + _REBIND,
    # (c) every later cell, probes included, becomes `pass`
    "input_transformer_pass": """\
get_ipython().input_transformers_post.append(lambda lines: ['pass\\n'])
""",
    # (c') a transformer that reads the probe's marker and answers in its place
    "input_transformer_fake_answer": """\
import re as _re
def _fake_answer(lines):
    found = _re.search(r"@@autograder-[0-9a-f]+@@", "".join(lines))
    if not found:
        return lines
    fake = @ANSWER@
    return ["print(%r)\\n" % ("\\n" + found.group(0) + fake)]
get_ipython().input_transformers_post.append(_fake_answer)
""",
    # (d) read the gradebook, the instructor's notebook and the grader's code, and use them
    "read_hidden_files": """\
import glob, os, sys
_paths = [
    "../../../gradebook.db", "../../gradebook.db", "../gradebook.db", "gradebook.db",
    "../../../source/@ASSIGNMENT@/@ASSIGNMENT@.ipynb",
    @REPO@ + "/gradebook.db",
    @REPO@ + "/source/@ASSIGNMENT@/@ASSIGNMENT@.ipynb",
    @REPO@ + "/autograder/authored.py",
    @REPO@ + "/autograder/checks/optimizers.py",
    @REPO@ + "/autograder/checks/numeric.py",
    @REPO@ + "/autograder/models/judge.py",
    "/opt/runtime/lib/python3.11/site-packages/autograder/authored.py",
] + @HIDDEN_FILES@
_paths += glob.glob("/opt/runtime/lib/python3*/site-packages/*autograder*")
for _p in _paths:
    try:
        with open(_p, "rb") as _f:
            print("READ", _p, _f.read(4000))
    except OSError as _e:
        print("cannot read", _p, type(_e).__name__)
for _p in glob.glob(@REPO@ + "/**", recursive=True)[:200]:
    print("SEEN", _p)
try:
    from autograder import authored as _course
    print("IMPORTED the grader:", _course.__file__)
except Exception as _e:
    print("cannot import the grader", type(_e).__name__)
import nbexpect.optimizers as _opt  # the public helpers are importable: they must ship no answers
for _name in @FUNCTIONS@:
    if hasattr(_opt, _name):
        globals()[_name] = getattr(_opt, _name)
        print("IMPORTED an answer:", _name)
""",
    # (e) write to the gradebook and the instructor's files (append nothing to existing ones)
    "write_hidden_files": """\
import os
for _p in ["../../../gradebook.db", @REPO@ + "/gradebook.db",
           @REPO@ + "/source/@ASSIGNMENT@/@ASSIGNMENT@.ipynb",
           @REPO@ + "/release/@ASSIGNMENT@/@ASSIGNMENT@.ipynb",
           @REPO@ + "/autograder/authored.py"]:
    try:
        os.close(os.open(_p, os.O_WRONLY | os.O_APPEND))
        print("WRITABLE", _p)
    except OSError as _e:
        print("cannot write", _p, type(_e).__name__)
for _p in [@REPO@ + "/pwned-by-student.txt", @REPO@ + "/source/@ASSIGNMENT@/pwned.txt",
           @REPO@ + "/autograded/pwned.txt", "../../../pwned-by-student.txt"]:
    try:
        with open(_p, "x") as _f:
            _f.write("grade: 100")
        print("CREATED", _p)
    except OSError as _e:
        print("cannot create", _p, type(_e).__name__)
""",
    # (f) replace built-ins the grader's in-kernel code uses
    "builtins_patched": _MAGIC + """
import builtins
_real_print = builtins.print
builtins.print = lambda *args, **kwargs: _real_print('@@autograder-0@@{"c0.out": 0.0}')
builtins.isinstance = lambda obj, cls: True
builtins.float = lambda *args: _AlwaysEqual()
builtins.type = lambda *args: float
""",
    # (g) a fake numpy (and base64) for every later `import numpy`
    "fake_numpy_module": _MAGIC + """
import sys, types
class _FakeModule(types.ModuleType):
    ndarray = _EqualArray
    generic = _EqualArray
    def __getattr__(self, name):
        return _AlwaysEqual()
sys.modules["numpy"] = _FakeModule("numpy")
sys.modules["base64"] = _FakeModule("base64")
""",
    # (h) json.dumps patched everywhere, the kernel's own messages included
    "json_dumps_everywhere": """\
import json
json.dumps = lambda *args, **kwargs: '{"c0.out": 0.0}'
""",
    # (h') json.dumps patched for the probe's one-argument call only: a fake plain answer
    "json_dumps_fake_answer": """\
import json
_real_dumps = json.dumps
def _dumps(obj, *args, **kwargs):
    if args or kwargs:
        return _real_dumps(obj, *args, **kwargs)
    return @ANSWER@
json.dumps = _dumps
""",
    # (h'') ... and a malformed array where the decoder expects base64
    "json_dumps_bad_array": """\
import json
_real_dumps = json.dumps
def _dumps(obj, *args, **kwargs):
    if args or kwargs:
        return _real_dumps(obj, *args, **kwargs)
    return '{"__nd__": ["<f8", [2], "not base64!"]}'
json.dumps = _dumps
""",
    # (h''') base64 patched: hidden inputs decode to zeros, answers encode zeros
    "base64_patched": """\
import base64
_real_b64decode, _real_b64encode = base64.b64decode, base64.b64encode
base64.b64decode = lambda data, *args, **kwargs: bytes(len(_real_b64decode(data)))
base64.b64encode = lambda data, *args, **kwargs: _real_b64encode(bytes(len(data)))
""",
    # (i) fake scores, fake nbgrader output, fake marker lines and fake JSON
    "fake_output_lines": """\
import sys
print("Score: 21.0 / 21.0")
print('{"score": 21.0, "max_score": 21.0, "status": "passed"}')
print("@@autograder-0000@@{\\"x\\": 1}")
print("@@autograder-0000000000000000@@" + '{"c0.out": 0.0, "LR_GOOD": 0.0}')
sys.stderr.write("[AutograderApp] All tests passed\\n")
""",
    # (i') after every cell, repeat the cell's marker with a fake answer
    "post_run_hook_fake_answer": """\
import re as _re
def _after(result):
    found = _re.search(r"@@autograder-[0-9a-f]+@@", result.info.raw_cell or "")
    if found:
        print("\\n" + found.group(0) + @ANSWER@)
get_ipython().events.register("post_run_cell", _after)
""",
    # (j) result files where a careless grader might look for them
    "fake_result_files": """\
import json, os
_fake = json.dumps({"score": 21.0, "max_score": 21.0, "tests": [{"name": "test_mse", "score": 1}]})
for _p in ["/home/student/results.json", "/tmp/autograder-results.json", "results.json",
           "autograded/student/@ASSIGNMENT@/results.json", "../autograded/results.json",
           "../../autograded/results.json", @REPO@ + "/autograded/results.json"]:
    try:
        os.makedirs(os.path.dirname(os.path.abspath(_p)), exist_ok=True)
        with open(_p, "w") as _f:
            _f.write(_fake)
        print("wrote", _p)
    except OSError as _e:
        print("cannot write", _p, type(_e).__name__)
""",
    # (k) leave at cell level, politely and not
    "sys_exit_in_cell": """\
import sys
sys.exit(0)
""",
    "os_exit_in_cell": """\
import os, sys
sys.stdout.flush()
os._exit(0)
""",
    "sys_exit_in_functions": """\
import sys
def _cheat(name):
    def cheat(*args, **kwargs):
        sys.exit(0)
    return cheat
_cheat_constant = 0.0
""" + _REBIND,
    "os_exit_in_functions": """\
import os
def _cheat(name):
    def cheat(*args, **kwargs):
        os._exit(0)
    return cheat
_cheat_constant = 0.0
""" + _REBIND,
    # (l) base exceptions out of the graded functions
    "base_exceptions_from_functions": """\
import itertools
_raises = itertools.cycle([SystemExit(0), KeyboardInterrupt(), GeneratorExit(), StopIteration()])
def _cheat(name):
    error = next(_raises)
    def cheat(*args, **kwargs):
        raise error
    return cheat
_cheat_constant = 0.0
""" + _REBIND,
    # (m) look for the hidden inputs and references in the callers' frames and return them
    "frame_inspection_return": """\
import gc, inspect, sys
def _cheat(name):
    def cheat(*args, **kwargs):
        found = []
        frame = sys._getframe(1)
        while frame is not None:
            found.append(dict(frame.f_locals))
            if isinstance(frame.f_locals.get("result"), dict):
                frame.f_locals["result"].update({k: 0.0 for k in list(frame.f_locals["result"])})
            frame = frame.f_back
        found.append([f.frame.f_code.co_consts for f in inspect.stack()])
        found.append([o for o in gc.get_objects() if isinstance(o, dict) and "result" in o][:5])
        return found
    return cheat
_cheat_constant = 0.0
""" + _REBIND,
    # (m') ... and raise them, so the check's message carries them to the feedback
    "frame_inspection_raise": """\
import sys
def _cheat(name):
    def cheat(*args, **kwargs):
        found = []
        frame = sys._getframe(1)
        while frame is not None:
            found.append(repr(frame.f_code.co_consts))
            frame = frame.f_back
        raise RuntimeError(" | ".join(found))
    return cheat
_cheat_constant = 0.0
""" + _REBIND,
    # (m'') ... and print them from the next ordinary cell (this cell, after the next solution)
    "frame_inspection_stash_print": """\
import sys
if "_stash" in globals():
    print("STOLEN", _stash)
_stash = []
def _cheat(name):
    def cheat(*args, **kwargs):
        frame = sys._getframe(1)
        while frame is not None:
            _stash.append(repr(frame.f_code.co_consts))
            frame = frame.f_back
        raise ValueError("wrong")
    return cheat
_cheat_constant = 0.0
""" + _REBIND,
    # (n) shadow the names the grader's probes use
    "namespace_shadowing": _MAGIC + """
arr = lambda *args: _AlwaysEqual()
student = {name: (lambda *args, **kwargs: _AlwaysEqual()) for name in @FUNCTIONS@}
result = __import__("json").loads(@ANSWER@)
fn = args = cases = _plain = _AlwaysEqual()
__ag_probe__ = lambda: {"c0.out": 0.0}
__ag_encode__ = lambda value, depth=0: {"c0.out": 0.0}
__ag_json__ = None
exec = lambda source, scope=None: (scope or {}).update(result={"c0.out": 0.0})
globals = lambda: {name: (lambda *args, **kwargs: 0.0) for name in @FUNCTIONS@ + @CONSTANTS@}
type = lambda value: float
class BaseException(Exception):
    pass
""",
    # (o) a stdout that rewrites the answer line
    "stdout_rewriter": """\
import re as _re, sys
class _Rewriter:
    def __init__(self, stream):
        self.stream = stream
    def write(self, text):
        text = _re.sub(r"(@@autograder-[0-9a-f]+@@).*", lambda m: m.group(1) + @ANSWER@, text)
        return self.stream.write(text)
    def __getattr__(self, name):
        return getattr(self.stream, name)
sys.stdout = _Rewriter(sys.stdout)
""",
    # (o') a stdout that swallows everything
    "stdout_sink": """\
import io, sys
sys.stdout = io.StringIO()
""",
}

_HARMLESS: dict[str, str] = {
    "print_wrapper": """\
import builtins
_original_print = builtins.print
def _logged_print(*args, **kwargs):
    kwargs.setdefault("flush", True)
    return _original_print(*args, **kwargs)
builtins.print = _logged_print
print = _logged_print
""",
    "numpy_settings": """\
import warnings
import numpy as np
np.seterr(all="ignore")
np.set_printoptions(precision=3, suppress=True, linewidth=60)
warnings.filterwarnings("ignore")
""",
    "identity_transformer": """\
get_ipython().input_transformers_post.append(lambda lines: lines)
""",
    "stdout_passthrough": """\
import sys
class _Counting:
    def __init__(self, stream):
        self.stream, self.writes = stream, 0
    def write(self, text):
        self.writes += 1
        return self.stream.write(text)
    def __getattr__(self, name):
        return getattr(self.stream, name)
sys.stdout = _Counting(sys.stdout)
""",
    "noisy_cell": """\
import sys
for _i in range(20000):
    print("epoch", _i, "loss", 1.0 / (_i + 1))
    if _i % 1000 == 0:
        print("warning: still training", _i, file=sys.stderr)
""",
    "debug_prints": """\
import functools
for _name in @FUNCTIONS@:
    _f = globals().get(_name)
    if callable(_f) and not getattr(_f, "_debug", False):
        def _wrap(f, name=_name):
            @functools.wraps(f)
            def debug(*args, **kwargs):
                print("calling", name, [getattr(a, "shape", a) for a in args][:2])
                return f(*args, **kwargs)
            debug._debug = True
            return debug
        globals()[_name] = _wrap(_f)
""",
}

_AFTER_SOLUTIONS = {
    "always_equal_objects", "sys_exit_in_functions", "os_exit_in_functions", "base_exceptions_from_functions",
    "frame_inspection_return", "frame_inspection_raise", "frame_inspection_stash_print", "debug_prints",
}
PLACEMENT: dict[str, Placement] = {
    name: "after_solutions" if name in _AFTER_SOLUTIONS else "first" for name in {**_TAMPER, **_HARMLESS}
}

assert not set(_TAMPER) & set(_HARMLESS), "trick names must be unique across both tables"


def tricks(target: Target) -> dict[str, str]:
    """The cheating tricks, filled in for ``target``."""
    return {name: _fill(source, target) for name, source in _TAMPER.items()}


def habits(target: Target) -> dict[str, str]:
    """The harmless habits, filled in for ``target``."""
    return {name: _fill(source, target) for name, source in _HARMLESS.items()}


TAMPER = tricks(GRADIENT_DESCENT)
HARMLESS = habits(GRADIENT_DESCENT)


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("solution")) and not meta.get("grade")


WRONG_CONSTANTS = """\
LR_TOO_SMALL = 0.0
LR_GOOD = 0.05
LR_TOO_LARGE = 0.2
"""
"""The three learning-rate bugs of :data:`VARIANTS` at once (each variant alone keeps two constants right)."""


def wrong_submission(source_nb: Path | nbformat.NotebookNode, variants: Mapping[str, Mapping[str, str]] = VARIANTS,
                     fixed: Mapping[str, str] | None = None) -> nbformat.NotebookNode:
    """The notebook ``source_nb`` (a path or a notebook) with every solution wrong: each cell replaced
    by ``fixed[grade_id]`` or else by the first ``bug_`` variant of ``variants[grade_id]`` (03.0's by
    default, with the learning rates set to :data:`WRONG_CONSTANTS`). It earns 0 points."""
    fixed = {"learning_rates": WRONG_CONSTANTS} if fixed is None else fixed
    nb = nbformat.read(source_nb, as_version=4) if isinstance(source_nb, Path) else copy.deepcopy(source_nb)
    for cell in nb.cells:
        if _is_solution(cell):
            gid = cell.metadata["nbgrader"]["grade_id"]
            bugs = [src for name, src in variants.get(gid, {}).items() if name.startswith("bug_")]
            cell.source = fixed[gid] if gid in fixed else bugs[0]
    return nb


def insert_cells(nb: nbformat.NotebookNode, source: str, placement: Placement,
                 tag: str) -> nbformat.NotebookNode:
    """A copy of ``nb`` with ``source`` added as new code cell(s) where ``placement`` says.

    Each added cell's source starts with the comment ``# <tag>`` so that tests can find it.
    """
    out = copy.deepcopy(nb)
    text = f"# {tag}\n{source}"
    cells = list(out.cells)
    if placement == "first":
        at = next(i for i, c in enumerate(cells) if c.get("cell_type") == "code") + 1
        cells.insert(at, nbformat.v4.new_code_cell(text))
    else:
        added = []
        for cell in cells:
            added.append(cell)
            if _is_solution(cell):
                added.append(nbformat.v4.new_code_cell(text))
        cells = added
    out.cells = cells
    return out


def tampered(base_nb: Path | nbformat.NotebookNode, name: str,
             target: Target = GRADIENT_DESCENT) -> nbformat.NotebookNode:
    """The notebook ``base_nb`` (a path or a notebook) with the trick ``name`` (of :func:`tricks` or
    :func:`habits`) filled in for ``target``."""
    source = _fill(_TAMPER.get(name) or _HARMLESS[name], target)
    base = nbformat.read(base_nb, as_version=4) if isinstance(base_nb, Path) else base_nb
    return insert_cells(base, source, PLACEMENT[name], f"trick: {name}")


_SNOOP = """\
import glob, os, sys
_interesting = ("gradebook", ".ipynb", "@MODULE@", "autograder", "nbgrader_config", "canary", *@WORDS@)
_read = set()
def _show(path, limit=3000):
    if path in _read:
        return
    _read.add(path)
    try:
        with open(path, "rb") as f:
            print("READ", path, f.read(limit))
    except OSError as e:
        print("cannot read", path, type(e).__name__)
_count = 0
for _root, _dirs, _files in os.walk("/"):
    if _root == "/":
        _dirs[:] = [d for d in _dirs if d not in ("proc", "sys", "dev")]
    for _name in _files + _dirs:
        _count += 1
        if any(word in _name for word in _interesting):
            _show(os.path.join(_root, _name), 300)
print("walked", _count, "entries")
for _p in [@REPO@, @REPO@ + "/gradebook.db", @REPO@ + "/source", @REPO@ + "/autograder",
           @REPO@ + "/source/@ASSIGNMENT@/@ASSIGNMENT@.ipynb",
           @REPO@ + "/autograder/authored.py", "../..", "../../gradebook.db",
           "../../../gradebook.db", "../../source/@ASSIGNMENT@/@ASSIGNMENT@.ipynb",
           "/opt/runtime/lib/python3.11/site-packages/autograder", "/proc/1/environ", "/proc/self/environ",
           "/proc/self/mountinfo", @CANARY@, *@PATHS@] + glob.glob("/proc/*/cmdline") + glob.glob("/proc/*/environ"):
    if os.path.isdir(_p):
        try:
            print("LIST", _p, os.listdir(_p))
        except OSError as e:
            print("cannot list", _p, type(e).__name__)
    else:
        _show(_p)
for _finder in glob.glob("/opt/runtime/lib/python3*/site-packages/__editable__*"):
    _show(_finder, 100000)
    try:
        _text = open(_finder).read()
        _ns = {}
        exec(_text.split("class ", 1)[0], _ns)
        _targets = list(_ns.get("MAPPING", {}).values())
    except Exception as e:
        print("cannot parse", _finder, type(e).__name__)
        _targets = []
    print("finder points to", _targets)
    for _t in _targets:
        for _p in [_t, *glob.glob(_t + "/**/*.py", recursive=True)]:
            _show(_p, 100000) if os.path.isfile(_p) else print("LIST", _p, os.path.exists(_p))
try:
    import autograder
    print("package autograder:", autograder.__file__, list(getattr(autograder, "__path__", [])))
    from autograder import authored as _grader
    print("IMPORTED the grader", _grader.__file__)
except Exception as e:
    print("cannot import the grader", type(e).__name__)
"""


def snoop_cell(canary: Path, target: Target = GRADIENT_DESCENT, paths: tuple[str, ...] = (),
               words: tuple[str, ...] = ()) -> str:
    """A cell that walks the sandbox's whole file system (but ``/proc``, ``/sys``, ``/dev``), tries
    the course's paths, the grader's editable-install finder, ``canary`` (a file on the grading
    machine) and ``paths`` (more of them: hidden data), and prints everything it can read; on
    the walk it reads every file whose name contains one of the course's words or ``words``."""
    return (_fill(_SNOOP, target).replace("@CANARY@", repr(str(canary)))
            .replace("@PATHS@", repr(list(paths))).replace("@WORDS@", repr(words)))
