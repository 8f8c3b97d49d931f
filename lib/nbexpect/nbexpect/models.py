"""Keras models: what ``build_model()`` returns, and a saved model's accuracy in accuracy bands.

In the trusted grader (:mod:`nbexpect.grading`) a model never leaves the student's kernel as an
object: it is saved there, and the file is inspected and run outside it, on hidden data that never
enters the kernel.  In a student's kernel the same calls inspect the model directly, and
:func:`expect_accuracy` measures on the hidden data only where ``NBEXPECT_HIDDEN_DIR`` points at it
(an instructor's plain ``nbgrader autograde``); elsewhere it says so and leaves the points alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nbexpect import grading
from nbexpect._checks import Score
from nbexpect._format import Failed, describe, fmt

Bands = Sequence[tuple[float, float]]
HIDDEN_DIR = "NBEXPECT_HIDDEN_DIR"


def shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _loss_name(loss: Any) -> str:
    return str(getattr(loss, "name", getattr(loss, "__name__", loss)))


def _plain_name(loss: str) -> str:
    """``sparse_categorical_crossentropy`` and ``SparseCategoricalCrossentropy`` alike."""
    return loss.replace("_", "").lower()


def _local_info(model: Any, name: str) -> grading.ModelInfo:
    import keras

    if not isinstance(model, keras.Model):
        raise Failed(f"{name}: must return a keras.Model (got {describe(model)})")
    compiled = bool(getattr(model, "compiled", False)) and model.optimizer is not None
    return grading.ModelInfo(tuple(model.input_shape), tuple(model.output_shape), compiled,
                             _loss_name(model.loss) if compiled else "")


def expect_model(model: object, *, input_shape: Sequence[int | None], output_shape: Sequence[int | None],
                 loss: str | None = None, name: str = "build_model") -> None:
    """``model`` (what ``name`` returned) must be a Keras model with these shapes (``None`` for the batch),
    compiled, with ``loss`` when given."""
    grader = grading.current.get()
    info = grader.model(model, name) if grader is not None else _local_info(model, name)
    if tuple(info.input_shape) != tuple(input_shape):
        raise Failed(f"{name}: the model's input shape is {shape_text(info.input_shape)}; it must be "
                     f"{shape_text(input_shape)}")
    if tuple(info.output_shape) != tuple(output_shape):
        raise Failed(f"{name}: the model's output shape is {shape_text(info.output_shape)}; it must be "
                     f"{shape_text(output_shape)}: one probability per class")
    if not info.compiled:
        raise Failed(f"{name}: the model is not compiled: call model.compile(optimizer=..., "
                     f"loss={loss or 'sparse_categorical_crossentropy'!r}, metrics=['accuracy']) before returning it")
    if loss is not None and info.loss and _plain_name(info.loss) != _plain_name(loss):
        raise Failed(f"{name}: compile with loss={loss!r} (got {info.loss!r})")


def describe_bands(bands: Bands) -> str:
    return "; ".join(f"{'full points' if f == 1 else f'{f:.0%} of the points'} at ≥ {a:.3g}" for a, f in bands)


def _checked(bands: Bands) -> list[tuple[float, float]]:
    try:
        out = sorted(((float(a), float(f)) for a, f in bands), reverse=True)
    except (TypeError, ValueError):  # not pairs of numbers: say what bands must be, not what unpacking failed
        raise ValueError(f"bands = {bands!r}: expected a list of (minimum accuracy, fraction of the points)") from None
    if not out or any(not (0 <= a <= 1 and 0 < f <= 1) for a, f in out) or out[0][1] != 1.0:
        raise ValueError(f"bands = {bands!r}: [minimum accuracy, fraction of the points], accuracies in [0, 1], "
                         "fractions in (0, 1], the best band worth 1.0")
    return out


def _local_accuracy(filename: str, data: str) -> grading.Accuracy | None:
    folder = os.environ.get(HIDDEN_DIR)
    if not folder or not (Path(folder) / f"{data}.npz").exists():
        return None
    import keras

    with np.load(Path(folder) / f"{data}.npz") as arrays:
        x, y = arrays["x"], arrays["y"]
    if x.dtype == np.uint8:  # images are stored as bytes and scored as floats in [0, 1]
        x = (x.astype(np.float32) / 255.0).reshape(*x.shape, 1) if x.ndim == 3 else x.astype(np.float32) / 255.0
    model = keras.saving.load_model(filename, safe_mode=True)
    predicted = np.argmax(np.asarray(model.predict(x, batch_size=1000, verbose=0)), axis=1)
    return grading.Accuracy(float(np.mean(predicted == y)), len(y), "this kernel")


def expect_accuracy(filename: str, *, data: str, points: float,
                    bands: Bands | Callable[[int], Bands], what: str = "hidden examples") -> Score | None:
    """The points the model saved as ``filename`` earns on the hidden data set ``data``: ``bands`` lists
    ``(minimum accuracy, fraction of the points)``, best first (or is a function of the number of hidden
    examples that gives them).  Make it the cell's last expression.  ``None`` where the hidden data is
    not here (a student's kernel): the grader measures it."""
    grader = grading.current.get()
    measured = grader.accuracy(filename, data) if grader is not None else _local_accuracy(filename, data)
    if measured is None:
        print(f"the accuracy on the {what} is measured by the grader")
        return None
    chosen = _checked(bands(measured.examples) if callable(bands) else bands)
    fraction = next((f for a, f in chosen if measured.accuracy >= a), 0.0)
    return Score(points * fraction, f"accuracy {fmt(measured.accuracy)} on {measured.examples:,} {what} "
                                    f"(evaluated on {measured.device}); {describe_bands(chosen)}")
