"""The hidden checks of each assignment, by nbgrader assignment id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autograder import authored
from autograder.checks.base import Check
from autograder.course import chain_rule, gradient_descent, keras_models

Settings = Mapping[str, Any]
"""An assignment's own settings from course.toml (``[assignments."ID"]``: thresholds, bands)."""

ASSIGNMENTS: dict[str, Callable[[Settings], list[Check]]] = {
    "03.0_gradient_descent": gradient_descent.checks,
    "03.3_chain_rule": chain_rule.checks,
    "03.1_keras_classifier": keras_models.spirals_checks,
    "03.2_mnist_classifier": keras_models.mnist_checks,
}


def checks_for(assignment: str, settings: Settings | None = None) -> list[Check]:
    """The checks of ``assignment`` under ``settings``; a clear error names the assignments that exist."""
    if assignment not in ASSIGNMENTS and settings and authored.TESTS in settings:
        return authored.checks(settings)  # written as a notebook only: its own test cells
    try:
        factory = ASSIGNMENTS[assignment]
    except KeyError:
        known = ", ".join(sorted(ASSIGNMENTS))
        raise KeyError(f"no hidden checks for assignment {assignment!r} (known: {known})") from None
    return factory(settings or {})
