"""Cheating and abusive submissions of 03.1, 03.2 and 03.3 graded in real sandboxed kernels:
the corpora of :mod:`tests.test_security` (03.0), filled in for each assignment by its
:class:`~tests.corpus.tamper.Target` (:mod:`tests.corpus.lesson_targets`).

- Every trick of :func:`tests.corpus.tamper.tricks` on a wrong submission earns 0 points,
  leaves ``source/``, ``release/``, the gradebook and the hidden MNIST split untouched, and
  shows nothing hidden (the grader's in-kernel names, hidden inputs, the instructor's hidden
  tests, the grader's code, the hidden split) in messages or outputs.  The checks are the
  instructor notebooks' own test cells (:mod:`autograder.authored`), run on the trusted side.
- Every habit of :func:`~tests.corpus.tamper.habits` on the solution keeps full marks.
- Every case of :func:`tests.corpus.abuse.cases` on the solution ends in bounded time with the
  expected statuses; the network cases reach no server on 127.0.0.1.
- A cell that searches the whole file system the sandbox sees finds no hidden material, the
  hidden MNIST split included, and grading goes on undisturbed.

03.3 and 03.1 run the whole corpora; 03.2 runs the cases of :data:`SUBSETS`, those whose
behaviour can differ from 03.1's (the module's cost is held to about 7 minutes on 2 cores).

Every run costs: notebooks are cut down to the cells grading needs (no demonstrations), the
runs that wait for a time limit get a short one (:data:`SHORT_TIMES`; the others run under the
course's own limits, so that a slow machine cannot turn a verdict into a timeout), and the
Keras notebooks never train. The wrong submission's ``build_model`` has a Lambda layer and its
model is saved untrained (03.2's ``preprocess`` also forgets to scale): the trusted side refuses
both files before starting an evaluator jail, which keeps a trick's run to the TensorFlow kernel
alone. The solution's training cell loads a model trained once per session on the host from the
instructor's code (:func:`trained_model`), given to the notebook as an extra file.

Everything is graded up front, three at a time, by the module fixture ``graded``; a watchdog
stops a run that outlives its bound by killing its own jail (see :mod:`tests.test_security`).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

import autograder.run.notebook as notebook_module
from autograder import authored, config
from autograder.checks.base import Check, Status
from autograder.data import HIDDEN, HIDDEN_FILE
from autograder.public import lesson03_data
from autograder.run.notebook import auto_points, grade_id
from autograder.sandbox.limits import Limits
from tests import test_security as base
from tests.conftest import REPO
from tests.corpus import abuse, chain_rule_variants, keras_variants, tamper
from tests.corpus.lesson_targets import CHAIN_RULE, DIGITS, HIDDEN_FILES, SPIRALS
from tests.corpus.tamper import Target
from tests.test_security import LocalServer, cell_outputs, outputs_text

pytestmark = pytest.mark.slow

TARGETS = {"03.3": CHAIN_RULE, "03.1": SPIRALS, "03.2": DIGITS}
"""Each assignment under test by its short name (used in test ids)."""
KERAS = ("03.1", "03.2")

TABLES: dict[str, Callable[[Target], Mapping[str, object]]] = {
    "tamper": tamper.tricks, "harmless": tamper.habits, "abuse": abuse.cases,
}
KERNEL_ONLY_TRICKS = ("input_transformer_pass", "json_dumps_everywhere", "fake_output_lines", "sys_exit_in_cell",
                      "os_exit_in_cell", "stdout_sink")
"""Tricks that act on the kernel alone, whatever its probes: they turn every later cell into
``pass``, break the kernel's own messages, print lines under made-up markers, leave the cell or
the kernel, or swallow stdout."""
SUBSETS = {
    ("03.2", "tamper"): tuple(name for name in tamper.tricks(DIGITS) if name not in KERNEL_ONLY_TRICKS),
    ("03.2", "harmless"): ("debug_prints",),
    ("03.2", "abuse"): ("loop_in_function", "memory_8gib_in_function", "connect_in_function"),
}
"""03.2 runs only the cases whose behaviour can differ from 03.1's, where the same TensorFlow
kernel, the same probes of ``build_model`` and ``test_accuracy`` and the same limits (but 4 GiB
of memory instead of 3, the same for an 8 GiB allocation) meet every case: the tricks but
:data:`KERNEL_ONLY_TRICKS` (03.2's own probe, of ``preprocess``, is numeric and carries hidden
inputs, as 03.3's do), the habit that wraps ``preprocess``, and the abuse cases that replace it.
Each case costs a TensorFlow kernel, and one on the solution also two evaluator jails."""


def names(short: str, kind: str) -> list[str]:
    """The cases of ``kind`` ("tamper", "harmless", "abuse") run on assignment ``short``."""
    table = list(TABLES[kind](TARGETS[short]))
    subset = SUBSETS.get((short, kind))
    assert subset is None or set(subset) <= set(table), subset
    return table if subset is None else [name for name in table if name in subset]


TRAINED = "pretrained.keras"
"""The solution's model, trained on the host, as the Keras notebooks find it beside them."""
LOAD_TRAINED = f'model = keras.saving.load_model("{TRAINED}")  # trained once, on the host\n'
UNTRAINED = "model = build_model()  # no training at all\n"
WRONG_BUILD = (keras_variants.VARIANTS_031["lambda_layer"]["build_model"],
               keras_variants.VARIANTS_032["lambda_layer"]["build_model"])

# --- limits ---------------------------------------------------------------------------------------

SHORT_TIMES = {"03.3": (5.0, 60.0), "03.1": (15.0, 120.0), "03.2": (15.0, 120.0)}
"""Cell and notebook time limits of the runs that wait for them: the tricks (they must earn 0
points whatever stops them) and :data:`TIMED_ABUSE`. A Keras cell or check needs a few seconds
here (starting TensorFlow, building, saving or loading a model); no cell trains. Every other
run is graded under the course's own limits (course.toml)."""
TIMED_ABUSE = ("loop_in_cell", "loop_in_function", "sleep_in_function", "fork_bomb", "sigint_ignored_loop",
               "sigint_ignored_print_flood")
"""Abuse cases that end at the cell time limit."""
BOUND_S = {"03.3": 60.0, "03.1": 150.0, "03.2": 150.0}
"""Seconds any tamper or abuse run may take: the slowest case (a cell that ignores the interrupt,
then 3 s of grace before the kill), the notebook's own time (for Keras: starting TensorFlow in
the kernel and in each trusted evaluator jail) and a wide margin."""
SNOOP_CELL_S, SNOOP_BOUND_S = 90.0, 240.0


def short_limits(lesson: Lesson) -> Limits:
    """``lesson``'s limits with the times of :data:`SHORT_TIMES`."""
    cell, notebook = SHORT_TIMES[lesson.short]
    return replace(lesson.limits, cell_timeout_s=cell, notebook_timeout_s=notebook)


# --- the notebooks --------------------------------------------------------------------------------


def _data_cell(source: str) -> bool:
    return source.startswith(("X_train, y_train = ", "(x_train, y_train), (x_test, y_test) = load_mnist()"))


def cut_down(short: str) -> nbformat.NotebookNode:
    """The instructor notebook without demonstrations: the imports (but matplotlib's), the graded
    cells and the cells they need (03.3's helpers, the Keras data without its plots)."""
    target = TARGETS[short]
    nb = nbformat.read(REPO / target.notebook, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    code[0].source = "\n".join(line for line in code[0].source.splitlines() if "matplotlib" not in line) + "\n"
    keep = []
    for cell in nb.cells:
        if cell.cell_type != "code" or grade_id(cell) or cell is code[0]:
            keep.append(cell)
        elif short == "03.3" and not cell.source.startswith("# Demo"):
            keep.append(cell)
        elif short in KERAS and _data_cell(cell.source):
            cell.source = cell.source.split("\n\n")[0] + "\n"
            keep.append(cell)
    nb.cells = keep
    return nb


def _with(nb: nbformat.NotebookNode, sources: dict[str, str]) -> nbformat.NotebookNode:
    """``nb`` with the cells of the given grade_ids set to the given sources."""
    for cell in nb.cells:
        if grade_id(cell) in sources:
            cell.source = sources[grade_id(cell) or ""]
    return nb


def solution(short: str) -> nbformat.NotebookNode:
    """The cut-down instructor notebook; a Keras one loads the model trained on the host."""
    nb = cut_down(short)
    return _with(nb, {"train": LOAD_TRAINED}) if short in KERAS else nb


def wrong(short: str) -> nbformat.NotebookNode:
    """A submission that earns nothing: 03.3's solutions are each their first ``bug_`` variant;
    the Keras ``build_model`` adds a Lambda layer, the model is saved untrained, and 03.2's
    ``preprocess`` forgets to scale."""
    if short == "03.3":
        return tamper.wrong_submission(cut_down(short), chain_rule_variants.VARIANTS, {})
    sources = {"build_model": WRONG_BUILD[KERAS.index(short)], "train": UNTRAINED}
    if short == "03.2":
        sources["preprocess"] = keras_variants.VARIANTS_032["preprocess_no_scaling"]["preprocess"]
    return _with(cut_down(short), sources)


def trained_model(short: str, data: Path, folder: Path) -> bytes:
    """The solution's model trained on the host as the notebook's training cell trains it (the
    instructor's code is trusted), saved as a ``.keras`` file."""
    import keras

    namespace: dict[str, Any] = {"keras": keras, "np": np}
    for cell in nbformat.read(REPO / TARGETS[short].notebook, as_version=4).cells:
        if grade_id(cell) in ("preprocess", "build_model"):
            exec(cell.source, namespace)
    keras.utils.set_random_seed(0)
    model = namespace["build_model"]()
    if short == "03.1":
        points, classes = lesson03_data.make_spirals(1000, seed=0)
        model.fit(points, classes, epochs=15, batch_size=32, verbose=0)
    else:
        (images, digits), _ = lesson03_data.load_mnist(data / "public")
        model.fit(namespace["preprocess"](images), digits, epochs=6, batch_size=128, verbose=0)
    path = folder / f"{short}-{TRAINED}"
    model.save(path)
    return path.read_bytes()


# --- what must never be shown -------------------------------------------------------------------

@dataclass(frozen=True)
class Lesson:
    """One assignment as graded here, and the hidden material its runs must never show."""

    short: str
    target: Target
    checks: list[Check]
    points: dict[str, float]
    limits: Limits  # course.toml's
    files: dict[str, bytes]  # beside the notebook: the release's files, the trained model
    hidden_material: list[str]
    hidden_inputs: base.FloatArray  # the magnitudes of the hidden inputs that enter the kernel, sorted
    settings: dict[str, Any]  # the assignment's, its test cells included (authored.prepare)

    @property
    def full_marks(self) -> float:
        return sum(self.points.values())

    def leaks(self, text: str, *, probe_internals: bool) -> list[str]:
        """Pieces of hidden material in ``text`` (as :func:`tests.test_security.leaks`), and any
        mention of the hidden MNIST split other than a failure to find it."""
        found = [s for s in self.hidden_material if s in text]
        found += [tok for tok in re.findall(rf"\d+\.\d{{{base.HIDDEN_DIGITS},}}", text)
                  if base.shows_hidden_input(tok, self.hidden_inputs)]
        if probe_internals:
            found += [s for s in base.PROBE_INTERNALS if s in text]
        found += [line for line in text.splitlines()
                  if HIDDEN_FILE in line and not re.search(r"cannot (read|list) .*FileNotFoundError", line)]
        return found


def _hidden_test_lines(target: Target) -> set[str]:
    """Lines of the instructor notebook's hidden tests that the release notebook does not show."""
    release = REPO / target.notebook.replace("source/", "release/", 1)
    released = {ln.strip() for c in nbformat.read(release, as_version=4).cells for ln in c.source.splitlines()}
    lines: set[str] = set()
    for cell in nbformat.read(REPO / target.notebook, as_version=4).cells:
        for block in re.findall(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", cell.source, re.S):
            lines |= {ln.strip() for ln in block.splitlines() if len(ln.strip()) > 20}
    return lines - released


def _grader_code_lines() -> set[str]:
    """``def``/``class`` lines of the grader's trusted code (model judging, the test cells' services)."""
    lines: set[str] = set()
    for path in [*(REPO / "autograder" / "models").glob("*.py"), REPO / "autograder" / "run" / "services.py"]:
        for line in path.read_text().splitlines():
            text = line.strip()
            if text.startswith(("def ", "class ")) and len(text) > 20:
                lines.add(text)
    return lines


def _hidden_inputs(short: str, checks: list[Check], settings: dict[str, Any], data: Path) -> base.FloatArray:
    """The float arrays the test cells pass into the kernel, recorded by running the cut-down
    solution and the test cells here (the Keras ones but test_accuracy, which judges a saved file)."""
    scope: dict[str, Any] = {"np": np, "make_spirals": lesson03_data.make_spirals,
                             "load_mnist": lambda: lesson03_data.load_mnist(data / "public")}
    for cell in cut_down(short).cells:
        gid = grade_id(cell) or ""
        if cell.cell_type == "code" and not gid.startswith("test_") and gid not in ("train", "save_model"):
            source = "\n".join(line for line in cell.source.splitlines() if "lesson03_data" not in line)
            try:
                exec(source, scope)
            except NameError:  # a cell that draws (matplotlib is cut out): nothing the tests need
                continue
    tests = [c.test_source for c in checks if c.item != "test_accuracy" or short not in KERAS]
    return base.record_inputs(scope, tests, authored.namespace(settings))


def lesson(short: str, data: Path) -> Lesson:
    target = TARGETS[short]
    cfg = config.load(REPO, data_dir=str(data))
    checks, settings = authored.prepare(REPO / "source" / target.assignment, cfg.settings(target.assignment))
    release = REPO / "release" / target.assignment
    files = {p.name: p.read_bytes() for p in release.iterdir() if p.suffix != ".ipynb"}
    return Lesson(short, target, checks, auto_points(release / f"{target.assignment}.ipynb"),
                  cfg.sandbox(target.assignment), files,
                  sorted(_hidden_test_lines(target) | _grader_code_lines()),
                  _hidden_inputs(short, checks, settings, data), settings)


# --- files the sandbox must not change ----------------------------------------------------------


def protected_state(data: Path) -> dict[str, str]:
    """sha256 of every file of ``source/``, ``release/``, the gradebook and the hidden split, plus the
    files the write tricks try to create (absent: ``"absent"``)."""
    paths = [p for top in ("source", "release") for p in sorted((REPO / top).rglob("*")) if p.is_file()]
    paths += [REPO / "gradebook.db", data / HIDDEN / HIDDEN_FILE]
    paths += [REPO / rel for target in TARGETS.values() for rel in target.pwned]
    return {str(p): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "absent" for p in paths}


# --- grading three at a time, with a watchdog ---------------------------------------------------


class Batch(base.Batch):
    """:class:`tests.test_security.Batch` with three threads (on two cores: a run also waits for its
    jails, kernel messages, sleeps and grace periods), grading each notebook as its lesson."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder, workers=3)

    def submit_as(self, key: str, nb: nbformat.NotebookNode, lesson: Lesson, limits: Limits | None = None,
                  bound_s: float | None = None) -> None:
        self.submit(key, nb, limits or lesson.limits, bound_s or BOUND_S[lesson.short], checks=lesson.checks,
                    points=lesson.points, files=lesson.files, settings=lesson.settings,
                    namespace=lambda: authored.namespace(lesson.settings))


@dataclass
class Gradings:
    """The module's gradings, and the lessons they were graded as."""

    batch: Batch
    lessons: dict[str, Lesson]


server = base.server
canary = base.canary
"""The local server the network cases try, and the fake gradebook the snooping cell hunts for."""


@pytest.fixture(scope="module")
def protected(mnist_data: Path) -> dict[str, str]:
    """The protected files' state before any submission ran."""
    return protected_state(mnist_data)


def _snoop(lesson: Lesson, canary: Path, data: Path) -> nbformat.NotebookNode:
    """The solution with :func:`tamper.snoop_cell` first, also trying the hidden split's paths."""
    paths = (str(data / HIDDEN / HIDDEN_FILE), str(data / HIDDEN), *HIDDEN_FILES)
    cell = tamper.snoop_cell(canary, lesson.target, paths, (HIDDEN_FILE,))
    return tamper.insert_cells(solution(lesson.short), cell, "first", "snoop")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory, server: LocalServer, canary: tuple[Path, str],
           protected: dict[str, str], mnist_data: Path) -> Iterator[Gradings]:
    """Every submission of this module, submitted at once: the Keras tricks first (they need no
    trained model, and keep both threads busy while the host trains), then the Keras runs on
    the solution, then 03.3's short runs (they even out the threads' ends)."""
    folder = tmp_path_factory.mktemp("submissions")
    lessons = {short: lesson(short, mnist_data) for short in TARGETS}

    def submit_wrong(short: str) -> None:
        ls, bad = lessons[short], wrong(short)
        batch.submit_as(f"{short}:wrong", bad, ls)
        for name in names(short, "tamper"):
            batch.submit_as(f"{short}:tamper:{name}", tamper.tampered(bad, name, ls.target), ls, short_limits(ls))

    def submit_good(short: str) -> None:
        ls, good = lessons[short], solution(short)
        for name in names(short, "harmless"):
            batch.submit_as(f"{short}:harmless:{name}", tamper.tampered(good, name, ls.target), ls)
        for name in names(short, "abuse"):
            batch.submit_as(f"{short}:abuse:{name}", abuse.abused(good, name, server.port, ls.target), ls,
                         short_limits(ls) if name in TIMED_ABUSE else ls.limits)
        snoop_limits = replace(ls.limits, cell_timeout_s=SNOOP_CELL_S, notebook_timeout_s=SNOOP_BOUND_S - 30)
        batch.submit_as(f"{short}:snoop", _snoop(ls, canary[0], mnist_data), ls, snoop_limits, SNOOP_BOUND_S)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(notebook_module, "Jail", base._RecordingJail)
        batch = Batch(folder)
        for short in KERAS:
            submit_wrong(short)
        for short in KERAS:
            trained = trained_model(short, mnist_data, folder)
            lessons[short] = replace(lessons[short], files={**lessons[short].files, TRAINED: trained})
            submit_good(short)
        submit_wrong("03.3")
        submit_good("03.3")
        yield Gradings(batch, lessons)
        batch.pool.shutdown(wait=True, cancel_futures=True)


def _cases(kind: str) -> list[tuple[str, str]]:
    """(assignment, name) for every case of ``kind`` run on each assignment."""
    return [(short, name) for short in TARGETS for name in names(short, kind)]


# --- the tests ------------------------------------------------------------------------------------


@pytest.mark.parametrize("short", list(TARGETS))
def test_wrong_submission_earns_nothing(short: str, graded: Gradings) -> None:
    """The base of every trick earns 0 points on its own, and its messages pass the leak checks."""
    got = graded.batch.get(f"{short}:wrong")
    lesson = graded.lessons[short]
    assert got.total() == 0.0, got.result().results
    assert set(got.statuses().values()) == {Status.FAILED}, got.result().results
    for r in got.result().results:
        assert not lesson.leaks(r.message, probe_internals=True), r


@pytest.mark.parametrize("short", list(TARGETS))
def test_leak_check_finds_hidden_material(short: str, graded: Gradings) -> None:
    """The leak check flags a hidden test line, a piece of a hidden input, a probe's names and a
    glimpse of the hidden split, and not a plain message."""
    lesson = graded.lessons[short]
    hidden_test = sorted(_hidden_test_lines(lesson.target))[0]
    assert lesson.leaks(f"AssertionError\n----> 3 {hidden_test}", probe_internals=False)
    piece = f"{float(lesson.hidden_inputs[lesson.hidden_inputs.size // 2]):.10f}"
    assert lesson.leaks(f"{lesson.target.functions[0]} raised ValueError: ({piece},)", probe_internals=False)
    assert lesson.leaks("KeyError: 'c0.out'", probe_internals=True)
    assert lesson.leaks(f"READ /srv/data/{HIDDEN}/{HIDDEN_FILE} b'PK'", probe_internals=False)
    assert not lesson.leaks(f"cannot read {HIDDEN_FILES[0]} FileNotFoundError", probe_internals=False)
    assert not lesson.leaks("accuracy 0.3 on 3,000 hidden points; full points at ≥ 0.9", probe_internals=True)


@pytest.mark.parametrize(("short", "name"), _cases("tamper"))
def test_trick_earns_nothing(short: str, name: str, graded: Gradings, protected: dict[str, str],
                             mnist_data: Path) -> None:
    """A cheating trick on a wrong submission: 0 points, nothing hidden shown, nothing written."""
    got = graded.batch.get(f"{short}:tamper:{name}")
    lesson = graded.lessons[short]
    run = got.result()
    base._in_bound(got, BOUND_S[short])
    assert got.total() == 0.0, [(r.item, r.status.value, r.points, r.message[:100]) for r in run.results]
    for r in run.results:
        assert not lesson.leaks(r.message, probe_internals=True), (r.item, r.message[:300])
    shown = lesson.leaks(outputs_text(run), probe_internals=False)
    assert not shown, shown[:3]
    assert protected_state(mnist_data) == protected


@pytest.mark.parametrize(("short", "name"), _cases("harmless"))
def test_harmless_habit_keeps_full_marks(short: str, name: str, graded: Gradings) -> None:
    """An odd but honest habit on the solution: every item passes."""
    got = graded.batch.get(f"{short}:harmless:{name}")
    run = got.result()
    base._in_bound(got, BOUND_S[short])
    assert got.total() == graded.lessons[short].full_marks, [(r.item, r.status.value, r.message[:100])
                                                            for r in run.results]


@pytest.mark.parametrize(("short", "name"), _cases("abuse"))
def test_abuse_is_contained(short: str, name: str, graded: Gradings, server: LocalServer,
                            protected: dict[str, str], mnist_data: Path) -> None:
    """Abuse on the solution: bounded time, the expected statuses, no network, nothing written."""
    got = graded.batch.get(f"{short}:abuse:{name}")
    target = TARGETS[short]
    base._in_bound(got, BOUND_S[short])
    run = got.result()
    expected = abuse.expected_statuses(name, target)
    unexpected = {r.item: (r.status.value, sorted(s.value for s in expected[r.item]), r.message[:150])
                  for r in run.results if r.status not in expected[r.item]}
    assert not unexpected, unexpected
    shows = abuse.cases(target)[name].shows
    if shows is not None:
        output = cell_outputs(run, f"abuse: {name}")
        assert output is not None and shows in output, output
    assert server.received == []
    assert protected_state(mnist_data) == protected


@pytest.mark.parametrize("short", list(TARGETS))
def test_sandbox_sees_no_hidden_material(short: str, graded: Gradings, canary: tuple[Path, str]) -> None:
    """A cell that walks the sandbox's file system and tries the course's paths reads nothing
    hidden: no grader code, no hidden test, no canary from the grading machine, no hidden split."""
    got = graded.batch.get(f"{short}:snoop")
    output = base.snooped(got, canary[1], SNOOP_BOUND_S)
    shown = graded.lessons[short].leaks(outputs_text(got.result()), probe_internals=False)
    assert not shown, shown[:3]
    tried = output.count(f"{HIDDEN_FILE} FileNotFoundError")  # every guess at the hidden split, none there
    assert tried == 1 + len(HIDDEN_FILES), output[-3000:]
    assert got.total() == graded.lessons[short].full_marks  # the snooping did not disturb grading
