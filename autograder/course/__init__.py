"""The hidden checks of each assignment, by nbgrader assignment id."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from autograder.checks.base import Check
from autograder.course import gradient_descent

Settings = Mapping[str, Any]
"""An assignment's own settings from course.toml (``[assignments."ID"]``: thresholds, bands)."""

ASSIGNMENTS: dict[str, Callable[[Settings], list[Check]]] = {
    "03.0_gradient_descent": gradient_descent.checks,
}


def checks_for(assignment: str, settings: Settings | None = None) -> list[Check]:
    """The checks of ``assignment`` under ``settings``; a clear error names the assignments that exist."""
    try:
        factory = ASSIGNMENTS[assignment]
    except KeyError:
        known = ", ".join(sorted(ASSIGNMENTS))
        raise KeyError(f"no hidden checks for assignment {assignment!r} (known: {known})") from None
    return factory(settings or {})
