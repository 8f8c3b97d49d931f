"""The tamper and abuse corpora's view of the lesson's newer assignments (03.0's is
:data:`tests.corpus.tamper.GRADIENT_DESCENT`).

- :data:`CHAIN_RULE` (03.3): numpy functions; the layers return ``(out, cache)`` and
  ``(dx, dW, db)``, ``mlp_loss_and_grads`` returns ``(loss, grads)``, ``train_mlp`` a dict.
- :data:`SPIRALS` (03.1) and :data:`DIGITS` (03.2): ``build_model()`` returns a compiled Keras
  model (the tricks answer with an always-equal object), 03.2's ``preprocess(images)`` an
  array; ``test_accuracy`` judges the saved file, and has no function of its own.

The abuse cases replace functions that no earlier cell or check calls (the Keras solution's
training cell, as the tests build it, loads a trained model and calls neither), so that the
expected statuses stay simple: a loop in ``d_sigmoid`` times out ``test_d_sigmoid`` only, 8 GiB
in ``relu_forward`` ends the kernel at ``test_relu_forward``.
"""

from __future__ import annotations

from autograder.data import HIDDEN, HIDDEN_FILE
from autograder.sandbox.jail import COURSE_DATA
from tests.corpus.tamper import Target

_CHAIN_RULE_FUNCTIONS = ("d_sigmoid", "d_tanh", "d_softplus", "d_composite", "dense_forward", "dense_backward",
                         "relu_forward", "relu_backward", "mlp_loss_and_grads", "train_mlp")

CHAIN_RULE = Target(
    assignment="03.3_chain_rule",
    functions=_CHAIN_RULE_FUNCTIONS,
    items=tuple(f"test_{name}" for name in _CHAIN_RULE_FUNCTIONS),
    module="chain_rule",
    loop="d_sigmoid(x)",
    sleep="d_tanh(x)",
    memory="relu_forward(x)",
    connect="d_softplus(x)",
    connect_body="    return 1.0 / (1.0 + np.exp(-x))\n",
    returns={"dense_forward": 2, "dense_backward": 3, "relu_forward": 2, "mlp_loss_and_grads": 2},
    objects=("train_mlp",),
    answer='{"c0.out": 0.0, "c1.out": 0.0, "c2.out": 0.0, "c0.dx": 0.0, "c0.loss": 0.0, "p.W1": 0.0}',
)

_BUILD_SPIRALS = """\
    model = keras.Sequential([
        keras.Input(shape=(2,)),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(64, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
"""

SPIRALS = Target(
    assignment="03.1_keras_classifier",
    functions=("build_model",),
    items=("test_build_model", "test_accuracy"),
    module="keras_classifier",
    loop="build_model()",
    sleep="build_model()",
    memory="build_model()",
    connect="build_model()",
    connect_body=_BUILD_SPIRALS,
    objects=("build_model",),
    answer='{"saved": 1}',
    saved=("test_accuracy",),
)

HIDDEN_FILES = (f"{COURSE_DATA}/../{HIDDEN}/{HIDDEN_FILE}", f"{COURSE_DATA}/{HIDDEN}/{HIDDEN_FILE}",
                f"../{HIDDEN}/{HIDDEN_FILE}", f"/opt/{HIDDEN}/{HIDDEN_FILE}")
"""Where a student might guess 03.2's hidden split from inside the sandbox (none of them exists)."""

DIGITS = Target(
    assignment="03.2_mnist_classifier",
    functions=("preprocess", "build_model"),
    items=("test_preprocess", "test_build_model", "test_accuracy"),
    module="mnist_classifier",
    loop="preprocess(images)",
    sleep="build_model()",
    memory="preprocess(images)",
    connect="preprocess(images)",
    connect_body=("    images = np.asarray(images)\n"
                  "    return (images.astype(np.float32) / 255.0).reshape(images.shape[0], 28, 28, 1)\n"),
    objects=("build_model",),
    answer='{"saved": 1, "dtype": "float32"}',
    hidden_files=HIDDEN_FILES,
    saved=("test_accuracy",),
)
