"""The hidden data of 03.1 and 03.2: drawn from the course's secret seed, and for 03.2 made fresh
so that a table of the public MNIST test digits is worth nothing (numpy only, no Keras)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from autograder import config, data
from autograder.course import keras_models
from autograder.public.lesson03_data import make_spirals, read_idx
from tests.conftest import MNIST_SOURCE, REPO


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
        """Students can read the repository: no tracked file of 03.1's and 03.2's grading holds a
        seed of hidden data (the probe seed of 03.2's preprocess draws random images, not hidden
        digits)."""
        tracked = subprocess.run(["git", "ls-files", "autograder/models", "autograder/course/keras_models.py",
                                  "autograder/data.py", "course.toml"], cwd=REPO, capture_output=True, text=True,
                                 check=True).stdout.split()
        assert len(tracked) >= 6, tracked
        assignment = re.compile(r"^\s*([A-Za-z_]*seed[A-Za-z_]*)\s*=\s*\d", re.M | re.I)
        seeds = [m for name in tracked for m in assignment.findall((REPO / name).read_text())]
        assert seeds == ["PROBE_SEED"], seeds

    def test_03_1_draws_its_points_from_the_seed_made_on_first_use(self, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        """A course that never ran `autograder data` still grades 03.1: its seed is made on first
        use, then kept, so regrades see the same points; another course sees other points."""
        seeds: list[int | None] = []

        def spy(n: int, noise: float = 0.3, seed: int | None = None) -> Any:
            seeds.append(seed)
            return make_spirals(n, noise, seed)

        monkeypatch.setattr(keras_models, "make_spirals", spy)
        (tmp_path / "course.toml").write_text((REPO / "course.toml").read_text())
        settings = config.load(tmp_path).settings("03.1_keras_classifier")
        hidden = Path(settings["hidden_data_dir"])
        assert not hidden.exists()
        keras_models.spirals_checks(settings)
        keras_models.spirals_checks(settings)
        assert _mode(hidden) == 0o700 and _mode(hidden / data.SEED_FILE) == 0o600
        assert seeds == [data.secret_seed(hidden)] * 2
        keras_models.spirals_checks({"hidden_data_dir": str(tmp_path / "other")})
        assert seeds[2] != seeds[0]
        with pytest.raises(ValueError, match="hidden_data_dir"):
            keras_models.spirals_checks({})


@pytest.fixture(scope="module")
def public_test_digits() -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.uint8]]:
    """All 10,000 public MNIST test digits, untransformed: what a memorising student has."""
    return (read_idx(MNIST_SOURCE / "t10k-images-idx3-ubyte.gz"),
            read_idx(MNIST_SOURCE / "t10k-labels-idx1-ubyte.gz"))


def _lowest_band() -> float:
    settings = config.load(REPO).settings("03.2_mnist_classifier")
    return min(a for a, _ in keras_models._bands(settings, "subset_accuracy_bands", []))


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
