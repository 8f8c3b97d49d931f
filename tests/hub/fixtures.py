"""Fixtures shared by platform test modules, which register them with
``pytest_plugins = ["tests.hub.fixtures"]``.

- ``batch_hub``: one platform for the session with the batch workflow (nothing self-checked,
  nothing released at start: the e2e test releases 03.0, then 03.2, in the formgrader), an
  instructor and 22 students: ``students[:2]`` belong to test_hub_e2e.py, ``students[2:]`` to
  test_hub_load.py.
- ``selfcheck_hub``: one platform for the session in which 03.0 is a self-check assignment, with
  an instructor and three students: ``students[0]`` and ``[1]`` belong to test_hub_selfcheck.py,
  ``students[2]`` to test_hub_browser.py.

Each platform starts with the first test that asks for it and stops at the end of the session.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hub.platform import ASSIGNMENT, MNIST, LoopbackPlatform, running_platform

LOAD_STUDENTS = 20


@pytest.fixture(scope="session")
def batch_hub() -> Iterator[LoopbackPlatform]:
    with running_platform("batch", students=2 + LOAD_STUDENTS, assignments=(ASSIGNMENT, MNIST), release=False) as hub:
        yield hub


@pytest.fixture(scope="session")
def selfcheck_hub() -> Iterator[LoopbackPlatform]:
    with running_platform("selfcheck", students=3, selfcheck=[ASSIGNMENT]) as hub:
        yield hub
