"""Benchmark: a synthetic class of 03.0 graded by `autograder grade` and by `nbgrader autograde`.

Builds two identical copies of the course with N submissions (a mix of correct, buggy and
blank notebooks), grades one with each tool in the same run, and prints both wall times and
their ratio.  Run as root from the repository root:  .venv/bin/python benchmarks/bench_grading.py
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.conftest import ASSIGNMENT, NOTEBOOK, build_course  # noqa: E402
from tests.corpus.gradient_descent_variants import VARIANTS, with_cell  # noqa: E402


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


def timed(command: list[str], cwd: Path) -> float:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    students = synthetic_class(args.students)
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        ours, theirs = Path(tmp, "autograder"), Path(tmp, "nbgrader")
        for root in (ours, theirs):
            root.mkdir()
            build_course(root, students)
            # Both start from a gradebook that knows the assignment, as after a release.
            env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}"}
            subprocess.run([str(bindir / "nbgrader"), "generate_assignment", ASSIGNMENT, "--force"], cwd=root,
                           check=True, capture_output=True, env=env)
        t_ours = timed([str(bindir / "autograder"), "grade", ASSIGNMENT, "--workers", str(args.workers)], ours)
        t_theirs = timed([str(bindir / "nbgrader"), "autograde", ASSIGNMENT, "--force"], theirs)
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"class: {args.students} submissions of {ASSIGNMENT}, {os.cpu_count()} cores")
    print(f"autograder grade (sandboxed, trusted checks, {args.workers} workers): {t_ours:7.1f} s "
          f"({t_ours / args.students:.2f} s per submission)")
    print(f"nbgrader autograde (serial, in-kernel tests):           {t_theirs:7.1f} s "
          f"({t_theirs / args.students:.2f} s per submission)")
    print(f"ratio autograder / nbgrader: {t_ours / t_theirs:.2f} (target <= 0.40)")


if __name__ == "__main__":
    main()
