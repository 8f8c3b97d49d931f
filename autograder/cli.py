"""The ``autograder`` command: the verbs and nothing else."""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from autograder import batch, config, demo, feedback
from autograder.gradebook import Course


def _table(runs: list[batch.SubmissionRun]) -> str:
    if not runs:
        return "no submissions"
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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="autograder", description=__doc__)
    parser.add_argument("--course", type=Path, default=Path.cwd(),
                        help="nbgrader course directory (default: the current directory)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    g = verbs.add_parser("grade", help="grade submitted/ into the gradebook and autograded/")
    g.add_argument("assignment")
    g.add_argument("--student", action="append", help="grade only this student (repeatable)")
    g.add_argument("--workers", type=int, help="submissions graded in parallel (default: course.toml, else cores)")
    f = verbs.add_parser("feedback", help="write nbgrader feedback without hidden tests")
    f.add_argument("assignment")
    f.add_argument("--student", action="append")
    d = verbs.add_parser("demo", help="grade a bundled sample class of 03.0 and print the grade table")
    d.add_argument("--workers", type=int)
    args = parser.parse_args(argv)
    # nbgrader's own ORM code warns on every new submission; the warning is not actionable here.
    warnings.filterwarnings("ignore", message="Object of type <Submitted")
    try:
        if args.verb == "demo":
            root = demo.build(Path.cwd() / "demo")
            print(f"sample class in {root}", file=sys.stderr)
            args.course, args.verb, args.assignment, args.student = root, "grade", demo.ASSIGNMENT, None
        course = Course(args.course)
        if args.verb == "grade":
            cfg = config.load(course.root, workers=args.workers)
            runs = batch.grade(course, args.assignment, cfg, args.student)
            print(_table(runs))
        elif args.verb == "feedback":
            for path in feedback.render(course, args.assignment, args.student):
                print(path.relative_to(course.root))
    except (config.ConfigError, FileNotFoundError, KeyError, ValueError, feedback.HiddenMaterialLeak) as exc:
        print(f"autograder: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
