"""Each submission gets a CPU share, and a GPU memory share on GPU hosts.

- A jail's busy processes, however many, get at most the jail's quota of CPU time, all of
  them niced; every process of a jail (a notebook's kernel and what it starts included) is in
  all of the jail's cgroups, and a jailed process that mounts the cgroup file system in a user
  namespace of its own can neither lift its quota nor leave its group.
- ``course.toml``'s ``cpus`` and ``gpu_memory_mb``: defaults (cores / workers, GPU memory /
  workers), overrides, validation; the GPU memory cap as the jail passes it (JAX's
  ``XLA_PYTHON_CLIENT_MEM_FRACTION``) and as the preamble sets it (TensorFlow's logical device
  memory limit).  There is no GPU here: these check the arguments, environment and preamble
  that the jail and the configuration build, with the GPU's size faked, not a GPU.
- Slow: a notebook that starts 150 busy processes, graded beside a correct 03.0 submission on
  2 workers, leaves it full marks in about its time alone (see :data:`FACTOR`, :data:`MARGIN_S`).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import nbformat
import pytest

from autograder import batch, config
from autograder.config import ConfigError
from autograder.demo import write_course
from autograder.gradebook import Course
from autograder.run.kernel import SandboxedKernel
from autograder.sandbox import cgroup, warmup
from autograder.sandbox import jail as jail_module
from autograder.sandbox.jail import NICE, RUNTIME, Jail
from autograder.sandbox.limits import Limits
from tests.conftest import ASSIGNMENT, NOTEBOOK, REPO

BUSY = """\
import os, sys, time
for _ in range(int(sys.argv[1]) - 1):
    if os.fork() == 0:
        break
end = time.monotonic() + float(sys.argv[2])
while time.monotonic() < end:
    pass
"""
"""``python busy.py N SECONDS``: N processes that spin for SECONDS."""


def _cpu_seconds(pids: list[int]) -> float:
    """User and system CPU time of the live processes ``pids``."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def _members(jail: Jail) -> list[set[int]]:
    """The processes of each of the jail's cgroups."""
    assert jail.cgroup is not None
    return [{int(p) for p in (path / "cgroup.procs").read_text().split()} for path in jail.cgroup.paths()]


def _tree(root: int) -> set[int]:
    """``root`` and every process descended from it."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
    tree = {root}
    while grown := {pid for pid, ppid in parent.items() if ppid in tree} - tree:
        tree |= grown
    return tree


def _nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def test_busy_processes_get_at_most_the_quota() -> None:
    processes, quota, window = 6, 0.5, 2.0
    with Jail(Limits(cpus=quota)) as jail:
        assert jail.cgroup is not None
        jail.put("busy.py", BUSY.encode())
        process = jail.popen([f"{RUNTIME}/bin/python", "busy.py", str(processes), str(window + 6)])
        try:
            deadline = time.monotonic() + 15
            while len(_members(jail)[-1]) < processes + 2 and time.monotonic() < deadline:  # + 2 bwrap
                time.sleep(0.05)
            *others, cpu = _members(jail)
            assert len(cpu) >= processes + 2 and all(group == cpu for group in others)
            assert cpu == _tree(process.pid)  # the whole tree, and nothing else, is in every group
            assert {_nice(pid) for pid in cpu} == {min(os.getpriority(os.PRIO_PROCESS, 0) + NICE, 19)}
            before, start = _cpu_seconds(sorted(cpu)), time.monotonic()
            time.sleep(window)
            used = (_cpu_seconds(sorted(cpu)) - before) / (time.monotonic() - start)
            stat = (jail.cgroup.cpu / "cpu.stat").read_text().split()
        finally:
            process.kill()
    # 6 processes that would take every core (2 here) were held to half a core; 10 % for the
    # kernel's accounting granularity (the quota is enforced per 100 ms period).
    assert used <= quota * 1.1, f"{used:.2f} cores used under a quota of {quota}"
    throttled = stat[stat.index("nr_throttled") + 1]
    assert int(throttled) > 0, stat


ESCAPE = r"""
try='
  mkdir -p /tmp/c
  mount -t cgroup -o cpu none /tmp/c 2>/dev/null || mount -t cgroup2 none /tmp/c 2>/dev/null
  echo -1 > /tmp/c/cpu.cfs_quota_us 2>/dev/null; echo quota $?
  echo max > /tmp/c/cpu.max 2>/dev/null; echo max $?
  mkdir /tmp/c/out 2>/dev/null; echo mkdir $?
  echo $$ > /tmp/c/cgroup.procs 2>/dev/null; echo procs $?
  echo $$ > /sys/fs/cgroup/cpu/cgroup.procs 2>/dev/null; echo sys $?
'
unshare --user --map-root-user --mount --cgroup sh -c "$try" 2>/dev/null || sh -c "$try"
echo done 0
exec sleep 30
"""
"""Tries to loosen or leave the jail's CPU group: in a user namespace of its own (where the
host allows one) it is root by name and may mount the cgroup file system, and still has none
of the kernel's rights over the groups it sees there."""


def test_a_jailed_process_cannot_lift_its_quota_or_leave_its_groups() -> None:
    with Jail(Limits(cpus=1.0)) as jail:
        assert jail.cgroup is not None
        files = [f for f in ("cpu.cfs_quota_us", "cpu.max") if (jail.cgroup.cpu / f).exists()]
        quota = {f: (jail.cgroup.cpu / f).read_text() for f in files}
        jail.put("escape.sh", ESCAPE.encode())
        process = subprocess.Popen(jail.argv(["sh", "escape.sh"]), stdout=subprocess.PIPE, text=True,
                                   preexec_fn=jail.cgroup.join)
        try:
            assert process.stdout is not None
            tries = dict(process.stdout.readline().split() for _ in range(6))
            assert tries.pop("done") == "0" and set(tries) == {"quota", "max", "mkdir", "procs", "sys"}
            assert all(code != "0" for code in tries.values()), tries
            assert quota == {f: (jail.cgroup.cpu / f).read_text() for f in files}
            groups, tree = _members(jail), _tree(process.pid)
            assert len(tree) == 3 and all(group == tree for group in groups), (tree, groups)  # bwrap ×2, sleep
        finally:
            process.kill()
            process.wait()


SPAWN = """\
import subprocess, threading, time
child = subprocess.Popen(["sleep", "30"])
threading.Thread(target=time.sleep, args=(30,), daemon=True).start()
print("started", child.pid)
"""


def test_kernel_and_what_it_starts_are_in_the_jail() -> None:
    with Jail(Limits()) as jail:
        kernel = SandboxedKernel(jail)
        try:
            run = kernel.execute(SPAWN, 30, 10_000)
            assert "started" in run.stdout, run
            tree = _tree(kernel.process.pid)
            assert len(tree) >= 4  # bwrap, bwrap (the pid namespace's init), the kernel, sleep
            assert all(group == tree for group in _members(jail))
            assert {_nice(pid) for pid in tree} == {min(os.getpriority(os.PRIO_PROCESS, 0) + NICE, 19)}
        finally:
            kernel.shutdown()


# --- configuration: cpus and gpu_memory_mb ---------------------------------------------------------


def _course(tmp_path: Path, grading: str = "", assignment: str = "") -> Path:
    text = f"[grading]\n{grading}\n"
    if assignment:
        text += f'[assignments."a"]\n{assignment}\n'
    (tmp_path / "course.toml").write_text(text)
    return tmp_path


def test_cpu_share_defaults_to_cores_over_workers(tmp_path: Path) -> None:
    cores = os.cpu_count() or 1
    assert config.load(_course(tmp_path), workers=1).sandbox("a").cpus == cores
    assert config.load(_course(tmp_path), workers=2).sandbox("a").cpus == max(1.0, cores / 2)
    assert config.load(_course(tmp_path), workers=4 * cores).sandbox("a").cpus == 1.0  # at least one core
    assert config.load(_course(tmp_path)).sandbox("a").cpus == 1.0  # workers = cores
    assert config.load(_course(tmp_path), cluster="tcp://x:8786").sandbox("a").cpus == 1.0
    assert Limits().cpus == 1.0  # jails made without the configuration (the model evaluator)


def test_cpu_share_is_set_and_overridden(tmp_path: Path) -> None:
    cfg = config.load(_course(tmp_path, "cpus = 1.5", "cpus = 3"), workers=2)
    assert cfg.sandbox("a").cpus == 3.0 and cfg.sandbox("b").cpus == 1.5
    assert "cpus" not in cfg.settings("a")  # a limit, not one of the assignment's own settings


@pytest.mark.parametrize(("line", "message"), [
    ("cpus = -1", "grading.cpus = -1.0 must be at least 0.0"),
    ('cpus = "2"', "grading.cpus = '2' must be float"),
    ("gpu_memory_mb = 1.5", "grading.gpu_memory_mb = 1.5 must be int"),
    ("gpu_memory_mb = -1", "grading.gpu_memory_mb = -1 must be at least 0"),
])
def test_shares_are_validated(tmp_path: Path, line: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config.load(_course(tmp_path, line))
    with pytest.raises(ConfigError, match=message.replace("grading.", "assignments.'a'.")):
        config.load(_course(tmp_path, "", line))


TOTAL_MB = 81_559  # an H100 80GB, as nvidia-smi reports it


@pytest.fixture
def gpu_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend this machine has one GPU of :data:`TOTAL_MB` MiB (nvidia-smi is not called)."""
    monkeypatch.setattr(jail_module, "gpu_devices", lambda: ["/dev/nvidia0", "/dev/nvidiactl"])
    monkeypatch.setattr(jail_module, "gpu_memory_mb", lambda: TOTAL_MB)
    monkeypatch.setattr(config, "gpu_memory_mb", lambda: TOTAL_MB)


def _env(argv: list[str]) -> dict[str, str]:
    return {argv[i + 1]: argv[i + 2] for i, arg in enumerate(argv) if arg == "--setenv"}


def test_gpu_memory_share_on_a_gpu_host(tmp_path: Path, gpu_host: None) -> None:
    cfg = config.load(_course(tmp_path, "", "gpu = true"), workers=4)
    limits = cfg.sandbox("a")
    assert limits.gpu and limits.gpu_memory_mb == TOTAL_MB // 4
    assert f"_ag_gpu_memory({TOTAL_MB // 4})" in limits.preamble
    assert cfg.sandbox("b").gpu_memory_mb == 0 and not cfg.sandbox("b").preamble  # no GPU asked for
    own = config.load(_course(tmp_path, "gpu_memory_mb = 8000", "gpu = true\ngpu_memory_mb = 6000"), workers=4)
    assert own.sandbox("a").gpu_memory_mb == 6000 and "_ag_gpu_memory(6000)" in own.sandbox("a").preamble
    cluster = config.load(_course(tmp_path, "", "gpu = true"), cluster="tcp://x:8786")
    assert cluster.sandbox("a").gpu_memory_mb == 0  # the coordinator does not know the workers' GPUs
    jail = Jail(limits)
    try:
        env = _env(jail.argv(["python"]))
        assert float(env["XLA_PYTHON_CLIENT_MEM_FRACTION"]) == pytest.approx(0.25, abs=1e-4)
        assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true" and env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"
        assert "XLA_CLIENT_MEM_FRACTION" not in env  # both spellings at once make JAX fall back to the CPU
    finally:
        jail.close()
    for uncapped in (Limits(gpu=True), Limits(gpu=False, gpu_memory_mb=5000)):
        other = Jail(uncapped)
        try:
            assert "XLA_PYTHON_CLIENT_MEM_FRACTION" not in _env(other.argv(["python"]))
        finally:
            other.close()


def test_no_gpu_share_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config, "gpu_memory_mb", lambda: 0)
    limits = config.load(_course(tmp_path, "", "gpu = true\ndeterministic = true"), workers=2).sandbox("a")
    assert limits.gpu and limits.gpu_memory_mb == 0 and "_ag_gpu_memory" not in limits.preamble
    assert "enable_op_determinism" in limits.preamble


def test_gpu_memory_preamble_sets_tensorflows_limit(tmp_path: Path, gpu_host: None,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, object, object]] = []
    experimental = types.SimpleNamespace(set_memory_growth=lambda device, enable: calls.append(("growth", device,
                                                                                                enable)))
    fake = types.SimpleNamespace(config=types.SimpleNamespace(  # what the preamble uses of tensorflow
        list_physical_devices=lambda kind: ["GPU:0", "GPU:1"] if kind == "GPU" else [],
        LogicalDeviceConfiguration=lambda memory_limit: ("logical", memory_limit),
        set_logical_device_configuration=lambda device, logical: calls.append(("logical", device, logical)),
        experimental=experimental,
    ))
    monkeypatch.setitem(sys.modules, "tensorflow", fake)
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    limits = config.load(_course(tmp_path, "", "gpu = true"), workers=2).sandbox("a")
    namespace: dict[str, object] = {}
    exec(limits.preamble, namespace)
    share = TOTAL_MB // 2
    assert calls == [("logical", "GPU:0", [("logical", share)]), ("logical", "GPU:1", [("logical", share)])]
    experimental.set_memory_growth("GPU:0", True)  # a notebook's usual line: accepted, changes nothing
    assert len(calls) == 2 and not [name for name in namespace if name != "__builtins__"]
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # JAX's cap is the jail's variable: nothing to do here
    calls.clear()
    exec(limits.preamble, {})
    assert not calls


@pytest.mark.slow
def test_gpu_memory_preamble_runs_with_the_real_tensorflow(tmp_path: Path, gpu_host: None) -> None:
    """The TensorFlow names the preamble uses exist, and on a machine without a GPU it is harmless."""
    limits = config.load(_course(tmp_path, "", "gpu = true"), workers=2).sandbox("a")
    check = limits.preamble + (
        "import tensorflow as tf\n"
        "assert callable(tf.config.set_logical_device_configuration) and callable(tf.config.list_physical_devices)\n"
        "assert tf.config.LogicalDeviceConfiguration(memory_limit=1).memory_limit == 1\n"
        "assert callable(tf.config.experimental.set_memory_growth)\n"
        "print('ok', len(tf.config.list_physical_devices('GPU')))\n")
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr[-2000:]


# --- a hog beside a correct submission ---------------------------------------------------------------

HOG = """\
import os, time
_end = time.monotonic() + {seconds}
_children = []
for _ in range({count}):
    try:
        _pid = os.fork()
    except OSError:  # the jail's pids limit
        break
    if _pid == 0:
        while time.monotonic() < _end:
            pass
        os._exit(0)
    _children.append(_pid)
print("busy processes:", len(_children))
for _pid in _children:
    os.waitpid(_pid, 0)
"""
"""A first cell that starts ``count`` processes spinning for ``seconds`` and waits for them."""

VICTIM_WAITS = "import time\ntime.sleep(3)  # a sleep takes no CPU: the notebook's work all comes while the hog spins\n"

HOG_PROCESSES = 150
HOG_SECONDS = 28  # under the cell's time limit of 30 s: the hog's own notebook then goes on
FACTOR, MARGIN_S = 1.5, 8.0
"""Beside the hog, the correct submission must finish within alone × FACTOR + MARGIN_S (15 s
for its 4.6 s alone, 3 s of which its sleep): room for a busy machine, and well below the
hog's 28 s of spinning, which it sits out without its share (measured here with the jails kept
out of their CPU groups: 4.6 s alone, 30.6 s beside the hog, and this test fails)."""


def hog_notebook(solution: Path, seconds: float = HOG_SECONDS, count: int = HOG_PROCESSES) -> nbformat.NotebookNode:
    """The solution notebook with the hog's cell first."""
    nb = nbformat.read(solution, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(HOG.format(seconds=seconds, count=count)))
    return nb


def victim_notebook(solution: Path) -> nbformat.NotebookNode:
    """The solution notebook, which first waits for the hog (started at the same time) to spin."""
    nb = nbformat.read(solution, as_version=4)
    nb.cells.insert(0, nbformat.v4.new_code_cell(VICTIM_WAITS))
    return nb


def hog_course(root: Path, assignment: str, victim: nbformat.NotebookNode, hog: nbformat.NotebookNode) -> Course:
    """A course with the submissions ``hog`` and ``victim`` of ``assignment``, whose pids limit
    lets the hog start all its processes (03.0's 64 do not: it gets a table with more)."""
    course = Course(write_course(root, {"hog": hog, "victim": victim}, assignment))
    if config.load(course.root).sandbox(assignment).pids <= HOG_PROCESSES + 20:
        toml = course.root / "course.toml"
        toml.write_text(toml.read_text() + f'\n[assignments."{assignment}"]\npids = {HOG_PROCESSES + 100}\n')
    return course


@contextmanager
def grader_as_a_service() -> Iterator[None]:
    """Run this process (the grader) in a CPU cgroup of its own, as a systemd service or a
    container runs it, and move it back afterwards.

    Where the grader runs in the root group (this development machine), Linux's autogroups
    (``kernel.sched_autogroup_enabled``: one per session, and bubblewrap starts each jail in a
    new one) keep each jail's processes together and would hide the hog without any CPU share
    of the grader's own; they do not apply inside a service's cgroup."""
    v2 = cgroup.unified()
    hierarchy = cgroup.ROOT if v2 else cgroup.ROOT / "cpu"
    lines = [line.split(":", 2) for line in Path("/proc/self/cgroup").read_text().splitlines()]
    mine = next(path for _, names, path in lines if (not names if v2 else "cpu" in names.split(",")))
    home, service = hierarchy / mine.lstrip("/"), hierarchy / f"autograder-test-grader-{uuid.uuid4().hex[:8]}"
    service.mkdir()
    try:
        (service / "cgroup.procs").write_text(str(os.getpid()))
        yield
    finally:
        (home / "cgroup.procs").write_text(str(os.getpid()))
        for _ in range(100):  # processes started in it (none with the share: they join their jails') end first
            try:
                service.rmdir()
                break
            except OSError:
                time.sleep(0.05)


@pytest.mark.slow
def test_a_hog_does_not_slow_a_correct_submission(tmp_path: Path) -> None:
    solution = REPO / "source" / ASSIGNMENT / NOTEBOOK
    course = hog_course(tmp_path, ASSIGNMENT, victim_notebook(solution), hog_notebook(solution))
    cfg = config.load(course.root, workers=2)
    assert cfg.sandbox(ASSIGNMENT).pids > HOG_PROCESSES
    warmup.home_files(cfg.sandbox(ASSIGNMENT))  # the grader's one-off font cache: not the victim's time
    with grader_as_a_service():
        (alone,) = batch.grade(course, ASSIGNMENT, cfg, ["victim"], progress=False)
        beside = {r.job.student: r for r in batch.grade(course, ASSIGNMENT, cfg, ["hog", "victim"], progress=False,
                                                        force=True)}
    full = sum(points for _, points in alone.job.points)
    hog = beside["hog"].notebooks[ASSIGNMENT]
    printed = "".join(str(o.get("text", "")) for o in hog.cells[0].outputs) if hog is not None else ""
    assert f"busy processes: {HOG_PROCESSES}" in printed  # one print may arrive as two stream messages
    assert beside["hog"].seconds > HOG_SECONDS  # it spun all along the victim's run
    victim = beside["victim"]
    print(f"victim alone {alone.seconds:.1f} s, beside the hog {victim.seconds:.1f} s")
    assert alone.score == full and victim.score == full, [r for rs in victim.results.values() for r in rs]
    assert victim.seconds <= alone.seconds * FACTOR + MARGIN_S, (alone.seconds, victim.seconds)
