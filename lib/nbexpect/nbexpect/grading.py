"""The trusted grader's side of the helpers that need more than the values a test computes.

Where a test cell runs in the trusted grader (``autograder``), the grader sets :data:`current` for
the cell's duration to an object with the :class:`Grader` methods: it saves a model that stayed in
the student's kernel and inspects the file outside it, and it measures a saved model's accuracy on
hidden data that never enters the student's kernel.  In a student's kernel :data:`current` is
``None`` and the helpers work on what the kernel has.
"""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

from nbexpect._format import Failed


class TimedOut(Failed):
    """A check could not finish within its time limit (graded as a timeout)."""


@dataclass(frozen=True)
class ModelInfo:
    """What a saved model is: shapes with ``None`` for the batch, whether it is compiled, its loss."""

    input_shape: tuple[int | None, ...]
    output_shape: tuple[int | None, ...]
    compiled: bool
    loss: str


@dataclass(frozen=True)
class Accuracy:
    """A model's accuracy on a data set, how many examples, and where it ran (CPU, GPU)."""

    accuracy: float
    examples: int
    device: str


class Grader(Protocol):
    def model(self, model: object, name: str) -> ModelInfo:
        """Save ``model`` (returned by the student's ``name``) and inspect the file; :class:`Failed`
        with the reason when it is not a model, cannot be saved or is refused."""
        ...

    def accuracy(self, filename: str, data: str) -> Accuracy:
        """The accuracy of the model the notebook saved as ``filename`` on the hidden data set ``data``."""
        ...


current: ContextVar[Grader | None] = ContextVar("nbexpect_grader", default=None)
