"""Course data: the public part students load, and the hidden part only the grader reads.

``autograder data`` builds, under the course's data folder (``data_dir`` in course.toml):

- ``public/mnist.npz`` — what students get through ``lesson03_data.load_mnist`` (the grader
  mounts ``public/`` read-only into every sandbox as ``COURSE_DATA_DIR``);
- ``hidden/mnist_hidden.npz`` — the labelled split 03.2 is graded on (root-only, never mounted);
- ``hidden/secret_seed`` — the course's secret seed (:func:`secret_seed`): it draws the hidden
  digits' distortions here and 03.1's hidden points.  ``hidden/`` is mode 0700, its files 0600.

From the full MNIST (60,000 + 10,000 digits) the hidden split is the official test set and the
public part is the training set (54,000 to train, 6,000 to validate).  From the test set alone
(``../shared/data/mnist`` on machines without internet: two IDX files, 10,000 digits) it is the
*offline subset*: 7,000 to train, 1,000 to validate, the last 2,000 hidden, and 03.2 uses its
``subset_accuracy_bands``.

Either way the hidden digits come from a public set, so a table of them could be memorised.
They are therefore made *fresh*: each is moved by its own small random affine transform
(:func:`fresh_digits`: a shift of up to :data:`SHIFT_PX` pixels along each axis, a rotation of up to
:data:`ROTATE_DEG` degrees, a scale within ±:data:`SCALE`) drawn from the secret seed.  No digit
then equals a public one, and the draw cannot be repeated without the seed.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from autograder.public import lesson03_data

PUBLIC, HIDDEN = "public", "hidden"
HIDDEN_FILE = "mnist_hidden.npz"
SEED_FILE = "secret_seed"
SUBSET_SPLIT = (7000, 8000)  # train below, validate below, hidden after
SHIFT_PX, ROTATE_DEG, SCALE = 1.0, 10.0, 0.10  # the hidden digits' distortions (bands measured in course.toml)


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
    ``mnist.npz`` or IDX files; ``None``: Keras' cache, then its download), the hidden digits made
    fresh with the course's secret seed (made now with :mod:`secrets` when there is none yet; kept
    when this runs again, so the same source gives the same hidden split).  Returns the sizes."""
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
    fresh = fresh_digits(hidden_x, secret_seed(data_dir / HIDDEN))
    _write(data_dir / PUBLIC / "mnist.npz", 0o644, **public)
    _write(data_dir / HIDDEN / HIDDEN_FILE, 0o600, x=fresh, y=hidden_y, subset=np.array(subset),
           fresh=np.array(True))
    return {"train": len(public["x_train"]), "validate": len(public["x_test"]), "hidden": len(hidden_x),
            "subset": subset}


def _write(path: Path, mode: int, **arrays: npt.NDArray[Any]) -> None:
    partial = path.with_suffix(".partial.npz")
    np.savez_compressed(partial, **arrays)  # type: ignore[arg-type]
    os.chmod(partial, mode)
    os.replace(partial, path)


def load_hidden_mnist(hidden_dir: Path) -> HiddenSplit:
    """The hidden split written by :func:`prepare_mnist`; a clear error when it is missing.  A split
    written before the digits were made fresh (public digits unchanged) is made fresh here."""
    path = hidden_dir / HIDDEN_FILE
    if not path.exists():
        raise FileNotFoundError(f"the hidden MNIST split {path} does not exist: run `autograder data` "
                                "(or `autograder data --mnist-source DIR` without internet) first")
    with np.load(path) as data:
        split = HiddenSplit(data["x"].astype(np.uint8), data["y"].astype(np.uint8), bool(data["subset"]))
        fresh = "fresh" in data.files
    return split if fresh else replace(split, x=fresh_digits(split.x, secret_seed(hidden_dir)))


SPIRAL_POINTS = 3000  # 03.1's hidden points, fresh from the same distribution as the public ones


def load_hidden(hidden_dir: Path, name: str) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    """The hidden data set ``name`` (inputs, labels) that test cells ask for by name
    (``nbexpect.expect_accuracy(..., data=name)``): ``hidden_dir/<name>.npz`` with arrays ``x`` and
    ``y`` (an instructor's own set), else one the course data builds: ``mnist`` (03.2, from
    :func:`prepare_mnist`) and ``spirals`` (03.1, drawn from the secret seed)."""
    path = hidden_dir / f"{name}.npz"
    if path.exists():
        with np.load(path) as data:
            return data["x"], data["y"]
    if name == "mnist":
        split = load_hidden_mnist(hidden_dir)
        return split.x, split.y
    if name == "spirals":
        return lesson03_data.make_spirals(SPIRAL_POINTS, seed=secret_seed(hidden_dir))
    raise FileNotFoundError(f"no hidden data set {name!r}: put {path} (arrays x and y) there, or run `autograder data`")


def secret_seed(hidden_dir: Path) -> int:
    """The course's secret seed, stored in ``hidden_dir/secret_seed``: made once with :mod:`secrets`
    (the folder created 0700, the file 0600) when absent, then read.  Never in a tracked file."""
    path = hidden_dir / SEED_FILE
    if not path.exists():
        hidden_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(hidden_dir, 0o700)
        fd, partial = tempfile.mkstemp(dir=hidden_dir, prefix=".seed-")  # 0600
        try:
            with os.fdopen(fd, "w") as f:
                f.write(f"{secrets.randbits(64)}\n")
            os.link(partial, path)  # whole or not at all, and a seed made meanwhile elsewhere wins
        except FileExistsError:
            pass
        finally:
            os.unlink(partial)
    text = path.read_text().strip()
    if not text.isdigit():
        raise ValueError(f"{path} is not a seed (a whole number); delete it to draw a new one")
    return int(text)


def fresh_digits(images: npt.NDArray[np.uint8], seed: int) -> npt.NDArray[np.uint8]:
    """``images`` (n, h, w), each moved by its own random affine transform drawn from ``seed``:
    shifted by up to :data:`SHIFT_PX` pixels along each axis, rotated by up to :data:`ROTATE_DEG`
    degrees and scaled by 1 ± :data:`SCALE` about the centre; bilinear, black outside."""
    n, h, w = images.shape
    rng = np.random.default_rng([seed, 32])  # 03.2's stream of the course's seed
    angle = np.deg2rad(rng.uniform(-ROTATE_DEG, ROTATE_DEG, n))
    zoom = rng.uniform(1 - SCALE, 1 + SCALE, n)
    shift = rng.uniform(-SHIFT_PX, SHIFT_PX, (n, 2))
    cos, sin = (np.cos(angle) / zoom)[:, None], (np.sin(angle) / zoom)[:, None]
    rows, cols = np.mgrid[0:h, 0:w].reshape(2, -1).astype(np.float64)
    out = np.empty_like(images)
    padded = np.pad(images.astype(np.float32), ((0, 0), (1, 1), (1, 1)))  # a black border for outside
    for start in range(0, n, 1000):  # each output pixel samples the input where the inverse map sends it
        part = slice(start, min(n, start + 1000))
        dr = rows - (h - 1) / 2 - shift[part, :1]
        dc = cols - (w - 1) / 2 - shift[part, 1:]
        r = np.clip(cos[part] * dr + sin[part] * dc + (h - 1) / 2 + 1, 0, h + 1)
        c = np.clip(-sin[part] * dr + cos[part] * dc + (w - 1) / 2 + 1, 0, w + 1)
        r0, c0 = np.minimum(r.astype(np.int64), h), np.minimum(c.astype(np.int64), w)
        fr, fc = (r - r0).astype(np.float32), (c - c0).astype(np.float32)
        p, i = padded[part], np.arange(len(r))[:, None]
        value = ((p[i, r0, c0] * (1 - fc) + p[i, r0, c0 + 1] * fc) * (1 - fr)
                 + (p[i, r0 + 1, c0] * (1 - fc) + p[i, r0 + 1, c0 + 1] * fc) * fr)
        out[part] = np.clip(np.rint(value), 0, 255).astype(np.uint8).reshape(-1, h, w)
    return out
