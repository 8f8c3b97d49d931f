"""Grade one submitted notebook: run its cells in a sandboxed kernel and, where each test
cell stands, run the instructor's test cell of that item instead, in this process, against the
student's names in the kernel (:func:`autograder.run.remote.run_test_cell`).

The submission's test cells are never executed: the code comes from the instructor's notebook
(:mod:`autograder.authored`).  Items whose test cell the student deleted are graded at the end.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbexpect import grading

from autograder.checks.base import Check, CheckResult, Status, mark_student_text, one_line
from autograder.checks.base import scrub as scrub
from autograder.run import remote
from autograder.run.kernel import KernelDied, SandboxedKernel
from autograder.run.pool import Warm
from autograder.run.services import CellGrader
from autograder.sandbox import warmup
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits

log = logging.getLogger("autograder.notebook")
WITHHELD = "[output withheld: this cell ran after a hidden check, and its output could show hidden inputs]\n"


@dataclass
class NotebookRun:
    """Everything grading one notebook produced."""

    results: list[CheckResult]
    notebook: nbformat.NotebookNode | None  # the executed submission, test cells still as submitted
    seconds: float = 0.0
    peak_memory: int = 0
    timings: dict[str, float] = field(default_factory=dict)  # kernel start, cells, checks


def grade_id(cell: nbformat.NotebookNode) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    value = meta.get("grade_id") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def auto_points(notebook: Path) -> dict[str, float]:
    """Item -> maximum points of the automatically graded test cells of ``notebook`` (a release
    notebook: points never come from a submission); grade + solution cells are graded by hand."""
    points: dict[str, float] = {}
    for cell in nbformat.read(notebook, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        item = grade_id(cell)
        if meta.get("grade") and not meta.get("solution") and item:
            points[item] = float(meta.get("points", 0))
    return points


def _authored(check: Check, points: float, kernel: SandboxedKernel, timeout_s: float,
              namespace: Callable[[], dict[str, Any]], grader: CellGrader) -> CheckResult:
    """The verdict of an authored test cell (:mod:`autograder.authored`), run on the trusted side with
    ``grader`` lent to its helpers (:mod:`nbexpect.grading`)."""
    token = grading.current.set(grader)
    try:
        outcome = remote.run_test_cell(kernel, check.test_source, timeout_s=timeout_s, namespace=namespace())
    finally:
        grading.current.reset(token)
    if outcome.status is Status.PASSED and outcome.score is not None:  # partial credit (nbexpect.Score)
        earned = min(max(outcome.score, 0.0), points)
        status = Status.PASSED if earned >= points else Status.FAILED
        return CheckResult(check.item, status, earned, points, outcome.message or f"{check.item}: {earned:g} of "
                           f"{points:g} points")
    if outcome.status is Status.PASSED:
        return CheckResult(check.item, Status.PASSED, points, points, f"{check.item}: every check passed")
    if not outcome.kernel_alive:  # the notebook's run ends here
        cgroup = kernel.jail.cgroup
        oom = outcome.status is Status.OUT_OF_MEMORY or (cgroup is not None and cgroup.oom_killed())
        raise KernelDied(oom, kernel.process.poll(), timed_out=outcome.status is Status.TIMEOUT)
    return CheckResult(check.item, outcome.status, 0.0, points, outcome.message)


def _take(sandbox: Callable[[], Warm] | None) -> Warm | None:
    """A warm sandbox from ``sandbox``, or None (none offered, or it could not start one)."""
    if sandbox is None:
        return None
    try:
        return sandbox()
    except Exception as exc:  # a cold start here is slower, not wrong
        log.warning("no warm sandbox (%s); starting one", exc)
        return None


def grade_notebook(
    path: Path,
    checks: Sequence[Check],
    points: dict[str, float],
    limits: Limits,
    files: dict[str, bytes] | None = None,
    namespace: Callable[[], dict[str, Any]] = dict,
    settings: Mapping[str, Any] | None = None,
    sandbox: Callable[[], Warm] | None = None,
) -> NotebookRun:
    """Run the notebook at ``path`` in a fresh sandbox and grade every check.

    ``points`` maps each item to its maximum points (from the release notebook, never from the
    submission).  ``files`` are extra files placed beside the notebook (course data).
    ``namespace`` makes the trusted namespace of each authored test cell (its imports); ``settings``
    are the assignment's (the hidden data folder, ``model_max_mb``, ``gpu``) for the helpers that
    judge models (:mod:`autograder.run.services`).  ``sandbox`` hands out a warm sandbox for this
    notebook alone (:class:`autograder.run.pool.KernelPool.take`); without it, or when it fails, a
    sandbox is started here.
    """
    start = time.monotonic()
    by_item = {c.item: c for c in checks}
    results: dict[str, CheckResult] = {}
    try:
        nb = nbformat.read(path, as_version=4)
    except Exception as exc:  # any unreadable file is the student's problem, not the batch's
        message = f"the notebook could not be read ({type(exc).__name__}); submit a valid .ipynb file"
        return NotebookRun([CheckResult(c.item, Status.ERROR, 0.0, points[c.item], message) for c in checks],
                           None, time.monotonic() - start)

    def close_all(status: Status, message: str) -> None:
        for check in checks:
            if check.item not in results:
                results[check.item] = CheckResult(check.item, status, 0.0, points[check.item], message)

    timings = {"kernel_start": 0.0, "cells": 0.0, "checks": 0.0}
    peak = 0
    stopped_cells = 0  # code cells stopped at the time limit (a training run over budget)
    with contextlib.ExitStack() as stack:
        artifacts = stack.enter_context(tempfile.TemporaryDirectory(prefix="autograder-artifacts-"))
        warm = _take(sandbox)
        if warm is not None:  # started ahead, its home files in place: it serves this notebook, then goes
            jail = warm.jail
            stack.callback(jail.__exit__, None, None, None)
            seeded = dict(files or {})
        else:
            jail = stack.enter_context(Jail(limits))
            seeded = {**warmup.home_files(limits), **(files or {})}
        for name, data in seeded.items():
            jail.put(name, data)
        deadline = start + limits.notebook_timeout_s
        kernel: SandboxedKernel | None = None
        try:
            if warm is not None:
                kernel = warm.kernel
            else:
                kernel = SandboxedKernel(jail)
                if limits.preamble:
                    kernel.execute(limits.preamble, min(limits.cell_timeout_s, limits.notebook_timeout_s),
                                   limits.output_bytes)
            timings["kernel_start"] = time.monotonic() - start
            queue: list[tuple[nbformat.NotebookNode | None, Check | None]] = [
                (cell, by_item.get(grade_id(cell) or "")) for cell in nb.cells if cell.get("cell_type") == "code"
            ]
            seen = {check.item for _, check in queue if check is not None}
            queue += [(None, c) for c in checks if c.item not in seen]
            for cell, check in queue:
                left = deadline - time.monotonic()
                if left <= 0:
                    kernel.kill()
                    limit = limits.notebook_timeout_s
                    close_all(Status.TIMEOUT, f"the notebook ran past its time limit of {limit:g} s")
                    break
                timeout = min(limits.cell_timeout_s, left)
                t0 = time.monotonic()
                if check is None:
                    assert cell is not None
                    run = kernel.execute(cell.source, timeout, limits.output_bytes)
                    stopped_cells += run.timed_out
                    if results:  # after a test cell, output could repeat hidden inputs a function kept
                        withheld = nbformat.v4.new_output("stream", name="stdout", text=WITHHELD)
                        cell.outputs = [withheld] if run.outputs else []
                    else:
                        cell.outputs = [nbformat.from_dict(o) for o in run.outputs]
                    timings["cells"] += time.monotonic() - t0
                    continue
                if check.item in results:
                    continue  # a duplicated test cell counts once
                grader = CellGrader(jail, settings or {}, Path(artifacts), stopped_cells)
                results[check.item] = _authored(check, points[check.item], kernel, timeout, namespace, grader)
                timings["checks"] += time.monotonic() - t0
        except KernelDied as died:
            if died.timed_out and not died.out_of_memory:
                close_all(Status.TIMEOUT,
                          f"a cell ran past its time limit of {limits.cell_timeout_s:g} s and did not stop when "
                          "interrupted, so the kernel was stopped; checks after that point did not run "
                          "(is the training longer than the budget?)")
            elif died.out_of_memory:
                close_all(Status.OUT_OF_MEMORY,
                          f"the kernel ran out of memory (limit {limits.memory_bytes // 1024**2} MiB) and was stopped")
            else:
                close_all(Status.KERNEL_DIED,
                          f"the kernel died (exit status {died.returncode}); checks after that point did not run")
        except RuntimeError as exc:  # the kernel never answered
            close_all(Status.KERNEL_DIED, f"the kernel did not start ({exc})")
        finally:
            if jail.cgroup is not None:
                peak = jail.cgroup.peak_memory()
            if kernel is not None:
                kernel.shutdown()
    ordered = [results[c.item] for c in checks]
    return NotebookRun(ordered, nb, time.monotonic() - start, peak, timings)


def autograded_copy(nb: nbformat.NotebookNode, release: nbformat.NotebookNode,
                    results: Sequence[CheckResult]) -> nbformat.NotebookNode:
    """The notebook nbgrader's formgrader and feedback read: test cells carry the release's
    (visible-only) source and the verdict as their output; hidden code never appears."""
    out = copy.deepcopy(nb)
    visible = {grade_id(c): c for c in release.cells if grade_id(c)}
    by_item = {r.item: r for r in results}
    for cell in out.cells:
        item = grade_id(cell)
        if item in by_item and item in visible:
            trusted = visible[item]
            cell.source = trusted.source
            cell.metadata["nbgrader"] = copy.deepcopy(trusted.metadata["nbgrader"])
            result = by_item[item]
            cell.outputs = [_result_output(result)]
        elif item in visible and visible[item].metadata.get("nbgrader", {}).get("locked"):
            cell.source = visible[item].source  # locked cells are restored, as nbgrader does
    present = {grade_id(cell) for cell in out.cells}
    for item, result in by_item.items():  # a test cell the student deleted: its verdict at the end
        if item not in present and item in visible and visible[item].cell_type == "code":
            cell = copy.deepcopy(visible[item])
            cell.outputs = [_result_output(result)]
            out.cells.append(cell)
    return out


def _result_output(result: CheckResult) -> Any:
    """The verdict as the test cell's output: the grader's header "[status] points / max points"
    on the first line, the message on the second, on one line, so no text of the student's (all
    of it quoted, see :func:`autograder.checks.base.mark_student_text`) can start a line or show a
    status of its own."""
    message = mark_student_text(one_line(result.message))
    text = f"[{result.status.value}] {result.points:g} / {result.max_points:g} points\n{message}\n"
    if result.status is Status.PASSED:
        return nbformat.v4.new_output("stream", name="stdout", text=text)
    return nbformat.v4.new_output("error", ename=result.status.value, evalue=message, traceback=[text])
