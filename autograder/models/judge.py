"""Judge a student's saved Keras model in the trusted process.

The archive is first inspected as plain JSON (:mod:`autograder.models.safety`); only a file
made of built-in Keras objects is then loaded, by :mod:`autograder.models.evaluate` running in a
jail of its own that runs no student code and has no network.  Into that jail go the model and
the hidden *inputs* only; out comes plain data (the model's shapes and its class probabilities
for each input), decoded strictly here (:mod:`autograder.run.plain`, then exact dtype, shape and
finiteness).  The labels never leave this process, and the accuracy is computed here
(:func:`accuracy`): nothing the jail writes is a verdict.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.models import evaluate as evaluate_module
from autograder.models.safety import ModelFile, Refused, inspect
from autograder.run import plain
from autograder.sandbox.jail import RUNTIME, Jail
from autograder.sandbox.limits import Limits

EVALUATOR = Path(evaluate_module.__file__)  # the script copied into the jail
EVALUATOR_LIMITS = Limits(memory_bytes=3 * 1024**3, pids=512, disk_bytes=512 * 1024**2)
EVALUATOR_TIMEOUT_S = 180.0


class EvaluationTimeout(Refused):
    """Loading or running the model took longer than the evaluator's time limit."""


@dataclass(frozen=True)
class Measured:
    """What loading (and running) the model showed."""

    model: ModelFile
    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    device: str
    predicted: npt.NDArray[np.int64] | None = None  # the class the model gives each hidden input


def shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _shape(value: Any) -> tuple[int | None, ...]:
    if not (isinstance(value, list) and len(value) <= 8
            and all(d is None or (type(d) is int and 0 <= d < 2**31) for d in value)):
        raise Refused("the evaluator's answer is malformed (a shape)")
    return tuple(value)


def _predicted(value: Any, n: int, classes: int) -> npt.NDArray[np.int64]:
    """The class of each of the ``n`` inputs from the model's outputs: a float32 matrix of shape
    ``(n, classes)`` with finite values, nothing else."""
    if not isinstance(value, np.ndarray) or value.dtype != np.dtype("<f4"):
        kind = f"dtype {value.dtype}" if isinstance(value, np.ndarray) else type(value).__name__
        raise Refused(f"the model's outputs are not float32 class probabilities (got {kind})")
    if value.shape != (n, classes):
        raise Refused(f"the model's outputs for {n:,} inputs have shape {shape_text(value.shape)}; expected "
                      f"{shape_text((n, classes))}")
    bad = int(np.count_nonzero(~np.isfinite(value).all(axis=1)))
    if bad:
        raise Refused(f"the model's outputs are not finite numbers (NaN or infinity) for {bad:,} of {n:,} inputs")
    predicted: npt.NDArray[np.int64] = np.argmax(value, axis=1).astype(np.int64)
    return predicted


def measure(path: Path, max_bytes: int, inputs: npt.NDArray[Any] | None = None, classes: int = 0,
            gpu: bool = False, timeout_s: float | None = None) -> Measured:
    """Inspect and load the model file at ``path``; with ``inputs``, run it on them and read the
    class it gives each (its output shape must then be ``(None, classes)``).

    Raises :class:`Refused` with a message for the student when the file is unsafe, damaged,
    cannot be loaded or cannot be run, and :class:`EvaluationTimeout` when that takes longer
    than ``timeout_s`` (default :data:`EVALUATOR_TIMEOUT_S`).
    """
    timeout = EVALUATOR_TIMEOUT_S if timeout_s is None else timeout_s
    archive = path.read_bytes()
    model = inspect(archive, max_bytes)
    request = {"model": "model.keras", "inputs": "inputs.npy" if inputs is not None else None}
    limits = replace(EVALUATOR_LIMITS, gpu=gpu, disk_bytes=max(EVALUATOR_LIMITS.disk_bytes, 3 * len(archive)))
    with Jail(limits) as jail:
        jail.put("evaluate.py", EVALUATOR.read_bytes())
        jail.put("request.json", json.dumps(request).encode())
        jail.put("model.keras", archive)
        if inputs is not None:
            buffer = io.BytesIO()
            np.save(buffer, inputs, allow_pickle=False)
            jail.put("inputs.npy", buffer.getvalue())
        process = jail.popen([f"{RUNTIME}/bin/python", "evaluate.py"])
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise EvaluationTimeout(f"loading and running the model took longer than the evaluator's time limit "
                                    f"of {timeout:g} s and was stopped (is the model far larger than the "
                                    "exercise needs?)") from None
        size = 1024**2 + (0 if inputs is None else 8 * len(inputs) * classes)
        try:
            result = plain.decode(json.loads(jail.fetch("result.json", size)))
        except (FileNotFoundError, ValueError, RecursionError) as exc:  # plain.Undecodable is a ValueError
            if isinstance(exc, FileNotFoundError):
                oom = jail.cgroup is not None and jail.cgroup.oom_killed()
                reason = "it needs more memory than the grader allows" if oom else "the loader stopped"
            else:
                reason = f"its answer could not be read ({type(exc).__name__})"
            raise Refused(f"the model could not be evaluated: {reason}") from None
    if not isinstance(result, dict) or result.get("loaded") is not True:
        error = result.get("error") if isinstance(result, dict) else None
        raise Refused(f"Keras could not load the file in safe mode ({str(error or 'unknown error')[:400]})")
    measured = Measured(model, _shape(result.get("input_shape")), _shape(result.get("output_shape")),
                        str(result.get("device", "?"))[:100])
    if inputs is None:
        return measured
    if measured.output_shape != (None, classes):
        raise Refused(f"the model's output shape is {shape_text(measured.output_shape)}; it must be "
                      f"{shape_text((None, classes))}: one probability per class")
    if "outputs" not in result:
        raise Refused(f"the model could not predict on {shape_text((None, *inputs.shape[1:]))} inputs: "
                      f"{str(result.get('error') or 'it gave no outputs')[:400]}")
    return replace(measured, predicted=_predicted(result["outputs"], len(inputs), classes))


def accuracy(measured: Measured, labels: npt.NDArray[Any]) -> float:
    """The fraction of hidden inputs whose label is the class the model gave it."""
    if measured.predicted is None or measured.predicted.shape != labels.shape:
        raise Refused("the model gave no class for some of the hidden inputs")
    return float(np.mean(measured.predicted == labels))
