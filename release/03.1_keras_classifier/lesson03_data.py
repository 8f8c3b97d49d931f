"""Data for the exercises of lesson 03 (Gradient Descent).

This file is shipped beside the notebooks of 03.1 and 03.2; import it from there::

    from lesson03_data import make_spirals   # 03.1: three interleaved spiral arms
    from lesson03_data import load_mnist     # 03.2: handwritten digits

It needs only numpy and the standard library; Keras is imported only when MNIST has to be
downloaded.

Where :func:`load_mnist` looks, in order:

1. the folder passed as ``data_dir``, or else the folder named by the environment variable
   ``COURSE_DATA_DIR``; in it, or in its ``mnist/`` subfolder, a ``mnist.npz`` in Keras' layout
   (arrays ``x_train``, ``y_train``, ``x_test``, ``y_test``) or the four original IDX files
   (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
   ``t10k-labels-idx1-ubyte``, each plain or gzip-compressed with ``.gz`` appended);
2. Keras' download cache, ``$KERAS_HOME/datasets/mnist.npz`` (``~/.keras`` without
   ``KERAS_HOME``, ``/tmp/.keras`` where the home folder is read-only);
3. ``keras.datasets.mnist.load_data()``, which downloads the data set (needs internet).
"""

from __future__ import annotations

import gzip
import io
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_NOISE",
    "DataFormatError",
    "MnistNotFoundError",
    "load_mnist",
    "make_spirals",
    "read_idx",
]

# ---------------------------------------------------------------------------------------------
# Spirals (03.1)
# ---------------------------------------------------------------------------------------------

SPIRAL_CLASSES = 3
"""Number of spiral arms, one class each."""

SPIRAL_TURNS = 0.75
"""How far each arm winds from the centre to radius 1, in full turns."""

DEFAULT_NOISE = 0.3
"""Standard deviation of the Gaussian noise on each point's angle, in radians.

The arms start 2π/3 ≈ 2.1 rad apart, so at this noise they barely touch: a small network
classifies about 99 % of fresh points correctly, a linear model fewer than half of them.
"""


def make_spirals(
    n: int, noise: float = DEFAULT_NOISE, seed: int | None = None
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """``n`` random points of three interleaved spiral arms, and the arm each belongs to.

    Every point is drawn independently from the same distribution, whatever the seed: a point
    of class ``k`` lies at a uniformly random radius ``r`` in [0, 1] and angle
    ``2πk/3 + 2π · 0.75 · r`` plus Gaussian noise of standard deviation ``noise`` (radians).
    The classes are balanced (their counts differ by at most one) and shuffled. The same
    ``seed`` gives the same points; ``seed=None`` gives fresh ones.

    Returns ``X`` (float32, shape ``(n, 2)``, inside the unit disc) and ``y`` (int64, shape
    ``(n,)``, values 0, 1, 2).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer (got {n!r})")
    if isinstance(noise, bool) or not isinstance(noise, (int, float, np.integer, np.floating)) \
            or not math.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0 (got {noise!r})")
    n = int(n)
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n, dtype=np.int64) % SPIRAL_CLASSES)
    r = rng.uniform(0.0, 1.0, size=n)
    theta = (2.0 * np.pi / SPIRAL_CLASSES) * y + (2.0 * np.pi * SPIRAL_TURNS) * r
    theta = theta + float(noise) * rng.standard_normal(n)
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1).astype(np.float32)
    return X, y


# ---------------------------------------------------------------------------------------------
# IDX files
# ---------------------------------------------------------------------------------------------

class DataFormatError(ValueError):
    """A data file exists but its content is not what it should be.

    ``args`` are ``(path, problem)``; ``str()`` reads "PATH: PROBLEM".
    """

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(str(path), problem)
        self.path = str(path)
        self.problem = problem

    def __str__(self) -> str:
        return f"{self.path}: {self.problem}"


_IDX_TYPES: dict[int, str] = {
    0x08: "u1",
    0x09: "i1",
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
"""IDX type code (third byte of the magic number) -> numpy dtype (IDX is big-endian)."""

_GZIP_MAGIC = b"\x1f\x8b"


def _open_maybe_gzip(path: Path) -> io.BufferedIOBase:
    with open(path, "rb") as probe:
        compressed = probe.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if compressed else open(path, "rb")


def read_idx(path: str | os.PathLike[str]) -> npt.NDArray[Any]:
    """The array stored in the IDX file at ``path`` (plain or gzip-compressed, by content).

    The format (LeCun's MNIST page): two zero bytes, a type code (0x08 unsigned byte, 0x09
    signed byte, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64), the number of
    dimensions, one big-endian uint32 per dimension, then the values in C order, big-endian.
    The result has native byte order (uint8 for MNIST).

    Raises ``FileNotFoundError`` when there is no such file and :class:`DataFormatError` when
    the header is invalid or the data is shorter or longer than the header says.
    """
    path = Path(path)
    try:
        with _open_maybe_gzip(path) as f:
            header = f.read(4)
            if len(header) < 4:
                raise DataFormatError(path, f"not an IDX file: only {len(header)} bytes")
            if header[0] != 0 or header[1] != 0:
                raise DataFormatError(
                    path, f"not an IDX file: magic number 0x{header.hex()} does not start with two zero bytes"
                )
            code, ndim = header[2], header[3]
            if code not in _IDX_TYPES:
                known = ", ".join(f"0x{c:02X}" for c in _IDX_TYPES)
                raise DataFormatError(path, f"unknown IDX type code 0x{code:02X} (expected one of {known})")
            if ndim == 0:
                raise DataFormatError(path, "IDX header declares 0 dimensions (expected at least 1)")
            raw_dims = f.read(4 * ndim)
            if len(raw_dims) < 4 * ndim:
                raise DataFormatError(path, f"truncated IDX header: {ndim} dimensions declared, file ends first")
            shape = tuple(int.from_bytes(raw_dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
            dtype = np.dtype(_IDX_TYPES[code])
            expected = math.prod(shape) * dtype.itemsize
            data = f.read(expected + 1)
    except (gzip.BadGzipFile, EOFError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataFormatError(path, f"could not be read ({type(exc).__name__}: {exc})") from exc
    dims = " x ".join(str(d) for d in shape)
    if len(data) < expected:
        raise DataFormatError(
            path, f"truncated: the header declares {dims} values ({expected} bytes), the file holds {len(data)}"
        )
    if len(data) > expected:
        raise DataFormatError(path, f"unexpected bytes after the {dims} values the header declares")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


# ---------------------------------------------------------------------------------------------
# MNIST (03.2)
# ---------------------------------------------------------------------------------------------

Images = npt.NDArray[np.uint8]
Labels = npt.NDArray[np.uint8]
MnistSplits = tuple[tuple[Images, Labels], tuple[Images, Labels]]

DATA_DIR_VARIABLE = "COURSE_DATA_DIR"
"""Environment variable naming the course data folder (used when ``data_dir`` is not given)."""

NPZ_NAME = "mnist.npz"
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


class MnistNotFoundError(FileNotFoundError):
    """MNIST was found nowhere and could not be downloaded.

    ``tried`` lists each place looked at, with what was (not) found there.
    """

    def __init__(self, tried: list[str]) -> None:
        self.tried = list(tried)
        lines = "\n".join(f"  - {t}" for t in self.tried)
        super().__init__(
            "MNIST could not be loaded. Places tried, in order:\n"
            f"{lines}\n"
            f"Put mnist.npz (Keras' layout) or the four IDX files in a folder and pass it as "
            f"load_mnist(data_dir=...) or set the environment variable {DATA_DIR_VARIABLE} to it, "
            "or connect to the internet so that Keras can download the data."
        )

    def __str__(self) -> str:
        return str(self.args[0])


def _check_split(source: str, images: npt.NDArray[Any], labels: npt.NDArray[Any], part: str) -> tuple[Images, Labels]:
    """Validate one part (train or test) of MNIST and return it as uint8 arrays."""
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise DataFormatError(
            source, f"x_{part} should be uint8 images of shape (n, 28, 28) (got {images.dtype} {images.shape})"
        )
    if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
        raise DataFormatError(
            source, f"y_{part} should hold one label per image, shape ({images.shape[0]},) (got {labels.shape})"
        )
    if not np.issubdtype(labels.dtype, np.integer):
        raise DataFormatError(source, f"y_{part} should hold integer labels (got {labels.dtype})")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise DataFormatError(
            source, f"y_{part} should hold digits 0-9 (got values from {labels.min()} to {labels.max()})"
        )
    return images, labels.astype(np.uint8)


def _load_npz(path: Path) -> MnistSplits:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise DataFormatError(
                    path, f"missing arrays {', '.join(missing)} (Keras' layout has {', '.join(NPZ_KEYS)})"
                )
            arrays = {k: np.asarray(data[k]) for k in NPZ_KEYS}
    except DataFormatError:
        raise
    except Exception as exc:  # zipfile.BadZipFile, ValueError, OSError: all mean a broken file
        raise DataFormatError(path, f"not a readable .npz file ({type(exc).__name__}: {exc})") from exc
    train = _check_split(str(path), arrays["x_train"], arrays["y_train"], "train")
    test = _check_split(str(path), arrays["x_test"], arrays["y_test"], "test")
    return train, test


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _load_folder(folder: Path, tried: list[str]) -> MnistSplits | None:
    """MNIST from ``folder`` (``mnist.npz`` first, then the IDX files), or None with notes in ``tried``."""
    if not folder.is_dir():
        tried.append(f"{folder}: no such folder")
        return None
    npz = folder / NPZ_NAME
    if npz.is_file():
        return _load_npz(npz)
    found = {key: _find_idx(folder, name) for key, name in IDX_NAMES.items()}
    paths = {key: p for key, p in found.items() if p is not None}
    if len(paths) == len(IDX_NAMES):
        arrays = {key: read_idx(p) for key, p in paths.items()}
        train = _check_split(str(paths["x_train"]), arrays["x_train"], arrays["y_train"], "train")
        test = _check_split(str(paths["x_test"]), arrays["x_test"], arrays["y_test"], "test")
        return train, test
    if paths:
        have = ", ".join(p.name for p in paths.values())
        lacking = ", ".join(IDX_NAMES[k] for k in IDX_NAMES if k not in paths)
        tried.append(f"{folder}: no {NPZ_NAME}; incomplete IDX files (found {have}; missing {lacking}, plain or .gz)")
    else:
        tried.append(f"{folder}: neither {NPZ_NAME} nor the IDX files")
    return None


def _keras_cache_files() -> list[Path]:
    """Where Keras' ``mnist.load_data()`` keeps its download, in the order Keras chooses."""
    bases: list[Path] = []
    if os.environ.get("KERAS_HOME"):
        bases.append(Path(os.environ["KERAS_HOME"]).expanduser())
    bases += [Path("~").expanduser() / ".keras", Path("/tmp/.keras")]
    unique: list[Path] = []
    for base in bases:
        if base not in unique:
            unique.append(base)
    return [base / "datasets" / NPZ_NAME for base in unique]


def _download() -> MnistSplits:
    """Keras' own loader: downloads ``mnist.npz`` into its cache (needs internet)."""
    from keras.datasets import mnist  # imported here: the rest of this module needs numpy only

    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    train = _check_split("keras.datasets.mnist", np.asarray(x_train), np.asarray(y_train), "train")
    test = _check_split("keras.datasets.mnist", np.asarray(x_test), np.asarray(y_test), "test")
    return train, test


def load_mnist(data_dir: str | os.PathLike[str] | None = None) -> MnistSplits:
    """MNIST as ``(x_train, y_train), (x_test, y_test)``, exactly like ``keras.datasets.mnist.load_data()``.

    Images are uint8 arrays of shape ``(n, 28, 28)`` with values 0-255; labels are uint8
    arrays of shape ``(n,)`` with values 0-9. The full data set has 60,000 training and 10,000
    test digits; a course data folder may hold a smaller subset.

    Looks in ``data_dir`` (or the folder in ``$COURSE_DATA_DIR``) and its ``mnist/``
    subfolder, then in Keras' cache, then downloads (see the module docstring). Raises
    :class:`DataFormatError` when a file it finds is broken (it does not silently skip to the
    next place) and :class:`MnistNotFoundError`, listing every place tried, when nothing works.
    """
    tried: list[str] = []
    folder: str | os.PathLike[str] | None = data_dir if data_dir != "" else None
    if folder is None:
        folder = os.environ.get(DATA_DIR_VARIABLE) or None
        if folder is None:
            tried.append(f"course data folder: none given (data_dir=None and ${DATA_DIR_VARIABLE} is not set)")
    if folder is not None:
        base = Path(folder).expanduser()
        for candidate in (base, base / "mnist"):
            found = _load_folder(candidate, tried)
            if found is not None:
                return found
    for cached in _keras_cache_files():
        if cached.is_file():
            return _load_npz(cached)
        tried.append(f"{cached}: no such file (Keras' download cache)")
    try:
        return _download()
    except Exception as exc:
        tried.append(f"keras.datasets.mnist.load_data(): failed ({type(exc).__name__}: {exc})")
        raise MnistNotFoundError(tried) from exc
