"""Grade one submitted notebook: run its cells in a sandboxed kernel and, where each test
cell stands, run that item's probe instead and turn the answer into a verdict.

Test cells are never executed: their grade is decided by the trusted check registered for
their ``grade_id``.  Items whose test cell the student deleted are probed at the end.
"""

from __future__ import annotations

import builtins
import copy
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

from autograder.checks.base import (
    Check,
    CheckResult,
    Status,
    mark_student_text,
    one_line,
    student_name,
    student_text,
)
from autograder.checks.base import scrub as scrub
from autograder.run import plain, remote
from autograder.run.kernel import Execution, KernelDied, SandboxedKernel
from autograder.sandbox import warmup
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits

ERROR_TEXT_LIMIT = 120  # characters of a student's exception message shown in its verdict
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


def _verdict(check: Check, points: float, run: Execution, marker: str,
             attach: Callable[[Check, dict[str, Any]], None] | None = None) -> CheckResult:
    function = check.names[0] if check.names else check.item
    if run.timed_out:
        return CheckResult(check.item, Status.TIMEOUT, 0.0, points,
                           f"{function}: did not finish within the time limit of the check")
    try:
        answer = plain.extract(run.stdout, marker)
    except plain.Undecodable as exc:
        if run.timed_out:
            return CheckResult(check.item, Status.TIMEOUT, 0.0, points,
                               f"{function}: did not finish within the time limit of the check")
        return CheckResult(check.item, Status.ERROR, 0.0, points,
                           f"{function}: the check could not read a result ({exc}); "
                           "does your code replace print, sys.stdout or other built-ins?")
    # Every string below came from the student's kernel: names via student_name, free text via
    # student_text, and whatever a check's verdict copied into its message via mark_student_text.
    if isinstance(answer, dict) and "__missing__" in answer:
        missing = answer["__missing__"] if isinstance(answer["__missing__"], list) else ["?"]
        names = ", ".join(student_name(n) for n in missing[:10])
        verb = "is" if len(missing) == 1 else "are"
        return CheckResult(check.item, Status.MISSING, 0.0, points,
                           f"{names} {verb} not defined: define {'it' if len(missing) == 1 else 'them'} "
                           "in the solution cell, keep the name, and check that the cell runs without error")
    if isinstance(answer, dict) and "__error__" in answer:
        error = answer["__error__"]
        if isinstance(error, list) and error and error[0] == "NotImplementedError":
            return CheckResult(check.item, Status.ERROR, 0.0, points,
                               f"{function} raised NotImplementedError: it is still the stub; "
                               "replace `raise NotImplementedError()` with your solution")
        if isinstance(error, list) and error:
            raised, detail = _exception_name(error[0]), scrub(": ".join(str(e) for e in error[1:] if e))
        else:
            raised, detail = "an exception", scrub(str(error))
        return CheckResult(check.item, Status.ERROR, 0.0, points, f"{function} raised {raised}"
                           + (f": {student_text(detail, ERROR_TEXT_LIMIT)}" if detail else ""))
    if not isinstance(answer, dict):
        return CheckResult(check.item, Status.ERROR, 0.0, points,
                           f"{function}: the check got {type(answer).__name__} back instead of its result")
    sent = set(_strings(answer))  # before the grader adds its own entries
    if check.artifact and attach is not None:
        attach(check, answer)
    verdict = check.verdict(answer)
    fraction = min(max(float(verdict.fraction), 0.0), 1.0)
    status = verdict.status or (Status.PASSED if fraction >= 1.0 else Status.FAILED)
    message = mark_student_text(verdict.message, sent)
    return CheckResult(check.item, status, round(fraction * points, 6), points, message)


def _exception_name(name: object) -> str:
    """A built-in exception's name as it is; any other name scrubbed (it may carry hidden inputs) and
    quoted unless it is a plain name."""
    builtin = getattr(builtins, str(name), None)
    if isinstance(builtin, type) and issubclass(builtin, BaseException):
        return str(name)
    return student_name(scrub(str(name)))


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded answer, dict keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _authored(check: Check, points: float, kernel: SandboxedKernel, timeout_s: float,
              namespace: Callable[[], dict[str, Any]]) -> CheckResult:
    """The verdict of an authored test cell (:mod:`autograder.authored`), run on the trusted side."""
    outcome = remote.run_test_cell(kernel, check.test_source, timeout_s=timeout_s, namespace=namespace())
    if outcome.status is Status.PASSED:
        return CheckResult(check.item, Status.PASSED, points, points, f"{check.item}: every check passed")
    if not outcome.kernel_alive:  # the notebook's run ends here, as for a probe whose kernel died
        cgroup = kernel.jail.cgroup
        oom = outcome.status is Status.OUT_OF_MEMORY or (cgroup is not None and cgroup.oom_killed())
        raise KernelDied(oom, kernel.process.poll(), timed_out=outcome.status is Status.TIMEOUT)
    return CheckResult(check.item, outcome.status, 0.0, points, outcome.message)


def grade_notebook(
    path: Path,
    checks: Sequence[Check],
    points: dict[str, float],
    limits: Limits,
    files: dict[str, bytes] | None = None,
    namespace: Callable[[], dict[str, Any]] = dict,
) -> NotebookRun:
    """Run the notebook at ``path`` in a fresh sandbox and grade every check.

    ``points`` maps each item to its maximum points (from the release notebook, never from the
    submission).  ``files`` are extra files placed beside the notebook (course data).
    ``namespace`` makes the trusted namespace of each authored test cell (its imports).
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
    seeded = {**warmup.home_files(limits), **(files or {})}
    stopped_cells = 0  # code cells stopped at the time limit (a training run over budget)
    with Jail(limits) as jail, tempfile.TemporaryDirectory(prefix="autograder-artifacts-") as artifacts:

        def attach(check: Check, answer: dict[str, Any]) -> None:
            """Copy the check's file out of the sandbox into the grader's own folder."""
            assert check.artifact is not None
            answer["__artifact__"], answer["__artifact_error__"] = None, ""
            try:
                data = jail.fetch(check.artifact, check.artifact_max_bytes)
            except FileNotFoundError:
                answer["__artifact_error__"] = f"{check.artifact} was not found in the notebook's folder"
            except (ValueError, OSError) as exc:
                answer["__artifact_error__"] = str(exc)
            else:
                target = Path(artifacts) / f"{check.item}-{Path(check.artifact).name}"
                target.write_bytes(data)
                answer["__artifact__"] = target

        for name, data in seeded.items():
            jail.put(name, data)
        deadline = start + limits.notebook_timeout_s
        kernel: SandboxedKernel | None = None
        try:
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
                    if results:  # after a probe, output could repeat hidden inputs a function kept
                        withheld = nbformat.v4.new_output("stream", name="stdout", text=WITHHELD)
                        cell.outputs = [withheld] if run.outputs else []
                    else:
                        cell.outputs = [nbformat.from_dict(o) for o in run.outputs]
                    timings["cells"] += time.monotonic() - t0
                    continue
                if check.item in results:
                    continue  # a duplicated test cell counts once
                if check.test_source:  # an authored test cell: run here, the student's names through the kernel
                    results[check.item] = _authored(check, points[check.item], kernel, timeout, namespace)
                    timings["checks"] += time.monotonic() - t0
                    continue
                probe = plain.wrap(check)
                run = kernel.execute(probe.source, timeout, limits.output_bytes)
                result = _verdict(check, points[check.item], run, probe.marker, attach)
                if check.artifact and not check.artifact_by_probe and stopped_cells:  # a run over its budget
                    result = CheckResult(
                        check.item, Status.TIMEOUT, 0.0, result.max_points,
                        f"a cell before this check ran past its time limit of {limits.cell_timeout_s:g} s and "
                        "was stopped, so the saved file comes from a run that did not finish (is the training "
                        f"longer than the budget?); for information, the check said: {result.message}")
                results[check.item] = result
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
    of it quoted, see :func:`_verdict`) can start a line or show a status of its own."""
    message = mark_student_text(one_line(result.message))
    text = f"[{result.status.value}] {result.points:g} / {result.max_points:g} points\n{message}\n"
    if result.status is Status.PASSED:
        return nbformat.v4.new_output("stream", name="stdout", text=text)
    return nbformat.v4.new_output("error", ename=result.status.value, evalue=message, traceback=[text])
