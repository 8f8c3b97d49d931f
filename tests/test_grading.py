"""End to end on 03.0: a class graded in sandboxed kernels into nbgrader's gradebook."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from autograder import authored, batch, config, feedback
from autograder.checks.base import Status
from autograder.demo import write_course
from autograder.gradebook import Course
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO, build_course
from tests.corpus.gradient_descent_variants import VARIANTS, with_cell

pytestmark = pytest.mark.slow

SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK
RELEASE = REPO / "release" / ASSIGNMENT / NOTEBOOK
ITEM_OF = {gid: f"test_{gid}" for gid in VARIANTS}


def _student(gid: str, variant: str) -> str:
    return f"{gid}--{variant}"


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory: pytest.TempPathFactory) -> tuple[Course, dict[str, batch.SubmissionRun]]:
    """One batch: the solution, the blank release, and every variant of every function."""
    students = {"solution": nbformat.read(SOLUTION, as_version=4), "blank": nbformat.read(RELEASE, as_version=4)}
    for gid, variants in VARIANTS.items():
        for name, source in variants.items():
            students[_student(gid, name)] = with_cell(SOLUTION, gid, source)
    course = build_course(tmp_path_factory.mktemp("course"), students)
    cfg = config.load(course.root, workers=2)
    runs = batch.grade(course, ASSIGNMENT, cfg, progress=False)
    return course, {r.job.student: r for r in runs}


def _results(run: batch.SubmissionRun) -> dict[str, tuple[Status, float, float, str]]:
    return {r.item: (r.status, r.points, r.max_points, r.message) for r in run.results[ASSIGNMENT]}


class TestSolutionAndBlank:
    def test_solution_earns_every_point(self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
        """The instructor's solution passes every hidden check."""
        course, runs = graded_class
        results = _results(runs["solution"])
        assert all(status is Status.PASSED for status, *_ in results.values()), results
        assert course.scores(ASSIGNMENT)["solution"] == (21.0, 21.0)

    def test_blank_release_earns_zero(self, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
        """The untouched student notebook earns nothing and the batch goes on."""
        course, runs = graded_class
        assert course.scores(ASSIGNMENT)["blank"] == (0.0, 21.0)
        statuses = {status for status, *_ in _results(runs["blank"]).values()}
        assert statuses <= {Status.ERROR, Status.MISSING}
        assert "NotImplementedError" in _results(runs["blank"])["test_mse"][3]


@pytest.mark.parametrize("gid,variant", [(g, v) for g, vs in VARIANTS.items() for v in vs])
def test_variant(gid: str, variant: str, graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
    """A buggy variant loses exactly its own item, named in the message; an alternative keeps it."""
    _course, runs = graded_class
    results = _results(runs[_student(gid, variant)])
    item = ITEM_OF[gid]
    others = {k: v for k, v in results.items() if k != item}
    assert all(status is Status.PASSED for status, *_ in others.values()), others
    status, points, max_points, message = results[item]
    if variant.startswith("alt_"):
        assert status is Status.PASSED, message
        assert points == max_points
    else:
        assert status is not Status.PASSED and points < max_points, message
        assert (gid if gid != "learning_rates" else "LR_") in message


def test_gradebook_matches_results(graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
    """Every submission's gradebook score is the sum of its verdicts' points."""
    course, runs = graded_class
    scores = course.scores(ASSIGNMENT)
    assert set(scores) == set(runs)
    for student, run in runs.items():
        assert scores[student][0] == pytest.approx(run.score)


def test_regrading_is_idempotent(graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
    """Grading the same students again (forced: unchanged submissions are skipped otherwise)
    changes nothing in the gradebook."""
    course, _ = graded_class
    before = course.scores(ASSIGNMENT)
    cfg = config.load(course.root, workers=2)
    again = batch.grade(course, ASSIGNMENT, cfg, ["solution", "blank", "mse--bug_sum_not_mean"], progress=False,
                        force=True)
    assert len(again) == 3
    assert course.scores(ASSIGNMENT) == before


def test_feedback_shows_no_hidden_code(graded_class: tuple[Course, dict[str, batch.SubmissionRun]]) -> None:
    """Feedback for failing hidden checks shows the verdict, never the hidden tests or the test cell's code."""
    course, _runs = graded_class
    student = "adam_step--bug_no_bias_correction"
    paths = feedback.render(course, ASSIGNMENT, [student, "blank"])
    assert len(paths) == 2
    html = paths[0].read_text()
    assert "adam_step" in html and "wrong" in html
    secrets = feedback.hidden_lines(SOLUTION)
    assert secrets
    for marker in [*feedback.HIDDEN_MARKERS, *secrets]:
        assert marker not in html
    test = dict(authored.read(REPO / "source" / ASSIGNMENT)[authored.TESTS])["test_adam_step"]
    release = nbformat.read(RELEASE, as_version=4)
    released = {line.strip() for cell in release.cells for line in cell.source.splitlines()}
    code = [line.strip() for line in test.splitlines() if len(line.strip()) > 25 and line.strip() not in released]
    assert code and all(line not in html for line in code)


def test_missing_and_corrupt_notebooks(tmp_path: Path) -> None:
    """A missing or unreadable notebook is reported as such and does not stop the batch."""
    course = build_course(tmp_path, {"ok": nbformat.read(SOLUTION, as_version=4)})
    (course.root / "submitted" / "nofile" / ASSIGNMENT).mkdir(parents=True)
    corrupt = course.root / "submitted" / "corrupt" / ASSIGNMENT
    corrupt.mkdir(parents=True)
    (corrupt / NOTEBOOK).write_text("{ not json")
    runs = {r.job.student: r for r in batch.grade(course, ASSIGNMENT, config.load(course.root), progress=False)}
    assert {r.status for r in runs["nofile"].results[ASSIGNMENT]} == {Status.MISSING}
    assert {r.status for r in runs["corrupt"].results[ASSIGNMENT]} == {Status.ERROR}
    assert runs["ok"].score == 21.0


ASSIGNMENTS = sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_release_is_in_sync_with_source(tmp_path: Path, assignment: str) -> None:
    """release/ is what `nbgrader generate_assignment` makes from source/ (regenerate it if this fails)."""
    course = Course(write_course(tmp_path, {}, assignment))
    shutil.rmtree(course.root / "release")
    result = course.api().generate_assignment(assignment, force=True, create=True)
    assert result["success"], result["log"]
    fresh_dir, committed_dir = course.root / "release" / assignment, REPO / "release" / assignment
    assert sorted(p.name for p in fresh_dir.iterdir()) == sorted(p.name for p in committed_dir.iterdir())
    for path in fresh_dir.iterdir():
        if path.suffix != ".ipynb":
            assert path.read_bytes() == (committed_dir / path.name).read_bytes(), f"release/{assignment}/{path.name}"
            continue
        fresh = nbformat.read(path, as_version=4)
        committed = nbformat.read(committed_dir / path.name, as_version=4)
        assert [(c.cell_type, c.source, c.metadata) for c in fresh.cells] == \
            [(c.cell_type, c.source, c.metadata) for c in committed.cells], \
            f"release/ is stale: run `nbgrader generate_assignment {assignment} --force` and commit it"


def test_autograded_keeps_the_submission_secret(tmp_path: Path) -> None:
    """`nbgrader release_feedback` needs the submission's secret beside the autograded notebook."""
    course = build_course(tmp_path, {"ok": nbformat.read(SOLUTION, as_version=4)})
    (course.root / "submitted" / "ok" / ASSIGNMENT / "submission_secret.txt").write_text("s3cret")
    batch.grade(course, ASSIGNMENT, config.load(course.root, workers=1), progress=False)
    assert (course.autograded_dir("ok", ASSIGNMENT) / "submission_secret.txt").read_text() == "s3cret"
