"""Course configuration (``course.toml`` at the course root), typed and validated."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from autograder.sandbox.jail import gpu_memory_mb
from autograder.sandbox.limits import Limits


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key, the value and the fix."""


@dataclass(frozen=True)
class GradingConfig:
    workers: int = 0
    cluster: str = ""  # Dask scheduler (tcp://HOST:PORT) to grade on; empty: this machine
    sandbox_user: str = "ag-sandbox"
    memory_mb: int = 2048
    pids: int = 64
    disk_mb: int = 256
    cell_timeout_s: float = 30.0
    notebook_timeout_s: float = 300.0
    cpus: float = 0.0  # cores per submission (CPU quota); 0: this machine's cores / workers, at least 1
    gpu_memory_mb: int = 0  # GPU memory per submission (TensorFlow, JAX); 0: the GPU's memory / workers
    data_dir: str = "data"  # course data: public/ is mounted into sandboxes, hidden/ is the grader's
    warm: int = -1  # sandboxes started ahead while others grade (autograder.run.pool); -1: one per worker, 0: none
    # [assignments."ID"] tables: limit overrides (any key above) and the assignment's own
    # settings (gpu, thresholds), which its checks read.
    assignments: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def for_assignment(self, assignment: str) -> GradingConfig:
        """This configuration with ``[assignments."ASSIGNMENT"]``'s limit overrides applied."""
        table = self.assignments.get(assignment, {})
        return replace(self, **{k: v for k, v in table.items() if k in _LIMIT_KEYS})

    def settings(self, assignment: str) -> dict[str, Any]:
        """The assignment's own settings (its table without the limit overrides), and where
        its hidden data lives."""
        table = {k: v for k, v in self.assignments.get(assignment, {}).items() if k not in _LIMIT_KEYS}
        return {**table, "hidden_data_dir": str(Path(self.data_dir) / "hidden")}

    def sandbox(self, assignment: str) -> Limits:
        """The limits and surroundings of ``assignment``'s sandboxes: its limit overrides, the
        public course data, a GPU when it asks for one (and its share of the GPU's memory),
        seeds when it must be deterministic."""
        table = self.assignments.get(assignment, {})
        public = Path(self.data_dir) / "public"
        own = self.for_assignment(assignment)
        gpu = bool(table.get("gpu", False))
        # The GPU's memory is known where the grader runs next to it; a cluster's coordinator
        # knows nothing of its workers' GPUs: there only an explicit gpu_memory_mb caps it.
        share = own.gpu_memory_mb or (gpu_memory_mb() // own.worker_count if gpu and not own.cluster else 0)
        preamble = _GPU_MEMORY.format(mb=share) if gpu and share else ""
        if table.get("deterministic"):
            preamble += _DETERMINISM.format(seed=int(table.get("seed", 0)))
        return replace(own.limits(), data_dir=str(public) if public.is_dir() else "", gpu=gpu,
                       gpu_memory_mb=share if gpu else 0, preamble=preamble)

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    @property
    def cpu_share(self) -> float:
        """Cores per submission: ``cpus``, else this machine's cores / workers, at least 1 (on a
        cluster, whose workers' cores this machine does not know, 1)."""
        if self.cpus:
            return self.cpus
        return 1.0 if self.cluster else max(1.0, (os.cpu_count() or 1) / self.worker_count)

    def limits(self) -> Limits:
        return Limits(
            memory_bytes=self.memory_mb * 1024**2,
            pids=self.pids,
            disk_bytes=self.disk_mb * 1024**2,
            cell_timeout_s=self.cell_timeout_s,
            notebook_timeout_s=self.notebook_timeout_s,
            cpus=self.cpu_share,
            gpu_memory_mb=self.gpu_memory_mb,
        )


_DETERMINISM = """\
import os as _ag_os, random as _ag_random, numpy as _ag_np
_ag_random.seed({seed}); _ag_np.random.seed({seed})
if _ag_os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow":
    import tensorflow as _ag_tf
    _ag_tf.random.set_seed({seed}); _ag_tf.config.experimental.enable_op_determinism()
else:  # another Keras backend (JAX): deterministic XLA kernels on GPU, Keras' own seed
    _ag_os.environ["XLA_FLAGS"] = (_ag_os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
    import keras as _ag_keras
    _ag_keras.utils.set_random_seed({seed})
del _ag_os, _ag_random, _ag_np
"""
_GPU_MEMORY = """\
def _ag_gpu_memory(limit_mb):
    import os
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return  # JAX: the jail sets XLA_PYTHON_CLIENT_MEM_FRACTION
    import tensorflow as tf
    gpus = tf.config.list_physical_devices("GPU")
    for gpu in gpus:
        tf.config.set_logical_device_configuration(gpu, [tf.config.LogicalDeviceConfiguration(memory_limit=limit_mb)])
    if gpus:  # growth is on (TF_FORCE_GPU_ALLOW_GROWTH); TensorFlow would refuse a notebook's own call beside a limit
        tf.config.experimental.set_memory_growth = lambda device, enable: None
_ag_gpu_memory({mb})
del _ag_gpu_memory
"""
_LIMIT_KEYS = ("memory_mb", "pids", "disk_mb", "cell_timeout_s", "notebook_timeout_s", "cpus", "gpu_memory_mb")
_MINIMUM = {"workers": 0, "warm": -1, "memory_mb": 64, "pids": 8, "disk_mb": 1, "cell_timeout_s": 0.1,
            "notebook_timeout_s": 0.1, "cpus": 0.0, "gpu_memory_mb": 0}


def load(root: Path, **overrides: Any) -> GradingConfig:
    """Read ``[grading]`` and ``[assignments.*]`` from ``root/course.toml`` (defaults when
    absent), then apply overrides."""
    path = root / "course.toml"
    data: dict[str, Any] = {}
    assignments: dict[str, dict[str, Any]] = {}
    if path.exists():
        try:
            document = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
        data = dict(document.get("grading", {}))
        assignments = {str(k): dict(v) for k, v in document.get("assignments", {}).items()}
    data.update({k: v for k, v in overrides.items() if v is not None})
    _validate(data, path, "grading")
    for name, table in assignments.items():
        limits = {k: v for k, v in table.items() if k in _LIMIT_KEYS}
        _validate(limits, path, f"assignments.{name!r}")
        table.update(limits)  # validated and coerced (an int where a float is expected)
    data["data_dir"] = str((root / str(data.get("data_dir", "data"))).resolve())
    return GradingConfig(**data, assignments=assignments)


def _validate(data: dict[str, Any], path: Path, section: str) -> None:
    known = {f.name: f for f in fields(GradingConfig) if f.name != "assignments"}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"{section}.{key} is not a setting (known: {', '.join(known)}); fix {path}")
        expected = int if known[key].type == "int" else float if known[key].type == "float" else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"{section}.{key} = {value!r} must be {expected.__name__} (set it in {path})")
        minimum = _MINIMUM.get(key)
        if minimum is not None and isinstance(value, int | float) and value < minimum:
            flag = " or pass --workers N" if key == "workers" else ""
            raise ConfigError(f"{section}.{key} = {value!r} must be at least {minimum} (set it in {path}{flag})")
