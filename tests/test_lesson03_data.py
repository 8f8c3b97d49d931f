"""The public data module of lesson 03 (``autograder/public/lesson03_data.py``).

No test downloads anything: every test that could reach Keras' download replaces
``lesson03_data._download`` and points ``HOME`` and ``KERAS_HOME`` at empty folders.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from autograder.public import lesson03_data
from autograder.public.lesson03_data import DataFormatError, MnistNotFoundError, load_mnist, make_spirals, read_idx
from tests.conftest import MNIST_SOURCE

IDX_NAMES = lesson03_data.IDX_NAMES
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
          np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(array: npt.NDArray[Any]) -> bytes:
    """``array`` in the IDX format (big-endian values)."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = bytes([0, 0, _CODES[dtype], array.ndim]) + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(dtype).tobytes()


def write_idx(path: Path, array: npt.NDArray[Any], compress: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def fake_mnist(n_train: int = 12, n_test: int = 5, seed: int = 0) -> dict[str, npt.NDArray[np.uint8]]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }


def assert_same(got: lesson03_data.MnistSplits, want: dict[str, npt.NDArray[np.uint8]]) -> None:
    (x_train, y_train), (x_test, y_test) = got
    for key, array in {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}.items():
        assert array.dtype == np.uint8, key
        np.testing.assert_array_equal(array, want[key], err_msg=key)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """No data anywhere and no download: an empty home, an empty Keras home, no course data
    folder, and a download that fails (the returned list counts the attempts)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("KERAS_HOME", str(home / "keras-home"))
    monkeypatch.delenv(lesson03_data.DATA_DIR_VARIABLE, raising=False)
    monkeypatch.setattr(lesson03_data, "_keras_cache_files",
                        lambda: [home / "keras-home" / "datasets" / "mnist.npz",
                                 home / ".keras" / "datasets" / "mnist.npz"])
    attempts: list[int] = []

    def no_download() -> lesson03_data.MnistSplits:
        attempts.append(1)
        raise OSError("no internet in the tests")

    monkeypatch.setattr(lesson03_data, "_download", no_download)
    return attempts


class TestMakeSpirals:
    def test_shapes_and_dtypes(self) -> None:
        """X is float32 (n, 2), y int64 (n,) with classes 0, 1, 2."""
        X, y = make_spirals(301, seed=0)
        assert X.shape == (301, 2) and X.dtype == np.float32
        assert y.shape == (301,) and y.dtype == np.int64
        assert set(np.unique(y)) == {0, 1, 2}

    @pytest.mark.parametrize("n", [1, 2, 3, 998, 999, 1000, 1001])
    def test_classes_are_balanced(self, n: int) -> None:
        """Class counts differ by at most one."""
        _, y = make_spirals(n, seed=n)
        counts = np.bincount(y, minlength=3)
        assert counts.sum() == n and counts.max() - counts.min() <= 1, counts

    def test_classes_are_shuffled(self) -> None:
        """The first points are not all of one class (a validation split of the head is fair)."""
        _, y = make_spirals(600, seed=0)
        assert len(set(y[:30].tolist())) == 3

    def test_same_seed_same_points_other_seed_other_points(self) -> None:
        """A seed fixes the points; another seed (or none) gives new ones."""
        X0, y0 = make_spirals(200, seed=7)
        X1, y1 = make_spirals(200, seed=7)
        np.testing.assert_array_equal(X0, X1)
        np.testing.assert_array_equal(y0, y1)
        X2, _ = make_spirals(200, seed=8)
        X3, _ = make_spirals(200)
        assert not np.allclose(X0, X2) and not np.allclose(X0, X3)

    def test_every_seed_draws_from_the_same_distribution(self) -> None:
        """Per class, the mean radius and mean position agree across seeds within sampling error."""
        stats = []
        for seed in (0, 1, 12345):
            X, y = make_spirals(30_000, seed=seed)
            radius = np.linalg.norm(X, axis=1)
            stats.append([[radius[y == k].mean(), *X[y == k].mean(axis=0)] for k in range(3)])
        spread = np.ptp(np.array(stats), axis=0)
        assert np.all(spread < 0.02), spread

    def test_points_lie_in_the_unit_disc(self) -> None:
        X, _ = make_spirals(5000, seed=3)
        assert np.all(np.linalg.norm(X, axis=1) <= 1.0 + 1e-6)

    def test_without_noise_points_lie_on_their_arm(self) -> None:
        """noise=0: the angle of a point of class k at radius r is 2πk/3 + 2π·0.75·r (mod 2π)."""
        X, y = make_spirals(300, noise=0.0, seed=1)
        r = np.linalg.norm(X.astype(np.float64), axis=1)
        keep = r > 1e-3
        theta = np.arctan2(X[keep, 1], X[keep, 0])
        arm = 2 * np.pi * y[keep] / 3 + 2 * np.pi * lesson03_data.SPIRAL_TURNS * r[keep]
        off = np.angle(np.exp(1j * (theta - arm)))
        assert np.abs(off).max() < 1e-4

    def test_linear_model_stays_far_below_a_small_network(self) -> None:
        """The task needs a non-linear boundary: the best linear softmax model (fit here by
        gradient descent on 3,000 points) stays below 0.6 on fresh points."""
        X, y = make_spirals(3000, seed=0)
        Xv, yv = make_spirals(3000, seed=1)
        A = np.hstack([X, np.ones((len(X), 1))]).astype(np.float64)
        W = np.zeros((3, 3))
        onehot = np.eye(3)[y]
        for _ in range(2000):
            z = A @ W
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            W -= 1.0 * A.T @ (p - onehot) / len(y)
        accuracy = np.mean(np.argmax(np.hstack([Xv, np.ones((len(Xv), 1))]) @ W, axis=1) == yv)
        assert accuracy < 0.6, accuracy

    @pytest.mark.parametrize("n", [0, -3, 2.5, True, "10"])
    def test_rejects_a_bad_n(self, n: Any) -> None:
        with pytest.raises(ValueError, match="n must be a positive integer"):
            make_spirals(n)

    @pytest.mark.parametrize("noise", [-0.1, float("nan"), float("inf"), "0.3"])
    def test_rejects_a_bad_noise(self, noise: Any) -> None:
        with pytest.raises(ValueError, match="noise must be a finite number >= 0"):
            make_spirals(10, noise=noise)


class TestReadIdx:
    @pytest.mark.parametrize("compress", [False, True])
    def test_reads_unsigned_bytes_plain_and_gzip(self, tmp_path: Path, compress: bool) -> None:
        """uint8 images round-trip, whether the file is compressed or not (decided by content)."""
        images = np.random.default_rng(0).integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
        got = read_idx(write_idx(tmp_path / "images", images, compress))
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, images)

    @pytest.mark.parametrize("dtype", [np.int8, ">i2", ">i4", ">f4", ">f8"])
    def test_reads_every_type_big_endian_into_native_order(self, tmp_path: Path, dtype: str) -> None:
        values = (np.arange(24).reshape(2, 3, 4) - 12).astype(dtype)
        got = read_idx(write_idx(tmp_path / "values", values))
        assert got.dtype == np.dtype(dtype).newbyteorder("=") and got.dtype.isnative
        np.testing.assert_array_equal(got, values)

    def test_reads_one_dimension(self, tmp_path: Path) -> None:
        labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
        np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "labels", labels)), labels)

    def test_missing_file_is_file_not_found(self, tmp_path: Path) -> None:
        with pytest.raises(FileNotFoundError):
            read_idx(tmp_path / "nothing-here")

    @pytest.mark.parametrize(("data", "problem"), [
        (b"", "only 0 bytes"),
        (b"\x00\x00", "only 2 bytes"),
        (b"\x01\x00\x08\x01" + (3).to_bytes(4, "big") + b"abc", "does not start with two zero bytes"),
        (b"PK\x03\x04 a zip file", "does not start with two zero bytes"),
        (b"\x00\x00\x07\x01" + (3).to_bytes(4, "big") + b"abc", "unknown IDX type code 0x07"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (b"\x00\x00\x08\x03" + (3).to_bytes(4, "big"), "truncated IDX header"),
        (b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"abc", "truncated: the header declares 5 values"),
        (b"\x00\x00\x0c\x01" + (2).to_bytes(4, "big") + b"\x00" * 7, "(8 bytes), the file holds 7"),
        (b"\x00\x00\x08\x01" + (3).to_bytes(4, "big") + b"abcd", "unexpected bytes after the 3 values"),
    ])
    def test_rejects_a_corrupt_file(self, tmp_path: Path, data: bytes, problem: str) -> None:
        """Every defect raises DataFormatError naming the file and the problem."""
        path = tmp_path / "corrupt-idx1-ubyte"
        path.write_bytes(data)
        with pytest.raises(DataFormatError, match=problem.replace("(", r"\(").replace(")", r"\)")) as info:
            read_idx(path)
        assert info.value.path == str(path) and str(path) in str(info.value)

    def test_rejects_a_broken_gzip(self, tmp_path: Path) -> None:
        good = gzip.compress(idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8)))
        path = tmp_path / "images.gz"
        path.write_bytes(good[: len(good) // 2])
        with pytest.raises(DataFormatError, match="could not be read"):
            read_idx(path)

    def test_rejects_a_huge_header_without_allocating(self, tmp_path: Path) -> None:
        """A header that declares 4 × 10⁹ values in a 20-byte file fails fast as truncated."""
        path = tmp_path / "bomb"
        path.write_bytes(b"\x00\x00\x08\x02" + (65536).to_bytes(4, "big") + (65536).to_bytes(4, "big") + b"x" * 8)
        with pytest.raises(DataFormatError, match="truncated"):
            read_idx(path)


class TestRealMnistTestSet:
    """The 10,000 real digits in ``../shared/data/mnist`` (see its README)."""

    def test_read_idx_reads_images_and_labels(self) -> None:
        images = read_idx(MNIST_SOURCE / "t10k-images-idx3-ubyte.gz")
        labels = read_idx(MNIST_SOURCE / "t10k-labels-idx1-ubyte.gz")
        assert images.shape == (10_000, 28, 28) and images.dtype == np.uint8
        assert labels.shape == (10_000,) and labels.dtype == np.uint8
        assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
        assert abs(float(images.mean()) - 33.79) < 0.01
        raw = gzip.decompress((MNIST_SOURCE / "t10k-images-idx3-ubyte.gz").read_bytes())
        assert hashlib.md5(raw).hexdigest() == "2646ac647ad5339dbf082846283269ea"

    def test_load_mnist_reads_a_folder_of_idx_files(self, tmp_path: Path, offline: list[int]) -> None:
        """With the four IDX file names linked to the test set, load_mnist returns it twice."""
        for key, name in IDX_NAMES.items():
            part = "images" if key.startswith("x") else "labels"
            kind = "idx3" if part == "images" else "idx1"
            (tmp_path / f"{name}.gz").symlink_to(MNIST_SOURCE / f"t10k-{part}-{kind}-ubyte.gz")
        (x_train, y_train), (x_test, y_test) = load_mnist(tmp_path)
        assert x_train.shape == x_test.shape == (10_000, 28, 28)
        assert y_train.shape == y_test.shape == (10_000,)
        assert int(y_test[0]) == 7  # the first test digit is a 7
        assert not offline

    def test_the_shared_folder_alone_is_incomplete(self, offline: list[int]) -> None:
        """Only the two t10k files: load_mnist says which are missing, and moves on."""
        with pytest.raises(MnistNotFoundError) as info:
            load_mnist(MNIST_SOURCE)
        assert "incomplete IDX files" in str(info.value) and "train-images-idx3-ubyte" in str(info.value)


class TestLoadMnist:
    def test_npz_in_data_dir(self, tmp_path: Path, offline: list[int]) -> None:
        want = fake_mnist()
        np.savez(tmp_path / "mnist.npz", **want)  # type: ignore[arg-type]
        assert_same(load_mnist(tmp_path), want)
        assert not offline

    def test_npz_in_the_mnist_subfolder_of_course_data_dir(self, tmp_path: Path, offline: list[int],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
        """Without data_dir, $COURSE_DATA_DIR is used, and its mnist/ subfolder too."""
        want = fake_mnist(seed=1)
        (tmp_path / "mnist").mkdir()
        np.savez_compressed(tmp_path / "mnist" / "mnist.npz", **want)  # type: ignore[arg-type]
        monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
        assert_same(load_mnist(), want)

    def test_data_dir_argument_wins_over_the_environment(self, tmp_path: Path, offline: list[int],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
        first, second = tmp_path / "first", tmp_path / "second"
        first.mkdir()
        second.mkdir()
        np.savez(first / "mnist.npz", **fake_mnist(seed=1))  # type: ignore[arg-type]
        want = fake_mnist(seed=2)
        np.savez(second / "mnist.npz", **want)  # type: ignore[arg-type]
        monkeypatch.setenv("COURSE_DATA_DIR", str(first))
        assert_same(load_mnist(str(second)), want)

    @pytest.mark.parametrize("compress", [False, True])
    def test_four_idx_files(self, tmp_path: Path, offline: list[int], monkeypatch: pytest.MonkeyPatch,
                            compress: bool) -> None:
        want = fake_mnist(seed=3)
        for key, name in IDX_NAMES.items():
            write_idx(tmp_path / (name + (".gz" if compress else "")), want[key], compress)
        monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path))
        assert_same(load_mnist(), want)

    def test_npz_is_preferred_to_idx_files(self, tmp_path: Path, offline: list[int]) -> None:
        want = fake_mnist(seed=4)
        np.savez(tmp_path / "mnist.npz", **want)  # type: ignore[arg-type]
        for key, name in IDX_NAMES.items():
            write_idx(tmp_path / name, fake_mnist(seed=5)[key])
        assert_same(load_mnist(tmp_path), want)

    def test_keras_cache(self, tmp_path: Path, offline: list[int]) -> None:
        """With no course data folder, Keras' download cache is read (no download)."""
        want = fake_mnist(seed=6)
        cache = Path(os.environ["KERAS_HOME"]) / "datasets"
        cache.mkdir(parents=True)
        np.savez(cache / "mnist.npz", **want)  # type: ignore[arg-type]
        assert_same(load_mnist(), want)
        assert not offline

    def test_keras_cache_locations_follow_keras(self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
        """$KERAS_HOME first, then ~/.keras, then /tmp/.keras (where Keras falls back)."""
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
        monkeypatch.setenv("HOME", str(tmp_path / "home"))
        assert lesson03_data._keras_cache_files() == [
            tmp_path / "kh" / "datasets" / "mnist.npz",
            tmp_path / "home" / ".keras" / "datasets" / "mnist.npz",
            Path("/tmp/.keras/datasets/mnist.npz"),
        ]

    def test_download_is_the_last_resort(self, tmp_path: Path, offline: list[int],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
        want = fake_mnist(seed=7)
        splits = ((want["x_train"], want["y_train"]), (want["x_test"], want["y_test"]))
        monkeypatch.setattr(lesson03_data, "_download", lambda: splits)
        assert_same(load_mnist(tmp_path), want)

    def test_nothing_found_lists_every_place_tried(self, tmp_path: Path, offline: list[int],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "missing"))
        with pytest.raises(MnistNotFoundError) as info:
            load_mnist()
        message = str(info.value)
        for place in (f"{tmp_path / 'missing'}: no such folder", f"{tmp_path / 'missing' / 'mnist'}: no such folder",
                      "Keras' download cache", "keras.datasets.mnist.load_data(): failed (OSError: no internet"):
            assert place in message, message
        assert "COURSE_DATA_DIR" in message and "data_dir" in message
        assert isinstance(info.value, FileNotFoundError) and len(info.value.tried) == 5
        assert offline == [1]

    def test_nothing_found_without_a_data_folder_says_none_was_given(self, offline: list[int]) -> None:
        with pytest.raises(MnistNotFoundError, match=r"none given \(data_dir=None and \$COURSE_DATA_DIR is not set\)"):
            load_mnist()

    def test_an_empty_folder_is_named(self, tmp_path: Path, offline: list[int]) -> None:
        with pytest.raises(MnistNotFoundError, match=r"neither mnist\.npz nor the IDX files"):
            load_mnist(tmp_path)

    def test_a_broken_npz_is_an_error_not_a_fallback(self, tmp_path: Path, offline: list[int]) -> None:
        (tmp_path / "mnist.npz").write_bytes(b"not a zip file")
        with pytest.raises(DataFormatError, match=r"not a readable \.npz file"):
            load_mnist(tmp_path)
        assert not offline

    def test_an_npz_without_keras_keys_is_an_error(self, tmp_path: Path, offline: list[int]) -> None:
        np.savez(tmp_path / "mnist.npz", x=np.zeros((2, 28, 28), np.uint8))
        with pytest.raises(DataFormatError, match="missing arrays x_train, y_train, x_test, y_test"):
            load_mnist(tmp_path)

    @pytest.mark.parametrize(("key", "value", "problem"), [
        ("x_train", np.zeros((12, 28, 28), np.float32), "x_train should be uint8 images"),
        ("x_test", np.zeros((5, 784), np.uint8), "x_test should be uint8 images of shape"),
        ("y_train", np.zeros(11, np.uint8), "y_train should hold one label per image"),
        ("y_test", np.full(5, 10, np.int64), "y_test should hold digits 0-9"),
        ("y_test", np.zeros(5, np.float32), "y_test should hold integer labels"),
    ])
    def test_wrong_arrays_are_errors(self, tmp_path: Path, offline: list[int], key: str,
                                     value: npt.NDArray[Any], problem: str) -> None:
        arrays = {**fake_mnist(), key: value}
        np.savez(tmp_path / "mnist.npz", **arrays)  # type: ignore[arg-type]
        with pytest.raises(DataFormatError, match=problem):
            load_mnist(tmp_path)

    def test_integer_labels_of_another_type_become_uint8(self, tmp_path: Path, offline: list[int]) -> None:
        want = fake_mnist()
        np.savez(tmp_path / "mnist.npz", **{**want, "y_train": want["y_train"].astype(np.int64)})  # type: ignore[arg-type]
        assert_same(load_mnist(tmp_path), want)

    def test_a_corrupt_idx_file_is_an_error(self, tmp_path: Path, offline: list[int]) -> None:
        want = fake_mnist()
        for key, name in IDX_NAMES.items():
            write_idx(tmp_path / name, want[key])
        (tmp_path / IDX_NAMES["x_test"]).write_bytes(idx_bytes(want["x_test"])[:-5])
        with pytest.raises(DataFormatError, match="t10k-images-idx3-ubyte: truncated"):
            load_mnist(tmp_path)

    def test_idx_images_and_labels_must_agree(self, tmp_path: Path, offline: list[int]) -> None:
        want = fake_mnist()
        for key, name in IDX_NAMES.items():
            write_idx(tmp_path / name, want[key][:-1] if key == "y_train" else want[key])
        with pytest.raises(DataFormatError, match="y_train should hold one label per image"):
            load_mnist(tmp_path)


class TestModuleSurface:
    def test_imports_only_numpy_and_the_standard_library(self) -> None:
        """Keras is imported only inside the download fallback."""
        source = Path(lesson03_data.__file__).read_text()
        top_level = [line for line in source.splitlines() if line.startswith(("import ", "from "))]
        assert all(line.split()[1].split(".")[0] in {"__future__", "gzip", "io", "math", "os", "pathlib", "typing",
                                                      "numpy"} for line in top_level), top_level

    def test_notebook_copies_are_links_to_this_file(self) -> None:
        """source/03.1 and source/03.2 link to the module, so nbgrader releases one file."""
        repo = Path(__file__).resolve().parents[1]
        for assignment in ("03.1_keras_classifier", "03.2_mnist_classifier"):
            link = repo / "source" / assignment / "lesson03_data.py"
            assert link.is_symlink(), link
            assert os.readlink(link) == "../../autograder/public/lesson03_data.py"
            assert link.resolve() == Path(lesson03_data.__file__).resolve()
