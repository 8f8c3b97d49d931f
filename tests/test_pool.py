"""Warm sandboxes (:mod:`autograder.run.pool`): a pooled kernel serves one submission and is never
shared; the warm-up binds no name; sizing follows the workers and the machine's memory; a batch
uses the pool only where it helps."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder.checks.base import Check, Status
from autograder.run.notebook import grade_notebook
from autograder.run.pool import KernelPool, modules, size_for, warmup_code
from autograder.sandbox.limits import Limits

LIMITS = Limits(memory_bytes=1024**3, pids=64, cell_timeout_s=20, notebook_timeout_s=60)

FIRST = """\
import os, subprocess
with open("left-by-the-first.txt", "w") as f:
    f.write("first")
SECRET_OF_THE_FIRST = 42
BACKGROUND = subprocess.Popen(["sleep", "120"])
"""
SEEN = """\
import os
def seen():
    mine = os.getpid()
    commands = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    commands.append(f.read().replace(b"\\0", b" ").decode())
            except OSError:
                pass
    return {"file": os.path.exists("left-by-the-first.txt"), "var": "SECRET_OF_THE_FIRST" in globals(),
            "sleep": any(c.startswith("sleep 120") for c in commands), "pid": mine}
"""
TEST = """\
got = seen()
assert not got["file"], "a file of the first submission is visible"
assert not got["var"], "a variable of the first submission is visible"
assert not got["sleep"], "a process of the first submission is visible"
"""


def _notebook(path: Path, *cells: str) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    test = nbformat.v4.new_code_cell("# the test")
    test.metadata["nbgrader"] = {"grade": True, "solution": False, "grade_id": "test_seen", "points": 1,
                                 "schema_version": 3, "locked": True}
    nb.cells.append(test)
    nbformat.write(nb, path)
    return path


@pytest.mark.slow
def test_a_pooled_kernel_is_never_shared(tmp_path: Path) -> None:
    """Two submissions graded in sequence on one worker, the second on a sandbox warmed while the
    first ran: the second sees none of the first's files, variables or processes."""
    first = _notebook(tmp_path / "first.ipynb", FIRST, SEEN)
    second = _notebook(tmp_path / "second.ipynb", SEEN)
    checks, points = [Check("test_seen", TEST)], {"test_seen": 1.0}
    with KernelPool(LIMITS, "import numpy as np", size=1) as pool:
        one = grade_notebook(first, checks, points, LIMITS, sandbox=pool.take)
        two = grade_notebook(second, checks, points, LIMITS, sandbox=pool.take)
    assert one.results[0].status is Status.FAILED and "file" in one.results[0].message  # it sees its own
    assert two.results[0].status is Status.PASSED, two.results[0].message
    assert two.timings["kernel_start"] < one.timings["kernel_start"] + 1.0


@pytest.mark.slow
def test_the_warm_up_binds_no_name(tmp_path: Path) -> None:
    """numpy is imported ahead, but a notebook that never imports it still cannot use ``np``."""
    path = _notebook(tmp_path / "forgot.ipynb", "def seen():\n    return np.zeros(2)\n")
    with KernelPool(LIMITS, "import numpy as np", size=1) as pool:
        run = grade_notebook(path, [Check("test_seen", "seen()\n")], {"test_seen": 1.0}, LIMITS, sandbox=pool.take)
    assert run.results[0].status is Status.ERROR and "NameError" in run.results[0].message


def test_modules_and_warm_up_code() -> None:
    imports = "import numpy as np\nfrom keras import layers\nimport os, json\nfrom . import local\nnot python ("
    assert modules(imports) == ["numpy", "keras", "os", "json"]
    scope: dict[str, object] = {}
    exec(warmup_code("import json\nimport no_such_module_here"), scope)
    assert set(scope) == {"__builtins__"}  # nothing bound; a missing module is skipped


def test_size_follows_workers_and_memory() -> None:
    gib = 1024**3
    limits = Limits(memory_bytes=2 * gib)
    assert size_for(2, limits, memory_bytes=24 * gib) == 2  # one per worker
    assert size_for(2, limits, memory_bytes=6 * gib) == 0  # 4.8 GiB: the two running ones already fill it
    assert size_for(2, limits, memory_bytes=7 * gib) == 0
    assert size_for(4, limits, memory_bytes=16 * gib) == 2  # 12.8 GiB: 6 sandboxes, 4 running
    assert size_for(2, limits, requested=0, memory_bytes=24 * gib) == 0
    assert size_for(2, limits, requested=5, memory_bytes=1 * gib) == 5  # asked for: as configured
