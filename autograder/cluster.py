"""Grade on a Dask ``distributed`` cluster: each submission is one task.

A worker runs the task in the same sandbox as local grading (:func:`autograder.batch.run_job`:
the hidden checks are built from the autograder package installed on the worker, never in a
kernel) and sends back a :class:`~autograder.batch.SubmissionRun` of plain data; only the
coordinator, the process that called :func:`autograder.batch.grade`, writes the gradebook.
The submission's files travel with its task, so workers need no access to the course folder.

Scheduling:

- A job with ``Job.gpu`` asks for the worker resource ``GPU: 1`` (workers on GPU hosts are
  started with ``--resources GPU=1``).  CPU jobs ask for nothing and run anywhere.  When no
  worker offers a GPU, GPU jobs run on CPU and their run carries :data:`NO_GPU_NOTE`.
- The coordinator hands the cluster only as many jobs as it has threads free (GPU jobs: as many
  as it has GPUs), so a worker never holds a queue: a worker that dies takes down only the
  submissions it was running, and a busy GPU worker never sits on CPU jobs.
- Dask runs a task again elsewhere when its worker dies; after ``allowed-failures`` deaths the
  scheduler gives up on it (``KilledWorker``) and the submission is recorded with every item
  ``kernel died``, while the rest of the class goes on.

:class:`LoopbackCluster` starts a scheduler and workers on 127.0.0.1 as subprocesses, for tests,
benchmarks and trying ``--cluster`` on one machine.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import CancelledError
from contextlib import suppress
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from distributed import Client, Future, KilledWorker, as_completed, get_worker

from autograder.batch import Job, SubmissionRun, submission_files, unfinished
from autograder.checks.base import Status
from autograder.sandbox.jail import sweep_stale

GPU = "GPU"  # the worker resource a GPU job asks for: `dask worker --resources GPU=1`
NO_GPU_NOTE = "graded on CPU: no GPU worker in the cluster"
NO_NVML = {"DASK_DISTRIBUTED__DIAGNOSTICS__NVML": "False"}
"""Environment of a CPU worker on a GPU host: with ``CUDA_VISIBLE_DEVICES=-1`` Dask's GPU
monitor (NVML) fails and the worker does not start."""
LEAN = {
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__TICK__INTERVAL": "1s",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__INTERVAL": "5s",
    "DASK_DISTRIBUTED__WORKER__MEMORY__MONITOR_INTERVAL": "1s",
}
"""Environment of every process of a grading cluster (hub_config/dask/config/grading.yaml
holds the same settings as a Dask configuration file).  A task is one submission graded for seconds in
a sandboxed kernel, a separate process: the worker's statistical profiler (every 10 ms), event
loop tick (20 ms), system monitor (500 ms) and memory monitor (100 ms) watch only a thread that
waits for that kernel.  Idle, they cost a 2-worker loopback cluster 14 % of a core (4.3 CPU-s in
30 s); with these settings 1.4 %."""


class ClusterError(ConnectionError):
    """The cluster cannot be used; the message says why and what to do."""


def pack(job: Job) -> Job:
    """``job`` with its submitted files inside, for a worker that cannot read the course folder."""
    return replace(job, submission=tuple((p.relative_to(job.folder).as_posix(), p.read_bytes())
                                         for p in submission_files(job.folder)))


def on_worker(fn: Callable[[Job], SubmissionRun], job: Job) -> SubmissionRun:
    """The task itself, run by a worker: the submitted files into a private folder, then ``fn``
    (after removing what a killed predecessor of this worker left behind)."""
    sweep_stale()
    with tempfile.TemporaryDirectory(prefix="autograder-submission-") as tmp:
        folder = Path(tmp, job.assignment)
        folder.mkdir()
        for name, data in job.submission:
            path = folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out = fn(replace(job, folder=folder, submission=()))
    out.worker = out.worker or str(get_worker().name)
    return out


def gpu_count(info: Mapping[str, Any]) -> int:
    """GPUs offered by the workers in a scheduler's ``scheduler_info()``."""
    return sum(int(w.get("resources", {}).get(GPU, 0)) for w in info.get("workers", {}).values())


def thread_count(info: Mapping[str, Any]) -> int:
    return sum(int(w.get("nthreads", 0)) for w in info.get("workers", {}).values())


def allowed_failures(client: Client, value: int | None = None) -> int:
    """The scheduler's ``allowed-failures`` bound; set to ``value`` unless it is None (the
    bound it had is returned)."""

    # Defined here, not at module level, so that it travels by value: the scheduler then
    # needs no autograder package (importing it there takes seconds).
    def swap(value: int | None, dask_scheduler: Any = None) -> int:
        previous = int(dask_scheduler.allowed_failures)
        if value is not None:
            dask_scheduler.allowed_failures = value
        return previous

    return int(client.run_on_scheduler(swap, value))


def killed(job: Job, allowed_failures: int) -> SubmissionRun:
    """The run of a submission whose worker died every time it was tried."""
    tries = allowed_failures + 1
    out = unfinished(job, Status.KERNEL_DIED,
                     f"grading stopped: the grading worker died {tries} times while running this notebook, so "
                     "it was not tried again; check that the notebook runs from top to bottom in a fresh "
                     "kernel, and ask your instructor to grade it again")
    out.notes.append(f"killed its worker {tries} times, so it was not retried (allowed-failures = "
                     f"{allowed_failures}) and every item is 'kernel died'; after a look at the workers' logs, "
                     f"regrade it with `autograder grade {job.assignment} --student {job.student} --force`")
    return out


class DaskExecutor:
    """Jobs as tasks on the cluster whose scheduler listens at ``address`` (``tcp://HOST:PORT``).

    ``allowed_failures``: how many worker deaths one submission may cause before it is recorded
    as ``kernel died``; it is set on the scheduler for the batch and restored after.  None keeps
    the scheduler's own ``distributed.scheduler.allowed-failures`` (Dask's default: 3).
    """

    def __init__(self, address: str, allowed_failures: int | None = None, connect_timeout_s: float = 30.0,
                 workers_timeout_s: float = 120.0) -> None:
        if allowed_failures is not None and allowed_failures < 0:
            raise ValueError(f"allowed-failures = {allowed_failures} must be at least 0 (a submission is tried "
                             "allowed-failures + 1 times)")
        self.address = address
        self.allowed_failures = allowed_failures
        self.connect_timeout_s = connect_timeout_s
        self.workers_timeout_s = workers_timeout_s
        self._running = 0

    @property
    def running(self) -> int:
        """Jobs handed to the cluster and not finished (at most one per free thread)."""
        return self._running

    def _connect(self) -> Client:
        try:
            client = Client(self.address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {self.address!r} ({exc}); start one "
                               "(docs/scaling.md), or fix grading.cluster in course.toml or --cluster") from exc
        try:
            client.wait_for_workers(1, timeout=self.workers_timeout_s)
        except TimeoutError as exc:
            client.close()
            raise ClusterError(f"no worker joined the Dask scheduler at {self.address} within "
                               f"{self.workers_timeout_s:g} s; start `dask worker {self.address}` on the "
                               "grading hosts (docs/scaling.md)") from exc
        return client

    def run(self, fn: Callable[[Job], SubmissionRun], jobs: Iterable[Job]) -> Iterator[SubmissionRun]:
        queue = list(jobs)
        if not queue:
            return
        client = self._connect()
        try:
            bound = allowed_failures(client, self.allowed_failures)
            try:
                yield from self._run(client, fn, queue)
            finally:
                if self.allowed_failures is not None:
                    with suppress(OSError, TimeoutError, CancelledError):  # the scheduler may be gone
                        allowed_failures(client, bound)
        finally:
            self._running = 0
            client.close()

    def _lost(self, exc: BaseException) -> ClusterError:
        return ClusterError(f"lost the Dask scheduler at {self.address} ({exc}); what was graded is recorded: "
                            "once the scheduler is back, run the same command again")

    def _info(self, client: Client) -> dict[str, Any]:
        try:
            return dict(client.scheduler_info())
        except (OSError, TimeoutError, CancelledError) as exc:
            raise self._lost(exc) from exc

    def _run(self, client: Client, fn: Callable[[Job], SubmissionRun], jobs: list[Job]) -> Iterator[SubmissionRun]:
        on_gpu = gpu_count(self._info(client)) > 0
        gpu_jobs = deque(j for j in jobs if j.gpu and on_gpu)
        cpu_jobs = deque(j for j in jobs if not (j.gpu and on_gpu))
        pending: dict[Future[SubmissionRun], Job] = {}
        finished: as_completed = as_completed(loop=client.loop)

        def submit(job: Job, gpu: bool) -> None:
            future: Future[SubmissionRun] = client.submit(
                on_worker, fn, pack(job), key=f"grade-{job.assignment}-{job.student}-{uuid.uuid4().hex[:8]}",
                resources={GPU: 1} if gpu else None, pure=False)
            pending[future] = job
            finished.add(future)

        def top_up() -> None:
            """Hand out jobs until every thread (and every GPU) of the cluster as it is now has one."""
            info = self._info(client)
            gpus = max(gpu_count(info), 1)
            gpu_busy = sum(1 for j in pending.values() if j.gpu and on_gpu)
            while gpu_jobs and gpu_busy < gpus:
                submit(gpu_jobs.popleft(), True)
                gpu_busy += 1
            cpu_busy = len(pending) - gpu_busy
            while cpu_jobs and cpu_busy < max(thread_count(info) - min(gpu_busy, gpus), 1):
                submit(cpu_jobs.popleft(), False)
                cpu_busy += 1
            self._running = len(pending)

        top_up()
        while pending:
            future = next(finished)
            job = pending.pop(future)
            top_up()  # the freed thread gets its next job before this one's result is fetched
            try:
                out = future.result()
            except KilledWorker as exc:
                out = killed(job, exc.allowed_failures)
            except CancelledError as exc:  # the scheduler went away (or cancelled it)
                raise self._lost(exc) from exc
            finally:
                future.release()
            if job.gpu and not on_gpu:
                out.notes.append(NO_GPU_NOTE)
            yield out


class LoopbackCluster:
    """A scheduler and workers on 127.0.0.1, each a subprocess of this Python environment.

    ``dask scheduler`` and one ``dask worker --nthreads THREADS`` per worker, all of them
    importing the grader when they start (``--preload``), each worker under a nanny that
    restarts it if it dies; workers named ``cpu-N`` see no GPU (``CUDA_VISIBLE_DEVICES=-1``,
    NVML off), workers named ``gpu-N`` offer ``--resources GPU=1`` with
    ``CUDA_VISIBLE_DEVICES=N``.  No dashboard; every process runs with :data:`LEAN` (``env``
    may override it).  Use as a context manager; :attr:`address` is the scheduler's.
    """

    def __init__(self, workers: int = 2, gpu_workers: int = 0, threads: int = 1,
                 env: Mapping[str, str] | None = None, timeout_s: float = 180.0) -> None:
        self.names = [f"cpu-{i}" for i in range(workers)] + [f"gpu-{i}" for i in range(gpu_workers)]
        self.threads = threads
        self.env = dict(env or {})
        self.timeout_s = timeout_s
        self.folder = Path(tempfile.mkdtemp(prefix="autograder-dask-"))  # scheduler file and logs
        self.address = ""
        self._processes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> LoopbackCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _spawn(self, name: str, args: list[str], env: Mapping[str, str]) -> None:
        dask = str(Path(sys.executable).with_name("dask"))
        with open(self.folder / f"{name}.log", "wb") as log:
            self._processes.append(subprocess.Popen([dask, *args], stdin=subprocess.DEVNULL, stdout=log,
                                                    stderr=subprocess.STDOUT, env={**os.environ, **env},
                                                    start_new_session=True))

    def logs(self) -> str:
        """The last lines of every process's log (for error messages)."""
        return "\n".join(f"--- {p.name}\n" + "\n".join(p.read_text(errors="replace").splitlines()[-20:])
                         for p in sorted(self.folder.glob("*.log")))

    def start(self) -> None:
        deadline = time.monotonic() + self.timeout_s
        scheduler_file = self.folder / "scheduler.json"
        local = ["--host", "127.0.0.1", "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]
        self._spawn("scheduler", ["scheduler", *local, "--port", "0", "--scheduler-file", str(scheduler_file),
                                  "--preload", "autograder.cluster"], {**LEAN, **self.env})
        while not scheduler_file.exists():
            if self._processes[0].poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the Dask scheduler did not start:\n{self.logs()}")
            time.sleep(0.05)
        while not self.address:
            try:
                self.address = str(json.loads(scheduler_file.read_text())["address"])
            except (ValueError, KeyError):  # being written
                time.sleep(0.05)
        for name in self.names:
            gpu = name.startswith("gpu-")
            args = ["worker", *local, "--scheduler-file", str(scheduler_file), "--name", name,
                    "--nthreads", str(self.threads), "--preload", "autograder.cluster",
                    "--local-directory", str(self.folder / "scratch")]
            device = name.removeprefix("gpu-") if gpu else "-1"
            self._spawn(name, [*args, *(["--resources", f"{GPU}=1"] if gpu else [])],
                        {**LEAN, **self.env, "CUDA_VISIBLE_DEVICES": device, **({} if gpu else NO_NVML)})
        with Client(self.address, timeout=self.timeout_s, set_as_default=False) as client:
            try:
                client.wait_for_workers(len(self.names), timeout=max(deadline - time.monotonic(), 1.0))
            except TimeoutError:
                raise RuntimeError(f"the Dask workers did not all start:\n{self.logs()}") from None

    def stop(self) -> None:
        """Stop the workers, then the scheduler: SIGTERM to each one's process group, SIGKILL to
        what is left of it after 30 s."""
        for process in reversed(self._processes):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in reversed(self._processes):
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=30)
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        self._processes.clear()
        shutil.rmtree(self.folder, ignore_errors=True)
