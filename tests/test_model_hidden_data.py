"""The hidden data of 03.1 and 03.2: drawn from the course's secret seed, and for 03.2 made fresh
so that a table of the public MNIST test digits is worth nothing (numpy only, no Keras)."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nbformat
import numpy as np
import numpy.typing as npt
import pytest
from nbexpect.models import _checked

from autograder import config, data
from autograder.public import lesson03_data
from autograder.public.lesson03_data import make_spirals, read_idx
from autograder.run import services
from autograder.run.notebook import grade_id
from autograder.run.services import CellGrader
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits
from tests.conftest import MNIST_SOURCE, REPO

KERAS = ("03.1_keras_classifier", "03.2_mnist_classifier")


def _test_cells(assignment: str) -> dict[str, str]:
    """The instructor notebook's graded test cells, by grade_id."""
    nb = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", as_version=4)
    return {str(grade_id(c)): c.source for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")}


def _mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


class TestSecretSeed:
    def test_made_once_private_and_kept(self, tmp_path: Path) -> None:
        hidden = tmp_path / "data" / "hidden"
        seed = data.secret_seed(hidden)
        assert _mode(hidden) == 0o700 and _mode(hidden / data.SEED_FILE) == 0o600
        assert data.secret_seed(hidden) == seed and seed.bit_length() > 32
        assert data.secret_seed(tmp_path / "other") != seed, "every course draws its own"
        assert sorted(p.name for p in hidden.iterdir()) == [data.SEED_FILE]

    def test_a_damaged_seed_is_an_error_not_a_new_draw(self, tmp_path: Path) -> None:
        tmp_path.joinpath(data.SEED_FILE).write_text("not a number")
        with pytest.raises(ValueError, match="not a seed"):
            data.secret_seed(tmp_path)

    def test_no_hidden_seed_in_tracked_files(self) -> None:
        """Students can read the repository: no file of 03.1's and 03.2's grading holds a seed of
        hidden data, neither the grader's code and settings nor the notebooks' test cells (their
        ``default_rng(...)`` probes draw random inputs, not hidden data)."""
        listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "autograder/models",
                                 "autograder/run/services.py", "lib/nbexpect/nbexpect", "autograder/data.py",
                                 "course.toml"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
        tracked = [name for name in listed if (REPO / name).is_file()]
        assert {"autograder/run/services.py", "lib/nbexpect/nbexpect/models.py", "autograder/data.py"} <= set(tracked)
        assert len(tracked) >= 6, tracked
        texts = [(REPO / name).read_text() for name in tracked]
        texts += [source for assignment in KERAS for source in _test_cells(assignment).values()]
        assignment = re.compile(r"^\s*([A-Za-z_]*seed[A-Za-z_]*)\s*=\s*\d", re.M | re.I)
        seeds = [m for text in texts for m in assignment.findall(text)]
        assert seeds == [], seeds

    def test_03_1_draws_its_points_from_the_seed_made_on_first_use(self, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """A course that never ran `autograder data` still grades 03.1 (``expect_accuracy(...,
        data="spirals")``): its seed is made on first use, then kept, so regrades see the same 3,000
        points; another course sees other points.  (The evaluator is stubbed: only the points it
        would get are checked.)"""
        seeds: list[tuple[int, int | None]] = []

        def spy(n: int, noise: float = 0.3, seed: int | None = None) -> Any:
            seeds.append((n, seed))
            return make_spirals(n, noise, seed)

        evaluated: list[npt.NDArray[Any]] = []

        def measure(path: Path, max_bytes: int, inputs: npt.NDArray[Any], classes: int, gpu: bool) -> Any:
            assert classes == 3
            evaluated.append(inputs)
            return SimpleNamespace(device="cpu")

        monkeypatch.setattr(lesson03_data, "make_spirals", spy)
        monkeypatch.setattr(services, "measure", measure)
        monkeypatch.setattr(services, "accuracy", lambda got, labels: 0.5)
        (tmp_path / "course.toml").write_text((REPO / "course.toml").read_text())
        settings = config.load(tmp_path).settings("03.1_keras_classifier")
        hidden = Path(settings["hidden_data_dir"])
        assert not hidden.exists()
        artifacts = tmp_path / "artifacts"
        artifacts.mkdir()
        with Jail(Limits(disk_bytes=16 * 1024**2)) as jail:
            jail.put("keras_classifier.keras", b"a model")

            def grade(settings: dict[str, Any]) -> Any:
                return CellGrader(jail, settings, artifacts, 0).accuracy("keras_classifier.keras", "spirals")

            assert grade(settings).examples == 3000
            grade(settings)
            assert _mode(hidden) == 0o700 and _mode(hidden / data.SEED_FILE) == 0o600
            assert seeds == [(3000, data.secret_seed(hidden))] * 2
            assert np.array_equal(evaluated[0], evaluated[1])
            np.testing.assert_array_equal(evaluated[0], make_spirals(3000, seed=data.secret_seed(hidden))[0])
            grade({"hidden_data_dir": str(tmp_path / "other")})
            assert seeds[2][1] != seeds[0][1] and not np.array_equal(evaluated[2], evaluated[0])
            with pytest.raises(RuntimeError, match="hidden_data_dir"):
                grade({})


@pytest.fixture(scope="module")
def public_test_digits() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """All 10,000 public MNIST test digits, untransformed: what a memorising student has."""
    return (read_idx(MNIST_SOURCE / "t10k-images-idx3-ubyte.gz"),
            read_idx(MNIST_SOURCE / "t10k-labels-idx1-ubyte.gz"))


def _bands(assignment: str, examples: int) -> list[tuple[float, float]]:
    """The bands of the notebook's ``expect_accuracy`` call for a hidden set of ``examples``, checked
    as the helper checks them."""
    tree = ast.parse(_test_cells(assignment)["test_accuracy"])
    (call,) = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
               and isinstance(node.func, ast.Name) and node.func.id == "expect_accuracy"]
    (bands,) = [k.value for k in call.keywords if k.arg == "bands"]
    value = eval(compile(ast.Expression(bands), "<bands>", "eval"), {})
    return _checked(value(examples) if callable(value) else value)


def _lowest_band() -> float:
    """The lowest accuracy that earns points on the offline subset's 2,000 hidden digits."""
    return min(a for a, _ in _bands("03.2_mnist_classifier", 2000))


def test_bands_of_the_notebooks() -> None:
    """The bands the test cells grade with: 03.1 on its 3,000 points; 03.2 on the full MNIST test
    set, and lower on the offline subset (distorted digits of a model trained on 7,000)."""
    assert _bands("03.1_keras_classifier", 3000) == [(0.90, 1.0), (0.80, 0.5)]
    assert _bands("03.2_mnist_classifier", 10_000) == [(0.95, 1.0), (0.92, 0.5)]
    assert _bands("03.2_mnist_classifier", 2000) == [(0.93, 1.0), (0.90, 0.5)]
    assert _lowest_band() == 0.90


class TestFreshDigits:
    def test_hidden_digits_are_none_of_the_public_ones(self, mnist_data: Path, public_test_digits: Any) -> None:
        raw, labels = public_test_digits
        hidden = data.load_hidden_mnist(mnist_data / data.HIDDEN)
        assert hidden.subset and np.array_equal(hidden.y, labels[8000:])
        assert not {d.tobytes() for d in raw} & {d.tobytes() for d in hidden.x}
        moved = np.abs(hidden.x.astype(np.int64) - raw[8000:]).reshape(len(hidden.x), -1).mean(axis=1)
        assert moved.min() > 1.0 and np.median(moved) > 8.0  # grey levels per pixel, from its own source
        assert _mode(mnist_data / data.HIDDEN / data.SEED_FILE) == 0o600

    def test_same_seed_same_digits_new_seed_new_digits(self, mnist_data: Path, tmp_path: Path) -> None:
        """`autograder data` again keeps the seed (regrades agree); a new seed is a new draw."""
        copy = tmp_path / "data"
        shutil.copytree(mnist_data, copy)
        data.prepare_mnist(copy, MNIST_SOURCE)
        before = data.load_hidden_mnist(mnist_data / data.HIDDEN).x
        assert np.array_equal(data.load_hidden_mnist(copy / data.HIDDEN).x, before)
        (copy / data.HIDDEN / data.SEED_FILE).unlink()
        data.prepare_mnist(copy, MNIST_SOURCE)
        assert not np.array_equal(data.load_hidden_mnist(copy / data.HIDDEN).x, before)

    def test_a_split_written_before_is_made_fresh_when_loaded(self, tmp_path: Path, public_test_digits: Any) -> None:
        raw, labels = public_test_digits
        hidden = tmp_path / "hidden"
        hidden.mkdir()
        np.savez(hidden / data.HIDDEN_FILE, x=raw[8000:], y=labels[8000:], subset=np.array(True))
        loaded = data.load_hidden_mnist(hidden)
        assert np.array_equal(loaded.x, data.fresh_digits(raw[8000:], data.secret_seed(hidden)))
        assert not np.array_equal(loaded.x, raw[8000:])

    def test_transform_is_small(self) -> None:
        """One stroke moved by at most a pixel or two: the digit keeps its place and its ink."""
        image = np.zeros((1, 28, 28), np.uint8)
        image[0, 8:20, 13:15] = 255
        for seed in range(20):
            out = data.fresh_digits(image, seed)[0].astype(np.float64)
            rows, cols = np.nonzero(out > 0)
            weights = out[rows, cols]
            centre = np.array([np.average(rows, weights=weights), np.average(cols, weights=weights)])
            assert np.abs(centre - [13.5, 13.5]).max() <= 1.6, centre
            assert 0.75 < out.sum() / (255 * 24) < 1.3

    def test_a_memorising_lookup_falls_below_the_lowest_band(self, mnist_data: Path, public_test_digits: Any) -> None:
        """A table of the public test digits -> labels, exact or tolerant (a public digit within 2
        grey levels per pixel on average counts as a match), guessing the commonest label for the
        rest, earns nothing on the fresh hidden digits (without them fresh it scored 1.0)."""
        raw, labels = public_test_digits
        hidden = data.load_hidden_mnist(mnist_data / data.HIDDEN)
        commonest = int(np.bincount(labels).argmax())
        table = {d.tobytes(): int(label) for d, label in zip(raw, labels, strict=True)}
        exact = np.array([table.get(d.tobytes(), commonest) for d in hidden.x])
        flat = raw.reshape(len(raw), -1).astype(np.float32)
        query = hidden.x.reshape(len(hidden.x), -1).astype(np.float32)
        nearest = ((flat**2).sum(axis=1)[None] - 2 * query @ flat.T).argmin(axis=1)
        close = np.abs(query - flat[nearest]).mean(axis=1) <= 2.0
        tolerant = np.where(close, labels[nearest], commonest)
        lowest = _lowest_band()
        for name, predicted in (("exact", exact), ("tolerant", tolerant)):
            accuracy = float(np.mean(predicted == hidden.y))
            assert accuracy < lowest, (name, accuracy, lowest)
            assert accuracy < 0.2, (name, accuracy)
        untransformed = np.array([table.get(d.tobytes(), commonest) for d in raw[8000:]])
        assert float(np.mean(untransformed == hidden.y)) == 1.0  # the table itself is right
