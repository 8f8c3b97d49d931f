"""Decide, from the archive alone, whether a ``.keras`` file may be loaded at all.

A Keras 3 file is a zip of ``config.json``, ``metadata.json`` and ``model.weights.h5``.  Its
config names every object it holds by ``module``, ``class_name`` and ``registered_name``;
loading it instantiates them.  This runs in the grader on plain JSON, before any Keras code
sees the file, and never trusts a name as written: every object is resolved the way Keras 3's
loader resolves it (``keras.src.saving.serialization_lib.deserialize_keras_object`` and
``_retrieve_class_or_fn``), then accepted only when what it resolves to is on an allow-list of
Keras' own built-in classes and functions (:data:`ALLOWED`).  Anything else — a ``Lambda`` or
``TFSMLayer`` however it is spelled (``"keras"`` + ``"layers.Lambda"``, a ``keras.src...``
module path), a registered or custom class, another module, a name that resolves to nothing —
is refused with a message for the student.  The loader in :mod:`autograder.models.evaluate` then
loads with ``safe_mode=True`` as a second line.

How Keras resolves ``{"module": M, "class_name": C, "registered_name": R, "config": ...}``:
first an object registered under ``R`` (``C`` when the key is absent; for functions, the
function's name), which in the evaluator, where nothing is registered, finds nothing; then,
when ``M`` is ``keras`` or under it, the public name ``M.C`` (``"keras"`` + ``"layers.Dense"``
is ``keras.layers.Dense``); then the attribute ``C`` of the imported module ``M``.  A function
(``C == "function"``, its name in ``config``) from module ``builtins`` is looked up in Keras'
activations, constraints, initializers, losses, metrics, optimizers and regularizers.  Objects
without a ``module`` are refused: Keras 3 writes one for every object, and without it Keras
falls back to its legacy loader.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

_PUBLIC = {  # public Keras names (as Keras' loader looks them up) of what a course model may hold
    "keras": "Sequential Model DTypePolicy FloatDTypePolicy",
    "keras.layers": """InputLayer Dense Activation Dropout SpatialDropout1D SpatialDropout2D GaussianNoise
        GaussianDropout AlphaDropout ActivityRegularization Flatten Reshape Permute RepeatVector Identity
        Cropping1D Cropping2D ZeroPadding1D ZeroPadding2D UpSampling1D UpSampling2D
        Conv1D Conv2D Conv3D Conv1DTranspose Conv2DTranspose SeparableConv1D SeparableConv2D DepthwiseConv1D
        DepthwiseConv2D MaxPooling1D MaxPooling2D MaxPooling3D AveragePooling1D AveragePooling2D
        AveragePooling3D GlobalMaxPooling1D GlobalMaxPooling2D GlobalAveragePooling1D GlobalAveragePooling2D
        BatchNormalization LayerNormalization GroupNormalization UnitNormalization Normalization Rescaling
        Resizing CenterCrop RandomFlip RandomRotation RandomTranslation RandomZoom RandomContrast RandomCrop
        ReLU LeakyReLU PReLU ELU Softmax Add Subtract Multiply Average Maximum Minimum Concatenate Dot
        Embedding SimpleRNN LSTM GRU Bidirectional TimeDistributed""",
    "keras.optimizers": "SGD Adam AdamW RMSprop Adagrad Adadelta Adamax Nadam Ftrl Lion",
    "keras.optimizers.schedules": """ExponentialDecay PiecewiseConstantDecay PolynomialDecay InverseTimeDecay
        CosineDecay CosineDecayRestarts""",
    "keras.losses": """SparseCategoricalCrossentropy CategoricalCrossentropy BinaryCrossentropy MeanSquaredError
        MeanAbsoluteError Huber""",
    "keras.metrics": """Accuracy SparseCategoricalAccuracy CategoricalAccuracy BinaryAccuracy
        SparseTopKCategoricalAccuracy TopKCategoricalAccuracy Precision Recall AUC F1Score Mean
        MeanSquaredError MeanAbsoluteError SparseCategoricalCrossentropy CategoricalCrossentropy
        sparse_categorical_accuracy categorical_accuracy binary_accuracy
        sparse_categorical_crossentropy categorical_crossentropy binary_crossentropy mean_squared_error
        mean_absolute_error""",  # the loss functions too: Keras exports them first under keras.metrics
    "keras.initializers": """GlorotUniform GlorotNormal HeNormal HeUniform LecunNormal LecunUniform Zeros Ones
        Constant RandomNormal RandomUniform TruncatedNormal Orthogonal VarianceScaling""",
    "keras.regularizers": "L1 L2 L1L2 OrthogonalRegularizer",
    "keras.constraints": "MaxNorm MinMaxNorm NonNeg UnitNorm",
    "keras.activations": """relu softmax sigmoid tanh linear elu selu gelu silu leaky_relu relu6 softplus softsign
        exponential hard_sigmoid log_softmax mish""",
}
ALLOWED = frozenset(f"{space}.{name}" for space, names in _PUBLIC.items() for name in names.split())
"""What a model may name: these public Keras objects, and the built-ins in :data:`ALLOWED_SOURCE`."""
ALLOWED_SOURCE = frozenset({"keras.src.models.functional.Functional"})
"""Built-ins Keras saves by their source module (they have no public name): ``keras.Model(inputs, outputs)``."""
MODELS = frozenset({"keras.Sequential", "keras.Model", "keras.src.models.functional.Functional"})
BUILTIN_FUNCTION_MODULES = ("activations", "constraints", "initializers", "losses", "metrics", "optimizers",
                            "regularizers")
DATA_MARKERS = frozenset({"__keras_tensor__", "__numpy__", "__tensor__", "__bytes__", "__slice__", "__ellipsis__"})
"""Special ``class_name`` values Keras decodes as data (tensors, arrays, bytes), not as a class."""
REFUSED_CLASSES = {
    "Lambda": "a Lambda layer (it stores Python code)",
    "__lambda__": "a Python lambda function",
    "TFSMLayer": "a TensorFlow SavedModel layer (it runs a stored graph)",
    "TorchModuleWrapper": "a wrapped PyTorch module (it is pickled code)",
    "JaxLayer": "a wrapped JAX function",
    "FlaxLayer": "a wrapped Flax module",
}
"""Names worth a specific message; everything not on the allow-list is refused anyway."""
MEMBERS = {"config.json", "metadata.json", "model.weights.h5"}
CONFIG_LIMIT = 2 * 1024**2
MAX_DEPTH = 200


class Refused(ValueError):
    """The file is not a model the grader will load; the message says why, for the student."""


@dataclass(frozen=True)
class ModelFile:
    """What the archive says about the model, read without loading it."""

    class_name: str
    compiled: bool
    loss: str  # the compile config's loss, as text ("" when not compiled)
    layers: tuple[str, ...]  # class names of every object the config names, in order


def _objects(node: Any, depth: int = 0) -> Iterator[dict[str, Any]]:
    """Every dict holding a ``class_name`` anywhere in ``node``, outermost first."""
    if depth > MAX_DEPTH:
        raise Refused("its config.json is nested far deeper than any model")
    if isinstance(node, dict):
        if "class_name" in node:
            yield node
        for value in node.values():
            yield from _objects(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _objects(value, depth + 1)


def resolve(obj: dict[str, Any]) -> str | None:
    """What Keras' loader instantiates for the object ``obj`` (a dict with a ``class_name``): its
    name in :data:`ALLOWED` or :data:`ALLOWED_SOURCE`, or ``None`` when it resolves to anything
    else or to nothing (see the module's docstring)."""
    class_name, module = obj.get("class_name"), obj.get("module")
    function = class_name == "function"
    name = obj.get("config") if function else class_name
    if not isinstance(name, str) or not isinstance(module, str):
        return None
    registered = obj.get("registered_name")
    if registered not in (None, "", name, class_name):  # a registered (custom) object, or Keras refuses it
        return None
    if module == "keras" or module.startswith("keras."):
        path = f"{module}.{name}"
        return path if path in ALLOWED or path in ALLOWED_SOURCE else None
    if function and module == "builtins":
        found = [f"keras.{space}.{name}" for space in BUILTIN_FUNCTION_MODULES]
        return next((path for path in found if path in ALLOWED), None)
    return None


def _short(text: object) -> str:
    return str(text).rsplit(">", 1)[-1].rsplit(".", 1)[-1]


def _check(obj: dict[str, Any]) -> str:
    """The object's resolved name; :class:`Refused` when it is not on the allow-list."""
    class_name = obj.get("class_name")
    if class_name in DATA_MARKERS and "module" not in obj and "registered_name" not in obj:
        return str(class_name)
    named = (class_name, obj.get("registered_name"), obj.get("config") if class_name == "function" else None)
    known = next((REFUSED_CLASSES[_short(n)] for n in named if n and _short(n) in REFUSED_CLASSES), None)
    resolved = None if known else resolve(obj)
    if known:
        raise Refused(f"the model contains {known}; the grader loads only built-in Keras layers: replace it "
                      "with built-in layers (e.g. keras.layers.Rescaling, Reshape, Activation)")
    if resolved is None:
        registered, module = obj.get("registered_name"), obj.get("module")
        name = registered if isinstance(registered, str) and registered else class_name
        raise Refused(f"the model uses {str(name)[:80]!r} from {str(module)[:80] if module else 'your code'}, "
                      "which is not a built-in Keras object the grader accepts; the grader loads no custom "
                      "classes or functions: use built-in layers only")
    return resolved


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
    if names != MEMBERS or len(infos) != len(MEMBERS):
        listed = ", ".join(sorted(names)) or "nothing"
        raise Refused(f"a Keras 3 .keras file holds exactly {', '.join(sorted(MEMBERS))}; this one has {listed}")
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
    except RecursionError:
        raise Refused("its config.json is nested far deeper than any model") from None
    if not isinstance(config, dict) or "class_name" not in config:
        raise Refused("its config.json is not a model configuration")
    resolved = [_check(obj) for obj in _objects(config)]
    if resolved[0] not in MODELS:
        raise Refused(f"the file holds a {_short(resolved[0])}, not a model: save a keras.Sequential or "
                      "keras.Model")
    compile_config = config.get("compile_config")
    loss = compile_config.get("loss") if isinstance(compile_config, dict) else None
    loss_text = loss if isinstance(loss, str) else str(loss.get("class_name", "")) if isinstance(loss, dict) else ""
    if isinstance(loss, dict) and loss.get("class_name") == "function":
        loss_text = str(loss.get("config", ""))
    compiled = isinstance(compile_config, dict) and bool(compile_config.get("optimizer"))
    classes = tuple(str(obj.get("class_name")) for obj in _objects(config))
    return ModelFile(str(config.get("class_name", "")), compiled, loss_text, classes)
