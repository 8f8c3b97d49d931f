"""The platform's verbs: up, down, status (``make up``, ``make down``), and the instructor's
root-side grade and feedback on the live course."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from autograder.hub import daemon, grading, lifecycle
from autograder.hub.layout import Platform


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.hub", description=__doc__)
    parser.add_argument("--port", type=int, default=Platform.port, help="public port, for up (default: %(default)s)")
    parser.add_argument("--state", type=Path, default=Path(Platform.state_dir),
                        help="the platform's state folder; verbs but up read its platform.json (default: %(default)s)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    u = verbs.add_parser("up", help="lay out and start the platform; create and print the demo accounts")
    u.add_argument("--no-demo-accounts", action="store_true", help="create no instructor and student accounts")
    u.add_argument("--mnist-source", type=Path, default=None,
                   help="a folder with MNIST (IDX files or mnist.npz) to build the course data from, when it is "
                        "not built yet (default: Keras' cache, then its download)")
    verbs.add_parser("down", help="stop the hub and everything it started")
    verbs.add_parser("status", help="say whether the hub runs")
    g = verbs.add_parser("grade", help="`autograder grade` on the live course (then hand its files to the grader)")
    g.add_argument("args", nargs=argparse.REMAINDER, help="ASSIGNMENT and autograder grade's options")
    f = verbs.add_parser("feedback", help="`autograder feedback` on the live course, then release it to students")
    f.add_argument("assignment")
    f.add_argument("--student", action="append", help="only this student (repeatable)")
    f.add_argument("--no-release", action="store_true", help="write the feedback but do not release it")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("python -m autograder.hub: run as root (it creates users and starts their servers as them)",
              file=sys.stderr)
        return 2
    saved = args.state / "platform.json"
    if args.verb != "up" and saved.exists():
        platform = Platform.load(saved)
    else:
        source = str(args.mnist_source.resolve()) if args.verb == "up" and args.mnist_source else ""
        platform = Platform(port=args.port, state_dir=str(args.state), mnist_source=source)
    if args.verb in ("grade", "feedback") and not (platform.course_dir / "nbgrader_config.py").exists():
        print(f"python -m autograder.hub: error: no live course at {platform.course_dir}: run `make up` first "
              f"(or pass the platform's --state folder)", file=sys.stderr)
        return 2
    try:
        if args.verb == "up":
            print(lifecycle.up(platform, demo_accounts=not args.no_demo_accounts).render())
        elif args.verb == "grade":
            return grading.grade(platform, args.args)
        elif args.verb == "feedback":
            return grading.feedback(platform, args.assignment, args.student, release=not args.no_release)
        elif args.verb == "down":
            ended = lifecycle.down(platform)
            print(f"stopped {len(ended)} processes" if ended else "the hub was not running")
        else:
            pid = daemon.hub_pid(platform)
            print(f"running (pid {pid}) at {platform.url}/" if pid else "not running")
            return 0 if pid else 3
    except (daemon.HubError, FileNotFoundError, PermissionError, RuntimeError, ValueError) as exc:
        print(f"python -m autograder.hub: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
