"""Load a student's model and measure it: run by the grader inside a jail that runs no student
code (see :func:`autograder.models.judge.evaluate`).

Standalone on purpose (only numpy and Keras): the grader copies this file into the jail, which
cannot see the grader's package.  It reads ``request.json`` from the working folder and writes
``result.json``: the model's input and output shapes, and the accuracy on the labelled arrays of
``data`` when one is given.  Loading uses ``safe_mode=True`` and ``compile=False``.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

import numpy as np


def _device() -> str:
    """The device Keras computes on: "cpu", or "GPU (<name>)"."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        device = jax.devices()[0]
        return "cpu" if device.platform == "cpu" else f"GPU ({device.device_kind})"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "cpu"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU ({details.get('device_name', gpus[0].name)})"


def _shape(value: Any) -> list[int | None]:
    shape = value[0] if isinstance(value, list) and value and isinstance(value[0], tuple | list) else value
    return [None if d is None else int(d) for d in shape]


def _inputs(x: np.ndarray, shape: list[int | None]) -> np.ndarray:
    """Hidden inputs as the model's input layer wants them (images scaled to [0, 1])."""
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / 255.0
    dims = [d for d in shape[1:] if d is not None]
    if len(dims) == len(shape) - 1 and int(np.prod(dims)) == int(np.prod(x.shape[1:])):
        return x.reshape((len(x), *dims)).astype(np.float32)
    return x.astype(np.float32)


def main() -> dict[str, Any]:
    request = json.loads(open("request.json").read())
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras

    try:
        model = keras.saving.load_model(request["model"], compile=False, safe_mode=True)
    except Exception as exc:  # the file, not the grader, is at fault
        return {"loaded": False, "error": f"{type(exc).__name__}: {str(exc)[:300]}"}
    out: dict[str, Any] = {"loaded": True, "device": _device(),
                           "input_shape": _shape(model.input_shape), "output_shape": _shape(model.output_shape)}
    if request.get("data"):
        with np.load(request["data"]) as data:
            x, y = data["x"], data["y"]
        try:
            probs = np.asarray(model.predict(_inputs(x, out["input_shape"]), batch_size=256, verbose=0))
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
            return out
        if probs.ndim != 2 or len(probs) != len(y):
            out["error"] = f"the model's predictions have shape {list(probs.shape)}"
            return out
        out["accuracy"] = float(np.mean(np.argmax(probs, axis=1) == y))
        out["n"] = len(y)
    return out


if __name__ == "__main__":
    result = main()
    with open("result.json", "w") as f:
        json.dump(result, f)
    sys.exit(0)
