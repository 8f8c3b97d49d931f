"""The evaluator's jail hands back plain data, never a verdict: the hidden labels stay in the
grader, a forged or malformed answer earns nothing (and crashes nothing), an evaluation past its
time limit is a timeout, and an honest functional 03.2 model is accepted end to end.

The checks are the instructor notebooks' own test cells (``source/03.1_keras_classifier``), run
as the grader runs them (:func:`autograder.run.notebook._authored`), their ``nbexpect`` helpers
served by :class:`autograder.run.services.CellGrader`.  The cells here read no name of the
student's (or get them in their trusted namespace), so they need no kernel; the last test grades
a notebook in a real one.
"""

from __future__ import annotations

import io
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import nbformat
import numpy as np
import pytest
import zmq
from nbexpect import grading
from nbexpect.grading import TimedOut
from nbexpect.models import expect_model

from autograder import authored, config
from autograder.checks.base import CheckResult, Status
from autograder.models import judge
from autograder.models.judge import EvaluationTimeout, measure
from autograder.models.safety import Refused
from autograder.public.lesson03_data import make_spirals
from autograder.run.kernel import SandboxedKernel
from autograder.run.notebook import _authored, auto_points, grade_id, grade_notebook
from autograder.run.services import CellGrader
from autograder.run.wire import StudentFunction, StudentObject
from autograder.sandbox.jail import HOME, Jail
from autograder.sandbox.limits import Limits
from tests.conftest import REPO

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras

LIMIT = 20 * 1024**2
SPIRALS = "03.1_keras_classifier"
SAVED = "keras_classifier.keras"  # what 03.1's save cell writes and its test_accuracy reads
POINTS = {"test_build_model": 2.0, "test_accuracy": 4.0}


def _test_cell(assignment: str, item: str) -> str:
    nb = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return str(next(c.source for c in nb.cells if c.cell_type == "code" and grade_id(c) == item))


def _hidden_part(source: str) -> str:
    """A test cell's hidden block: 03.1's ``expect_accuracy`` call, without the visible check that
    runs the model in the student's kernel."""
    return source[source.index("### BEGIN HIDDEN TESTS"):]


ACCURACY_CELL = _hidden_part(_test_cell(SPIRALS, "test_accuracy"))
BUILD_CELL = _test_cell(SPIRALS, "test_build_model")


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / SAVED
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(path)
    return path


@pytest.fixture(scope="module")
def hidden() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return make_spirals(300, seed=12345)


@pytest.fixture(scope="module")
def hidden_dir(tmp_path_factory: pytest.TempPathFactory, hidden: Any) -> Path:
    """The grader's hidden data folder, holding these 300 points as the data set ``spirals``."""
    folder = tmp_path_factory.mktemp("hidden")
    np.savez(folder / "spirals.npz", x=hidden[0], y=hidden[1])
    return folder


@pytest.fixture(scope="module")
def student(model_file: Path) -> Iterator[Jail]:
    """The student's sandbox after the save cell: the notebook's folder holds the saved model."""
    with Jail(Limits(disk_bytes=64 * 1024**2)) as jail:
        jail.put(SAVED, model_file.read_bytes())
        yield jail


def _grader(jail: Jail, hidden_dir: Path, tmp_path: Path) -> CellGrader:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir(exist_ok=True)
    return CellGrader(jail, {"hidden_data_dir": str(hidden_dir), "model_max_mb": 20}, artifacts, 0)


class _NoKernel:
    """Enough of a kernel for a test cell that reads no name of the student's: the bridge to the
    kernel registers the client's sockets and never uses them."""

    def __init__(self) -> None:
        self.sockets: list[zmq.Socket[bytes]] = [zmq.Context.instance().socket(zmq.DEALER) for _ in range(3)]
        stdin, shell, iopub = (SimpleNamespace(socket=s) for s in self.sockets)
        self.client = SimpleNamespace(stdin_channel=stdin, shell_channel=shell, iopub_channel=iopub)

    def close(self) -> None:
        for socket in self.sockets:
            socket.close(0)


def _run_cell(item: str, source: str, grader: CellGrader, **names: Any) -> CheckResult:
    """The item as the grader records it: ``source`` run as an authored test cell with ``grader``
    lent to its helpers; ``names`` stand for the student's."""
    (check,) = authored.checks({authored.TESTS: ((item, source),)})
    kernel = _NoKernel()
    try:
        return _authored(check, POINTS[item], cast(SandboxedKernel, kernel), 60.0, lambda: {"np": np, **names},
                         grader)
    finally:
        kernel.close()


def _accuracy_item(student: Jail, hidden_dir: Path, tmp_path: Path) -> CheckResult:
    return _run_cell("test_accuracy", ACCURACY_CELL, _grader(student, hidden_dir, tmp_path))


class _SavingRemote:
    """The kernel's side of a model handle: ``model.save(path)`` writes ``data`` at ``path`` in the
    student's sandbox, as the kernel would."""

    def __init__(self, jail: Jail, data: bytes) -> None:
        self.jail, self.data = jail, data

    def call(self, target: StudentObject, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        self.jail.put(str(args[0]).removeprefix(HOME + "/"), self.data)
        return None

    def attribute(self, target: StudentObject, name: str) -> Any:
        assert name == "save", name
        return StudentFunction(self, 2, "method", "build_model.save")

    def item(self, target: StudentObject, key: Any) -> Any:
        raise AssertionError("not used")

    def length(self, target: StudentObject) -> int:
        raise AssertionError("not used")


def _forge(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, body: str) -> None:
    """Replace the evaluator copied into the jail by the script ``body``."""
    script = tmp_path / "forged_evaluate.py"
    script.write_text(body)
    monkeypatch.setattr(judge, "EVALUATOR", script)


def _writes(result: Any) -> str:
    return f"import json\nopen('result.json', 'w').write({json.dumps(result)!r})\n"


def _nd(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    import base64

    a = np.ascontiguousarray(array)
    return {"__nd__": [a.dtype.str, list(a.shape), base64.b64encode(a.tobytes()).decode()]}


SHAPES = {"loaded": True, "device": "cpu", "input_shape": [None, 2], "output_shape": [None, 3]}


class TestLabelsStayOut:
    def test_only_the_inputs_enter_the_jail(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, student: Jail,
                                            hidden_dir: Path, hidden: Any) -> None:
        x, y = hidden
        put: dict[str, bytes] = {}
        real = Jail.put

        def spy(self: Jail, name: str, data: bytes) -> Path:
            put[name] = data
            return real(self, name, data)

        monkeypatch.setattr(Jail, "put", spy)
        item = _accuracy_item(student, hidden_dir, tmp_path)
        assert "accuracy" in item.message and "on 300 hidden points" in item.message, item
        assert sorted(put) == ["evaluate.py", "inputs.npy", "model.keras", "request.json"]
        assert np.array_equal(np.load(io.BytesIO(put["inputs.npy"]), allow_pickle=False), x)
        assert json.loads(put["request.json"]) == {"model": "model.keras", "inputs": "inputs.npy"}
        for labels in (y, y.astype(np.uint8), y.astype(np.int32), y.astype(np.float32)):
            assert not any(labels.tobytes() in data for data in put.values())

    def test_the_jail_holds_no_label_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, student: Jail,
                                          hidden_dir: Path) -> None:
        """From inside the evaluator's jail: every file it can see in its home and /tmp."""
        _forge(monkeypatch, tmp_path, '''\
import json, os
seen = sorted(os.path.join(r, n) for top in (".", "/tmp") for r, _, files in os.walk(top) for n in files)
json.dump({"loaded": False, "error": json.dumps(seen)}, open("result.json", "w"))
''')
        item = _accuracy_item(student, hidden_dir, tmp_path)
        listed = json.loads(item.message.split("safe mode (", 1)[1].rsplit(")", 1)[0])
        assert sorted(listed) == ["./evaluate.py", "./inputs.npy", "./model.keras", "./request.json"], listed


FORGED = {
    "a claimed accuracy": {**SHAPES, "accuracy": 1.0, "n": 300, "score": 1.0},
    "outputs as a list": {**SHAPES, "outputs": [[1.0, 0.0, 0.0]] * 300},
    "float64 outputs": {**SHAPES, "outputs": _nd(np.ones((300, 3)))},
    "integer classes": {**SHAPES, "outputs": _nd(np.zeros(300, dtype=np.int64))},
    "too few rows": {**SHAPES, "outputs": _nd(np.ones((299, 3), np.float32))},
    "too many classes": {**SHAPES, "outputs": _nd(np.ones((300, 4), np.float32))},
    "NaN outputs": {**SHAPES, "outputs": _nd(np.full((300, 3), np.nan, np.float32))},
    "bytes that do not fit": {**SHAPES, "outputs": {"__nd__": ["<f4", [300, 3], "AAAA"]}},
    "an object dtype": {**SHAPES, "outputs": {"__nd__": ["|O", [300, 3], "AAAA"]}},
    "a wrong output shape": {**SHAPES, "output_shape": [None, 7]},
    "a shape that is not one": {**SHAPES, "output_shape": "(None, 3)"},
    "loaded as text": {**SHAPES, "loaded": "yes"},
    "not an object": [1, 2, 3],
}
RAW = {"not JSON": "{'loaded': True", "nested too deep": "[" * 100000 + "]" * 100000, "no result": None}


class TestForgedResults:
    @pytest.mark.parametrize("case", [*FORGED, *RAW])
    def test_a_forged_answer_earns_nothing(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, model_file: Path,
                                           student: Jail, hidden_dir: Path, hidden: Any, case: str) -> None:
        if case in FORGED:
            body = _writes(FORGED[case])
        else:
            raw = RAW[case]
            body = f"open('result.json', 'w').write({raw!r})\n" if raw is not None else "pass\n"
        _forge(monkeypatch, tmp_path, body)
        item = _accuracy_item(student, hidden_dir, tmp_path)
        assert (item.status, item.points) == (Status.FAILED, 0.0), item
        assert item.message.startswith(f"{SAVED}: "), item
        assert "could not be checked" not in item.message, item  # a reason, not the safety net
        with pytest.raises(Refused):
            measure(model_file, LIMIT, inputs=hidden[0], classes=3)

    def test_outputs_are_scored_here_with_the_labels(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     student: Jail, hidden_dir: Path, hidden: Any) -> None:
        """Certain outputs for class 0 earn what class 0 is worth on the labels, whatever else the
        answer claims."""
        x, y = hidden
        outputs = np.zeros((len(x), 3), np.float32)
        outputs[:, 0] = 1.0
        _forge(monkeypatch, tmp_path, _writes({**SHAPES, "outputs": _nd(outputs), "accuracy": 1.0}))
        item = _accuracy_item(student, hidden_dir, tmp_path)
        assert f"accuracy {np.mean(y == 0):.4g} on 300 hidden points" in item.message, item
        assert "full points at ≥ 0.9; 50% of the points at ≥ 0.8" in item.message, item  # the notebook's bands
        assert (item.status, item.points) == (Status.FAILED, 0.0), item


class TestTimeout:
    def test_an_evaluation_past_its_limit_is_a_timeout(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       model_file: Path, student: Jail, hidden_dir: Path,
                                                       hidden: Any) -> None:
        _forge(monkeypatch, tmp_path, "import time\ntime.sleep(600)\n")
        monkeypatch.setattr(judge, "EVALUATOR_TIMEOUT_S", 2.0)
        start = time.monotonic()
        with pytest.raises(EvaluationTimeout, match="time limit of 2 s"):
            measure(model_file, LIMIT, inputs=hidden[0], classes=3)
        item = _accuracy_item(student, hidden_dir, tmp_path)
        assert time.monotonic() - start < 60
        assert (item.status, item.points) == (Status.TIMEOUT, 0.0), item  # the item, as recorded: a timeout
        assert "took longer than the evaluator's time limit of 2 s" in item.message, item

        # test_build_model: the kernel saves what build_model() returned; loading the file times out
        grader = _grader(student, hidden_dir, tmp_path)
        handle = StudentObject(_SavingRemote(student, model_file.read_bytes()), 1, "Sequential", "build_model()")
        token = grading.current.set(grader)
        try:
            with pytest.raises(TimedOut, match=r"^build_model: loading"):
                expect_model(handle, input_shape=(None, 2), output_shape=(None, 3))
        finally:
            grading.current.reset(token)
        built = _run_cell("test_build_model", BUILD_CELL, grader, build_model=lambda: handle, X_val=hidden[0])
        assert (built.status, built.points) == (Status.TIMEOUT, 0.0), built
        assert built.message.startswith("build_model: loading"), built
        assert time.monotonic() - start < 60


FUNCTIONAL_BUILD_MODEL = '''\
def build_model():
    inputs = keras.Input(shape=(28, 28, 1))
    x = keras.layers.Rescaling(1.0)(inputs)
    x = keras.layers.Conv2D(8, 3, activation="relu")(x)
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Dropout(0.1)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Reshape((-1,))(x)
    outputs = keras.layers.Dense(10, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
'''


@pytest.mark.slow
def test_functional_03_2_model_earns_build_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                 mnist_data: Path) -> None:
    """``keras.Model(inputs, outputs)`` of built-in layers, graded in a real sandboxed kernel by the
    notebook's own ``test_build_model``: full points (it was refused as "not a built-in Keras
    object"), the saved file inspected outside the kernel."""
    assignment = "03.2_mnist_classifier"
    nb = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    cells = []
    for cell in nb.cells:
        if cell.cell_type == "code" and grade_id(cell) == "build_model":
            cell.source = FUNCTIONAL_BUILD_MODEL
        if cell.cell_type == "code" and (grade_id(cell) in ("build_model", "test_build_model")
                                         or "import keras" in cell.source):
            cells.append(cell)
    nb.cells = cells
    path = tmp_path / f"{assignment}.ipynb"
    nbformat.write(nb, path)
    inspected: list[grading.ModelInfo] = []
    real = CellGrader.model

    def spy(self: CellGrader, model: object, name: str) -> grading.ModelInfo:
        inspected.append(real(self, model, name))
        return inspected[-1]

    monkeypatch.setattr(CellGrader, "model", spy)
    cfg = config.load(REPO, data_dir=str(mnist_data))
    checks, settings = authored.prepare(REPO / "source" / assignment, cfg.settings(assignment))
    release = REPO / "release" / assignment
    files = {p.name: p.read_bytes() for p in release.iterdir() if p.suffix != ".ipynb"}
    run = grade_notebook(path, checks, auto_points(release / f"{assignment}.ipynb"), cfg.sandbox(assignment), files,
                         lambda: authored.namespace(settings), settings)
    result = next(r for r in run.results if r.item == "test_build_model")
    assert result.status is Status.PASSED and result.points == result.max_points, result
    assert inspected == [grading.ModelInfo((None, 28, 28, 1), (None, 10), True, "sparse_categorical_crossentropy")]
