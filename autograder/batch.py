"""Grade a class: submissions run in parallel behind an :class:`Executor`; one writer (the
calling thread) records every result in nbgrader's gradebook as it arrives.

The executor only ever sees :class:`Job` values and returns :class:`SubmissionRun` values,
both plain picklable data, so a distributed engine (:mod:`autograder.cluster`) can stand in
for the local one.

A batch survives its own death.  Once a submission's scores are committed to the gradebook and
its autograded notebook is written, a journal record (``autograded/<student>/<assignment>/
.autograder.json``, replaced atomically) keeps a digest of the files that were graded.  Running
the batch again skips every submission whose journal matches its files (``force`` regrades);
a resubmission no longer matches and is graded again.  Each submission is recorded once per
batch, whatever its executor answers twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import nbformat
from tqdm import tqdm

from autograder import authored
from autograder.checks.base import CheckResult, Status
from autograder.config import GradingConfig
from autograder.gradebook import Course, read_timestamp
from autograder.run.notebook import auto_points, autograded_copy, grade_notebook
from autograder.run.pool import KernelPool, Warm, size_for
from autograder.sandbox.jail import sweep_stale
from autograder.sandbox.limits import Limits

JOURNAL = ".autograder.json"
STOPPED = frozenset({Status.KERNEL_DIED, Status.TIMEOUT, Status.OUT_OF_MEMORY})  # the notebook did not finish


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
    digest: str = ""  # of the submitted files when the batch was planned (see submission_digest)
    # The submitted files themselves (path in the folder, bytes), carried along when the job
    # travels to a worker that cannot read ``folder``; empty: read them from ``folder``.
    submission: tuple[tuple[str, bytes], ...] = ()


@dataclass
class SubmissionRun:
    """What grading one job produced, per notebook."""

    job: Job
    results: dict[str, list[CheckResult]] = field(default_factory=dict)
    notebooks: dict[str, nbformat.NotebookNode | None] = field(default_factory=dict)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # said to the instructor in the batch summary
    worker: str = ""  # where it ran: a local thread's or a cluster worker's name

    @property
    def score(self) -> float:
        return sum(r.points for rs in self.results.values() for r in rs)

    @property
    def failed(self) -> bool:
        """Whether grading stopped before the end: a kernel died, timed out or ran out of memory."""
        return any(r.status in STOPPED for rs in self.results.values() for r in rs)


def run_job(job: Job, sandbox: Callable[[], Warm] | None = None) -> SubmissionRun:
    """Grade one submission (runs wherever the executor puts it); ``sandbox`` hands out warm
    sandboxes (:class:`autograder.run.pool.KernelPool`, on this machine only)."""
    out = SubmissionRun(job)
    checks = authored.checks(dict(job.settings))
    for name in job.notebooks:
        path = job.folder / f"{name}.ipynb"
        if not path.exists():
            message = f"{name}.ipynb was not submitted"
            out.results[name] = [CheckResult(c.item, Status.MISSING, 0.0, dict(job.points)[c.item], message)
                                 for c in checks]
            out.notebooks[name] = None
            continue
        run = grade_notebook(job.folder / f"{name}.ipynb", checks, dict(job.points), job.limits, dict(job.files),
                             lambda: authored.namespace(dict(job.settings)), dict(job.settings), sandbox)
        out.results[name] = run.results
        out.notebooks[name] = run.notebook
        out.seconds += run.seconds
        for key, value in run.timings.items():
            out.timings[key] = out.timings.get(key, 0.0) + value
    return out


def unfinished(job: Job, status: Status, message: str) -> SubmissionRun:
    """The run of a job that produced no results of its own: every item ``status``, no points."""
    out = SubmissionRun(job)
    for name in job.notebooks:
        out.results[name] = [CheckResult(item, status, 0.0, points, message) for item, points in job.points]
        out.notebooks[name] = None
    return out


class Executor(Protocol):
    """Runs jobs somewhere and yields their results as they finish (in any order)."""

    def run(self, fn: Callable[[Job], SubmissionRun], jobs: Iterable[Job]) -> Iterator[SubmissionRun]: ...


@runtime_checkable
class CountsRunning(Protocol):
    """An executor that can tell the progress bar how many of its jobs are running now."""

    @property
    def running(self) -> int: ...


class LocalExecutor:
    """Jobs on this machine, ``workers`` at a time.  Threads suffice: the work is in the kernels."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._running = 0
        self._lock = threading.Lock()

    @property
    def running(self) -> int:
        return self._running

    def run(self, fn: Callable[[Job], SubmissionRun], jobs: Iterable[Job]) -> Iterator[SubmissionRun]:
        def one(job: Job) -> SubmissionRun:
            with self._lock:
                self._running += 1
            try:
                out = fn(job)
            finally:
                with self._lock:
                    self._running -= 1
            out.worker = out.worker or threading.current_thread().name
            return out

        with ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="grade") as pool:
            for future in as_completed([pool.submit(one, job) for job in jobs]):
                yield future.result()


def submission_files(folder: Path) -> list[Path]:
    """Every file of a submission folder, in a stable order."""
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else []


def submission_digest(folder: Path) -> str:
    """A digest of every file's path and bytes in ``folder`` (its ``timestamp.txt`` included)."""
    digest = hashlib.sha256()
    for path in submission_files(folder):
        data = path.read_bytes()
        digest.update(f"{path.relative_to(folder).as_posix()}\0{len(data)}\0".encode())
        digest.update(data)
    return f"sha256:{digest.hexdigest()}"


def journal_path(course: Course, job: Job) -> Path:
    return course.autograded_dir(job.student, job.assignment) / JOURNAL


def is_graded(course: Course, job: Job) -> bool:
    """Whether the journal says this very submission (same digest) was graded and recorded."""
    try:
        record = json.loads(journal_path(course, job).read_text())
    except (OSError, ValueError):  # none yet, or unreadable: grade it
        return False
    return isinstance(record, dict) and bool(job.digest) and record.get("digest") == job.digest


def _write_journal(course: Course, run: SubmissionRun, timestamp: str | None) -> None:
    """Write the journal record of ``run`` atomically (temporary file, fsync, rename)."""
    path = journal_path(course, run.job)
    results = [r for rs in run.results.values() for r in rs]
    record = {
        "assignment": run.job.assignment, "student": run.job.student, "digest": run.job.digest,
        "timestamp": timestamp, "graded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "score": run.score, "max_score": sum(r.max_points for r in results),
        "statuses": {r.item: r.status.value for r in results}, "seconds": round(run.seconds, 3),
        "worker": run.worker,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{JOURNAL}.{os.getpid()}.tmp")
    with open(tmp, "w") as out:
        json.dump(record, out, indent=1)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def plan(course: Course, assignment: str, config: GradingConfig, students: list[str] | None = None,
         force: bool = False) -> list[Job]:
    """The jobs for ``assignment``: one per submission (or per requested student), less those
    already graded as they are now (unless ``force``)."""
    course.ensure_assignment(assignment)
    release = course.release_dir(assignment)
    notebooks = tuple(sorted(p.stem for p in release.glob("*.ipynb")))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks in {release}; run `nbgrader generate_assignment {assignment}`")
    points = {item: value for name in notebooks for item, value in auto_points(release / f"{name}.ipynb").items()}
    source = course.root / "source" / assignment
    if not any(source.glob("*.ipynb")):
        raise FileNotFoundError(f"no instructor notebook in {source}: its test cells are the assignment's checks")
    checks, settings = authored.prepare(source, config.settings(assignment))  # the notebook's own test cells
    items = {c.item for c in checks}
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
    jobs = [Job(assignment, s, folder, notebooks, tuple(points.items()), limits, files,
                tuple(sorted(settings.items())), gpu, submission_digest(folder)) for s, folder in submitted.items()]
    return jobs if force else [job for job in jobs if not is_graded(course, job)]


def _record(course: Course, run: SubmissionRun, releases: dict[str, nbformat.NotebookNode]) -> None:
    """Scores into the gradebook, notebooks into ``autograded/``, then the journal: in this order."""
    start = time.monotonic()
    job = run.job
    timestamp = read_timestamp(job.folder)
    for name, results in run.results.items():
        course.record(job.assignment, job.student, name, results, timestamp)
        nb = run.notebooks.get(name) or releases[name]  # unreadable or missing: the release, with verdicts
        course.write_autograded(job.assignment, job.student, name,
                                autograded_copy(nb, releases[name], results), timestamp)
    _write_journal(course, run, timestamp)
    run.timings["gradebook"] = time.monotonic() - start


def grade(course: Course, assignment: str, config: GradingConfig, students: list[str] | None = None,
          executor: Executor | None = None, progress: bool = True, force: bool = False) -> list[SubmissionRun]:
    """Grade every submission of ``assignment`` not yet graded as it is now (every one with
    ``force``) into the gradebook and ``autograded/``; returns the runs of this batch."""
    jobs = plan(course, assignment, config, students, force)
    if stale := sweep_stale():
        print(f"removed {stale} sandbox(es) left behind by a grader that was killed", file=sys.stderr)
    executor = executor or LocalExecutor(config.worker_count)
    pool = _pool(jobs, config, executor)
    try:
        return _grade(course, assignment, jobs, executor, partial(run_job, sandbox=pool.take) if pool else run_job,
                      progress)
    finally:
        if pool is not None:
            pool.close()


def _pool(jobs: list[Job], config: GradingConfig, executor: Executor) -> KernelPool | None:
    """Warm sandboxes for a local batch with more submissions than workers (the first ones start as
    the pool does): ``warm`` of them (``-1``: one per worker, within the machine's memory)."""
    if not jobs or not isinstance(executor, LocalExecutor):
        return None
    size = min(size_for(executor.workers, jobs[0].limits, config.warm), len(jobs) - executor.workers)
    if size <= 0:
        return None
    return KernelPool(jobs[0].limits, str(dict(jobs[0].settings).get(authored.IMPORTS, "")), size)


def _grade(course: Course, assignment: str, jobs: list[Job], executor: Executor,
           fn: Callable[[Job], SubmissionRun], progress: bool) -> list[SubmissionRun]:
    release = course.release_dir(assignment)
    releases = {n: nbformat.read(release / f"{n}.ipynb", as_version=4) for n in (jobs[0].notebooks if jobs else ())}
    waiting = {(job.assignment, job.student): job for job in jobs}
    runs: list[SubmissionRun] = []
    bar = tqdm(total=len(jobs), desc=f"grading {assignment}", unit="submission", file=sys.stderr,
               disable=not progress)
    failed = 0
    for run in executor.run(fn, jobs):
        job = waiting.pop((run.job.assignment, run.job.student), None)
        if job is None:
            continue  # a second answer for a submission already recorded: it counts once
        run.job = job  # the coordinator's view of it (its folder, not a worker's copy)
        _record(course, run, releases)
        runs.append(run)
        failed += run.failed
        running = executor.running if isinstance(executor, CountsRunning) else 0
        bar.set_postfix(failed=failed, running=running, refresh=False)
        bar.update()
    bar.close()
    if waiting:
        raise RuntimeError(f"the executor returned no result for {', '.join(s for _, s in sorted(waiting))}; "
                           "run the same command again to grade them")
    return sorted(runs, key=lambda r: r.job.student)
