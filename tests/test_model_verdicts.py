"""The evaluator's jail hands back plain data, never a verdict: the hidden labels stay in the
grader, a forged or malformed answer earns nothing (and crashes nothing), an evaluation past its
time limit is a timeout, and an honest functional 03.2 model is accepted end to end."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import nbformat
import numpy as np
import pytest

from autograder import config
from autograder.checks.base import Status, Verdict
from autograder.course import checks_for, keras_models
from autograder.models import judge
from autograder.models.judge import EvaluationTimeout, measure
from autograder.models.safety import Refused
from autograder.public.lesson03_data import make_spirals
from autograder.run.kernel import Execution
from autograder.run.notebook import _verdict, auto_points, grade_id, grade_notebook
from autograder.sandbox.jail import Jail
from tests.conftest import REPO

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras

LIMIT = 20 * 1024**2
BANDS = [(0.9, 1.0), (0.8, 0.5)]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("model") / "keras_classifier.keras"
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.save(path)
    return path


@pytest.fixture(scope="module")
def hidden() -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    return make_spirals(300, seed=12345)


def _accuracy_verdict(model_file: Path, hidden: Any) -> Verdict:
    check = keras_models._accuracy_check(keras_models.SPIRALS, hidden, BANDS, LIMIT, gpu=False)
    return check.verdict({"__artifact__": model_file, "__artifact_error__": ""})


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
    def test_only_the_inputs_enter_the_jail(self, monkeypatch: pytest.MonkeyPatch, model_file: Path,
                                            hidden: Any) -> None:
        x, y = hidden
        put: dict[str, bytes] = {}
        real = Jail.put

        def spy(self: Jail, name: str, data: bytes) -> Path:
            put[name] = data
            return real(self, name, data)

        monkeypatch.setattr(Jail, "put", spy)
        verdict = _accuracy_verdict(model_file, hidden)
        assert "accuracy" in verdict.message and "on 300 hidden points" in verdict.message, verdict
        assert sorted(put) == ["evaluate.py", "inputs.npy", "model.keras", "request.json"]
        assert np.array_equal(np.load(io.BytesIO(put["inputs.npy"]), allow_pickle=False), x)
        assert json.loads(put["request.json"]) == {"model": "model.keras", "inputs": "inputs.npy"}
        for labels in (y, y.astype(np.uint8), y.astype(np.int32), y.astype(np.float32)):
            assert not any(labels.tobytes() in data for data in put.values())

    def test_the_jail_holds_no_label_file(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                          model_file: Path, hidden: Any) -> None:
        """From inside the evaluator's jail: every file it can see in its home and /tmp."""
        _forge(monkeypatch, tmp_path, '''\
import json, os
seen = sorted(os.path.join(r, n) for top in (".", "/tmp") for r, _, files in os.walk(top) for n in files)
json.dump({"loaded": False, "error": json.dumps(seen)}, open("result.json", "w"))
''')
        verdict = _accuracy_verdict(model_file, hidden)
        listed = json.loads(verdict.message.split("safe mode (", 1)[1].rsplit(")", 1)[0])
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
    def test_a_forged_answer_earns_nothing(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                           model_file: Path, hidden: Any, case: str) -> None:
        if case in FORGED:
            body = _writes(FORGED[case])
        else:
            raw = RAW[case]
            body = f"open('result.json', 'w').write({raw!r})\n" if raw is not None else "pass\n"
        _forge(monkeypatch, tmp_path, body)
        verdict = _accuracy_verdict(model_file, hidden)
        assert verdict.fraction == 0.0 and verdict.message.startswith("keras_classifier.keras: "), verdict
        assert "could not be checked" not in verdict.message, verdict  # a reason, not the safety net
        with pytest.raises(Refused):
            measure(model_file, LIMIT, inputs=hidden[0], classes=3)

    def test_outputs_are_scored_here_with_the_labels(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                     model_file: Path, hidden: Any) -> None:
        """Certain outputs for class 0 earn what class 0 is worth on the labels, whatever else the
        answer claims."""
        x, y = hidden
        outputs = np.zeros((len(x), 3), np.float32)
        outputs[:, 0] = 1.0
        _forge(monkeypatch, tmp_path, _writes({**SHAPES, "outputs": _nd(outputs), "accuracy": 1.0}))
        verdict = _accuracy_verdict(model_file, hidden)
        assert f"accuracy {np.mean(y == 0):.4g} on 300 hidden points" in verdict.message, verdict
        assert verdict.fraction == 0.0


class TestTimeout:
    def test_an_evaluation_past_its_limit_is_a_timeout(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                       model_file: Path, hidden: Any) -> None:
        _forge(monkeypatch, tmp_path, "import time\ntime.sleep(600)\n")
        monkeypatch.setattr(judge, "EVALUATOR_TIMEOUT_S", 2.0)
        start = time.monotonic()
        with pytest.raises(EvaluationTimeout, match="time limit of 2 s"):
            measure(model_file, LIMIT, inputs=hidden[0], classes=3)
        verdict = _accuracy_verdict(model_file, hidden)
        assert time.monotonic() - start < 60
        assert verdict.status is Status.TIMEOUT
        assert verdict.fraction == 0.0 and "took longer than the evaluator's time limit of 2 s" in verdict.message
        build = keras_models._build_model_check(keras_models.SPIRALS, LIMIT, gpu=False)
        built = build.verdict({"saved": 1, "__artifact__": model_file, "__artifact_error__": ""})
        assert built.status is Status.TIMEOUT and built.message.startswith("build_model: loading")
        marker = "@@m@@"
        item = _verdict(build, 2.0, Execution(stdout=f"{marker}{{\"saved\": 1}}\n"), marker,
                        lambda check, answer: answer.update({"__artifact__": model_file, "__artifact_error__": ""}))
        assert (item.status, item.points) == (Status.TIMEOUT, 0.0), item  # the item, as recorded: a timeout


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
def test_functional_03_2_model_earns_build_model(tmp_path: Path, mnist_data: Path) -> None:
    """``keras.Model(inputs, outputs)`` of built-in layers, graded in a real sandboxed kernel:
    ``test_build_model`` gives it full points (it was refused as "not a built-in Keras object")."""
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
    cfg = config.load(REPO, data_dir=str(mnist_data))
    release = REPO / "release" / assignment
    files = {p.name: p.read_bytes() for p in release.iterdir() if p.suffix != ".ipynb"}
    run = grade_notebook(path, checks_for(assignment, cfg.settings(assignment)),
                         auto_points(release / f"{assignment}.ipynb"), cfg.sandbox(assignment), files)
    result = next(r for r in run.results if r.item == "test_build_model")
    assert result.status is Status.PASSED and result.points == result.max_points, result
    assert "input (None, 28, 28, 1), output (None, 10)" in result.message
