"""Course configuration (``course.toml`` at the course root), typed and validated."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from autograder.sandbox.limits import Limits


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key, the value and the fix."""


@dataclass(frozen=True)
class GradingConfig:
    workers: int = 0
    sandbox_user: str = "ag-sandbox"
    memory_mb: int = 2048
    pids: int = 64
    disk_mb: int = 256
    cell_timeout_s: float = 30.0
    notebook_timeout_s: float = 300.0

    @property
    def worker_count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def limits(self) -> Limits:
        return Limits(
            memory_bytes=self.memory_mb * 1024**2,
            pids=self.pids,
            disk_bytes=self.disk_mb * 1024**2,
            cell_timeout_s=self.cell_timeout_s,
            notebook_timeout_s=self.notebook_timeout_s,
        )


_MINIMUM = {"workers": 0, "memory_mb": 64, "pids": 8, "disk_mb": 1, "cell_timeout_s": 0.1, "notebook_timeout_s": 0.1}


def load(root: Path, **overrides: Any) -> GradingConfig:
    """Read ``[grading]`` from ``root/course.toml`` (defaults when absent), then apply overrides."""
    path = root / "course.toml"
    data: dict[str, Any] = {}
    if path.exists():
        try:
            data = dict(tomllib.loads(path.read_text()).get("grading", {}))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    data.update({k: v for k, v in overrides.items() if v is not None})
    known = {f.name: f for f in fields(GradingConfig)}
    for key, value in data.items():
        if key not in known:
            raise ConfigError(f"grading.{key} is not a setting (known: {', '.join(known)}); fix {path}")
        expected = int if known[key].type == "int" else float if known[key].type == "float" else str
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            data[key] = value = float(value)
        if not isinstance(value, expected) or isinstance(value, bool):
            raise ConfigError(f"grading.{key} = {value!r} must be {expected.__name__} (set it in {path})")
        minimum = _MINIMUM.get(key)
        if minimum is not None and isinstance(value, int | float) and value < minimum:
            flag = " or pass --workers N" if key == "workers" else ""
            raise ConfigError(f"grading.{key} = {value!r} must be at least {minimum} (set it in {path}{flag})")
    return GradingConfig(**data)
