"""The saved-model check (:mod:`autograder.models.safety`) against Keras' own resolution of names.

Hand-written ``.keras`` archives (config.json, metadata.json, model.weights.h5) hide a Lambda or
a TFSMLayer in every way Keras' loader would still find it; real models saved by Keras, made of
the layers the course uses, Sequential and Functional, must pass.  Each name the check accepts
is resolved by Keras' own ``_retrieve_class_or_fn`` to the very object the check says.
"""

from __future__ import annotations

import copy
import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from autograder.models import safety
from autograder.models.safety import Refused, inspect, resolve

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras.src import api_export
from keras.src.saving import serialization_lib

LIMIT = 20 * 1024**2
Config = dict[str, Any]


def archive(config: Config) -> bytes:
    """A .keras file holding ``config`` (the weights are never read by the check)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        target.writestr("config.json", json.dumps(config))
        target.writestr("metadata.json", json.dumps({"keras_version": "3.15.1", "date_saved": "2026-01-01"}))
        target.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")
    return buffer.getvalue()


def obj(module: str | None, class_name: str, config: Any = None, registered: Any = None, **extra: Any) -> Config:
    out: Config = {"class_name": class_name, "config": {} if config is None else config,
                   "registered_name": registered, **extra}
    if module is not None:
        out["module"] = module
    return out


POLICY = obj("keras", "DTypePolicy", {"name": "float32"})


def dense(units: int = 3, name: str = "dense", **config: Any) -> Config:
    inner = {"name": name, "trainable": True, "dtype": POLICY, "units": units, "activation": "softmax",
             "use_bias": True, "kernel_initializer": obj("keras.initializers", "GlorotUniform", {"seed": None}),
             "bias_initializer": obj("keras.initializers", "Zeros"), **config}
    return obj("keras.layers", "Dense", inner, build_config={"input_shape": [None, 2]})


def sequential(*layers: Config, name: str = "sequential") -> Config:
    inputs = obj("keras.layers", "InputLayer", {"batch_shape": [None, 2], "dtype": "float32", "name": "input"})
    return obj("keras", "Sequential", {"name": name, "trainable": True, "dtype": POLICY, "layers": [inputs, *layers]},
               build_config={"input_shape": [None, 2]},
               compile_config={"optimizer": obj("keras.optimizers", "Adam", {"learning_rate": 0.001}),
                               "loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]})


def _tensor(layer: str) -> Config:
    return {"class_name": "__keras_tensor__", "config": {"shape": [None, 2], "dtype": "float32",
                                                          "keras_history": [layer, 0, 0]}}


def functional(*layers: Config) -> Config:
    """``keras.Model(inputs, outputs)`` of ``layers`` in a chain, as Keras writes it."""
    chain: list[Config] = [{**obj("keras.layers", "InputLayer", {"batch_shape": [None, 2], "dtype": "float32",
                                                                 "name": "input"}), "name": "input",
                            "inbound_nodes": []}]
    for i, layer in enumerate(layers):
        previous = chain[-1]["name"]
        chain.append({**layer, "name": f"layer{i}", "inbound_nodes": [{"args": [_tensor(previous)], "kwargs": {}}]})
    return obj("keras.src.models.functional", "Functional",
               {"name": "functional", "trainable": True, "layers": chain,
                "input_layers": [["input", 0, 0]], "output_layers": [[chain[-1]["name"], 0, 0]]},
               registered="Functional")


LAMBDA = obj("keras.layers", "Lambda", {"name": "lambda", "function": {"class_name": "__lambda__",
                                                                        "config": {"value": "4wEAAAAA"}}})
TFSM = obj("keras.layers", "TFSMLayer", {"name": "tfsm", "filepath": "/tmp/saved", "call_endpoint": "serve"})


def _with(config: Config, edit: Callable[[Config], None]) -> Config:
    out = copy.deepcopy(config)
    edit(out)
    return out


def _first_layer(config: Config) -> Config:
    layer: Config = config["config"]["layers"][1]
    return layer


BYPASSES: dict[str, tuple[Config, str]] = {
    "Lambda in a Sequential": (sequential(LAMBDA, dense()), "Lambda layer"),
    "module keras, class layers.Lambda": (sequential(obj("keras", "layers.Lambda", LAMBDA["config"]), dense()),
                                          "Lambda layer"),
    "module keras, class layers.TFSMLayer": (sequential(obj("keras", "layers.TFSMLayer", TFSM["config"])),
                                             "SavedModel layer"),
    "TFSMLayer in a Sequential": (sequential(TFSM), "SavedModel layer"),
    "module keras.src.layers.core.lambda_layer": (
        sequential(obj("keras.src.layers.core.lambda_layer", "Lambda", LAMBDA["config"]), dense()), "Lambda layer"),
    "module keras.src...tfsm_layer": (sequential(obj("keras.src.export.tfsm_layer", "TFSMLayer", TFSM["config"])),
                                      "SavedModel layer"),
    "Lambda in a Sequential in a Functional": (functional(sequential(LAMBDA), dense()), "Lambda layer"),
    "TFSMLayer in a Functional in a Sequential": (sequential(functional(dense(), TFSM)), "SavedModel layer"),
    "Lambda as a Dense's initializer": (sequential(dense(kernel_initializer=LAMBDA)), "Lambda layer"),
    "__lambda__ as a Dense's activation": (
        sequential(dense(activation={"class_name": "__lambda__", "config": {"value": "4wEA"}})), "Python lambda"),
    "Lambda named in registered_name": (sequential(obj("keras.layers", "Dense", dense()["config"], "Lambda")),
                                        "Lambda layer"),
    "student's registered class": (sequential(obj("builtins", "Doubler", {}, "student>Doubler")),
                                   "'student>Doubler' from builtins"),
    "Dense registered under another name": (sequential(obj("keras.layers", "Dense", dense()["config"], "my>Dense")),
                                            "not a built-in"),
    "a module outside Keras": (sequential(obj("os", "system", {"command": "id"})), "'system' from os"),
    "a Keras object off the list (TorchModuleWrapper)": (
        sequential(obj("keras.layers", "TorchModuleWrapper", {"module": "gASV"})), "PyTorch"),
    "a Keras layer off the list (Layer)": (sequential(obj("keras.layers", "Layer", {})), "not a built-in"),
    "a Keras function off the list (keras.utils.get_file)": (
        sequential(dense(activation=obj("keras.utils", "function", "get_file", "get_file"))), "not a built-in"),
    "a builtins function that is not Keras'": (
        sequential(dense(activation=obj("builtins", "function", "eval", "function"))), "not a built-in"),
    "a keras.ops function": (sequential(dense(activation=obj("keras.ops", "function", "exp", "exp"))),
                             "not a built-in"),
    "a layer without module (Keras' legacy loader)": (sequential({"class_name": "Dense", "config": {"units": 3}}),
                                                      "not a built-in"),
    "an alias Keras writes under no name (keras.src.layers + Dense)": (
        sequential(obj("keras.src.layers", "Dense", dense()["config"])), "not a built-in"),
    "a typespec": (sequential(dense(bias_initializer={"class_name": "__typespec__", "spec_name": "TensorSpec",
                                                      "module": "tensorflow", "config": []})), "not a built-in"),
    "a class name that is not text": (sequential(obj("keras.layers", 7, {})), "not a built-in"),  # type: ignore[arg-type]
}


class TestHandWritten:
    @pytest.mark.parametrize("case", list(BYPASSES))
    def test_hidden_code_is_refused_with_a_message(self, case: str) -> None:
        config, reason = BYPASSES[case]
        with pytest.raises(Refused, match=reason) as refused:
            inspect(archive(config), LIMIT)
        assert "grader" in str(refused.value)

    def test_honest_configs_are_accepted(self) -> None:
        for config in (sequential(dense()), functional(dense()), functional(sequential(dense(), name="inner"), dense()),
                       sequential(obj("keras", "layers.Dense", dense()["config"]))):
            model = inspect(archive(config), LIMIT)
            assert model.compiled or model.class_name == "Functional"
            assert "Dense" in model.layers or "layers.Dense" in model.layers

    def test_a_layer_alone_is_not_a_model(self) -> None:
        with pytest.raises(Refused, match="not a model"):
            inspect(archive(dense()), LIMIT)

    def test_absurd_nesting_is_refused(self) -> None:
        deep: Config = dense()
        for _ in range(300):
            deep = {"class_name": "__numpy__", "config": {"value": [deep]}}
        with pytest.raises(Refused, match="nested"):
            inspect(archive(sequential(dense(bias_initializer=deep))), LIMIT)

    @pytest.mark.parametrize("case", ["module keras, class layers.Lambda", "module keras.src.layers.core.lambda_layer",
                                      "module keras, class layers.TFSMLayer", "module keras.src...tfsm_layer"])
    def test_the_bypasses_are_real(self, case: str) -> None:
        """Keras' own loader resolves these spellings to Lambda and TFSMLayer: the check must not
        trust ``module`` and ``class_name`` as written."""
        layer = _first_layer(BYPASSES[case][0])
        found = _keras_resolves(layer)
        assert found in (keras.layers.Lambda, keras.layers.TFSMLayer), found


def _keras_resolves(config: Config) -> Any:
    """What Keras 3's loader finds for the object ``config``."""
    function = config["class_name"] == "function"
    name = config["config"] if function else config["class_name"]
    return serialization_lib._retrieve_class_or_fn(
        name, config.get("registered_name", config["class_name"]), config.get("module"),
        obj_type="function" if function else "class", full_config=config, custom_objects={})


def _expected(resolved: str) -> Any:
    if resolved in safety.ALLOWED_SOURCE:
        from keras.src.models.functional import Functional

        return Functional
    return api_export.get_symbol_from_name(resolved)


def _objects(config: Any) -> list[Config]:
    return [o for o in safety._objects(config) if o["class_name"] not in safety.DATA_MARKERS]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Real models saved by Keras: the course's layers, Sequential and Functional, compiled in
    several ways."""
    folder = tmp_path_factory.mktemp("real")
    layers = keras.layers
    out: dict[str, Path] = {}

    def cnn() -> list[Any]:
        return [layers.Rescaling(1.0), layers.Conv2D(8, 3, activation="relu", padding="same"),
                layers.BatchNormalization(), layers.MaxPooling2D(), layers.Dropout(0.2),
                layers.Conv2D(8, 3, activation="relu", kernel_regularizer=keras.regularizers.L2(1e-4),
                              kernel_constraint=keras.constraints.MaxNorm(3)),
                layers.GlobalAveragePooling2D(), layers.Dense(32, activation="relu",
                                                              kernel_initializer=keras.initializers.HeNormal()),
                layers.Dense(10, activation="softmax")]

    def save(name: str, model: Any, **compile_args: Any) -> None:
        if compile_args:
            model.compile(**compile_args)
        out[name] = folder / f"{name}.keras"
        model.save(out[name])

    save("sequential", keras.Sequential([keras.Input((28, 28, 1)), *cnn()]), optimizer="adam",
         loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    inputs = keras.Input((28, 28))
    x = layers.Reshape((28, 28, 1))(inputs)
    for layer in cnn()[:-2]:
        x = layer(x)
    x = layers.Flatten()(layers.Activation("relu")(x))
    outputs = layers.Dense(10, activation="softmax")(layers.Dense(64, activation="relu")(x))
    save("functional", keras.Model(inputs, outputs),
         optimizer=keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9), momentum=0.9),
         loss=keras.losses.SparseCategoricalCrossentropy(),
         metrics=[keras.metrics.SparseCategoricalAccuracy(), "accuracy"])
    inner = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(), layers.Dense(16, activation="relu")])
    top = keras.Input((28, 28, 1))
    save("nested", keras.Model(top, layers.Dense(10, activation="softmax")(inner(top))),
         optimizer=keras.optimizers.RMSprop(), loss=keras.losses.sparse_categorical_crossentropy)
    save("uncompiled", keras.Sequential([keras.Input((2,)), layers.Dense(3, activation="softmax")]))
    return out


class TestRealModels:
    @pytest.mark.parametrize("name", ["sequential", "functional", "nested", "uncompiled"])
    def test_models_saved_by_keras_are_accepted(self, saved: dict[str, Path], name: str) -> None:
        model = inspect(saved[name].read_bytes(), LIMIT)
        assert model.compiled == (name != "uncompiled")
        assert model.class_name == ("Sequential" if name in ("sequential", "uncompiled") else "Functional")

    @pytest.mark.parametrize("name", ["sequential", "functional", "nested"])
    def test_accepted_names_are_what_keras_loads(self, saved: dict[str, Path], name: str) -> None:
        """Every object of a real file resolves, by Keras' own loader, to the object the check
        resolved it to (the compile config's included, though the evaluator does not compile)."""
        config = json.loads(zipfile.ZipFile(saved[name]).read("config.json"))
        objects = _objects(config)
        assert len(objects) > 10
        for found in objects:
            resolved = resolve(found)
            assert resolved is not None, found
            assert _keras_resolves(found) is _expected(resolved), found


class TestAllowList:
    def test_every_allowed_name_is_the_one_keras_looks_up(self) -> None:
        """Keras' loader finds a public object only by its first exported name: each allowed name
        is one, and none is a layer that runs stored code."""
        for name in sorted(safety.ALLOWED):
            found = api_export.get_symbol_from_name(name)
            assert found is not None, name
            assert not (isinstance(found, type) and issubclass(found, (keras.layers.Lambda, keras.layers.TFSMLayer)))

    def test_builtins_functions_are_unambiguous(self) -> None:
        """A function saved with module ``builtins`` is looked up in several Keras modules in no
        fixed order: for each allowed function, every module that has one has an allowed one."""
        for name in safety.ALLOWED:
            short = name.rsplit(".", 1)[1]
            if not short.islower():
                continue
            for space in safety.BUILTIN_FUNCTION_MODULES:
                other = f"keras.{space}.{short}"
                assert api_export.get_symbol_from_name(other) is None or other in safety.ALLOWED, other

    @pytest.mark.parametrize("spelling", [("keras", "layers.Dense"), ("keras.layers", "Dense"),
                                          ("keras.src.models.functional", "Functional"), ("keras", "Sequential")])
    def test_accepted_spellings_resolve_alike(self, spelling: tuple[str, str]) -> None:
        module, name = spelling
        found = obj(module, name, {}, name if module.startswith("keras.src") else None)
        resolved = resolve(found)
        assert resolved is not None and _keras_resolves(found) is _expected(resolved)
