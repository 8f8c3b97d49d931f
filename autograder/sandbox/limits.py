"""Resource limits for one sandboxed kernel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one submission may use.  Memory and disk are bytes; times are seconds."""

    memory_bytes: int = 2 * 1024**3
    pids: int = 64
    disk_bytes: int = 256 * 1024**2
    cell_timeout_s: float = 30.0
    notebook_timeout_s: float = 300.0
    output_bytes: int = 256 * 1024  # output kept per cell; the rest is counted, not stored
    data_dir: str = ""  # host folder of public course data, read-only at /opt/course-data
    gpu: bool = False  # expose the host's NVIDIA devices, when it has any
    preamble: str = ""  # run silently before the first cell (seeds, determinism)
