"""Grading on a real Dask cluster on 127.0.0.1.

``dask_cluster`` (module-scoped): a ``dask scheduler`` and two ``dask worker`` processes of this
environment, one thread each, no dashboard, each under a nanny that restarts it when it dies:
``cpu-0``, and ``gpu-0`` which offers the resource ``GPU=1`` (a label: no GPU is needed).
The test-only task functions below are importable by the workers (``PYTHONPATH`` is the repo).
"""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from functools import partial
from pathlib import Path

import distributed
import pytest

from autograder import batch, cli, cluster, config
from autograder.checks.base import Status
from autograder.sandbox.limits import Limits
from tests.conftest import ASSIGNMENT, REPO, build_course
from tests.test_resume import Items, duplicate_rows, gradebook_items, journals, small_class

pytestmark = pytest.mark.slow

WORKERS = ("cpu-0", "gpu-0")


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[cluster.LoopbackCluster]:
    with cluster.LoopbackCluster(workers=1, gpu_workers=1, env={"PYTHONPATH": str(REPO)}) as running:
        yield running


@pytest.fixture
def client(dask_cluster: cluster.LoopbackCluster) -> Iterator[distributed.Client]:
    """A client of the cluster, once both workers are up (a test before may have killed one)."""
    with distributed.Client(dask_cluster.address, set_as_default=False) as c:
        c.wait_for_workers(len(WORKERS), timeout=180)
        yield c


@pytest.fixture(scope="module")
def local_items(tmp_path_factory: pytest.TempPathFactory) -> Items:
    """The gradebook of ``small_class()`` graded on this machine: what the cluster must match."""
    course = build_course(tmp_path_factory.mktemp("local"), small_class())
    batch.grade(course, ASSIGNMENT, config.load(course.root, workers=2), progress=False)
    return gradebook_items(course)


# Test-only task functions (run by the workers, so defined at module level).

def where_it_ran(release: str, job: batch.Job) -> batch.SubmissionRun:
    """Say which worker ran ``job``; a GPU job first waits (up to 120 s) until ``release`` exists."""
    deadline = time.monotonic() + 120
    while job.gpu and not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.05)
    return batch.SubmissionRun(job, worker=str(distributed.get_worker().name))


def crash_for(student: str, attempts: str, job: batch.Job) -> batch.SubmissionRun:
    """Grade ``job``, except that ``student``'s submission kills its worker, every time."""
    if job.student == student:
        Path(attempts, uuid.uuid4().hex).touch()
        os._exit(1)
    return batch.run_job(job)


class Swapped:
    """An executor that runs ``fn`` instead of the function it is given; ``after_first`` is
    called once, when the first result arrives."""

    def __init__(self, inner: batch.Executor, fn: Callable[[batch.Job], batch.SubmissionRun] | None = None,
                 after_first: Callable[[], None] | None = None) -> None:
        self.inner, self.fn, self.after_first = inner, fn, after_first

    def run(self, fn: Callable[[batch.Job], batch.SubmissionRun],
            jobs: Iterable[batch.Job]) -> Iterator[batch.SubmissionRun]:
        for i, run in enumerate(self.inner.run(self.fn or fn, jobs)):
            if i == 0 and self.after_first is not None:
                self.after_first()
            yield run


def _jobs(folder: Path, n: int, gpu: int) -> list[batch.Job]:
    return [batch.Job("03.2_mnist_classifier", f"student{i}", folder, (), (), Limits(), gpu=i < gpu)
            for i in range(n)]


def test_class_graded_on_cluster_matches_local(client: distributed.Client, dask_cluster: cluster.LoopbackCluster,
                                               local_items: Items, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """`autograder grade --cluster` fills the gradebook exactly as local grading does."""
    course = build_course(tmp_path, small_class())
    assert cli.main(["--course", str(course.root), "grade", ASSIGNMENT, "--cluster", dask_cluster.address]) == 0
    out = capsys.readouterr().out
    assert "graded 6 submissions in" in out and f"on the Dask cluster at {dask_cluster.address}" in out
    assert gradebook_items(course) == local_items
    assert set(journals(course)) == set(local_items)
    assert {j["worker"] for j in journals(course).values()} <= set(WORKERS)
    assert duplicate_rows(course) == []


LEAN_KEYS = ("distributed.worker.profile.enabled", "distributed.admin.tick.interval",
             "distributed.admin.system-monitor.interval", "distributed.worker.memory.monitor-interval")
LEAN_VALUES = (False, "1s", "5s", "1s")


def test_cluster_processes_run_lean(client: distributed.Client) -> None:
    """Every process of the loopback cluster runs with Dask's monitors tuned down (cluster.LEAN)."""

    def settings(dask_scheduler: object = None) -> tuple[object, ...]:
        import dask

        return tuple(dask.config.get(key) for key in LEAN_KEYS)

    assert set(client.run(settings).values()) == {LEAN_VALUES}
    assert client.run_on_scheduler(settings) == LEAN_VALUES
    assert settings() != LEAN_VALUES  # this test process keeps Dask's defaults


def test_lean_settings_file_matches_loopback() -> None:
    """hub_config/dask/config/grading.yaml, the file for hand-started and Kubernetes clusters,
    sets what cluster.LEAN sets, and nothing else."""
    import dask.config

    from_file = dask.config.collect(paths=[str(REPO / "hub_config" / "dask" / "config")], env={})
    from_env = dask.config.collect(paths=[], env=cluster.LEAN)
    assert tuple(dask.config.get(key, config=from_file) for key in LEAN_KEYS) == LEAN_VALUES
    assert tuple(dask.config.get(key, config=from_env) for key in LEAN_KEYS) == LEAN_VALUES
    assert len(cluster.LEAN) == len(LEAN_KEYS)

    def leaves(tree: object) -> int:
        return sum(leaves(v) for v in tree.values()) if isinstance(tree, dict) else 1

    assert leaves(from_file) == len(LEAN_KEYS)


def test_gpu_jobs_go_to_the_gpu_worker(client: distributed.Client, dask_cluster: cluster.LoopbackCluster,
                                       tmp_path: Path) -> None:
    """Every GPU job runs on the GPU worker, and CPU jobs finish while it is busy with them."""
    release = tmp_path / "release-gpu-jobs"
    jobs = _jobs(tmp_path, 6, gpu=2)
    order: list[batch.SubmissionRun] = []
    for run in cluster.DaskExecutor(dask_cluster.address).run(partial(where_it_ran, str(release)), jobs):
        order.append(run)
        if sum(not r.job.gpu for r in order) == 4:
            release.touch()
    assert [r.job.gpu for r in order] == [False] * 4 + [True] * 2, "a CPU job waited for the GPU worker"
    assert {r.worker for r in order if r.job.gpu} == {"gpu-0"}
    assert all(cluster.NO_GPU_NOTE not in r.notes for r in order)


def test_gpu_jobs_without_gpu_worker_run_on_cpu(tmp_path: Path) -> None:
    """With no worker offering a GPU, GPU jobs run anyway and say so in a note."""
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as local:
        runs = list(cluster.DaskExecutor(local.scheduler_address).run(partial(where_it_ran, str(tmp_path)),
                                                                      _jobs(tmp_path, 3, gpu=2)))
    assert sorted((r.job.student, r.notes) for r in runs) == [
        ("student0", [cluster.NO_GPU_NOTE]), ("student1", [cluster.NO_GPU_NOTE]), ("student2", [])]


def test_worker_killed_mid_batch(client: distributed.Client, dask_cluster: cluster.LoopbackCluster,
                                 local_items: Items, tmp_path: Path) -> None:
    """A worker killed while grading: its submission is graded elsewhere, every one exactly once."""
    course = build_course(tmp_path, small_class())
    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while not (busy := [w for w, keys in client.processing().items() if keys]):
            assert time.monotonic() < deadline, "no worker was grading"
            time.sleep(0.02)
        pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
        os.kill(pid, signal.SIGKILL)
        killed.append(busy[0])

    executor = Swapped(cluster.DaskExecutor(dask_cluster.address), after_first=kill_a_busy_worker)
    runs = batch.grade(course, ASSIGNMENT, config.load(course.root), executor=executor, progress=False)
    assert killed
    assert sorted(r.job.student for r in runs) == sorted(local_items)
    assert gradebook_items(course) == local_items
    assert set(journals(course)) == set(local_items)
    assert duplicate_rows(course) == []


def test_submission_that_kills_its_worker(client: distributed.Client, dask_cluster: cluster.LoopbackCluster,
                                          local_items: Items, tmp_path: Path) -> None:
    """After allowed-failures + 1 worker deaths the submission is 'kernel died'; the class is graded."""
    students = small_class()
    students["crasher"] = students["solution"]
    course = build_course(tmp_path, {s: students[s] for s in ("solution", "blank", "crasher")})
    attempts = tmp_path / "attempts"
    attempts.mkdir()
    executor = Swapped(cluster.DaskExecutor(dask_cluster.address, allowed_failures=1),
                       fn=partial(crash_for, "crasher", str(attempts)))
    runs = {r.job.student: r for r in batch.grade(course, ASSIGNMENT, config.load(course.root),
                                                  executor=executor, progress=False)}
    assert len(list(attempts.iterdir())) == 2
    crashed = [r for rs in runs["crasher"].results.values() for r in rs]
    assert {r.status for r in crashed} == {Status.KERNEL_DIED}
    assert all("worker died 2 times" in r.message for r in crashed)
    assert runs["crasher"].failed and "killed its worker 2 times" in runs["crasher"].notes[0]
    items = gradebook_items(course)
    assert {s: items[s] for s in ("solution", "blank")} == {s: local_items[s] for s in ("solution", "blank")}
    assert sum(score for score, _ in items["crasher"].values()) == 0
    assert set(journals(course)) == {"solution", "blank", "crasher"}
    assert duplicate_rows(course) == []
    assert cluster.allowed_failures(client) == 3  # the scheduler's own bound, restored after the batch


def test_unreachable_scheduler_is_reported() -> None:
    """A scheduler that does not answer is named in a ConnectionError that says what to do."""
    with pytest.raises(cluster.ClusterError, match=re.escape("cannot reach the Dask scheduler at 'tcp://127.0.0.1:9'")):
        list(cluster.DaskExecutor("tcp://127.0.0.1:9", connect_timeout_s=1).run(batch.run_job, _jobs(Path(), 1, 0)))


def test_gpu_count_reads_worker_resources() -> None:
    """GPUs are counted from the workers' resources; workers without the label offer none."""
    info = {"workers": {"a": {"nthreads": 2, "resources": {"GPU": 1}}, "b": {"nthreads": 4, "resources": {}},
                        "c": {"nthreads": 1}}}
    assert (cluster.gpu_count(info), cluster.thread_count(info)) == (1, 7)
    assert cluster.gpu_count({"workers": {}}) == 0
