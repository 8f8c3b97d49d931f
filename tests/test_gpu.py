"""03.2 on a real NVIDIA GPU: the solution trains in the sandbox on the GPU, the trusted evaluator
says it measured on the GPU, and a Dask worker labelled ``GPU=1`` grades the GPU jobs there
while a CPU worker sees no GPU.  Each jail's share of the GPU's memory is checked as the
arguments the jail and the configuration build from this GPU's size.

Skipped on machines without a GPU (``/dev/nvidia*``): CI has none.  Run on a GPU host as root,
with the runtime's Keras backend (``KERAS_BACKEND``, TensorFlow by default) built for CUDA.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from autograder import authored, batch, config
from autograder.checks.base import Status
from autograder.cluster import DaskExecutor, LoopbackCluster
from autograder.demo import write_course
from autograder.gradebook import Course
from autograder.run.notebook import auto_points, grade_notebook
from autograder.sandbox.jail import Jail, gpu_devices, gpu_memory_mb
from tests.conftest import REPO, use_data

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not gpu_devices(), reason="no NVIDIA GPU on this machine")]

DIGITS = "03.2_mnist_classifier"
SOLUTION = REPO / "source" / DIGITS / f"{DIGITS}.ipynb"
RELEASE = REPO / "release" / DIGITS


DEVICES = """\
import keras
if keras.backend.backend() == "jax":
    import jax
    print("DEVICES", [d.platform for d in jax.devices()])
else:
    import tensorflow as tf
    print("DEVICES", ["gpu" for _ in tf.config.list_physical_devices("GPU")] or ["cpu"])
"""
"""A cell that prints the platforms the student's kernel computes on."""


def test_solution_trains_and_is_judged_on_the_gpu(tmp_path: Path, mnist_data: Path) -> None:
    nb = nbformat.read(SOLUTION, as_version=4)
    first = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(first + 1, nbformat.v4.new_code_cell(DEVICES))  # before any check: its output is kept
    nbformat.write(nb, tmp_path / f"{DIGITS}.ipynb")
    cfg = config.load(REPO, data_dir=str(mnist_data))
    limits = cfg.sandbox(DIGITS)
    checks, settings = authored.prepare(REPO / "source" / DIGITS, cfg.settings(DIGITS))
    assert limits.gpu and settings["gpu"]
    files = {p.name: p.read_bytes() for p in RELEASE.iterdir() if p.suffix != ".ipynb"}
    run = grade_notebook(tmp_path / f"{DIGITS}.ipynb", checks, auto_points(RELEASE / f"{DIGITS}.ipynb"), limits,
                         files, lambda: authored.namespace(settings), settings)
    assert [r.status for r in run.results] == [Status.PASSED] * 3, [(r.item, r.message) for r in run.results]
    accuracy = next(r for r in run.results if r.item == "test_accuracy")
    assert "evaluated on GPU (" in accuracy.message, accuracy.message
    assert run.notebook is not None
    cell = next(c for c in run.notebook.cells if c.source == DEVICES)
    printed = "".join(str(o.get("text", "")) for o in cell.outputs)
    assert "DEVICES ['gpu'" in printed or "DEVICES ['cuda'" in printed, printed


def test_gpu_worker_grades_the_gpu_jobs(tmp_path: Path, mnist_data: Path) -> None:
    students = {f"s{i}": nbformat.read(SOLUTION, as_version=4) for i in range(2)}
    course = Course(write_course(tmp_path, students, DIGITS))
    use_data(course, mnist_data)
    with LoopbackCluster(workers=1, gpu_workers=1, env={"PYTHONPATH": str(REPO)}) as running:
        runs = batch.grade(course, DIGITS, config.load(course.root), executor=DaskExecutor(running.address),
                           progress=False)
    assert {r.job.student: r.worker for r in runs} == {"s0": "gpu-0", "s1": "gpu-0"}
    for run in runs:
        (results,) = run.results.values()
        accuracy = next(r for r in results if r.item == "test_accuracy")
        assert "evaluated on GPU (" in accuracy.message, (run.job.student, accuracy.message, run.notes)
        assert run.score == sum(auto_points(RELEASE / f"{DIGITS}.ipynb").values()), run.results


def test_jails_get_their_share_of_the_gpu_memory() -> None:
    """The share is this GPU's memory / workers: TensorFlow's limit in the preamble, JAX's fraction
    in the jail's environment (tests/test_cpu_share.py checks the same with the GPU's size faked)."""
    total = gpu_memory_mb()
    assert total > 1024, "nvidia-smi does not report this GPU's memory"
    limits = config.load(REPO, workers=4).sandbox(DIGITS)
    assert limits.gpu_memory_mb == total // 4 and f"_ag_gpu_memory({total // 4})" in limits.preamble
    jail = Jail(limits)
    try:
        argv = jail.argv(["python"])
    finally:
        jail.close()
    env = {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv) if arg == "--setenv"}
    assert float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) == pytest.approx(0.25, abs=0.001)
