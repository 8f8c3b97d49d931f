"""What the grader lends to a test cell's helpers (:mod:`nbexpect.grading`): models inspected and run
outside the student's kernel, on hidden data that never enters it.

- :meth:`CellGrader.model`: the student's model object stays in the kernel; the kernel saves it (a
  call through its handle) into the notebook's folder, the file is copied out without following
  links and size-limited, refused unless it is made of built-in Keras objects, then loaded in safe
  mode in an evaluator jail of its own (:func:`autograder.models.judge.measure`).
- :meth:`CellGrader.accuracy`: the file the notebook saved is copied out the same way, the
  evaluator gets the hidden *inputs* only, and the accuracy is computed here with labels that never
  leave this process (:func:`autograder.models.judge.accuracy`).

Failures are :class:`nbexpect.Failed` with the reason for the student; an evaluation past its time
limit, or a saved model from a training run that was stopped at the cell time limit, is
:class:`nbexpect.grading.TimedOut` (graded as a timeout).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from nbexpect import Failed
from nbexpect.grading import Accuracy, ModelInfo, TimedOut

from autograder import data as course_data
from autograder.models.judge import EvaluationTimeout, accuracy, measure
from autograder.models.safety import Refused
from autograder.run.wire import StudentObject
from autograder.sandbox.jail import HOME, Jail, gpu_devices

SAVED_AS = ".autograder-{name}.keras"  # where the kernel saves a model returned by the student's `name`


class CellGrader:
    """The :class:`nbexpect.grading.Grader` of one notebook's test cells."""

    def __init__(self, jail: Jail, settings: Mapping[str, Any], artifacts: Path, stopped_cells: int) -> None:
        """``stopped_cells``: how many of the notebook's cells were stopped at the cell time limit so far."""
        self.jail, self.artifacts, self.stopped_cells = jail, artifacts, stopped_cells
        self.max_bytes = int(float(settings.get("model_max_mb", 20)) * 1024**2)
        self.gpu = bool(settings.get("gpu", False)) and bool(gpu_devices())
        self.hidden_dir = settings.get("hidden_data_dir")

    def _copy_out(self, name: str, what: str) -> Path:
        try:
            data = self.jail.fetch(name, self.max_bytes)
        except FileNotFoundError:
            raise Failed(f"{what}: {name} was not found in the notebook's folder") from None
        except (ValueError, OSError) as exc:
            raise Failed(f"{what}: {exc}") from None
        target = self.artifacts / f"{len(list(self.artifacts.iterdir()))}-{Path(name).name}"
        target.write_bytes(data)
        return target

    def model(self, model: object, name: str) -> ModelInfo:
        if not isinstance(model, StudentObject):
            from nbexpect import describe

            raise Failed(f"{name}: must return a keras.Model (got {describe(model)})")
        saved = SAVED_AS.format(name=name)
        try:
            model.save(f"{HOME}/{saved}")
        except Failed:
            raise
        except Exception as exc:  # the kernel's answer: the object has no save, or save raised
            raise Failed(f"{name}: the returned model could not be saved ({type(exc).__name__})") from None
        path = self._copy_out(saved, name)
        try:
            got = measure(path, self.max_bytes, gpu=self.gpu)
        except EvaluationTimeout as exc:
            raise TimedOut(f"{name}: {exc}") from None
        except Refused as exc:
            raise Failed(f"{name}: {exc}") from None
        return ModelInfo(got.input_shape, got.output_shape, got.model.compiled, str(got.model.loss or ""))

    def accuracy(self, filename: str, data: str) -> Accuracy:
        path = self._copy_out(filename, filename)
        if not self.hidden_dir:
            raise RuntimeError("the hidden data folder is not set (hidden_data_dir, from the course configuration)")
        x, y = course_data.load_hidden(Path(str(self.hidden_dir)), data)
        try:
            got = measure(path, self.max_bytes, inputs=x, classes=int(np.max(y)) + 1, gpu=self.gpu)
            score = accuracy(got, y)
        except EvaluationTimeout as exc:
            raise TimedOut(f"{filename}: {exc}") from None
        except Refused as exc:
            raise Failed(f"{filename}: {exc}") from None
        if self.stopped_cells:
            raise TimedOut("a cell before this check ran past its time limit and was stopped, so the saved file "
                           "comes from a run that did not finish (is the training longer than the budget?); for "
                           f"information, its accuracy is {score:.4g} on {len(y):,} hidden examples")
        return Accuracy(score, len(y), got.device)
