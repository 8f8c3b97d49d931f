"""Teaching checks for nbgrader test cells.

A test cell imports what it needs and calls it on the student's results::

    from nbexpect import expect_close, expect_gradient, expect_unchanged

    got = mse_grad(y_true, y_pred)
    expect_gradient(got, 2 * (y_pred - y_true) / y_pred.size, name="mse_grad", param="y_pred")

Each ``expect_*`` returns quietly or raises :class:`Failed`, an ``AssertionError`` whose text names the
function, the failing index, the expected and the returned value and the relative error, and where it
fits a likely cause (a wrong sign, a transpose, a missing 1/n).  Messages show single values, never a
whole input, so a grader may show them for hidden tests too.

The same cells run in a student's kernel (Validate, plain ``nbgrader autograde``) and in the trusted
grader (:mod:`autograder`), which runs test cells outside the student's kernel: there the student's
functions are reached through the kernel and return plain data, which is all these helpers need.
:func:`partial_credit` and :func:`expect_accuracy` return a :class:`Score` as the cell's last
expression: nbgrader's partial credit.
"""

from nbexpect._checks import (
    Score,
    expect_close,
    expect_float,
    expect_gradient,
    expect_shape,
    expect_unchanged,
    gradient_hint,
    partial_credit,
)
from nbexpect._format import Failed, describe, fmt
from nbexpect.models import expect_accuracy, expect_model
from nbexpect.optimizers import expect_steps

__all__ = [
    "Failed",
    "Score",
    "describe",
    "expect_accuracy",
    "expect_close",
    "expect_float",
    "expect_gradient",
    "expect_model",
    "expect_shape",
    "expect_steps",
    "expect_unchanged",
    "fmt",
    "gradient_hint",
    "partial_credit",
]
