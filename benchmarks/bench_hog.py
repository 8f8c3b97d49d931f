"""A correct submission graded alone, then beside a hog, with and without the jails' CPU share.

    .venv/bin/python benchmarks/bench_hog.py [--assignment 03.0|03.2] [--hog-seconds S] [--modes share,none]

The hog is the solution notebook with a first cell that starts 150 processes spinning for S
seconds (03.0: 28, 03.2: 100; under the cell's time limit) and waits for them; the victim is
the solution with a first cell that sleeps 3 s, so that all its work comes while the hog
spins.  Both are graded on 2 workers, in a course whose pids limit lets the hog start all 150.
``share`` is the grader as it is (each jail in CPU cgroups of its own with a quota of cores /
workers); ``none`` keeps the jails out of the CPU cgroups (the behaviour before the share).
The grader runs in a CPU cgroup of its own, as under systemd or in a container: in the root
group, Linux's per-session autogroups would keep the jails apart by themselves and hide the
difference (see tests/test_cpu_share.py).  03.2 (the issue's own scenario: training on CPU)
needs TensorFlow and the MNIST files (``--mnist-source``, default ``../shared/data/mnist``).
Prints, per mode: the victim's time and score alone and beside the hog, the hog's time, and
the load average before each run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from autograder import batch, config  # noqa: E402
from autograder.data import prepare_mnist  # noqa: E402
from autograder.sandbox import cgroup, warmup  # noqa: E402
from tests.conftest import use_data  # noqa: E402
from tests.test_cpu_share import (  # noqa: E402
    HOG_PROCESSES,
    grader_as_a_service,
    hog_course,
    hog_notebook,
    victim_notebook,
)

ASSIGNMENTS = {"03.0": ("03.0_gradient_descent", 28.0), "03.2": ("03.2_mnist_classifier", 100.0)}


@contextmanager
def without_share() -> Iterator[None]:
    """Jails join their memory and pids groups only, not their CPU group (as before the share)."""
    join = cgroup.Cgroup.join

    def memory_and_pids(self: cgroup.Cgroup) -> None:
        for path in self.paths():
            if self.v2 or path != self.cpu:
                (path / "cgroup.procs").write_text(str(os.getpid()))

    cgroup.Cgroup.join = memory_and_pids  # type: ignore[method-assign]
    try:
        yield
    finally:
        cgroup.Cgroup.join = join  # type: ignore[method-assign]


def _score(run: batch.SubmissionRun) -> str:
    full = sum(points for _, points in run.job.points)
    statuses = sorted({r.status.value for rs in run.results.values() for r in rs})
    return f"{run.score:g}/{full:g} ({', '.join(statuses)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assignment", choices=sorted(ASSIGNMENTS), default="03.0")
    parser.add_argument("--hog-seconds", type=float)
    parser.add_argument("--modes", default="share,none", help="comma-separated: share (as graded now), none")
    parser.add_argument("--mnist-source", type=Path, default=REPO.parent / "shared" / "data" / "mnist")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="Object of type <Submitted")  # nbgrader's own ORM code
    assignment, seconds = ASSIGNMENTS[args.assignment]
    seconds = args.hog_seconds or seconds
    solution = REPO / "source" / assignment / f"{assignment}.ipynb"
    print(f"{assignment}: hog of {HOG_PROCESSES} processes spinning {seconds:g} s; {os.cpu_count()} cores, 2 workers")
    print(f"{'mode':<6} {'run':<13} {'load':>5} {'victim s':>9} {'victim score':<28} {'hog s':>6}")
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "course").mkdir()
        course = hog_course(Path(tmp) / "course", assignment, victim_notebook(solution),
                            hog_notebook(solution, seconds))
        if args.assignment == "03.2":
            data = Path(tmp) / "data"
            prepare_mnist(data, args.mnist_source)
            use_data(course, data)
        cfg = config.load(course.root, workers=2)
        warmup.home_files(cfg.sandbox(assignment))
        for mode in args.modes.split(","):
            with grader_as_a_service(), (without_share() if mode == "none" else nullcontext()):
                load = os.getloadavg()[0]
                (alone,) = batch.grade(course, assignment, cfg, ["victim"], progress=False, force=True)
                print(f"{mode:<6} {'alone':<13} {load:>5.1f} {alone.seconds:>9.1f} {_score(alone):<28} {'-':>6}",
                      flush=True)
                load = os.getloadavg()[0]
                runs = {r.job.student: r for r in batch.grade(course, assignment, cfg, ["hog", "victim"],
                                                              progress=False, force=True)}
                victim, hog = runs["victim"], runs["hog"]
                print(f"{mode:<6} {'beside hog':<13} {load:>5.1f} {victim.seconds:>9.1f} {_score(victim):<28} "
                      f"{hog.seconds:>6.1f}", flush=True)


if __name__ == "__main__":
    main()
