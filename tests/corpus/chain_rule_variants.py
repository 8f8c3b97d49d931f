"""Student-like cell sources for assignment 03.3_chain_rule, buggy and correct.

``VARIANTS[grade_id][name]`` is the complete source of a replacement for the solution cell
with that nbgrader ``grade_id`` (a whole function definition). Names say what the variant is:

* ``bug_<what>``: a realistic mistake. On the hidden inputs it returns values that differ from
  the contract by far more than the tolerance, returns the wrong kind of value, modifies an
  input, or (``train_mlp``) trains a network that misses the accuracy threshold. Every bug must
  lose the item's points.
* ``alt_<what>``: a different but correct implementation. Every alternative must earn the
  item's points.

The cells assume the notebook's first cell has run (``import numpy as np``) and that every
other solution cell holds the instructor's solution, as :func:`with_cell` (shared with the
03.0 corpus) builds them. A
forward variant must therefore leave a cache the solution's backward pass understands (``(x, W,
b)`` for the dense layer, an array whose positive entries are ReLU's active units).

``DEPENDENTS[grade_id]`` names the items whose checks call that function through the
solution's other functions (the backward checks call the student's forward pass;
``mlp_loss_and_grads`` uses the layers; ``train_mlp`` uses ``mlp_loss_and_grads``): a bug may
cost those items too. Every other item must keep its points.

``EXTRAS[grade_id][name]`` are further replacements that the message tests need (stubs, malformed
return values), graded like the variants; ``ok_`` ones must keep every point, the others lose
their item. ``SHARES_A_SUBMISSION_WITH_NONE_OF[grade_id]`` names functions whose variants must not be
graded in the same submission although no check calls them through the solution
(``d_composite``'s ``alt_uses_d_softplus`` calls the student's ``d_softplus``).
"""

from __future__ import annotations

from tests.corpus.gradient_descent_variants import with_cell

__all__ = ["DEPENDENTS", "EXTRAS", "SHARES_A_SUBMISSION_WITH_NONE_OF", "VARIANTS", "with_cell"]

VARIANTS: dict[str, dict[str, str]] = {
    "d_sigmoid": {
        "bug_returns_sigmoid": """\
def d_sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))
""",
        "bug_forgot_square": """\
def d_sigmoid(x):
    e = np.exp(-x)
    return e / (1.0 + e)
""",
        "bug_wrong_sign": """\
def d_sigmoid(x):
    s = 1.0 / (1.0 + np.exp(-x))
    return -s * (1.0 - s)
""",
        "alt_exp_form": """\
def d_sigmoid(x):
    e = np.exp(-x)
    return e / (1.0 + e) ** 2
""",
        "alt_tanh_form": """\
def d_sigmoid(x):
    s = 0.5 * (1.0 + np.tanh(0.5 * x))
    return s - s ** 2
""",
    },
    "d_tanh": {
        "bug_forgot_square": """\
def d_tanh(x):
    return 1.0 - np.tanh(x)
""",
        "bug_sech_not_squared": """\
def d_tanh(x):
    return 1.0 / np.cosh(x)
""",
        "bug_sigmoid_formula": """\
def d_tanh(x):
    t = np.tanh(x)
    return t * (1.0 - t)
""",
        "alt_cosh": """\
def d_tanh(x):
    return 1.0 / np.cosh(x) ** 2
""",
        "alt_via_sigmoid": """\
def d_tanh(x):
    s = 1.0 / (1.0 + np.exp(-2.0 * x))  # tanh(x) = 2 sigmoid(2x) - 1
    return 4.0 * s * (1.0 - s)
""",
    },
    "d_softplus": {
        "bug_returns_softplus": """\
def d_softplus(x):
    return np.log1p(np.exp(x))
""",
        "bug_inner_derivative_only": """\
def d_softplus(x):
    return np.exp(x)
""",
        "bug_sign_in_exponent": """\
def d_softplus(x):
    return 1.0 / (1.0 + np.exp(x))
""",
        "alt_exp_ratio": """\
def d_softplus(x):
    e = np.exp(x)
    return e / (1.0 + e)
""",
        "alt_tanh_form": """\
def d_softplus(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))
""",
    },
    "d_composite": {
        "bug_missing_inner_factor_3": """\
def d_composite(x):
    u = np.sin(3 * x)
    return np.cos(3 * x) / (1.0 + np.exp(-u))
""",
        "bug_outer_at_wrong_point": """\
def d_composite(x):
    return 3 * np.cos(3 * x) / (1.0 + np.exp(-3 * x))
""",
        "bug_missing_cos": """\
def d_composite(x):
    return 3 / (1.0 + np.exp(-np.sin(3 * x)))
""",
        "bug_sin_derivative_sign": """\
def d_composite(x):
    return -3 * np.cos(3 * x) / (1.0 + np.exp(-np.sin(3 * x)))
""",
        "alt_uses_d_softplus": """\
def d_composite(x):
    return d_softplus(np.sin(3 * x)) * np.cos(3 * x) * 3
""",
        "alt_exp_form": """\
def d_composite(x):
    e = np.exp(np.sin(3.0 * x))
    return 3.0 * np.cos(3.0 * x) * e / (1.0 + e)
""",
    },
    "dense_forward": {
        "bug_no_bias": """\
def dense_forward(x, W, b):
    return x @ W, (x, W, b)
""",
        "bug_returns_out_only": """\
def dense_forward(x, W, b):
    return x @ W + b
""",
        "bug_weights_as_out_by_in": """\
def dense_forward(x, W, b):
    out = x @ W.T + b  # the (out, in) convention of other libraries
    return out, (x, W, b)
""",
        "alt_einsum": """\
def dense_forward(x, W, b):
    out = np.einsum("nd,dm->nm", x, W) + b[np.newaxis, :]
    return out, [x, W, b]
""",
        "alt_loop": """\
def dense_forward(x, W, b):
    out = np.empty((x.shape[0], W.shape[1]))
    for i in range(x.shape[0]):
        out[i] = x[i] @ W + b
    return out, (x, W, b)
""",
    },
    "dense_backward": {
        "bug_dW_transposed_when_square": """\
def dense_backward(dout, cache):
    x, W, b = cache
    dx = dout @ W.T
    dW = dout.T @ x          # (m, d): the transpose of what we need ...
    if dW.shape != W.shape:  # ... "fixed" where the shapes disagree, so square W stays wrong
        dW = dW.T
    db = dout.sum(axis=0)
    return dx, dW, db
""",
        "bug_dW_reshaped": """\
def dense_backward(dout, cache):
    x, W, b = cache
    dx = dout @ W.T
    dW = (dout.T @ x).reshape(W.shape)
    db = dout.sum(axis=0)
    return dx, dW, db
""",
        "bug_db_wrong_axis": """\
def dense_backward(dout, cache):
    x, W, b = cache
    return dout @ W.T, x.T @ dout, dout.sum(axis=1)
""",
        "bug_db_mean": """\
def dense_backward(dout, cache):
    x, W, b = cache
    return dout @ W.T, x.T @ dout, dout.mean(axis=0)
""",
        "bug_dx_forgets_dout": """\
def dense_backward(dout, cache):
    x, W, b = cache
    dx = np.ones_like(dout) @ W.T  # the local gradient only
    return dx, x.T @ dout, dout.sum(axis=0)
""",
        "alt_einsum": """\
def dense_backward(dout, cache):
    x, W, b = cache
    dx = np.einsum("nm,dm->nd", dout, W)
    dW = np.einsum("nd,nm->dm", x, dout)
    db = np.einsum("nm->m", dout)
    return dx, dW, db
""",
        "alt_outer_products": """\
def dense_backward(dout, cache):
    x, W, b = cache
    dW = np.zeros_like(W)
    db = np.zeros_like(b)
    for i in range(x.shape[0]):
        dW += np.outer(x[i], dout[i])
        db += dout[i]
    return np.dot(dout, W.T), dW, db
""",
    },
    "relu_forward": {
        "bug_in_place": """\
def relu_forward(x):
    x[x < 0] = 0.0
    return x, x
""",
        "bug_leaky": """\
def relu_forward(x):
    out = np.where(x > 0, x, 0.01 * x)
    return out, x
""",
        "bug_minimum": """\
def relu_forward(x):
    return np.minimum(x, 0.0), x
""",
        "alt_mask_multiply_caches_out": """\
def relu_forward(x):
    out = x * (x > 0)
    return out, out
""",
        "alt_where": """\
def relu_forward(x):
    return np.where(x > 0, x, 0.0), x.copy()
""",
    },
    "relu_backward": {
        "bug_ignores_mask": """\
def relu_backward(dout, cache):
    return dout.copy()
""",
        "bug_mask_only": """\
def relu_backward(dout, cache):
    return (cache > 0).astype(float)
""",
        "bug_in_place": """\
def relu_backward(dout, cache):
    dout[cache <= 0] = 0.0
    return dout
""",
        "bug_mask_inverted": """\
def relu_backward(dout, cache):
    return dout * (cache < 0)
""",
        "alt_where": """\
def relu_backward(dout, cache):
    return np.where(cache > 0, dout, 0.0)
""",
        "alt_heaviside": """\
def relu_backward(dout, cache):
    return dout * np.heaviside(cache, 0.0)
""",
    },
    "mlp_loss_and_grads": {
        "bug_missing_1_over_n": """\
def mlp_loss_and_grads(params, X, y):
    n = X.shape[0]
    z1, c1 = dense_forward(X, params["W1"], params["b1"])
    a1, cr = relu_forward(z1)
    z2, c2 = dense_forward(a1, params["W2"], params["b2"])
    z = z2 - z2.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(probs[np.arange(n), y])))
    dz2 = probs.copy()
    dz2[np.arange(n), y] -= 1.0  # forgot: / n
    da1, dW2, db2 = dense_backward(dz2, c2)
    _, dW1, db1 = dense_backward(relu_backward(da1, cr), c1)
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
""",
        "bug_no_relu_mask": """\
def mlp_loss_and_grads(params, X, y):
    n = X.shape[0]
    z1, c1 = dense_forward(X, params["W1"], params["b1"])
    a1, cr = relu_forward(z1)
    z2, c2 = dense_forward(a1, params["W2"], params["b2"])
    z = z2 - z2.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(probs[np.arange(n), y])))
    dz2 = probs.copy()
    dz2[np.arange(n), y] -= 1.0
    dz2 /= n
    da1, dW2, db2 = dense_backward(dz2, c2)
    _, dW1, db1 = dense_backward(da1, c1)  # skipped the ReLU
    return loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}
""",
        "bug_dW2_from_preactivation": """\
def mlp_loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(n), y]).mean())
    dz2 = p.copy()
    dz2[np.arange(n), y] -= 1
    dz2 /= n
    dW2 = z1.T @ dz2  # should be a1.T @ dz2
    db2 = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    return loss, {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": dW2, "b2": db2}
""",
        "bug_loss_is_sum": """\
def mlp_loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(n), y]).sum())
    dz2 = p.copy()
    dz2[np.arange(n), y] -= 1
    dz2 /= n
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    return loss, {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": a1.T @ dz2, "b2": dz2.sum(axis=0)}
""",
        "bug_softmax_over_columns": """\
def mlp_loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=0, keepdims=True))
    p = e / e.sum(axis=0, keepdims=True)
    loss = float(-np.log(p[np.arange(n), y]).mean())
    dz2 = p.copy()
    dz2[np.arange(n), y] -= 1
    dz2 /= n
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    return loss, {"W1": X.T @ dz1, "b1": dz1.sum(axis=0), "W2": a1.T @ dz2, "b2": dz2.sum(axis=0)}
""",
        "bug_bias_grads_keepdims": """\
def mlp_loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n = X.shape[0]
    z1 = X @ W1 + b1
    a1 = np.maximum(z1, 0)
    z2 = a1 @ W2 + b2
    e = np.exp(z2 - z2.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    loss = float(-np.log(p[np.arange(n), y]).mean())
    dz2 = p.copy()
    dz2[np.arange(n), y] -= 1
    dz2 /= n
    dz1 = (dz2 @ W2.T) * (z1 > 0)
    db1 = dz1.sum(axis=0, keepdims=True)  # shape (1, h), not (h,)
    db2 = dz2.sum(axis=0, keepdims=True)
    return loss, {"W1": X.T @ dz1, "b1": db1, "W2": a1.T @ dz2, "b2": db2}
""",
        "alt_self_contained_one_hot": """\
def mlp_loss_and_grads(params, X, y):
    W1, b1, W2, b2 = params["W1"], params["b1"], params["W2"], params["b2"]
    n, k = X.shape[0], W2.shape[1]
    Y = np.eye(k)[y]
    Z1 = X @ W1 + b1
    A1 = np.maximum(Z1, 0.0)
    Z2 = A1 @ W2 + b2
    E = np.exp(Z2 - Z2.max(axis=1, keepdims=True))
    P = E / E.sum(axis=1, keepdims=True)
    loss = -np.sum(Y * np.log(P)) / n
    D2 = (P - Y) / n
    D1 = (D2 @ W2.T) * (Z1 > 0)
    grads = {"W1": X.T @ D1, "b1": D1.sum(axis=0), "W2": A1.T @ D2, "b2": D2.sum(axis=0)}
    return float(loss), grads
""",
        "alt_logsumexp": """\
def mlp_loss_and_grads(params, X, y):
    n = len(y)
    z1, c1 = dense_forward(X, params["W1"], params["b1"])
    a1, cr = relu_forward(z1)
    z2, c2 = dense_forward(a1, params["W2"], params["b2"])
    m = z2.max(axis=1, keepdims=True)
    lse = m + np.log(np.sum(np.exp(z2 - m), axis=1, keepdims=True))
    loss = float(np.mean(lse[:, 0] - z2[np.arange(n), y]))
    dz2 = np.exp(z2 - lse)
    dz2[np.arange(n), y] -= 1.0
    grads = {}
    da1, grads["W2"], grads["b2"] = dense_backward(dz2 / n, c2)
    _, grads["W1"], grads["b1"] = dense_backward(relu_backward(da1, cr), c1)
    return loss, grads
""",
    },
    "train_mlp": {
        "bug_zero_init": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    d, k = X.shape[1], int(y.max()) + 1
    params = {"W1": np.zeros((d, hidden)), "b1": np.zeros(hidden),
              "W2": np.zeros((hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        params = {name: params[name] - lr * grads[name] for name in params}
    return params
""",
        "bug_gradient_ascent": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(y.max()) + 1
    params = {"W1": rng.normal(0, np.sqrt(2 / d), (d, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0, np.sqrt(2 / hidden), (hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        params = {name: params[name] + lr * grads[name] for name in params}
    return params
""",
        "bug_update_not_stored": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(y.max()) + 1
    params = {"W1": rng.normal(0, np.sqrt(2 / d), (d, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0, np.sqrt(2 / hidden), (hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        for name in params:
            new = params[name] - lr * grads[name]  # computed, never stored
    return params
""",
        "bug_return_inside_loop": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(y.max()) + 1
    params = {"W1": rng.normal(0, np.sqrt(2 / d), (d, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0, np.sqrt(2 / hidden), (hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        params = {name: params[name] - lr * grads[name] for name in params}
        return params
""",
        "bug_tiny_init": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(y.max()) + 1
    params = {"W1": 0.01 * rng.normal(size=(d, hidden)), "b1": np.zeros(hidden),
              "W2": 0.01 * rng.normal(size=(hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        params = {name: params[name] - lr * grads[name] for name in params}
    return params
""",
        "bug_standardises_X_in_place": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    X -= X.mean(axis=0)
    X /= X.std(axis=0)
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(y.max()) + 1
    params = {"W1": rng.normal(0, np.sqrt(2 / d), (d, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0, np.sqrt(2 / hidden), (hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        params = {name: params[name] - lr * grads[name] for name in params}
    return params
""",
        "alt_in_place_steps": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(np.max(y)) + 1
    params = {"W1": rng.normal(0, np.sqrt(2 / d), (d, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0, np.sqrt(2 / hidden), (hidden, k)), "b2": np.zeros(k)}
    for epoch in range(epochs):
        loss, grads = mlp_loss_and_grads(params, X, y)
        for name in params:
            params[name] -= lr * grads[name]  # our own arrays: updating them in place is fine
    return params
""",
        "alt_xavier_init_other_seed_use": """\
def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed + 1)
    d, k = X.shape[1], len(np.unique(y))
    W1 = rng.standard_normal((d, hidden)) / np.sqrt(d)
    W2 = rng.standard_normal((hidden, k)) / np.sqrt(hidden)
    params = dict(W1=W1, b1=np.zeros(hidden), W2=W2, b2=np.zeros(k))
    history = []
    for _ in range(epochs):
        loss, grads = mlp_loss_and_grads(params, X, y)
        history.append(loss)
        params = {key: value - lr * grads[key] for key, value in params.items()}
    return params
""",
    },
}

DEPENDENTS: dict[str, set[str]] = {
    "dense_forward": {"dense_backward", "mlp_loss_and_grads", "train_mlp"},
    "dense_backward": {"mlp_loss_and_grads", "train_mlp"},
    "relu_forward": {"relu_backward", "mlp_loss_and_grads", "train_mlp"},
    "relu_backward": {"mlp_loss_and_grads", "train_mlp"},
    "mlp_loss_and_grads": {"train_mlp"},
}


SHARES_A_SUBMISSION_WITH_NONE_OF: dict[str, set[str]] = {"d_composite": {"d_softplus"}, "d_softplus": {"d_composite"}}

_STUB = "def {name}({args}):\n    raise NotImplementedError()\n"
_TRAIN_REFERENCE = """\
def _reference_train(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    rng = np.random.default_rng(seed)
    d, k = X.shape[1], int(np.max(y)) + 1
    params = {"W1": rng.normal(0.0, np.sqrt(2.0 / d), size=(d, hidden)), "b1": np.zeros(hidden),
              "W2": rng.normal(0.0, np.sqrt(2.0 / hidden), size=(hidden, k)), "b2": np.zeros(k)}
    for _ in range(epochs):
        _, grads = mlp_loss_and_grads(params, X, y)
        params = {name: params[name] - lr * grads[name] for name in params}
    return params


def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):
    params = _reference_train(X, y, hidden, lr, epochs, seed)
"""


def _train_returning(line: str) -> str:
    """A correct trainer whose result is changed by ``line`` before it is returned."""
    return _TRAIN_REFERENCE + f"    {line}\n    return params\n"


EXTRAS: dict[str, dict[str, str]] = {
    "dense_forward": {"stub": _STUB.format(name="dense_forward", args="x, W, b")},
    "relu_backward": {"stub": _STUB.format(name="relu_backward", args="dout, cache")},
    "mlp_loss_and_grads": {
        "stub": _STUB.format(name="mlp_loss_and_grads", args="params, X, y"),
        "grads_as_list": VARIANTS["mlp_loss_and_grads"]["alt_logsumexp"].replace(
            "    return loss, grads", "    return loss, [grads[k] for k in ('W1', 'b1', 'W2', 'b2')]"),
        "grads_missing_b2": VARIANTS["mlp_loss_and_grads"]["alt_logsumexp"].replace(
            "    return loss, grads", "    del grads['b2']\n    return loss, grads"),
    },
    "train_mlp": {
        "returns_tuple": ("def train_mlp(X, y, hidden=32, lr=0.5, epochs=300, seed=0):\n"
                          "    return (np.zeros((2, 4)),)\n"),
        "ok_row_vector_biases": _train_returning(
            'params = {**params, "b1": params["b1"][None, :], "b2": params["b2"][None, :]}'),
        "W1_of_3_inputs": _train_returning('params["W1"] = np.zeros((3, 32))'),
        "W2_of_3_classes": _train_returning('params["W2"] = np.zeros((32, 3))'),
        "b1_nan": _train_returning('params["b1"] = np.full(32, np.nan)'),
        "b2_missing": _train_returning('del params["b2"]'),
    },
}
