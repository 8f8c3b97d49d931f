"""Crash-safe batches: every submission recorded once, a rerun finishes what a dead batch left.

Helpers used by ``test_cluster.py`` too: ``small_class()`` (six submissions of 03.0),
``gradebook_items(course)`` (student -> item -> (score, max) as nbgrader stores them),
``duplicate_rows(course)`` and ``journals(course)``.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest

from autograder import batch, cli, config
from autograder.gradebook import Course
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO, build_course
from tests.corpus.gradient_descent_variants import VARIANTS, with_cell

pytestmark = pytest.mark.slow

SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK
RELEASE = REPO / "release" / ASSIGNMENT / NOTEBOOK
BUGS = {"mse": "bug_sum_not_mean", "softmax": "bug_no_max_shift", "gradient_descent": "bug_missing_x0_row",
        "adam_step": "bug_no_bias_correction"}

Items = dict[str, dict[str, tuple[float, float]]]


def small_class() -> dict[str, nbformat.NotebookNode]:
    """The solution, the blank release and four notebooks with one bug each."""
    students = {"solution": nbformat.read(SOLUTION, as_version=4), "blank": nbformat.read(RELEASE, as_version=4)}
    for gid, variant in BUGS.items():
        students[f"{gid}--{variant}"] = with_cell(SOLUTION, gid, VARIANTS[gid][variant])
    return students


def gradebook_items(course: Course) -> Items:
    """Student -> item -> (score, max score), read from nbgrader's database."""
    rows = _query(course, """
        SELECT submitted_assignment.student_id, base_cell.name, grade.auto_score, grade_cells.max_score
        FROM grade
        JOIN submitted_notebook ON grade.notebook_id = submitted_notebook.id
        JOIN submitted_assignment ON submitted_notebook.assignment_id = submitted_assignment.id
        JOIN grade_cells ON grade.cell_id = grade_cells.id
        JOIN base_cell ON grade.cell_id = base_cell.id""")
    items: Items = {}
    for student, item, score, max_score in rows:
        items.setdefault(student, {})[item] = (score, max_score)
    return items


def duplicate_rows(course: Course) -> list[tuple[Any, ...]]:
    """Rows nbgrader should hold once and holds more often: submissions, notebooks, grades."""
    return _query(course, """
        SELECT 'submission', student_id, assignment_id, COUNT(*) FROM submitted_assignment
            GROUP BY student_id, assignment_id HAVING COUNT(*) > 1
        UNION ALL SELECT 'notebook', assignment_id, notebook_id, COUNT(*) FROM submitted_notebook
            GROUP BY assignment_id, notebook_id HAVING COUNT(*) > 1
        UNION ALL SELECT 'grade', notebook_id, cell_id, COUNT(*) FROM grade
            GROUP BY notebook_id, cell_id HAVING COUNT(*) > 1""")


def _query(course: Course, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(course.db_url.removeprefix("sqlite:///")) as db:
        return db.execute(sql).fetchall()


def journals(course: Course) -> dict[str, dict[str, Any]]:
    """Student -> the journal record of their graded submission of 03.0."""
    found = course.root.glob(f"autograded/*/{ASSIGNMENT}/{batch.JOURNAL}")
    return {path.parent.parent.name: json.loads(path.read_text()) for path in found}


def _resubmit(course: Course, student: str, nb: nbformat.NotebookNode) -> None:
    folder = course.root / "submitted" / student / ASSIGNMENT
    nbformat.write(nb, folder / NOTEBOOK)
    (folder / "timestamp.txt").write_text("2026-11-21 09:30:00.000000 UTC")


def test_rerun_skips_graded_and_regrades_resubmissions(tmp_path: Path) -> None:
    """A second run grades nothing; a resubmitted notebook, and only it, is graded again."""
    course = build_course(tmp_path, {"solution": nbformat.read(SOLUTION, as_version=4),
                                     "blank": nbformat.read(RELEASE, as_version=4)})
    cfg = config.load(course.root, workers=2)
    assert {r.job.student for r in batch.grade(course, ASSIGNMENT, cfg, progress=False)} == {"solution", "blank"}
    first = journals(course)
    assert batch.grade(course, ASSIGNMENT, cfg, progress=False) == []
    assert batch.grade(course, ASSIGNMENT, cfg, ["blank"], progress=False) == []
    _resubmit(course, "blank", nbformat.read(SOLUTION, as_version=4))
    assert [r.job.student for r in batch.grade(course, ASSIGNMENT, cfg, progress=False)] == ["blank"]
    assert course.scores(ASSIGNMENT) == {"solution": (21.0, 21.0), "blank": (21.0, 21.0)}
    after = journals(course)
    assert after["solution"] == first["solution"]
    assert after["blank"]["digest"] != first["blank"]["digest"]
    assert after["blank"]["timestamp"] == "2026-11-21 09:30:00.000000 UTC"
    assert duplicate_rows(course) == []


def test_force_regrades_without_doubling(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--force` grades every submission again; the gradebook holds the same scores, each once."""
    course = build_course(tmp_path, {"solution": nbformat.read(SOLUTION, as_version=4),
                                     "mse--bug": with_cell(SOLUTION, "mse", VARIANTS["mse"]["bug_sum_not_mean"])})
    args = ["--course", str(course.root), "grade", ASSIGNMENT, "--workers", "2"]
    assert cli.main(args) == 0
    before, first = gradebook_items(course), journals(course)
    assert cli.main(args) == 0
    assert "skipped 2 already graded" in capsys.readouterr().out
    assert journals(course) == first
    assert cli.main([*args, "--force"]) == 0
    out = capsys.readouterr().out
    assert "graded 2 submissions" in out and "skipped" not in out
    assert gradebook_items(course) == before
    assert all(journals(course)[s]["graded_at"] >= first[s]["graded_at"] for s in first)
    assert duplicate_rows(course) == []
    assert len(_query(course, "SELECT * FROM grade")) == 2 * len(before["solution"])


def test_killed_coordinator_resumes(tmp_path: Path) -> None:
    """SIGKILL of `autograder grade` mid-batch, then the same command: all graded, none twice, nothing redone."""
    course = build_course(tmp_path, small_class())
    students = set(small_class())
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}{os.pathsep}{os.environ['PATH']}"}
    command = [str(bindir / "autograder"), "--course", str(course.root), "grade", ASSIGNMENT, "--workers", "1"]
    first = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 300
        while len(journals(course)) < 2:
            assert first.poll() is None, "the batch ended before it could be killed"
            assert time.monotonic() < deadline, "no submission was graded within 300 s"
            time.sleep(0.05)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = journals(course)
    assert 2 <= len(done) < len(students), "the kill did not land mid-batch"
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stderr
    assert f"graded {len(students) - len(done)} submissions" in second.stdout
    assert f"skipped {len(done)} already graded" in second.stdout
    final = journals(course)
    assert set(final) == students
    assert {s: final[s] for s in done} == done  # what was done was not graded again
    items = gradebook_items(course)
    assert set(items) == students
    for student, record in final.items():
        assert sum(score for score, _ in items[student].values()) == pytest.approx(record["score"])
        assert (course.root / "autograded" / student / ASSIGNMENT / NOTEBOOK).exists()
    assert course.scores(ASSIGNMENT)["solution"] == (21.0, 21.0)
    assert course.scores(ASSIGNMENT)["blank"] == (0.0, 21.0)
    assert all(0 < course.scores(ASSIGNMENT)[s][0] < 21 for s in students - {"solution", "blank"})
    assert duplicate_rows(course) == []
