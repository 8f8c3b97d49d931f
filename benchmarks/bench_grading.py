"""Benchmark: synthetic classes of 03.0 graded by `autograder grade` and by `nbgrader autograde`.

Default mode: builds two identical copies of the course with N submissions (a mix of correct,
buggy and blank notebooks), grades one with each tool in the same run, and prints both wall
times and their ratio.

Scale mode (``--classes 40,200,400``): for each class size, grades identical copies of the
class with `nbgrader autograde` (serial), with local grading on 1 and 2 workers, and on a
loopback Dask cluster of 2 workers (1 thread each); prints wall time, submissions per minute,
scaling efficiency (throughput with k workers / (k x throughput with 1)), the mean time per
submission spent starting the kernel, running cells, running checks and writing the gradebook
(on the coordinator), and the overhead per submission beyond grading the notebook itself
(wall x k / n minus the mean time inside the sandboxed notebook run).  On 2 cores, 400
submissions take about 20 min with nbgrader, 11 min on 1 local worker and 6 min on 2 (local or
Dask); the figures measured are in docs/scaling.md.

Run as root from the repository root:
    .venv/bin/python benchmarks/bench_grading.py [--students 40] [--workers 2]
    .venv/bin/python benchmarks/bench_grading.py --classes 40[,200,400] [--modes nbgrader,local1,local2,dask2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder import batch, config  # noqa: E402
from autograder.gradebook import Course  # noqa: E402
from tests.conftest import ASSIGNMENT, NOTEBOOK, build_course  # noqa: E402
from tests.corpus.gradient_descent_variants import VARIANTS, with_cell  # noqa: E402

MODES = ("nbgrader", "local1", "local2", "dask2")
PHASES = ("kernel_start", "cells", "checks", "gradebook")


def synthetic_class(n: int) -> dict[str, nbformat.NotebookNode]:
    """n submissions: every third correct, every third blank, the rest with one bug each."""
    solution = REPO / "source" / ASSIGNMENT / NOTEBOOK
    bugs = [(gid, src) for gid, vs in VARIANTS.items() for name, src in vs.items() if name.startswith("bug_")]
    students: dict[str, nbformat.NotebookNode] = {}
    for i in range(n):
        if i % 3 == 0:
            nb = nbformat.read(solution, as_version=4)
        elif i % 3 == 1:
            nb = nbformat.read(REPO / "release" / ASSIGNMENT / NOTEBOOK, as_version=4)
        else:
            gid, src = bugs[i % len(bugs)]
            nb = with_cell(solution, gid, src)
        students[f"student{i:03d}"] = nb
    return students


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def timed(command: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=_env(), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def released_course(root: Path, students: dict[str, nbformat.NotebookNode]) -> Course:
    """A copy of the course with ``students``, its gradebook knowing the assignment, as after a release."""
    root.mkdir()
    course = build_course(root, students)
    subprocess.run([str(Path(sys.executable).with_name("nbgrader")), "generate_assignment", ASSIGNMENT, "--force"],
                   cwd=root, check=True, capture_output=True, env=_env())
    return course


def compare(args: argparse.Namespace) -> None:
    """`autograder grade` against `nbgrader autograde` on one class (the original benchmark)."""
    students = synthetic_class(args.students)
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "autograder"), Path(tmp, "nbgrader")
        for root in (ours, theirs):
            released_course(root, students)
        t_ours = timed([str(bindir / "autograder"), "grade", ASSIGNMENT, "--workers", str(args.workers)], ours)
        t_theirs = timed([str(bindir / "nbgrader"), "autograde", ASSIGNMENT, "--force"], theirs)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"class: {args.students} submissions of {ASSIGNMENT}, {os.cpu_count()} cores")
    print(f"autograder grade (sandboxed, trusted checks, {args.workers} workers): {t_ours:7.1f} s "
          f"({t_ours / args.students:.2f} s per submission)")
    print(f"nbgrader autograde (serial, in-kernel tests):           {t_theirs:7.1f} s "
          f"({t_theirs / args.students:.2f} s per submission)")
    print(f"ratio autograder / nbgrader: {t_ours / t_theirs:.2f} (target <= 0.40)")


@dataclass
class Result:
    mode: str
    workers: int
    wall_s: float
    runs: list[batch.SubmissionRun]

    def phase(self, name: str) -> float | None:
        return statistics.fmean(r.timings.get(name, 0.0) for r in self.runs) if self.runs else None

    def overhead(self, n: int) -> float | None:
        """Slot time per submission not spent grading the notebook itself."""
        return self.wall_s * self.workers / n - statistics.fmean(r.seconds for r in self.runs) if self.runs else None


def _grade(course: Course, executor: batch.Executor) -> tuple[float, list[batch.SubmissionRun]]:
    start = time.perf_counter()
    runs = batch.grade(course, ASSIGNMENT, config.load(course.root), executor=executor, progress=False, force=True)
    return time.perf_counter() - start, runs


def run_mode(mode: str, course: Course) -> Result:
    if mode == "nbgrader":
        wall = timed([str(Path(sys.executable).with_name("nbgrader")), "autograde", ASSIGNMENT, "--force"],
                     course.root)
        return Result(mode, 1, wall, [])
    if mode.startswith("local"):
        workers = int(mode.removeprefix("local"))
        return Result(mode, workers, *_grade(course, batch.LocalExecutor(workers)))
    if mode.startswith("dask"):
        from autograder.cluster import DaskExecutor, LoopbackCluster

        workers = int(mode.removeprefix("dask"))
        with LoopbackCluster(workers=workers, threads=1) as dask:  # started before the clock
            return Result(mode, workers, *_grade(course, DaskExecutor(dask.address)))
    raise ValueError(f"unknown mode {mode!r} (known: {', '.join(MODES)})")


def _cell(value: float | None, width: int, digits: int = 2) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


def report(n: int, results: list[Result]) -> None:
    single = next((r for r in results if r.mode == "local1"), None)
    print(f"\nclass of {n} submissions of {ASSIGNMENT}, {os.cpu_count()} cores")
    print(f"{'mode':<10} {'wall s':>8} {'subs/min':>9} {'efficiency':>10} "
          f"{'kernel':>6} {'cells':>6} {'checks':>6} {'gradebook':>9} {'overhead':>8}")
    for r in results:
        efficiency = None
        if single is not None and r.mode != "nbgrader":
            efficiency = (n / r.wall_s) / (r.workers * n / single.wall_s)
        print(f"{r.mode:<10} {r.wall_s:8.1f} {60 * n / r.wall_s:9.1f} {_cell(efficiency, 10)} "
              f"{_cell(r.phase('kernel_start'), 6)} {_cell(r.phase('cells'), 6)} "
              f"{_cell(r.phase('checks'), 6)} {_cell(r.phase('gradebook'), 9, 3)} "
              f"{_cell(r.overhead(n), 8)}")
    print("kernel, cells, checks, gradebook (written on the coordinator), overhead: mean s per submission")
    by = {r.mode: r for r in results}
    if "local1" in by and "local2" in by:
        print(f"local 2 workers / 1 worker: {by['local1'].wall_s / by['local2'].wall_s:.2f}x (target >= 1.8x)")
    if "local2" in by and "dask2" in by:
        print(f"dask 2 workers / local 2 workers, wall: {by['dask2'].wall_s / by['local2'].wall_s:.2f} "
              "(target <= 1.10 at 400)")
    print("overhead per submission beyond the notebook's own work: target < 0.5 s")


def scale(args: argparse.Namespace) -> None:
    modes = [m for m in args.modes.split(",") if m]
    for n in (int(c) for c in args.classes.split(",")):
        students = synthetic_class(n)
        results: list[Result] = []
        with tempfile.TemporaryDirectory() as tmp:
            for mode in modes:
                course = released_course(Path(tmp, f"{len(results)}-{mode}"), students)
                results.append(run_mode(mode, course))
                print(f"  {mode}: {results[-1].wall_s:.1f} s", file=sys.stderr, flush=True)
        report(n, results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--classes", help="scale mode: comma-separated class sizes, e.g. 40,200,400")
    parser.add_argument("--modes", default=",".join(MODES), help=f"scale mode: which of {', '.join(MODES)}")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    run: Callable[[argparse.Namespace], None] = scale if args.classes else compare
    run(args)


if __name__ == "__main__":
    main()
