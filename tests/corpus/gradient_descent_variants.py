"""Student-like cell sources for assignment 03.0_gradient_descent, buggy and correct.

``VARIANTS[grade_id][name]`` is the complete source of a replacement for the solution cell
with that nbgrader ``grade_id`` (a whole function definition, or the three learning-rate
constants). Names say what the variant is:

* ``bug_<what>``: a realistic mistake. On generic random inputs it returns values that differ
  from the contract by far more than 1e-4 relative, or it modifies an input; the one
  exception is ``softmax`` ``bug_no_max_shift``, which is right for small logits and
  overflows for logits near 1e4. Every bug must lose the item's points.
* ``alt_<what>``: a different but correct implementation (a loop, the other placement of
  epsilon, another velocity convention). Every alternative must earn the item's points.

The cells assume the notebook's first cell has run (``import numpy as np``), as a student's
would. :func:`with_cell` builds a submission from the instructor notebook and one variant.
"""

from __future__ import annotations

import pathlib

import nbformat

VARIANTS: dict[str, dict[str, str]] = {
    "mse": {
        "bug_sum_not_mean": """\
def mse(y_true, y_pred):
    return float(np.sum((y_pred - y_true) ** 2))
""",
        "bug_mean_abs_error": """\
def mse(y_true, y_pred):
    return float(np.mean(np.abs(y_pred - y_true)))
""",
        "alt_loop": """\
def mse(y_true, y_pred):
    total = 0.0
    for a, b in zip(np.ravel(y_true), np.ravel(y_pred)):
        total += (b - a) ** 2
    return total / np.size(y_true)
""",
    },
    "mse_grad": {
        "bug_missing_factor_2": """\
def mse_grad(y_true, y_pred):
    return (y_pred - y_true) / y_pred.size
""",
        "bug_missing_1_over_n": """\
def mse_grad(y_true, y_pred):
    return 2 * (y_pred - y_true)
""",
        "bug_divides_by_rows": """\
def mse_grad(y_true, y_pred):
    return 2 * (y_pred - y_true) / len(y_pred)
""",
        "alt_size_from_shape": """\
def mse_grad(y_true, y_pred):
    n = int(np.prod(np.shape(y_pred)))
    return (2.0 / n) * (np.asarray(y_pred) - np.asarray(y_true))
""",
    },
    "softmax": {
        "bug_no_max_shift": """\
def softmax(z):
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
""",
        "bug_wrong_axis": """\
def softmax(z):
    e = np.exp(z - z.max(axis=0, keepdims=True))
    return e / e.sum(axis=0, keepdims=True)
""",
        "bug_sum_over_all": """\
def softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum()
""",
        "alt_logsumexp": """\
def softmax(z):
    m = np.max(z, axis=1, keepdims=True)
    log_norm = m + np.log(np.sum(np.exp(z - m), axis=1, keepdims=True))
    return np.exp(z - log_norm)
""",
    },
    "cross_entropy": {
        "bug_sum_not_mean": """\
def cross_entropy(probs, labels):
    return float(-np.sum(np.log(probs[np.arange(len(labels)), labels])))
""",
        "bug_column_index": """\
def cross_entropy(probs, labels):
    return float(-np.mean(np.log(probs[:, labels])))
""",
        "bug_mean_over_all_entries": """\
def cross_entropy(probs, labels):
    onehot = np.eye(probs.shape[1])[labels]
    return float(-np.mean(onehot * np.log(probs)))
""",
        "alt_loop": """\
def cross_entropy(probs, labels):
    total = 0.0
    for row, label in zip(probs, labels):
        total -= np.log(row[label])
    return float(total / len(labels))
""",
    },
    "softmax_cross_entropy_grad": {
        "bug_missing_1_over_n": """\
def softmax_cross_entropy_grad(logits, labels):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    p[np.arange(len(labels)), labels] -= 1
    return p
""",
        "bug_sign_flipped": """\
def softmax_cross_entropy_grad(logits, labels):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    onehot = np.eye(logits.shape[1])[labels]
    return (onehot - p) / len(labels)
""",
        "bug_forgets_onehot": """\
def softmax_cross_entropy_grad(logits, labels):
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True) / len(labels)
""",
        "alt_log_sum_exp": """\
def softmax_cross_entropy_grad(logits, labels):
    m = logits.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    onehot = np.zeros_like(logits)
    onehot[np.arange(logits.shape[0]), labels] = 1.0
    return (np.exp(logits - lse) - onehot) / logits.shape[0]
""",
    },
    "numerical_gradient": {
        "bug_forward_difference": """\
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    fx = f(x)
    for i in np.ndindex(x.shape):
        x_plus = x.copy()
        x_plus[i] += eps
        grad[i] = (f(x_plus) - fx) / eps
    return grad
""",
        "bug_no_restore": """\
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x[i] += eps
        f_plus = f(x)
        x[i] -= 2 * eps
        f_minus = f(x)
        grad[i] = (f_plus - f_minus) / (2 * eps)
    return grad
""",
        "bug_alias_no_copy": """\
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        x_plus = x
        x_minus = x
        x_plus[i] += eps
        x_minus[i] -= eps
        grad[i] = (f(x_plus) - f(x_minus)) / (2 * eps)
    return grad
""",
        "bug_divides_by_eps": """\
def numerical_gradient(f, x, eps=1e-5):
    grad = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        step = np.zeros_like(x)
        step[i] = eps
        grad[i] = (f(x + step) - f(x - step)) / eps
    return grad
""",
        "alt_restore_in_place": """\
def numerical_gradient(f, x, eps=1e-5):
    x = x.copy()
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"])
    while not it.finished:
        i = it.multi_index
        old = x[i]
        x[i] = old + eps
        f_plus = f(x)
        x[i] = old - eps
        f_minus = f(x)
        x[i] = old
        grad[i] = (f_plus - f_minus) / (2 * eps)
        it.iternext()
    return grad
""",
        "alt_basis_vectors": """\
def numerical_gradient(f, x, eps=1e-5):
    grad = np.empty(x.size)
    for i in range(x.size):
        e = np.zeros(x.size)
        e[i] = eps
        e = e.reshape(x.shape)
        grad[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return grad.reshape(x.shape)
""",
    },
    "gradient_descent": {
        "bug_missing_x0_row": """\
def gradient_descent(grad_fn, x0, lr, steps):
    x = x0.copy()
    trajectory = []
    for _ in range(steps):
        x = x - lr * grad_fn(x)
        trajectory.append(x)
    return np.array(trajectory)
""",
        "bug_off_by_one_steps": """\
def gradient_descent(grad_fn, x0, lr, steps):
    x = x0.copy()
    trajectory = [x]
    for _ in range(steps - 1):
        x = x - lr * grad_fn(x)
        trajectory.append(x)
    return np.array(trajectory)
""",
        "bug_in_place_aliasing": """\
def gradient_descent(grad_fn, x0, lr, steps):
    x = x0
    trajectory = [x]
    for _ in range(steps):
        x -= lr * grad_fn(x)
        trajectory.append(x)
    return np.array(trajectory)
""",
        "bug_ascent": """\
def gradient_descent(grad_fn, x0, lr, steps):
    trajectory = [x0.copy()]
    for _ in range(steps):
        trajectory.append(trajectory[-1] + lr * grad_fn(trajectory[-1]))
    return np.array(trajectory)
""",
        "alt_preallocated": """\
def gradient_descent(grad_fn, x0, lr, steps):
    trajectory = np.empty((steps + 1,) + np.shape(x0))
    trajectory[0] = x0
    for k in range(steps):
        trajectory[k + 1] = trajectory[k] - lr * grad_fn(trajectory[k].copy())
    return trajectory
""",
    },
    "learning_rates": {
        "bug_too_large_does_not_diverge": """\
LR_TOO_SMALL = 0.001
LR_GOOD = 0.1
LR_TOO_LARGE = 0.2
""",
        "bug_too_small_still_converges": """\
LR_TOO_SMALL = 0.01
LR_GOOD = 0.1
LR_TOO_LARGE = 0.25
""",
        "bug_good_too_slow": """\
LR_TOO_SMALL = 0.001
LR_GOOD = 0.05
LR_TOO_LARGE = 0.25
""",
        "bug_too_small_zero": """\
LR_TOO_SMALL = 0.0
LR_GOOD = 0.1
LR_TOO_LARGE = 0.25
""",
        "alt_other_values": """\
LR_TOO_SMALL = 1e-4
LR_GOOD = 2 / 11
LR_TOO_LARGE = 1.0
""",
        "alt_negative_too_large": """\
LR_TOO_SMALL = 0.005
LR_GOOD = 0.15
LR_TOO_LARGE = -0.5
""",
    },
    "sgd_step": {
        "bug_ascent": """\
def sgd_step(params, grads, lr):
    return params + lr * grads
""",
        "bug_missing_lr": """\
def sgd_step(params, grads, lr):
    return params - grads
""",
        "bug_in_place": """\
def sgd_step(params, grads, lr):
    params -= lr * grads
    return params
""",
        "alt_subtract": """\
def sgd_step(params, grads, lr):
    return np.subtract(params, np.multiply(lr, grads))
""",
    },
    "momentum_step": {
        "bug_sign_error": """\
def momentum_step(params, grads, velocity, lr, momentum=0.9):
    velocity = momentum * velocity + lr * grads
    return params + velocity, velocity
""",
        "bug_state_not_carried": """\
def momentum_step(params, grads, velocity, lr, momentum=0.9):
    new_velocity = momentum * velocity - lr * grads
    return params + new_velocity, velocity
""",
        "bug_dampened_ema": """\
def momentum_step(params, grads, velocity, lr, momentum=0.9):
    velocity = momentum * velocity + (1 - momentum) * grads
    return params - lr * velocity, velocity
""",
        "alt_textbook_velocity": """\
def momentum_step(params, grads, velocity, lr, momentum=0.9):
    velocity = momentum * velocity + grads
    params = params - lr * velocity
    return params, velocity
""",
    },
    "rmsprop_step": {
        "bug_state_not_carried": """\
def rmsprop_step(params, grads, sq_avg, lr=0.001, rho=0.9, eps=1e-7):
    new_sq_avg = (1 - rho) * grads ** 2
    return params - lr * grads / (np.sqrt(new_sq_avg) + eps), sq_avg
""",
        "bug_swapped_rho": """\
def rmsprop_step(params, grads, sq_avg, lr=0.001, rho=0.9, eps=1e-7):
    sq_avg = (1 - rho) * sq_avg + rho * grads ** 2
    return params - lr * grads / (np.sqrt(sq_avg) + eps), sq_avg
""",
        "bug_missing_sqrt": """\
def rmsprop_step(params, grads, sq_avg, lr=0.001, rho=0.9, eps=1e-7):
    sq_avg = rho * sq_avg + (1 - rho) * grads ** 2
    return params - lr * grads / (sq_avg + eps), sq_avg
""",
        "alt_keras_eps_inside_sqrt": """\
def rmsprop_step(params, grads, sq_avg, lr=0.001, rho=0.9, eps=1e-7):
    sq_avg = rho * sq_avg + (1 - rho) * np.square(grads)
    params = params - lr * grads / np.sqrt(sq_avg + eps)
    return params, sq_avg
""",
    },
    "adam_step": {
        "bug_no_bias_correction": """\
def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads ** 2
    return params - lr * m / (np.sqrt(v) + eps), m, v
""",
        "bug_swapped_betas": """\
def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    m = beta2 * m + (1 - beta2) * grads
    v = beta1 * v + (1 - beta1) * grads ** 2
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    return params - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
""",
        "bug_t_counted_from_zero": """\
def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    step = t + 1  # thinks t starts at 0
    m = beta1 * m + (1 - beta1) * grads
    v = beta2 * v + (1 - beta2) * grads ** 2
    m_hat = m / (1 - beta1 ** step)
    v_hat = v / (1 - beta2 ** step)
    return params - lr * m_hat / (np.sqrt(v_hat) + eps), m, v
""",
        "bug_returns_corrected_state": """\
def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    m = (beta1 * m + (1 - beta1) * grads) / (1 - beta1 ** t)
    v = (beta2 * v + (1 - beta2) * grads ** 2) / (1 - beta2 ** t)
    return params - lr * m / (np.sqrt(v) + eps), m, v
""",
        "alt_keras_form": """\
def adam_step(params, grads, m, v, t, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-7):
    alpha = lr * np.sqrt(1 - beta2 ** t) / (1 - beta1 ** t)
    m = m + (grads - m) * (1 - beta1)
    v = v + (np.square(grads) - v) * (1 - beta2)
    return params - alpha * m / (np.sqrt(v) + eps), m, v
""",
    },
}


def with_cell(nb_path: pathlib.Path, grade_id: str, source: str) -> nbformat.NotebookNode:
    """Load the notebook at ``nb_path`` with the cell of nbgrader ``grade_id`` set to ``source``.

    Raises ``KeyError(grade_id)`` when no cell carries that grade_id.
    """
    nb: nbformat.NotebookNode = nbformat.read(nb_path, as_version=4)
    for cell in nb.cells:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id:
            cell.source = source
            return nb
    raise KeyError(grade_id)
