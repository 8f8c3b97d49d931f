"""Hidden checks of ``03.1_keras_classifier`` and ``03.2_mnist_classifier`` (COURSE_SPEC.md).

The student's notebook trains a Keras model and saves it beside itself.  Grading never trusts
the kernel about the model: ``test_build_model`` has the kernel save a fresh ``build_model()``
and inspects that file; ``test_accuracy`` takes the notebook's saved model.  Both files are
copied out of the sandbox, refused unless made of built-in Keras objects
(:mod:`autograder.models.safety`), and loaded in safe mode in a jail of their own that gets the
hidden inputs only and hands back the model's outputs; the accuracy is computed here, with
labels that never leave the grader (:mod:`autograder.models.judge`).  An evaluation past its
time limit makes the item a timeout.

The hidden data is drawn from the course's secret seed (:func:`autograder.data.secret_seed`,
in the hidden data folder, never in a tracked file): 03.1's spiral points directly (the seed is
made on first use when ``autograder data`` never ran), 03.2's digits through their distortions.

Settings (``[assignments."ID"]`` in course.toml): ``accuracy_bands`` — a list of
``[minimum accuracy, fraction of the points]``, best first; 03.2 also reads
``subset_accuracy_bands`` (used when the hidden set comes from the 10,000-digit offline subset)
and ``gpu``; 03.1 reads ``hidden_points``; both read ``model_max_mb`` and ``hidden_data_dir``
(set by the course configuration).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder import data as course_data
from autograder.checks import literal
from autograder.checks.base import Check, Plain, Status, Verdict
from autograder.checks.numeric import PLAIN_SOURCE, describe, failed, fmt, guarded, passed
from autograder.models.judge import EvaluationTimeout, Measured, accuracy, measure, shape_text
from autograder.models.safety import Refused
from autograder.public.lesson03_data import make_spirals
from autograder.sandbox.jail import HOME, gpu_devices

PROBE_SEED = 70321126  # 03.2's inputs for preprocess (random images, not hidden digits)
PROBE_FILE = ".autograder/build_model.keras"
Bands = list[tuple[float, float]]


@dataclass(frozen=True)
class ModelSpec:
    """What the assignment's ``build_model()`` must return."""

    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    saved_as: str  # the file the notebook's save cell writes
    what: str  # "hidden points", "hidden digits"


SPIRALS = ModelSpec((None, 2), (None, 3), "keras_classifier.keras", "hidden points")
MNIST = ModelSpec((None, 28, 28, 1), (None, 10), "mnist_classifier.keras", "hidden digits")

_BUILD_PROBE = f"""\
import os
model = student['build_model']()
if not (hasattr(model, 'save') and hasattr(model, 'output_shape')):
    result = {{'type': type(model).__name__}}
else:
    path = {HOME + "/" + PROBE_FILE!r}
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if os.path.lexists(path):
        os.remove(path)
    model.save(path)
    result = {{'saved': 1}}
"""


def _bands(settings: Mapping[str, Any], key: str, default: Bands) -> Bands:
    raw = settings.get(key, default)
    try:
        bands = sorted(((float(a), float(f)) for a, f in raw), reverse=True)
    except (TypeError, ValueError):
        raise ValueError(f"{key} = {raw!r}: expected a list of [minimum accuracy, fraction of the points]") from None
    if not bands or any(not (0 <= a <= 1 and 0 < f <= 1) for a, f in bands) or bands[0][1] != 1.0:
        raise ValueError(f"{key} = {raw!r}: accuracies in [0, 1], fractions in (0, 1], the best band worth 1.0")
    return bands


def describe_bands(bands: Bands) -> str:
    return "; ".join(f"{'full points' if f == 1 else f'{f:.0%} of the points'} at ≥ {a:.3g}" for a, f in bands)


def _artifact(result: Plain) -> Path | str:
    path = result.get("__artifact__")
    return path if isinstance(path, Path) else str(result.get("__artifact_error__") or "the file was not found")


def _build_model_check(spec: ModelSpec, max_bytes: int, gpu: bool) -> Check:
    @guarded("build_model")
    def verdict(result: Plain) -> Verdict:
        if "type" in result:
            return failed(f"build_model: must return a keras.Model (got {describe(result['type'])})")
        path = _artifact(result)
        if isinstance(path, str):
            return failed(f"build_model: the returned model could not be saved ({path})")
        try:
            got = measure(path, max_bytes, gpu=gpu)
        except EvaluationTimeout as exc:
            return Verdict(0.0, f"build_model: {exc}", Status.TIMEOUT)
        except Refused as exc:
            return failed(f"build_model: {exc}")
        if got.input_shape != spec.input_shape:
            return failed(f"build_model: the model's input shape is {shape_text(got.input_shape)}; it must be "
                          f"{shape_text(spec.input_shape)}")
        if got.output_shape != spec.output_shape:
            return failed(f"build_model: the model's output shape is {shape_text(got.output_shape)}; it must be "
                          f"{shape_text(spec.output_shape)}: one probability per class")
        if not got.model.compiled:
            return failed("build_model: the model is not compiled: call model.compile(optimizer=..., "
                          "loss='sparse_categorical_crossentropy', metrics=['accuracy']) before returning it")
        return passed(f"build_model: input {shape_text(got.input_shape)}, output {shape_text(got.output_shape)}, "
                      f"compiled with loss {got.model.loss or 'set'}")

    return Check("test_build_model", ("build_model",), _BUILD_PROBE, verdict, PROBE_FILE, max_bytes,
                 artifact_by_probe=True)


def _accuracy_check(spec: ModelSpec, hidden: tuple[npt.NDArray[Any], npt.NDArray[Any]], bands: Bands,
                    max_bytes: int, gpu: bool) -> Check:
    @guarded("accuracy")
    def verdict(result: Plain) -> Verdict:
        path = _artifact(result)
        if isinstance(path, str):
            return failed(f"{spec.saved_as}: {path}; run the notebook's save cell after training")
        x, y = hidden  # only x enters the evaluator's jail; y stays here
        classes = spec.output_shape[-1]
        assert classes is not None
        try:
            got: Measured = measure(path, max_bytes, inputs=x, classes=classes, gpu=gpu)
            score = accuracy(got, y)
        except EvaluationTimeout as exc:
            return Verdict(0.0, f"{spec.saved_as}: {exc}", Status.TIMEOUT)
        except Refused as exc:
            return failed(f"{spec.saved_as}: {exc}")
        fraction = next((f for a, f in bands if score >= a), 0.0)
        return Verdict(fraction, f"accuracy {fmt(score)} on {len(y):,} {spec.what} (evaluated on "
                                 f"{got.device}); {describe_bands(bands)}")

    return Check("test_accuracy", (), "result = {}\n", verdict, spec.saved_as, max_bytes)


def _preprocess_check(rng: np.random.Generator) -> Check:
    images = rng.integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    probe = "\n".join([PLAIN_SOURCE, f"x = {literal.array(images)}",
                       "out = student['preprocess'](x)",
                       "result = {'out': _plain(out), 'in': _plain(x),"
                       " 'dtype': str(getattr(out, 'dtype', type(out).__name__))}"]) + "\n"
    expected = (images.astype(np.float64) / 255.0).reshape(6, 28, 28, 1)

    @guarded("preprocess")
    def verdict(result: Plain) -> Verdict:
        out, original = result.get("out"), result.get("in")
        if not isinstance(out, np.ndarray):
            return failed(f"preprocess: must return a numpy array (got {describe(out)})")
        if not (isinstance(original, np.ndarray) and np.array_equal(original, images)):
            return failed("preprocess: it changed its input array; work on a copy")
        if out.shape != expected.shape:
            return failed(f"preprocess: for images of shape (6, 28, 28) expected shape (6, 28, 28, 1) "
                          f"(got {tuple(out.shape)})")
        if str(result.get("dtype")) != "float32":
            return failed(f"preprocess: expected dtype float32 (got {result.get('dtype')}): use .astype('float32')")
        error = np.abs(out.astype(np.float64) - expected)
        if float(error.max()) > 1e-6:
            index = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), error.shape))
            return failed(f"preprocess: pixel values must be scaled to [0, 1] (divided by 255): at index {index} "
                          f"expected {fmt(expected[index])} (got {fmt(out[index])})")
        return passed("preprocess: float32 images of shape (n, 28, 28, 1) scaled to [0, 1]")

    return Check("test_preprocess", ("preprocess",), probe, verdict)


def _common(settings: Mapping[str, Any]) -> tuple[int, bool]:
    max_bytes = int(float(settings.get("model_max_mb", 20)) * 1024**2)
    return max_bytes, bool(settings.get("gpu", False)) and bool(gpu_devices())


def _hidden_dir(settings: Mapping[str, Any]) -> Path:
    folder = settings.get("hidden_data_dir")
    if not folder:
        raise ValueError("the hidden data folder is not set (hidden_data_dir, given by the course configuration: "
                         "GradingConfig.settings)")
    return Path(str(folder))


def spirals_checks(settings: Mapping[str, Any] | None = None) -> list[Check]:
    """03.1: ``test_build_model``, then ``test_accuracy`` on hidden spiral points."""
    settings = settings or {}
    max_bytes, gpu = _common(settings)
    x, y = make_spirals(int(settings.get("hidden_points", 3000)), seed=course_data.secret_seed(_hidden_dir(settings)))
    bands = _bands(settings, "accuracy_bands", [(0.90, 1.0), (0.80, 0.5)])
    return [_build_model_check(SPIRALS, max_bytes, gpu), _accuracy_check(SPIRALS, (x, y), bands, max_bytes, gpu)]


def mnist_checks(settings: Mapping[str, Any] | None = None) -> list[Check]:
    """03.2: ``test_preprocess``, ``test_build_model``, then ``test_accuracy`` on the hidden split."""
    settings = settings or {}
    max_bytes, gpu = _common(settings)
    hidden = course_data.load_hidden_mnist(_hidden_dir(settings))
    key, default = (("subset_accuracy_bands", [(0.93, 1.0), (0.90, 0.5)]) if hidden.subset
                    else ("accuracy_bands", [(0.95, 1.0), (0.92, 0.5)]))  # as in course.toml, for fresh digits
    bands = _bands(settings, key, default)
    return [_preprocess_check(np.random.default_rng(PROBE_SEED)), _build_model_check(MNIST, max_bytes, gpu),
            _accuracy_check(MNIST, (hidden.x, hidden.y), bands, max_bytes, gpu)]

