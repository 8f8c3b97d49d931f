"""Resource limits for one sandboxed kernel."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Limits:
    """What one submission may use.  Memory and disk are bytes; times are seconds.

    ``cpus`` is the jail's CPU quota in cores: its processes together, however many, get at
    most that much CPU time, so a submission's time limits measure its own work, whatever
    runs beside it.  The default, one core, is the smallest share a grading worker gets
    (``course.toml``'s ``cpus``); 0 means no quota.  ``gpu_memory_mb`` caps what TensorFlow and
    JAX may allocate on a GPU (0: no cap, memory is taken as needed).
    """

    memory_bytes: int = 2 * 1024**3
    pids: int = 64
    disk_bytes: int = 256 * 1024**2
    cell_timeout_s: float = 30.0
    notebook_timeout_s: float = 300.0
    output_bytes: int = 256 * 1024  # output kept per cell; the rest is counted, not stored
    data_dir: str = ""  # host folder of public course data, read-only at /opt/course-data
    gpu: bool = False  # expose the host's NVIDIA devices, when it has any
    cpus: float = 1.0  # cores' worth of CPU time (cgroup quota); 0: no quota
    gpu_memory_mb: int = 0  # per process, for TensorFlow and JAX in the jail; 0: no cap
    preamble: str = ""  # run silently before the first cell (seeds, determinism)
