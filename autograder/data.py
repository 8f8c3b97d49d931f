"""Course data: the public part students load, and the hidden part only the grader reads.

``autograder data`` builds, under the course's data folder (``data_dir`` in course.toml):

- ``public/mnist.npz`` — what students get through ``lesson03_data.load_mnist`` (the grader
  mounts ``public/`` read-only into every sandbox as ``COURSE_DATA_DIR``);
- ``hidden/mnist_hidden.npz`` — the labelled split 03.2 is graded on (root-only, never mounted).

From the full MNIST (60,000 + 10,000 digits) the hidden split is the official test set and the
public part is the training set (54,000 to train, 6,000 to validate).  From the test set alone
(``../shared/data/mnist`` on machines without internet: two IDX files, 10,000 digits) it is the
*offline subset*: 7,000 to train, 1,000 to validate, the last 2,000 hidden, and 03.2 uses its
``subset_accuracy_bands``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.public import lesson03_data

PUBLIC, HIDDEN = "public", "hidden"
HIDDEN_FILE = "mnist_hidden.npz"
SUBSET_SPLIT = (7000, 8000)  # train below, validate below, hidden after


@dataclass(frozen=True)
class HiddenSplit:
    x: npt.NDArray[np.uint8]
    y: npt.NDArray[np.uint8]
    subset: bool  # from the 10,000-digit offline subset, not the full data set


def _test_only(source: Path) -> tuple[npt.NDArray[Any], npt.NDArray[Any]] | None:
    """The test set when ``source`` holds only the two t10k IDX files."""
    for folder in (source, source / "mnist"):
        found = {name: next((p for p in (folder / name, folder / f"{name}.gz") if p.exists()), None)
                 for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", "train-images-idx3-ubyte")}
        images, labels, train = found.values()
        if images and labels and not train and not (folder / "mnist.npz").exists():
            return lesson03_data.read_idx(images), lesson03_data.read_idx(labels)
    return None


def prepare_mnist(data_dir: Path, source: Path | None = None) -> dict[str, int | bool]:
    """Write the public and hidden MNIST files under ``data_dir`` from ``source`` (a folder with
    ``mnist.npz`` or IDX files; ``None``: Keras' cache, then its download).  Returns the sizes."""
    if source is not None and not source.is_dir():
        raise FileNotFoundError(f"the MNIST source {source} is not a folder")
    test_only = _test_only(source) if source is not None else None
    if test_only is not None:
        x, y = test_only
        a, b = SUBSET_SPLIT
        if len(x) < b + 1000:
            raise ValueError(f"{source}: {len(x)} digits; the offline subset needs at least {b + 1000}")
        public = {"x_train": x[:a], "y_train": y[:a], "x_test": x[a:b], "y_test": y[a:b]}
        hidden_x, hidden_y, subset = x[b:], y[b:], True
    else:
        (x_train, y_train), (x_test, y_test) = lesson03_data.load_mnist(source)
        cut = len(x_train) * 9 // 10
        public = {"x_train": x_train[:cut], "y_train": y_train[:cut],
                  "x_test": x_train[cut:], "y_test": y_train[cut:]}
        hidden_x, hidden_y, subset = x_test, y_test, False
    (data_dir / PUBLIC).mkdir(parents=True, exist_ok=True)
    (data_dir / HIDDEN).mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir / PUBLIC, 0o755)
    os.chmod(data_dir / HIDDEN, 0o700)
    _write(data_dir / PUBLIC / "mnist.npz", 0o644, **public)
    _write(data_dir / HIDDEN / HIDDEN_FILE, 0o600, x=hidden_x, y=hidden_y, subset=np.array(subset))
    return {"train": len(public["x_train"]), "validate": len(public["x_test"]), "hidden": len(hidden_x),
            "subset": subset}


def _write(path: Path, mode: int, **arrays: npt.NDArray[Any]) -> None:
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, **arrays)  # type: ignore[arg-type]
    os.chmod(partial, mode)
    os.replace(partial, path)


def load_hidden_mnist(hidden_dir: Path) -> HiddenSplit:
    """The hidden split written by :func:`prepare_mnist`; a clear error when it is missing."""
    path = hidden_dir / HIDDEN_FILE
    if not path.exists():
        raise FileNotFoundError(f"the hidden MNIST split {path} does not exist: run `autograder data` "
                                "(or `autograder data --mnist-source DIR` without internet) first")
    with np.load(path) as data:
        return HiddenSplit(data["x"].astype(np.uint8), data["y"].astype(np.uint8), bool(data["subset"]))
