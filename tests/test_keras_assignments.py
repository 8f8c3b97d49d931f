"""03.1 and 03.2 end to end: notebooks train Keras models in sandboxed kernels; the saved files
are judged in the trusted process on hidden points (03.1) and a hidden MNIST split (03.2).

One batch per assignment holds the solution five times (regrades must agree exactly), the blank
release and every variant of :mod:`tests.corpus.keras_variants`; each test reads its results.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder import batch, config
from autograder.checks.base import Status
from autograder.demo import write_course
from autograder.gradebook import Course
from tests.conftest import REPO, use_data
from tests.corpus import keras_variants

pytestmark = pytest.mark.slow

Graded = tuple[Course, dict[str, batch.SubmissionRun]]
REGRADES = 5


def _paths(assignment: str) -> tuple[Path, Path]:
    name = f"{assignment}.ipynb"
    return REPO / "source" / assignment / name, REPO / "release" / assignment / name


def _grade_class(root: Path, data: Path, assignment: str, variants: dict[str, dict[str, str]],
                 **overrides: object) -> Graded:
    solution, release = _paths(assignment)
    students = {f"solution{i}": nbformat.read(solution, as_version=4) for i in range(REGRADES)}
    students["blank"] = nbformat.read(release, as_version=4)
    for name, cells in variants.items():
        students[name] = keras_variants.with_cells(solution, cells)
    course = Course(write_course(root, students, assignment))
    use_data(course, data, **overrides)
    runs = batch.grade(course, assignment, config.load(course.root, workers=2), progress=False)
    return course, {r.job.student: r for r in runs}


def _items(run: batch.SubmissionRun) -> dict[str, tuple[Status, float, str]]:
    (results,) = run.results.values()
    return {r.item: (r.status, r.points, r.message) for r in results}


def _accuracy(run: batch.SubmissionRun) -> float:
    found = re.search(r"accuracy ([0-9.]+)", _items(run)["test_accuracy"][2])
    assert found, _items(run)
    return float(found.group(1))


@pytest.fixture(scope="module")
def spirals(tmp_path_factory: pytest.TempPathFactory, mnist_data: Path) -> Graded:
    return _grade_class(tmp_path_factory.mktemp("spirals"), mnist_data, "03.1_keras_classifier",
                        VARIANTS["spirals"][0], **{"03.1_keras_classifier__cell_timeout_s": 40})


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory, mnist_data: Path) -> Graded:
    return _grade_class(tmp_path_factory.mktemp("digits"), mnist_data, "03.2_mnist_classifier",
                        VARIANTS["digits"][0])


DIGIT_VARIANTS = ("untrained", "wrong_output_size", "linear_only", "lambda_layer", "long_training",
                  "preprocess_no_scaling", "preprocess_wrong_shape")
"""03.2 runs the variants its own items need; the engine's file handling (custom objects,
uncompiled models, a missing or truncated file) is the same for both and tested on 03.1."""
VARIANTS = {"spirals": (keras_variants.VARIANTS_031, keras_variants.EXPECTED_031),
            "digits": ({k: keras_variants.VARIANTS_032[k] for k in DIGIT_VARIANTS}, keras_variants.EXPECTED_032)}
STATUS = {"long_training": Status.TIMEOUT}
MESSAGES = {"lambda_layer": "Lambda layer", "custom_object": "not a built-in Keras object",
            "truncate_file": "truncated", "no_save": "was not found", "wrong_output_size": "output shape",
            "uncompiled": "not compiled", "long_training": "time limit"}


@pytest.mark.parametrize("which", ["spirals", "digits"])
def test_solution_earns_every_point_on_every_regrade(which: str, request: pytest.FixtureRequest) -> None:
    """Five gradings of the solution: every item passes and the accuracy is the same to the digit."""
    course, runs = request.getfixturevalue(which)
    solutions = [runs[f"solution{i}"] for i in range(REGRADES)]
    for run in solutions:
        assert all(status is Status.PASSED for status, _, _ in _items(run).values()), _items(run)
    assert len({_accuracy(run) for run in solutions}) == 1, [_accuracy(r) for r in solutions]
    scores = course.scores(next(iter(solutions[0].results)))
    assert len({scores[f"solution{i}"] for i in range(REGRADES)}) == 1


@pytest.mark.parametrize("which", ["spirals", "digits"])
def test_blank_release_earns_zero(which: str, request: pytest.FixtureRequest) -> None:
    _, runs = request.getfixturevalue(which)
    items = _items(runs["blank"])
    assert all(points == 0 for _, points, _ in items.values()), items
    assert "NotImplementedError" in items["test_build_model"][2] or items["test_build_model"][0] is Status.ERROR


def _variant_cases() -> list[tuple[str, str]]:
    return [(which, name) for which, (variants, _) in VARIANTS.items() for name in variants if name != "solution"]


@pytest.mark.parametrize(("which", "variant"), _variant_cases())
def test_variant_loses_exactly_its_items(which: str, variant: str, request: pytest.FixtureRequest) -> None:
    """Each broken submission earns exactly the fraction of each item the corpus says; the
    items it loses say why."""
    _, runs = request.getfixturevalue(which)
    run = runs[variant]
    expected = VARIANTS[which][1][variant]
    (results,) = run.results.values()
    for result in results:
        fraction = expected.get(result.item, 1.0)
        assert result.points == pytest.approx(fraction * result.max_points), (variant, result)
        if fraction == 0.0:
            if variant in STATUS and result.item == "test_accuracy":
                assert result.status is STATUS[variant], (variant, result)
            wanted = MESSAGES.get(variant)
            if wanted and (result.item == "test_accuracy" or variant == "uncompiled"):
                assert wanted in result.message, (variant, result)


def test_accuracy_feedback_names_accuracy_threshold_and_device(spirals: Graded) -> None:
    """The hidden accuracy, where it was measured and the bands (from the notebook's test cell);
    a model below the lowest band already fails the cell's visible check, which names its accuracy
    on the validation points and the aim."""
    _, runs = spirals
    message = _items(runs["solution0"])["test_accuracy"][2]
    assert re.search(r"accuracy 0\.\d+ on 3,000 hidden points \(evaluated on cpu\)", message), message
    assert "full points at ≥ 0.9" in message and "50% of the points at ≥ 0.8" in message, message
    status, points, message = _items(runs["linear_only"])["test_accuracy"]
    assert (status, points) == (Status.FAILED, 0.0), message
    assert re.search(r"classifies \d+\.\d% of the validation points correctly; aim for at least 90%", message), message
