"""Judge a student's saved Keras model in the trusted process.

The archive is first inspected as plain JSON (:mod:`autograder.models.safety`); only a file
made of built-in Keras objects is then loaded, by :mod:`autograder.models.evaluate` running
in a jail of its own that runs no student code and has no network.  Hidden labelled data goes
into that jail only, never into the student's kernel.
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
from autograder.sandbox.jail import RUNTIME, Jail
from autograder.sandbox.limits import Limits

EVALUATOR_LIMITS = Limits(memory_bytes=3 * 1024**3, pids=512, disk_bytes=512 * 1024**2)
EVALUATOR_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class Measured:
    """What loading (and evaluating) the model showed."""

    model: ModelFile
    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    device: str
    accuracy: float | None = None
    n: int = 0


def shape_text(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def measure(path: Path, max_bytes: int, data: tuple[npt.NDArray[Any], npt.NDArray[Any]] | None = None,
            gpu: bool = False, timeout_s: float = EVALUATOR_TIMEOUT_S) -> Measured:
    """Inspect, load and (with ``data`` = (x, y)) evaluate the model file at ``path``.

    Raises :class:`Refused` with a message for the student when the file is unsafe, damaged,
    cannot be loaded or cannot be evaluated.
    """
    archive = path.read_bytes()
    model = inspect(archive, max_bytes)
    request: dict[str, Any] = {"model": "model.keras", "data": "data.npz" if data is not None else None}
    limits = replace(EVALUATOR_LIMITS, gpu=gpu, disk_bytes=max(EVALUATOR_LIMITS.disk_bytes, 3 * len(archive)))
    with Jail(limits) as jail:
        jail.put("evaluate.py", Path(evaluate_module.__file__).read_bytes())
        jail.put("request.json", json.dumps(request).encode())
        jail.put("model.keras", archive)
        if data is not None:
            buffer = io.BytesIO()
            np.savez(buffer, x=data[0], y=data[1])
            jail.put("data.npz", buffer.getvalue())
        process = jail.popen([f"{RUNTIME}/bin/python", "evaluate.py"])
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise Refused(f"evaluating the model took longer than {timeout_s:g} s") from None
        try:
            result = json.loads(jail.fetch("result.json", 1024**2))
        except (FileNotFoundError, ValueError):
            oom = jail.cgroup is not None and jail.cgroup.oom_killed()
            reason = "it needs more memory than the grader allows" if oom else "the loader stopped"
            raise Refused(f"the model could not be evaluated: {reason}") from None
    if not result.get("loaded"):
        raise Refused(f"Keras could not load the file in safe mode ({result.get('error', 'unknown error')})")
    measured = Measured(model, tuple(result["input_shape"]), tuple(result["output_shape"]), str(result["device"]))
    if data is not None:
        if "accuracy" not in result:
            raise Refused(f"the model could not predict on {shape_text((None, *data[0].shape[1:]))} inputs: "
                          f"{result.get('error', 'unknown error')}")
        measured = replace(measured, accuracy=float(result["accuracy"]), n=int(result["n"]))
    return measured
