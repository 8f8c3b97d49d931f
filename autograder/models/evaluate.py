"""Load a student's model and run it on hidden inputs: run by the grader inside a jail that runs
no student code (see :func:`autograder.models.judge.measure`).

Standalone on purpose (only numpy and Keras): the grader copies this file into the jail, which
cannot see the grader's package.  It reads ``request.json`` from the working folder (the model
file's name, and ``inputs``: a ``.npy`` file of hidden inputs, or null) and writes
``result.json``: whether the model loaded, the device, the model's input and output shapes and,
with inputs, its ``outputs`` (one row of class probabilities per input, float32) as a plain-data
array ``{"__nd__": [dtype, shape, base64]}``.  It never sees a label and computes no score: the
grader decodes the outputs strictly and scores them with labels that stay outside the jail.
Loading uses ``safe_mode=True`` and ``compile=False``.
"""

from __future__ import annotations

import base64
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


def _plain(array: np.ndarray) -> dict[str, list[Any]]:
    data = np.ascontiguousarray(array)
    return {"__nd__": [data.dtype.str, list(data.shape), base64.b64encode(data.tobytes()).decode()]}


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
    if request.get("inputs"):
        x = np.load(request["inputs"], allow_pickle=False)
        try:
            outputs = np.asarray(model.predict(_inputs(x, out["input_shape"]), batch_size=256, verbose=0))
            out["outputs"] = _plain(outputs.astype(np.float32))
        except Exception as exc:
            out["error"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    return out


if __name__ == "__main__":
    result = main()
    with open("result.json", "w") as f:
        json.dump(result, f)
    sys.exit(0)
