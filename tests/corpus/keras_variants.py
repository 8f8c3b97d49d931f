"""Student-like submissions of 03.1_keras_classifier and 03.2_mnist_classifier, correct and broken.

``VARIANTS_031[name]`` and ``VARIANTS_032[name]`` map cell keys to new cell sources:

* a ``grade_id`` (``preprocess``, ``build_model``, ``train``, ``save_model``): the source of the
  cell carrying that nbgrader ``grade_id`` is replaced (``train`` is the ordinary, editable
  training cell; its nbgrader metadata has ``grade``, ``solution`` and ``locked`` all false);
* ``"after:<grade_id>"``: a new code cell is inserted right after that cell.

:func:`with_cells` applies one variant to the instructor notebook (``source/<id>/<id>.ipynb``);
every cell a variant leaves alone stays the instructor's solution. The cells assume the
notebook's first cell has run (``numpy as np``, ``keras``, the data), as a student's would.

What each variant should earn, under the course defaults (03.1: full accuracy points at 0.90,
half at 0.80; 03.2 on the offline subset, 7,000 training digits: full at 0.95, half at 0.935)
and with accuracy measured outside the kernel on the saved file, loaded in safe mode.
Points: 03.1 ``test_build_model`` 2, ``test_accuracy`` 4; 03.2 ``test_preprocess`` 1,
``test_build_model`` 2, ``test_accuracy`` 5. Items not named are kept in full.

* ``solution``: nothing (the instructor's notebook unchanged; about 0.98 on hidden spiral
  points, about 0.977 on the 2,000 hidden digits).
* ``untrained``: ``test_accuracy`` (fit skipped: about 1/3 on 03.1, about 0.1 on 03.2).
* ``wrong_output_size``: ``test_build_model`` (output (None, 4) in 03.1, (None, 11) in 03.2)
  and ``test_accuracy``: the model trains and its argmax is almost always right, but the
  accuracy check must refuse, with a message, a model whose output is not (None, 3) /
  (None, 10).
* ``linear_only``: ``test_accuracy``. 03.1: no hidden layer (about 0.45). 03.2: Flatten +
  Dense(10), trained for 20 epochs so that it is fully fitted (about 0.92 offline, below the
  half threshold 0.935; with the full MNIST also below its 0.94).
* ``lambda_layer``: ``test_build_model`` and ``test_accuracy`` (the model trains well, but it
  is not made of built-in layers only; safe mode refuses the Lambda layer).
* ``custom_object``: ``test_build_model`` and ``test_accuracy`` (trains well; the class,
  registered with ``keras.saving.register_keras_serializable`` in the student's kernel, is
  unknown where the grader loads the file, and the grader must not import the student's code
  to learn it).
* ``uncompiled``: ``test_build_model`` only (build_model returns an uncompiled model; the
  training cell compiles it, so the model trains and saves normally).
* ``no_save``: ``test_accuracy`` (save cell emptied: no file, and the message must say so),
  for an engine that runs cells as submitted. An engine that restores locked cells before
  running them (as ``nbgrader autograde`` does) keeps full points instead.
* ``truncate_file``: ``test_accuracy`` (a cell after the save cell cuts the file to half its
  size: the grader must report a damaged file, not crash).
* ``long_training``: ``test_accuracy``, as a timeout (fit for 10,000 epochs runs past the cell
  time limit); items checked before the training cell keep their points.
* ``preprocess_no_scaling`` (03.2): ``test_preprocess`` (values 0..255) and ``test_accuracy``
  (the model learns on 0..255 inputs; fed the contract's [0, 1] images, as the grader does,
  it reaches only about 0.85).
* ``preprocess_wrong_shape`` (03.2): ``test_preprocess`` (shape (n, 784)) and
  ``test_accuracy`` (fit fails on the wrong shape, so the saved model is untrained: about
  0.12).

:data:`EXPECTED_031` and :data:`EXPECTED_032` hold the same table as data: the fraction of each
item's points a variant should earn (items not listed: 1.0).
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping

import nbformat

Variant = dict[str, str]
"""Cell key (a grade_id, or ``"after:<grade_id>"``) -> the new cell's source."""

AFTER = "after:"


def _sub(text: str, old: str, new: str) -> str:
    """``text`` with ``old`` replaced by ``new``; ``old`` must occur (templates cannot drift apart)."""
    if old not in text:
        raise ValueError(f"{old!r} does not occur in {text!r}")
    return text.replace(old, new)


# ---------------------------------------------------------------------------------------------
# 03.1_keras_classifier
# ---------------------------------------------------------------------------------------------

_TRAIN_031 = """\
keras.utils.set_random_seed(0)
model = build_model()
history = model.fit(X_train, y_train, epochs=15, batch_size=32, verbose=0)
"""

_BUILD_031 = """\
def build_model():
    model = keras.Sequential([
        keras.Input(shape=(2,)),
{layers}
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""

_HIDDEN_031 = """\
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),"""

_SCALE_LAYER = '''\
@keras.saving.register_keras_serializable(package="student")
class Scale(keras.layers.Layer):
    """Multiplies its input by a constant (a layer class of the student's own)."""

    def __init__(self, factor=2.0, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor

    def get_config(self):
        return {**super().get_config(), "factor": self.factor}


'''

_TRUNCATE = """\
import os

_size = os.path.getsize({file!r})
with open({file!r}, "r+b") as _f:
    _f.truncate(_size // 2)
print("truncated", {file!r}, "from", _size, "to", _size // 2, "bytes")
"""


def _build_031(layers: str, prefix: str = "") -> str:
    return prefix + _BUILD_031.format(layers=layers)


VARIANTS_031: dict[str, Variant] = {
    "solution": {},
    "untrained": {
        "train": "keras.utils.set_random_seed(0)\nmodel = build_model()  # fit forgotten\n",
    },
    "wrong_output_size": {
        "build_model": _build_031(_HIDDEN_031 + '\n        keras.layers.Dense(4, activation="softmax"),'),
    },
    "linear_only": {
        "build_model": _build_031('        keras.layers.Dense(3, activation="softmax"),'),
    },
    "lambda_layer": {
        "build_model": _build_031(
            "        keras.layers.Lambda(lambda t: 2.0 * t),\n"
            + _HIDDEN_031
            + '\n        keras.layers.Dense(3, activation="softmax"),'
        ),
    },
    "custom_object": {
        "build_model": _build_031(
            "        Scale(2.0),\n" + _HIDDEN_031 + '\n        keras.layers.Dense(3, activation="softmax"),',
            prefix=_SCALE_LAYER,
        ),
    },
    "uncompiled": {
        "build_model": """\
def build_model():
    return keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
""",
        "train": """\
keras.utils.set_random_seed(0)
model = build_model()
model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(X_train, y_train, epochs=15, batch_size=32, verbose=0)
""",
    },
    "no_save": {"save_model": ""},
    "truncate_file": {AFTER + "save_model": _TRUNCATE.format(file="keras_classifier.keras")},
    "long_training": {
        "train": _sub(_TRAIN_031, "epochs=15", "epochs=10_000"),
    },
}
"""Variants of 03.1 (see the module docstring for what each should lose)."""

EXPECTED_031: dict[str, dict[str, float]] = {
    "solution": {},
    "untrained": {"test_accuracy": 0.0},
    "wrong_output_size": {"test_build_model": 0.0, "test_accuracy": 0.0},
    "linear_only": {"test_accuracy": 0.0},
    "lambda_layer": {"test_build_model": 0.0, "test_accuracy": 0.0},
    "custom_object": {"test_build_model": 0.0, "test_accuracy": 0.0},
    "uncompiled": {"test_build_model": 0.0},
    "no_save": {"test_accuracy": 0.0},
    "truncate_file": {"test_accuracy": 0.0},
    "long_training": {"test_accuracy": 0.0},
}
"""Fraction of each item's points each 03.1 variant should earn (items not listed: 1.0)."""


# ---------------------------------------------------------------------------------------------
# 03.2_mnist_classifier
# ---------------------------------------------------------------------------------------------

_TRAIN_032 = """\
x_train_ready = preprocess(x_train)
EPOCHS = 2 if len(x_train) >= 30_000 else 6
keras.utils.set_random_seed(0)
model = build_model()
history = model.fit(x_train_ready, y_train, epochs=EPOCHS, batch_size=128, verbose=2)
"""

_BUILD_032 = """\
def build_model():
    model = keras.Sequential([
        keras.Input(shape=(28, 28, 1)),
{layers}
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""

_COMPILE_032 = '    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])\n'

_CNN_032 = """\
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(32, 3, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(64, activation="relu"),"""


def _build_032(layers: str, prefix: str = "") -> str:
    return prefix + _BUILD_032.format(layers=layers)


VARIANTS_032: dict[str, Variant] = {
    "solution": {},
    "untrained": {
        "train": "x_train_ready = preprocess(x_train)\nkeras.utils.set_random_seed(0)\n"
                 "model = build_model()  # fit forgotten\n",
    },
    "wrong_output_size": {
        "build_model": _build_032(_CNN_032 + '\n        keras.layers.Dense(11, activation="softmax"),'),
    },
    "linear_only": {
        "build_model": _build_032(
            '        keras.layers.Flatten(),\n        keras.layers.Dense(10, activation="softmax"),'
        ),
        "train": _sub(_TRAIN_032, "EPOCHS = 2 if len(x_train) >= 30_000 else 6", "EPOCHS = 20"),
    },
    "lambda_layer": {
        "build_model": _build_032(
            "        keras.layers.Lambda(lambda t: 2.0 * t - 1.0),\n"
            + _CNN_032
            + '\n        keras.layers.Dense(10, activation="softmax"),'
        ),
    },
    "custom_object": {
        "build_model": _build_032(
            "        Scale(2.0),\n" + _CNN_032 + '\n        keras.layers.Dense(10, activation="softmax"),',
            prefix=_SCALE_LAYER,
        ),
    },
    "uncompiled": {
        "build_model": _sub(_build_032(_CNN_032 + '\n        keras.layers.Dense(10, activation="softmax"),'),
                            _COMPILE_032, ""),
        "train": _sub(
            _TRAIN_032,
            "model = build_model()\n",
            'model = build_model()\nmodel.compile(optimizer="adam", loss="sparse_categorical_crossentropy", '
            'metrics=["accuracy"])\n',
        ),
    },
    "no_save": {"save_model": ""},
    "truncate_file": {AFTER + "save_model": _TRUNCATE.format(file="mnist_classifier.keras")},
    "long_training": {
        "train": _sub(_TRAIN_032, "EPOCHS = 2 if len(x_train) >= 30_000 else 6", "EPOCHS = 10_000"),
    },
    "preprocess_no_scaling": {
        "preprocess": """\
def preprocess(images):
    return images.astype(np.float32).reshape(-1, 28, 28, 1)  # forgot / 255
""",
    },
    "preprocess_wrong_shape": {
        "preprocess": """\
def preprocess(images):
    return images.reshape(len(images), 784).astype(np.float32) / 255.0  # flattened: no channel axis
""",
    },
}
"""Variants of 03.2 (see the module docstring for what each should lose)."""

EXPECTED_032: dict[str, dict[str, float]] = {
    "solution": {},
    "untrained": {"test_accuracy": 0.0},
    "wrong_output_size": {"test_build_model": 0.0, "test_accuracy": 0.0},
    "linear_only": {"test_accuracy": 0.0},
    "lambda_layer": {"test_build_model": 0.0, "test_accuracy": 0.0},
    "custom_object": {"test_build_model": 0.0, "test_accuracy": 0.0},
    "uncompiled": {"test_build_model": 0.0},
    "no_save": {"test_accuracy": 0.0},
    "truncate_file": {"test_accuracy": 0.0},
    "long_training": {"test_accuracy": 0.0},
    "preprocess_no_scaling": {"test_preprocess": 0.0, "test_accuracy": 0.0},
    "preprocess_wrong_shape": {"test_preprocess": 0.0, "test_accuracy": 0.0},
}
"""Fraction of each item's points each 03.2 variant should earn, offline subset (items not listed: 1.0)."""


def with_cells(nb_path: pathlib.Path, replacements: Mapping[str, str]) -> nbformat.NotebookNode:
    """Load the notebook at ``nb_path`` and apply ``replacements`` (one variant).

    A key that is a grade_id replaces that cell's source; ``"after:<grade_id>"`` inserts a new
    code cell after that cell. Raises ``KeyError(grade_id)`` when no cell carries a named
    grade_id.
    """
    nb: nbformat.NotebookNode = nbformat.read(nb_path, as_version=4)

    def index_of(grade_id: str) -> int:
        for i, cell in enumerate(nb.cells):
            if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
                return i
        raise KeyError(grade_id)

    for key, source in replacements.items():
        if not key.startswith(AFTER):
            nb.cells[index_of(key)].source = source
    for key, source in replacements.items():
        if key.startswith(AFTER):
            nb.cells.insert(index_of(key[len(AFTER):]) + 1, nbformat.v4.new_code_cell(source))
    return nb
