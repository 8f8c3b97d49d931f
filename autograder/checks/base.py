"""The trusted side's vocabulary: a check, what the kernel hands back, and a verdict.

A :class:`Check` pairs a *probe* (a few lines of Python run in the student's kernel that
call the student's function on hidden inputs and bind ``result`` to plain data) with a
*verdict* (a pure function run in the grader process that turns that plain data into a
score).  Nothing the probe returns is trusted: it is decoded strictly
(:mod:`autograder.run.plain`) and only numbers, strings and numpy arrays of numeric dtype
reach a verdict.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """What happened to one graded item."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the student's code raised
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out-of-memory"
    KERNEL_DIED = "kernel died"
    MISSING = "missing"  # the function or constant is not defined


@dataclass(frozen=True)
class Verdict:
    """A verdict on one item: the fraction of its points earned and what the student reads."""

    fraction: float
    message: str

    @property
    def passed(self) -> bool:
        return self.fraction >= 1.0


Plain = Mapping[str, Any]
"""Decoded probe output: str keys; values are float, int, str, bool, numpy arrays or lists of them."""


@dataclass(frozen=True)
class Check:
    """One hidden check, graded into the nbgrader grade cell ``item``.

    ``probe`` is Python source executed in the kernel inside a function whose locals hold
    ``student`` (the kernel's user namespace, a dict), ``np`` (numpy) and ``arr`` (decodes
    an array literal made by :func:`autograder.checks.literal.array`).  It must bind
    ``result`` to a dict of plain data.  ``names`` are the student names the probe needs;
    a missing one makes the item ``missing`` without running the probe.

    ``artifact`` names a file the notebook writes in its folder (a saved model).  After the
    probe, the grader copies it out of the sandbox (at most ``artifact_max_bytes``) and hands
    the verdict its host path as ``result["__artifact__"]`` (``None`` when absent or unusable,
    with the reason in ``result["__artifact_error__"]``).  ``artifact_by_probe`` says that the
    probe writes that file itself (from a fresh call), so no earlier cell's run shaped it.
    """

    item: str
    names: tuple[str, ...]
    probe: str
    verdict: Callable[[Plain], Verdict]
    artifact: str | None = None
    artifact_max_bytes: int = 0
    artifact_by_probe: bool = False


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one graded item, as recorded in the gradebook and shown in feedback."""

    item: str  # grade_id of the test cell, e.g. "test_adam_step"
    status: Status
    points: float
    max_points: float
    message: str  # what the student reads: the function, the fault, expected vs got
