"""Saved Keras models: refused unless built from Keras' own objects, then judged in a jail."""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nbexpect.models import _checked

from autograder import config
from autograder.models.judge import accuracy, measure
from autograder.models.safety import Refused, inspect
from autograder.public.lesson03_data import make_spirals
from autograder.run.services import CellGrader
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras

LIMIT = 20 * 1024**2
MARKER = Path("/tmp/autograder-test-model-code-ran")


def _spirals_model(hidden: int = 32) -> Any:
    keras.utils.set_random_seed(0)
    layers = [keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(hidden, activation="relu"),
              keras.layers.Dense(3, activation="softmax")]
    model = keras.Sequential([keras.Input((2,)), *layers])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Model files of every kind the judge must tell apart."""
    folder = tmp_path_factory.mktemp("models")
    out: dict[str, Path] = {}

    def save(name: str, model: Any) -> None:
        out[name] = folder / f"{name}.keras"
        model.save(out[name])

    trained = _spirals_model(64)
    x, y = make_spirals(1500, seed=0)
    trained.fit(x, y, epochs=60, batch_size=64, verbose=0)
    save("trained", trained)
    save("untrained", _spirals_model())
    save("uncompiled", keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, activation="softmax")]))

    def touch(t: Any) -> Any:
        MARKER.write_text("the grader ran student code")
        return t

    save("lambda", keras.Sequential([keras.Input((2,)), keras.layers.Lambda(touch),
                                     keras.layers.Dense(3, activation="softmax")]))

    @keras.saving.register_keras_serializable(package="student")
    class Doubler(keras.layers.Layer):  # type: ignore[misc]
        def call(self, t: Any) -> Any:
            MARKER.write_text("the grader ran student code")
            return t * 2

    save("custom", keras.Sequential([keras.Input((2,)), Doubler(), keras.layers.Dense(3, activation="softmax")]))
    data = out["trained"].read_bytes()
    (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
    out["truncated"] = folder / "truncated.keras"
    return out


def _rewrite(path: Path, edit: Callable[[dict[str, Any]], None], extra: dict[str, bytes] | None = None) -> bytes:
    """The archive at ``path`` with its config.json edited (and members added)."""
    source = zipfile.ZipFile(path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            if name == "config.json":
                config_data = json.loads(data)
                edit(config_data)
                data = json.dumps(config_data).encode()
            target.writestr(name, data)
        for name, data in (extra or {}).items():
            target.writestr(name, data)
    return buffer.getvalue()


class TestInspect:
    def test_built_in_model_is_accepted(self, files: dict[str, Path]) -> None:
        model = inspect(files["trained"].read_bytes(), LIMIT)
        assert model.compiled and model.loss == "sparse_categorical_crossentropy"
        assert "Dense" in model.layers

    def test_uncompiled_model_is_reported(self, files: dict[str, Path]) -> None:
        assert not inspect(files["uncompiled"].read_bytes(), LIMIT).compiled

    @pytest.mark.parametrize(("name", "reason"), [("lambda", "Lambda layer"), ("custom", "not a built-in")])
    def test_student_code_is_refused(self, files: dict[str, Path], name: str, reason: str) -> None:
        with pytest.raises(Refused, match=reason):
            inspect(files[name].read_bytes(), LIMIT)

    def test_truncated_file_is_refused(self, files: dict[str, Path]) -> None:
        with pytest.raises(Refused, match="truncated"):
            inspect(files["truncated"].read_bytes(), LIMIT)

    def test_oversized_file_is_refused(self, files: dict[str, Path]) -> None:
        with pytest.raises(Refused, match="limit"):
            inspect(files["trained"].read_bytes(), 1024)

    def test_foreign_module_is_refused(self, files: dict[str, Path]) -> None:
        def inject(config_data: dict[str, Any]) -> None:
            config_data["config"]["layers"][1]["module"] = "os"
            config_data["config"]["layers"][1]["class_name"] = "system"

        with pytest.raises(Refused, match="'system' from os"):
            inspect(_rewrite(files["trained"], inject), LIMIT)

    def test_extra_member_is_refused(self, files: dict[str, Path]) -> None:
        with pytest.raises(Refused, match="exactly"):
            inspect(_rewrite(files["trained"], lambda c: None, {"payload.pkl": b"x"}), LIMIT)

    def test_garbage_is_refused(self) -> None:
        with pytest.raises(Refused, match="not a Keras 3 model"):
            inspect(b"\x00" * 100, LIMIT)


class TestMeasure:
    def test_trained_model_is_evaluated_on_hidden_points(self, files: dict[str, Path]) -> None:
        x, y = make_spirals(1000, seed=99)
        got = measure(files["trained"], LIMIT, inputs=x, classes=3)
        assert got.input_shape == (None, 2) and got.output_shape == (None, 3)
        assert accuracy(got, y) > 0.9 and got.predicted is not None and got.predicted.shape == (1000,)
        assert got.device == "cpu"
        untrained = measure(files["untrained"], LIMIT, inputs=x, classes=3)
        assert accuracy(untrained, y) < 0.6

    @pytest.mark.parametrize("name", ["lambda", "custom", "truncated"])
    def test_refused_files_run_no_code(self, files: dict[str, Path], name: str) -> None:
        MARKER.unlink(missing_ok=True)
        with pytest.raises(Refused):
            measure(files[name], LIMIT, inputs=make_spirals(50, seed=1)[0], classes=3)
        assert not MARKER.exists()

    def test_wrong_input_shape_is_a_clear_failure(self, files: dict[str, Path]) -> None:
        x = np.zeros((10, 5), dtype=np.float32)
        with pytest.raises(Refused, match="could not predict on"):
            measure(files["trained"], LIMIT, inputs=x, classes=3)


class TestFetch:
    """Files leave the sandbox only as plain files inside its home, never through a link."""

    @pytest.fixture
    def jail(self) -> Any:
        with Jail(Limits(disk_bytes=16 * 1024**2)) as jail:
            yield jail

    def test_plain_file(self, jail: Jail) -> None:
        jail.put("sub/model.keras", b"abc")
        assert jail.fetch("sub/model.keras", 10) == b"abc"

    def test_missing_file(self, jail: Jail) -> None:
        with pytest.raises(FileNotFoundError):
            jail.fetch("model.keras", 10)

    def test_links_are_not_followed(self, jail: Jail) -> None:
        (jail.home / "model.keras").symlink_to("/etc/shadow")
        (jail.home / "sub").symlink_to("/etc")
        with pytest.raises(ValueError, match="symbolic link"):
            jail.fetch("model.keras", 10**6)
        with pytest.raises(ValueError, match="symbolic link"):
            jail.fetch("sub/shadow", 10**6)

    def test_size_and_kind(self, jail: Jail) -> None:
        jail.put("big", b"x" * 100)
        (jail.home / "folder").mkdir()
        with pytest.raises(ValueError, match="larger"):
            jail.fetch("big", 10)
        with pytest.raises(ValueError, match="regular"):
            jail.fetch("folder", 10)
        with pytest.raises(ValueError, match="inside"):
            jail.fetch("../x", 10)


class TestSettings:
    def test_bands_are_validated(self) -> None:
        """A test cell's ``expect_accuracy(..., bands=...)``: sorted best first, checked, and a bad
        one names itself."""
        assert _checked([(0.8, 0.5), (0.9, 1.0)]) == [(0.9, 1.0), (0.8, 0.5)]
        assert _checked([[0.8, 0.5], [0.9, 1.0]]) == [(0.9, 1.0), (0.8, 0.5)]  # type: ignore[list-item]
        for bad in ([[0.9, 0.5]], [[1.5, 1.0]], "high", [[0.9]], [], [["x", 1.0]]):
            with pytest.raises(ValueError, match="bands = "):
                _checked(bad)  # type: ignore[arg-type]

    def test_assignment_tables(self, tmp_path: Path) -> None:
        (tmp_path / "course.toml").write_text(
            '[grading]\ncell_timeout_s = 30\n[assignments."a"]\ncell_timeout_s = 90\ngpu = true\n'
            'deterministic = true\naccuracy_bands = [[0.9, 1.0]]\n')
        cfg = config.load(tmp_path)
        limits = cfg.sandbox("a")
        assert limits.cell_timeout_s == 90.0 and limits.gpu and "enable_op_determinism" in limits.preamble
        assert cfg.sandbox("b").cell_timeout_s == 30.0 and not cfg.sandbox("b").preamble
        assert cfg.settings("a")["accuracy_bands"] == [[0.9, 1.0]]
        (tmp_path / "course.toml").write_text('[assignments."a"]\ncell_timeout_s = "slow"\n')
        with pytest.raises(config.ConfigError, match=r"assignments\.'a'\.cell_timeout_s"):
            config.load(tmp_path)

    def test_mnist_without_prepared_data_says_what_to_run(self, tmp_path: Path) -> None:
        """03.2's ``expect_accuracy(..., data="mnist")`` on a course that never ran `autograder data`."""
        with Jail(Limits(disk_bytes=16 * 1024**2)) as jail:
            jail.put("mnist_classifier.keras", b"a model")
            artifacts = tmp_path / "artifacts"
            artifacts.mkdir()
            grader = CellGrader(jail, {"hidden_data_dir": str(tmp_path / "hidden")}, artifacts, 0)
            with pytest.raises(FileNotFoundError, match="autograder data"):
                grader.accuracy("mnist_classifier.keras", "mnist")


class TestCourseData:
    """`autograder data`: the public part students load; the hidden split only the grader reads."""

    def test_offline_subset_split(self, mnist_data: Path) -> None:
        from autograder.data import load_hidden_mnist

        with np.load(mnist_data / "public" / "mnist.npz") as public:
            shown = {row.tobytes() for key in ("x_train", "x_test") for row in public[key]}
            assert (len(public["x_train"]), len(public["x_test"])) == (7000, 1000)
        hidden = load_hidden_mnist(mnist_data / "hidden")
        assert hidden.subset and len(hidden.x) == len(hidden.y) == 2000
        assert not shown & {row.tobytes() for row in hidden.x}, "a hidden digit is in the public data"
        assert (mnist_data / "hidden").stat().st_mode & 0o077 == 0
        assert (mnist_data / "hidden" / "mnist_hidden.npz").stat().st_mode & 0o077 == 0

    def test_cli_builds_the_data_and_refuses_a_missing_source(self, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
        from autograder import cli
        from tests.conftest import MNIST_SOURCE, REPO

        for name in ("nbgrader_config.py", "course.toml"):
            (tmp_path / name).write_text((REPO / name).read_text())
        assert cli.main(["--course", str(tmp_path), "data", "--mnist-source", str(MNIST_SOURCE)]) == 0
        assert "2,000 hidden digits" in capsys.readouterr().out
        assert (tmp_path / "data" / "hidden" / "mnist_hidden.npz").exists()
        assert cli.main(["--course", str(tmp_path), "data", "--mnist-source", str(tmp_path / "nope")]) == 2
        assert "is not a folder" in capsys.readouterr().err


def test_gpu_jail_keeps_the_workers_device_share(monkeypatch: pytest.MonkeyPatch) -> None:
    """A grading worker pinned to some GPUs (CUDA_VISIBLE_DEVICES) passes that pin into its jails."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1")
    gpu, cpu = Jail(Limits(gpu=True)), Jail(Limits())
    argv = gpu.argv(["true"])
    assert argv[argv.index("CUDA_VISIBLE_DEVICES") - 1] == "--setenv"
    assert argv[argv.index("CUDA_VISIBLE_DEVICES") + 1] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in cpu.argv(["true"])
    gpu.close()
    cpu.close()


def _setenv(argv: list[str]) -> dict[str, str]:
    return {argv[i + 1]: argv[i + 2] for i, a in enumerate(argv) if a == "--setenv"}


def test_gpu_jail_grows_gpu_memory_and_keeps_the_keras_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    """GPU jails take GPU memory as they need it (the kernel and the evaluator share the device);
    every jail computes with the grading host's Keras backend, and only a known one."""
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    gpu, cpu = Jail(Limits(gpu=True)), Jail(Limits())
    try:
        env = _setenv(gpu.argv(["true"]))
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert env["KERAS_BACKEND"] == "jax" and _setenv(cpu.argv(["true"]))["KERAS_BACKEND"] == "jax"
        assert "TF_FORCE_GPU_ALLOW_GROWTH" not in _setenv(cpu.argv(["true"]))
        monkeypatch.setenv("KERAS_BACKEND", "jax; rm -rf /")
        assert "KERAS_BACKEND" not in _setenv(cpu.argv(["true"]))
    finally:
        gpu.close()
        cpu.close()
