"""Assignments authored as notebooks only: their hidden checks are the instructor notebook's own
test cells (visible asserts and ``### BEGIN HIDDEN TESTS`` blocks), run on the trusted side by
:func:`autograder.run.remote.run_test_cell` against the student's names in the kernel.

:func:`read` takes, from the instructor notebooks in ``source/<assignment>/``, each automatically
graded test cell's code (by ``grade_id``) and the notebooks' import statements (the trusted
namespace a test cell sees: ``np`` and the like are the grader's own, never the student's).  They
travel with the assignment's settings (plain strings, so a Dask worker gets them too) under
:data:`TESTS` and :data:`IMPORTS`; :func:`checks` turns them into checks.  The code comes from
``source/`` only, never from a submission: a student who edits a test cell is graded with the
instructor's.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import nbformat

from autograder.checks.base import Check
from autograder.run.remote import PARSING

TESTS = "__authored_tests__"  # settings key: ((grade_id, test cell source), ...)
IMPORTS = "__authored_imports__"  # settings key: the import statements of the instructor notebooks


def _imports(source: str) -> list[str]:
    """The top-level import statements of one code cell (none when it is not plain Python)."""
    try:
        with PARSING:
            tree = ast.parse(source)
    except SyntaxError:  # IPython magics, shell escapes
        return []
    return [ast.unparse(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)]


def read(source_dir: Path) -> dict[str, Any]:
    """The settings entries that make ``source_dir``'s notebooks grade themselves: every graded,
    non-solution code cell's source by ``grade_id`` (manual grade cells are left to formgrader),
    and the notebooks' import statements."""
    tests: list[tuple[str, str]] = []
    imports: list[str] = []
    for path in sorted(source_dir.glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            if cell.cell_type != "code":
                continue
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution") and isinstance(meta.get("grade_id"), str):
                tests.append((meta["grade_id"], cell.source))
            else:
                imports += [line for line in _imports(cell.source) if line not in imports]
    return {TESTS: tuple(tests), IMPORTS: "\n".join(imports)}


def namespace(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A fresh trusted namespace for one test cell: the instructor notebooks' imports, run here.  An
    import the grader cannot do (a module shipped beside the notebook, like ``lesson03_data``) is
    left out: a test cell that uses its names reaches the student's kernel for them."""
    scope: dict[str, Any] = {}
    for statement in str(settings.get(IMPORTS, "")).splitlines():
        try:
            exec(compile(statement, "<instructor imports>", "exec"), scope)
        except ImportError:
            continue
    scope.pop("__builtins__", None)
    return scope


def checks(settings: Mapping[str, Any]) -> list[Check]:
    """One check per authored test cell, in the notebook's order."""
    return [Check(item, source) for item, source in settings.get(TESTS, ())]


def prepare(source_dir: Path, settings: Mapping[str, Any] | None = None) -> tuple[list[Check], dict[str, Any]]:
    """The checks of the assignment whose instructor notebooks are in ``source_dir``, and ``settings``
    with its test cells and imports added (what :func:`autograder.run.notebook.grade_notebook` takes
    as ``settings``, and :func:`namespace` reads)."""
    full = {**(settings or {}), **read(source_dir)}
    return checks(full), full
