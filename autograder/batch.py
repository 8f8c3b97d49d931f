"""Grade a class: submissions run in parallel behind an :class:`Executor`; one writer (the
calling thread) records every result in nbgrader's gradebook as it arrives.

The executor only ever sees :class:`Job` values and returns :class:`SubmissionRun` values,
both plain picklable data, so a distributed engine can stand in for the local one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import nbformat
from tqdm import tqdm

from autograder.checks.base import CheckResult, Status
from autograder.config import GradingConfig
from autograder.course import checks_for
from autograder.gradebook import Course, read_timestamp
from autograder.run.notebook import autograded_copy, grade_id, grade_notebook
from autograder.sandbox.limits import Limits


@dataclass(frozen=True)
class Job:
    """One student's submission of one assignment."""

    assignment: str
    student: str
    folder: Path
    notebooks: tuple[str, ...]  # notebook names (without .ipynb) the assignment expects
    points: tuple[tuple[str, float], ...]  # item -> max points, from the release notebook
    limits: Limits
    files: tuple[tuple[str, bytes], ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()  # the assignment's own settings (course.toml)
    gpu: bool = False  # wants a GPU worker; runs on CPU, with its CPU budget, without one


@dataclass
class SubmissionRun:
    """What grading one job produced, per notebook."""

    job: Job
    results: dict[str, list[CheckResult]] = field(default_factory=dict)
    notebooks: dict[str, nbformat.NotebookNode | None] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    device: str = "cpu"  # what trained and evaluated models ("cpu", or the GPU's name)
    notes: list[str] = field(default_factory=list)  # said to the instructor in the batch summary

    @property
    def score(self) -> float:
        return sum(r.points for rs in self.results.values() for r in rs)


def run_job(job: Job) -> SubmissionRun:
    """Grade one submission (runs wherever the executor puts it)."""
    out = SubmissionRun(job)
    checks = checks_for(job.assignment, dict(job.settings))
    for name in job.notebooks:
        path = job.folder / f"{name}.ipynb"
        if not path.exists():
            message = f"{name}.ipynb was not submitted"
            out.results[name] = [CheckResult(c.item, Status.MISSING, 0.0, dict(job.points)[c.item], message)
                                 for c in checks]
            out.notebooks[name] = None
            continue
        run = grade_notebook(job.folder / f"{name}.ipynb", checks, dict(job.points), job.limits, dict(job.files))
        out.results[name] = run.results
        out.notebooks[name] = run.notebook
        out.seconds += run.seconds
        for key, value in run.timings.items():
            out.timings[key] = out.timings.get(key, 0.0) + value
    return out


class Executor(Protocol):
    """Runs jobs somewhere and yields their results as they finish (in any order)."""

    def run(self, fn: Callable[[Job], SubmissionRun], jobs: Iterable[Job]) -> Iterator[SubmissionRun]: ...


class LocalExecutor:
    """Jobs on this machine, ``workers`` at a time.  Threads suffice: the work is in the kernels."""

    def __init__(self, workers: int) -> None:
        self.workers = workers

    def run(self, fn: Callable[[Job], SubmissionRun], jobs: Iterable[Job]) -> Iterator[SubmissionRun]:
        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grade") as pool:
            for future in as_completed([pool.submit(fn, job) for job in jobs]):
                yield future.result()


def plan(course: Course, assignment: str, config: GradingConfig, students: list[str] | None = None) -> list[Job]:
    """The jobs for ``assignment``: one per submission (or per requested student)."""
    course.ensure_assignment(assignment)
    release = course.release_dir(assignment)
    notebooks = tuple(sorted(p.stem for p in release.glob("*.ipynb")))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {release}; run `nbgrader generate_assignment {assignment}`")
    points: dict[str, float] = {}
    for name in notebooks:
        nb = nbformat.read(release / f"{name}.ipynb", as_version=4)
        for cell in nb.cells:
            meta = cell.metadata.get("nbgrader", {})
            item = grade_id(cell)
            if meta.get("grade") and not meta.get("solution") and item:  # grade + solution: graded by hand
                points[item] = float(meta.get("points", 0))
    settings = config.settings(assignment)
    items = {c.item for c in checks_for(assignment, settings)}
    if items != set(points):
        raise ValueError(f"{assignment}: test cells {sorted(set(points) - items)} have no hidden check and "
                         f"checks {sorted(items - set(points))} have no test cell")
    files = tuple((p.name, p.read_bytes()) for p in sorted(release.iterdir())
                  if p.is_file() and p.suffix != ".ipynb")
    submitted = course.submitted(assignment)
    if students:
        unknown = [s for s in students if s not in submitted]
        if unknown:
            raise FileNotFoundError(f"no submission of {assignment} for {', '.join(unknown)} under "
                                    f"{course.root / course.coursedir.submitted_directory}")
        submitted = {s: submitted[s] for s in students}
    limits = config.sandbox(assignment)
    gpu = bool(settings.get("gpu", False))
    return [Job(assignment, s, folder, notebooks, tuple(points.items()), limits, files,
                tuple(sorted(settings.items())), gpu) for s, folder in submitted.items()]


def grade(course: Course, assignment: str, config: GradingConfig, students: list[str] | None = None,
          executor: Executor | None = None, progress: bool = True) -> list[SubmissionRun]:
    """Grade every submission of ``assignment`` into the gradebook and ``autograded/``."""
    jobs = plan(course, assignment, config, students)
    executor = executor or LocalExecutor(config.worker_count)
    release = course.release_dir(assignment)
    releases = {n: nbformat.read(release / f"{n}.ipynb", as_version=4) for n in (jobs[0].notebooks if jobs else ())}
    runs: list[SubmissionRun] = []
    bar = tqdm(total=len(jobs), desc=f"grading {assignment}", unit="submission", file=sys.stderr,
               disable=not progress)
    for run in executor.run(run_job, jobs):
        timestamp = read_timestamp(run.job.folder)
        for name, results in run.results.items():
            course.record(assignment, run.job.student, name, results, timestamp)
            nb = run.notebooks.get(name) or releases[name]  # unreadable or missing: the release, with verdicts
            course.write_autograded(assignment, run.job.student, name,
                                    autograded_copy(nb, releases[name], results), timestamp)
        runs.append(run)
        bar.set_postfix_str(f"{run.job.student}: {run.score:g}")
        bar.update()
    bar.close()
    return sorted(runs, key=lambda r: r.job.student)
