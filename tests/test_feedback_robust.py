"""One student's odd notebook stops nobody else's grades, feedback, release or export.

A small class of 03.0 where some students carry odd nbgrader metadata: an extra cell with grade
metadata and an unknown ``grade_id`` (the reported case: ``autograder feedback`` stopped with
``MissingEntry: No such grade``), a duplicated test cell, malformed metadata, a solution cell
turned into markdown, a deleted test cell.  Grading writes autograded notebooks with the
instructor's metadata, so all of them get feedback; an autograded notebook that still carries
odd metadata (written before this fix, or by nbgrader's own autograde) costs only that student
their feedback, with the reason, on the command line and on the hub.
"""

from __future__ import annotations

import copy
import csv
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.plugins import CsvExportPlugin

from autograder import batch, cli, config, feedback
from autograder.gradebook import Course
from autograder.hub import grading
from autograder.hub.layout import Platform
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO, build_course

pytestmark = pytest.mark.slow

SOLUTION = REPO / "source" / ASSIGNMENT / NOTEBOOK
RELEASE = REPO / "release" / ASSIGNMENT / NOTEBOOK


def _nbgrader_cell(source: str, meta: object) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["nbgrader"] = meta
    return cell


def _index(nb: nbformat.NotebookNode, grade_id: str) -> int:
    return next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _students() -> dict[str, nbformat.NotebookNode]:
    def solution() -> nbformat.NotebookNode:
        return nbformat.read(SOLUTION, as_version=4)

    unknown = solution()  # the case: an extra graded cell nobody released
    unknown.cells.insert(3, _nbgrader_cell("x = 1", {"grade": True, "grade_id": "extra_credit", "points": 4,
                                                     "solution": False, "locked": False, "schema_version": 3}))
    duplicated = solution()  # a real test cell twice, the copy with more points
    twin = copy.deepcopy(duplicated.cells[_index(duplicated, "test_mse")])
    twin.metadata["nbgrader"]["points"] = 50
    twin["id"] = "copy-of-test-mse"
    duplicated.cells.insert(_index(duplicated, "test_mse") + 1, twin)
    malformed = solution()  # metadata nbgrader cannot read
    malformed.cells[3:3] = [
        _nbgrader_cell("y = 2", {"grade": True, "points": 3}),  # a grade cell without grade_id
        _nbgrader_cell("z = 3", {"grade": True, "grade_id": "bonus", "points": "four", "schema_version": 99}),
        _nbgrader_cell("w = 4", "not a dict"),
    ]
    markdown = solution()  # the solution cell of mse turned into markdown: mse is missing
    cell = markdown.cells[_index(markdown, "mse")]
    markdown.cells[_index(markdown, "mse")] = nbformat.v4.new_markdown_cell(cell.source, metadata=cell.metadata)
    deleted = solution()  # the test cell of mse deleted: it is checked at the end
    del deleted.cells[_index(deleted, "test_mse")]
    return {"ada": solution(), "bob-unknown": unknown, "cy": solution(), "dee-duplicated": duplicated,
            "eve-malformed": malformed, "fay-markdown": markdown, "gus-deleted": deleted}


STUDENTS = sorted(_students())


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Course:
    course = build_course(tmp_path_factory.mktemp("course"), _students())
    runs = batch.grade(course, ASSIGNMENT, config.load(course.root, workers=2), progress=False)
    assert sorted(r.job.student for r in runs) == STUDENTS
    return course


@pytest.fixture
def broken(graded: Course, tmp_path: Path) -> Course:
    """A copy of the graded class whose autograded notebooks of bob and eve still carry the
    invented cells, as nbgrader's autograde (or the engine before this fix) wrote them."""
    shutil.copytree(graded.root, tmp_path / "course")
    course = Course(tmp_path / "course")
    for student, meta in [("bob-unknown", {"grade": True, "grade_id": "extra_credit", "points": 4}),
                          ("eve-malformed", {"grade": True, "points": 3})]:
        path = course.autograded_dir(student, ASSIGNMENT) / NOTEBOOK
        nb = nbformat.read(path, as_version=4)
        nb.cells.insert(3, _nbgrader_cell("x = 1", meta))
        nbformat.write(nb, path)
    return course


def _html(course: Course, student: str) -> Path:
    return feedback.feedback_dir(course, student, ASSIGNMENT) / f"{ASSIGNMENT}.html"


def test_grades_are_recorded_for_everyone(graded: Course) -> None:
    """The odd metadata changes no score: only fay, whose mse is a markdown cell, loses mse's point."""
    scores = graded.scores(ASSIGNMENT)
    assert scores == {s: (20.0 if s == "fay-markdown" else 21.0, 21.0) for s in STUDENTS}


def test_autograded_notebooks_carry_the_instructors_metadata(graded: Course) -> None:
    """Every nbgrader cell of an autograded notebook is a release cell, once, with the release's
    metadata and cell type; invented cells keep their content without metadata."""
    release = {c.metadata["nbgrader"]["grade_id"]: c for c in nbformat.read(RELEASE, as_version=4).cells
               if "nbgrader" in c.metadata}
    for student in STUDENTS:
        nb = nbformat.read(graded.autograded_dir(student, ASSIGNMENT) / NOTEBOOK, as_version=4)
        ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata]
        assert len(ids) == len(set(ids)), student
        assert set(ids) == set(release), student
        for cell in nb.cells:
            if "nbgrader" in cell.metadata:
                trusted = release[cell.metadata.nbgrader["grade_id"]]
                assert (cell.metadata.nbgrader, cell.cell_type) == (trusted.metadata.nbgrader, trusted.cell_type)
        nbformat.validate(nb)
    bob = nbformat.read(graded.autograded_dir("bob-unknown", ASSIGNMENT) / NOTEBOOK, as_version=4)
    assert any(c.source == "x = 1" and "nbgrader" not in c.metadata for c in bob.cells)
    gus = nbformat.read(graded.autograded_dir("gus-deleted", ASSIGNMENT) / NOTEBOOK, as_version=4)
    verdict = gus.cells[_index(gus, "test_mse")]  # the deleted test cell is back, with its verdict
    assert verdict.outputs[0]["text"].startswith("[passed] 1 / 1 points\ntest_mse: every check passed")


def test_every_student_gets_feedback(graded: Course) -> None:
    """With the instructor's metadata in every autograded notebook, nbgrader writes everyone's feedback."""
    report = feedback.generate(graded, ASSIGNMENT)
    assert report.fed == STUDENTS and not report.missing, report.lines()
    assert all(_html(graded, s).is_file() for s in STUDENTS)
    assert "mse is not defined" in _html(graded, "fay-markdown").read_text()


def test_feedback_goes_on_past_broken_notebooks(broken: Course, capsys: pytest.CaptureFixture[str]) -> None:
    """`autograder feedback` writes every other student's feedback, names each broken one with
    nbgrader's reason, and exits 1 once everyone else is done."""
    for student in STUDENTS:  # feedback from an earlier run must not survive a failed one
        _html(broken, student).unlink(missing_ok=True)
    status = cli.main(["--course", str(broken.root), "feedback", ASSIGNMENT])
    out, err = capsys.readouterr()
    assert status == 1
    fed = [s for s in STUDENTS if s not in ("bob-unknown", "eve-malformed")]
    assert f"written for {len(fed)} of {len(STUDENTS)} students: {', '.join(fed)}" in out
    assert "autograder: no feedback for bob-unknown: nbgrader generate_feedback failed: MissingEntry: No such " \
           f"grade: {ASSIGNMENT}/{ASSIGNMENT}/extra_credit for bob-unknown" in err
    assert "autograder: no feedback for eve-malformed: nbgrader generate_feedback failed: KeyError: 'grade_id'" in err
    assert "--student eve-malformed --force" in err
    assert [s for s in STUDENTS if _html(broken, s).is_file()] == fed
    with pytest.raises(feedback.FeedbackIncomplete) as raised:
        feedback.render(broken, ASSIGNMENT)
    assert sorted(raised.value.report.missing) == ["bob-unknown", "eve-malformed"]
    assert len(raised.value.args[1]) == len(fed)
    assert not isinstance(raised.value, feedback.HiddenMaterialLeak)


def test_regrading_repairs_a_broken_notebook(broken: Course) -> None:
    """The regrade the report suggests rewrites the notebook with the instructor's metadata."""
    batch.grade(broken, ASSIGNMENT, config.load(broken.root, workers=1), ["bob-unknown"], progress=False,
                force=True)
    report = feedback.generate(broken, ASSIGNMENT, ["bob-unknown"])
    assert report.fed == ["bob-unknown"], report.lines()


def test_export_lists_everybody(broken: Course, tmp_path: Path) -> None:
    """`nbgrader export` (its CSV plugin on the gradebook) lists every student with their score."""
    target = tmp_path / "grades.csv"
    with Gradebook(broken.db_url, broken.course_id) as gb:
        CsvExportPlugin(to=str(target)).export(gb)
    rows = {r["student_id"]: float(r["raw_score"]) for r in csv.DictReader(target.open())}
    assert rows == {s: 20.0 if s == "fay-markdown" else 21.0 for s in STUDENTS}


def test_hub_releases_feedback_to_everyone_who_got_it(broken: Course, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """`autograder hub feedback` releases every student who got feedback (one nbgrader call each)
    and says in words who got none and why; the hub is not started."""
    platform = Platform(home_root=str(tmp_path / "home"), account_prefix="no-such-account-")
    platform.course_dir.parent.mkdir(parents=True)
    shutil.copytree(broken.root, platform.course_dir)
    released: list[list[str]] = []

    def release(user: str, python: Path, course: Course, exchange: Path, assignment: str,
                students: list[str] | None = None) -> dict[str, str | None]:
        assert user == platform.grader and assignment == ASSIGNMENT and students
        released.append(list(students))
        return {s: "no exchange here" if s == "cy" else None for s in students}

    monkeypatch.setattr(grading, "release_feedback_as", release)
    status = grading.feedback(platform, ASSIGNMENT)
    out = capsys.readouterr().out
    fed = [s for s in STUDENTS if s not in ("bob-unknown", "eve-malformed")]
    assert status == 1
    assert released == [fed]
    assert f"released feedback of {ASSIGNMENT} to {len(fed) - 1} students: " \
           f"{', '.join(s for s in fed if s != 'cy')}" in out
    assert f"release_feedback of {ASSIGNMENT} for cy failed: no exchange here" in out
    assert "no feedback for bob-unknown: nbgrader generate_feedback failed: MissingEntry: No such grade" in out
    assert "no feedback for eve-malformed: nbgrader generate_feedback failed: KeyError: 'grade_id'" in out
    assert "not released to 2 students without feedback: bob-unknown, eve-malformed" in out


def test_hub_without_release_reports_too(graded: Course, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """--no-release writes everyone's feedback, releases nothing and exits 0 when all got theirs."""
    platform = Platform(home_root=str(tmp_path / "home"), account_prefix="no-such-account-")
    platform.course_dir.parent.mkdir(parents=True)
    shutil.copytree(graded.root, platform.course_dir)
    monkeypatch.setattr(grading, "release_feedback_as", lambda *a, **k: pytest.fail("released"))
    assert grading.feedback(platform, ASSIGNMENT, release=False) == 0
    assert f"written for {len(STUDENTS)} of {len(STUDENTS)} students" in capsys.readouterr().out
