"""Decide, from the archive alone, whether a ``.keras`` file may be loaded at all.

A Keras 3 file is a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``.  Its
config names every object by module and class; loading it instantiates them.  We accept only
objects from Keras' own public modules, no ``Lambda`` layer (its config carries marshalled
Python bytecode) and nothing registered by the student (a custom class would need the
student's code to load).  This runs in the grader on plain JSON, before any Keras code sees
the file; the loader in :mod:`autograder.models.evaluate` then loads with ``safe_mode=True``
as a second line.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ALLOWED_MODULES = frozenset({
    "keras", "keras.layers", "keras.models", "keras.optimizers", "keras.optimizers.schedules", "keras.losses",
    "keras.metrics", "keras.initializers", "keras.regularizers", "keras.constraints", "keras.activations",
})
REFUSED_CLASSES = {
    "Lambda": "a Lambda layer (it stores Python code)",
    "__lambda__": "a Python lambda function",
    "TFSMLayer": "a TensorFlow SavedModel layer (it runs a stored graph)",
    "TorchModuleWrapper": "a wrapped PyTorch module (it is pickled code)",
    "JaxLayer": "a wrapped JAX function",
    "FlaxLayer": "a wrapped Flax module",
}
MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
CONFIG_LIMIT = 2 * 1024**2


class Refused(ValueError):
    """The file is not a model the grader will load; the message says why, for the student."""


@dataclass(frozen=True)
class ModelFile:
    """What the archive says about the model, read without loading it."""

    class_name: str
    compiled: bool
    loss: str  # the compile config's loss, as text ("" when not compiled)
    layers: tuple[str, ...]  # class names of every object the config names, in order


def _objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _objects(value)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value)


def inspect(data: bytes, max_bytes: int) -> ModelFile:
    """Check the archive ``data`` of a ``.keras`` file; raise :class:`Refused` with the reason."""
    if len(data) > max_bytes:
        raise Refused(f"the file is {len(data) / 1024**2:.1f} MiB; the limit is {max_bytes / 1024**2:.0f} MiB")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise Refused(f"the file is not a Keras 3 model archive (is it truncated?): {exc}") from None
    names = {info.filename for info in infos}
    if names != MEMBERS:
        raise Refused(f"a Keras 3 .keras file holds exactly {', '.join(sorted(MEMBERS))}; this one has "
                      f"{', '.join(sorted(names)) or 'nothing'}")
    if sum(info.file_size for info in infos) > 4 * max_bytes:
        raise Refused("the archive unpacks to far more than its size allows")
    config_info = archive.getinfo("config.json")
    if config_info.file_size > CONFIG_LIMIT:
        raise Refused("its config.json is larger than any model of this course needs")
    try:
        config = json.loads(archive.read("config.json"))
        archive.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise Refused(f"the file is damaged (is it truncated?): {type(exc).__name__}") from None
    if not isinstance(config, dict):
        raise Refused("its config.json is not a model configuration")
    classes: list[str] = []
    for obj in _objects(config):
        class_name = str(obj.get("class_name"))
        if class_name in REFUSED_CLASSES:
            raise Refused(f"the model contains {REFUSED_CLASSES[class_name]}; the grader loads only built-in "
                          "Keras layers: replace it with built-in layers (e.g. keras.layers.Rescaling, "
                          "Reshape, Activation)")
        module = obj.get("module")
        registered = obj.get("registered_name")
        custom = isinstance(registered, str) and registered not in ("", class_name)
        if custom or (module is not None and module not in ALLOWED_MODULES):
            name = registered if isinstance(registered, str) and registered else class_name
            raise Refused(f"the model uses {name!r} from {module or 'your code'}, which is not a built-in Keras "
                          "object; the grader loads no custom classes or functions: use built-in layers only")
        classes.append(class_name)
    compile_config = config.get("compile_config")
    loss = compile_config.get("loss") if isinstance(compile_config, dict) else None
    loss_text = loss if isinstance(loss, str) else str(loss.get("class_name", "")) if isinstance(loss, dict) else ""
    compiled = isinstance(compile_config, dict) and bool(compile_config.get("optimizer"))
    return ModelFile(str(config.get("class_name", "")), compiled, loss_text, tuple(classes))
