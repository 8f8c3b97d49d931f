"""The ``autograder`` command: the verbs and nothing else."""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from autograder import authoring, batch, config, data, demo, feedback
from autograder.checks.base import Status
from autograder.gradebook import Course


def _table(runs: list[batch.SubmissionRun]) -> str:
    if not runs:
        return "no submission graded in this run"
    items = [r.item for rs in runs[0].results.values() for r in rs]
    width = max(len("student"), *(len(r.job.student) for r in runs))
    lines = [f"{'student':<{width}}  {'score':>11}  statuses"]
    for run in runs:
        results = [r for rs in run.results.values() for r in rs]
        total = sum(r.max_points for r in results)
        bad = [f"{r.item.removeprefix('test_')}={r.status.value}" for r in results if r.status.value != "passed"]
        lines.append(f"{run.job.student:<{width}}  {run.score:>5g} / {total:<3g}  "
                     + ("all passed" if not bad else ", ".join(bad)))
    lines.append(f"{len(runs)} submissions, {len(items)} graded items each")
    return "\n".join(lines)


def _summary(runs: list[batch.SubmissionRun], skipped: int, wall_s: float, where: str) -> str:
    """How the batch went: times, the slowest submissions, counts per status, notes."""
    lines = [f"graded {len(runs)} submissions in {wall_s:.1f} s on {where}"]
    if skipped:
        lines.append(f"skipped {skipped} already graded and unchanged since (--force grades them again)")
    if runs:
        seconds = [r.seconds for r in runs]
        lines.append(f"time per submission: mean {statistics.fmean(seconds):.2f} s, "
                     f"median {statistics.median(seconds):.2f} s")
        slowest = sorted(runs, key=lambda r: r.seconds, reverse=True)[:3]
        lines.append("slowest: " + ", ".join(f"{r.job.student} {r.seconds:.1f} s ({r.worker})" for r in slowest))
        items = Counter(r.status for run in runs for rs in run.results.values() for r in rs)
        lines.append("items: " + ", ".join(f"{items[s]} {s.value}" for s in Status if items[s]))
        failed = [r.job.student for r in runs if r.failed]
        if failed:
            lines.append(f"failed (a kernel died, timed out or ran out of memory): {len(failed)}: "
                         + ", ".join(failed))
    notes = [f"  {r.job.student}: {note}" for r in runs for note in r.notes]
    if notes:
        lines += ["notes:", *notes]
    return "\n".join(lines)


def _grade(course: Course, args: argparse.Namespace) -> None:
    cfg = config.load(course.root, workers=args.workers, cluster=args.cluster)
    executor: batch.Executor = batch.LocalExecutor(cfg.worker_count)
    where = f"this machine, {cfg.worker_count} at a time"
    if cfg.cluster:
        from autograder import cluster  # imports distributed: only when a cluster is used

        executor = cluster.DaskExecutor(cfg.cluster, allowed_failures=args.allowed_failures)
        where = f"the Dask cluster at {cfg.cluster}"
    elif args.allowed_failures is not None:
        raise ValueError("--allowed-failures applies to grading on a cluster: add --cluster tcp://HOST:PORT "
                         "(or set grading.cluster in course.toml)")
    start = time.monotonic()
    runs = batch.grade(course, args.assignment, cfg, args.student, executor, force=args.force)
    wall = time.monotonic() - start
    requested = set(args.student or course.submitted(args.assignment))
    print(_table(runs))
    print(_summary(runs, len(requested - {r.job.student for r in runs}), wall, where))


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["hub"]:  # the platform's own verbs: up, down, status, grade, feedback
        from autograder.hub.__main__ import main as hub_main

        return int(hub_main(args_list[1:]) or 0)
    if args_list[:1] == ["selfcheck"]:
        from autograder.selfcheck import main as selfcheck_main

        return int(selfcheck_main(args_list[1:]) or 0)
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__,
                                     epilog="also: `autograder hub up|down|status|grade|feedback` (the platform) "
                                            "and `autograder selfcheck` (its self-check service)")
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="nbgrader course directory (default: the current directory)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    g = verbs.add_parser("grade", help="grade submitted/ into the gradebook and autograded/")
    g.add_argument("assignment")
    g.add_argument("--student", action="append", help="grade only this student (repeatable)")
    g.add_argument("--workers", type=int, help="submissions graded in parallel (default: course.toml, else cores)")
    g.add_argument("--cluster", metavar="tcp://HOST:PORT",
                   help="grade on the Dask cluster whose scheduler is there (default: grading.cluster in "
                        "course.toml; \"\" or none: this machine); see docs/scaling.md")
    g.add_argument("--force", action="store_true",
                   help="grade again submissions already graded (default: skip those unchanged since)")
    g.add_argument("--allowed-failures", type=int, metavar="N",
                   help="with a cluster: worker deaths one submission may cause before it is recorded as "
                        "'kernel died' (default: the scheduler's distributed.scheduler.allowed-failures, 3)")
    f = verbs.add_parser("feedback", help="write nbgrader feedback without hidden tests, student by student; "
                                          "exit status 1 when some student got none (each is named, with why)")
    f.add_argument("assignment")
    f.add_argument("--student", action="append")
    m = verbs.add_parser("data", help="build the course data: public/ for students, hidden/ for grading 03.2")
    m.add_argument("--mnist-source", type=Path, metavar="DIR",
                   help="a folder with mnist.npz or the MNIST IDX files (default: Keras' cache, then its "
                        "download); with only the two t10k files, the 10,000-digit offline subset")
    d = verbs.add_parser("demo", help="grade a bundled sample class of 03.0 and print the grade table")
    d.add_argument("--workers", type=int)
    n = verbs.add_parser("new", help="start an assignment: a starter notebook source/ID/ID.ipynb (one solution "
                                     "cell, its test cell) and a wrong answer in source/.wrong/ID/; never overwrites")
    n.add_argument("assignment")
    v = verbs.add_parser("verify", help="regenerate an assignment's release and check it: no hidden text released, "
                                        "every solution tested, the solution earns every point, the blank release "
                                        "none, each wrong answer in source/.wrong/ID/ loses its item; one table, "
                                        "exit status 1 when a check fails")
    v.add_argument("assignment")
    v.add_argument("--workers", type=int, help="submissions graded in parallel (default: course.toml, else cores)")
    args = parser.parse_args(argv)
    # nbgrader's own ORM code warns on every new submission; the warning is not actionable here.
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    try:
        if args.verb == "demo":
            root = demo.build(Path.cwd() / "demo")
            print(f"sample class in {root}", file=sys.stderr)
            args.course, args.verb, args.assignment, args.student = root, "grade", demo.ASSIGNMENT, None
            args.cluster, args.force, args.allowed_failures = None, False, None
        course = Course(args.course)
        if args.verb == "data":
            target = Path(config.load(course.root).data_dir)
            sizes = data.prepare_mnist(target, args.mnist_source)
            print(f"MNIST in {target}: {sizes['train']:,} training and {sizes['validate']:,} validation digits "
                  f"in public/, {sizes['hidden']:,} hidden digits in hidden/"
                  + (" (the offline subset)" if sizes["subset"] else ""))
        elif args.verb == "grade":
            _grade(course, args)
        elif args.verb == "feedback":
            return _feedback(course, args.assignment, args.student)
        elif args.verb == "new":
            for path in authoring.new(course, args.assignment):
                print(path.relative_to(course.root))
            print(f"edit the notebook, then run `autograder verify {args.assignment}`", file=sys.stderr)
        elif args.verb == "verify":
            report = authoring.verify(course, args.assignment, args.workers)
            print(report.table())
            return 0 if report.ok else 1
    except (config.ConfigError, ConnectionError, FileNotFoundError, KeyError, ValueError) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return 2
    return 0


def _feedback(course: Course, assignment: str, students: list[str] | None) -> int:
    """Feedback for every student it can be written for; then who got none, and why.  Exit
    status 1 when someone got none (only once every other student has theirs), else 0."""
    report = feedback.generate(course, assignment, students)
    for paths in report.written.values():
        for path in paths:
            print(path.relative_to(course.root))
    summary, *missing = report.lines()
    print(summary)
    for line in missing:
        print(f"autograder: {line}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
