"""Lay the platform out on this machine (idempotent): the exchange, the live course, the
Jupyter settings of each role, the kernel spec, and the hand-back of files root wrote.

Permissions, the whole of the platform's privacy:

- ``/srv/nbgrader/exchange`` is world-writable with the sticky bit (nbgrader's own layout
  below it: ``inbound`` is write-only for students, so nobody lists another's submission).
- The live course (``/home/grader-<course>/<course>``: gradebook, ``submitted/``,
  ``autograded/``, ``feedback/``, ``source/``) sits in the grader account's home, mode 0700;
  the course folder itself is root's, group grader, mode 3770 (setgid, sticky), so that its
  ``nbgrader_config.py`` and ``course.toml``, which root's grading engine reads, stay root's.
- Users' homes are 0700 (:mod:`autograder.hub.accounts`).
- The runtime under ``/opt`` is readable and executable by everyone, writable by root only.
- The repository the platform runs from (solutions, hidden tests, course data), the grading
  engine and its ``.venv`` are root's alone, mode 0700 (:func:`lock_down`): ``up`` refuses to
  start where that cannot hold.  The hub's own state (database, secrets, log) is 0700 too.
- The course data: the hidden split in the live course's ``data/hidden`` (root's, 0700); the
  public part copied to ``<state>/course-data`` (everyone reads it: ``COURSE_DATA_DIR``).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

from autograder import config, data
from autograder.hub import accounts
from autograder.hub.layout import Platform

COURSE_FILES = ("nbgrader_config.py", "course.toml")  # root's: the engine reads (and runs) them
COURSE_DIR_MODE = 0o3770
EXCHANGE_MODE = 0o1777
GPU_DEVICE = Path("/dev/nvidia0")
KERNEL = "python3"  # the name notebooks ask for: the spec below replaces ipykernel's own
NO_KERNEL = "none-grade-with-autograder"  # what the grader account's nbgrader runs notebooks with
RUNUSER = shutil.which("runuser") or "/usr/sbin/runuser"
HARDENED_COLLECT = "autograder_exchange"  # autograder/hub/exchange.py, importable by the grader account

# Which nbgrader extensions each role's Jupyter server loads (nbgrader's docs, "Using nbgrader
# with JupyterHub": students and instructors get the assignment list; the formgrader and
# create-assignment belong to the grader account's server, which instructors reach as a service).
SERVER_EXTENSIONS = {
    "student": {"formgrader": False, "course_list": False, "assignment_list": True, "validate_assignment": True},
    "instructor": {"formgrader": False, "course_list": False, "assignment_list": True, "validate_assignment": True},
    "grader": {"formgrader": True, "course_list": False, "assignment_list": False, "validate_assignment": True},
}
LAB_PLUGINS_OFF = {
    "student": ["formgrader", "create-assignment", "course-list"],
    "instructor": ["formgrader", "create-assignment", "course-list"],
    "grader": ["assignment-list", "course-list"],
}


def check_runtime(platform: Platform) -> None:
    """Every user must be able to reach and run the runtime: each folder above it world-searchable."""
    python = Path(platform.runtime) / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"no Python runtime at {platform.runtime}: run `make runtime` (or `make up`)")
    for folder in [*reversed(Path(platform.runtime).parents), Path(platform.runtime)]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            raise PermissionError(f"{folder} (mode {oct(mode & 0o7777)}) is not searchable by other users, who "
                                  f"run {platform.runtime}: `chmod o+x {folder}` or put the runtime elsewhere")


def lock_down(platform: Platform) -> list[Path]:
    """Make the platform's secret folders (:attr:`Platform.secret_folders`) root's alone (mode
    0700) and check that no other user can replace them; returns them.

    Raises ``PermissionError`` naming the folder and the fix when one is not root's, or when a
    folder above it lets other users rename or replace it (writable without the sticky bit).
    """
    folders = platform.secret_folders
    for folder in folders:
        st = folder.stat()
        if st.st_uid != 0:
            raise PermissionError(f"{folder} belongs to uid {st.st_uid}, not root: the platform runs its code as "
                                  f"root and keeps solutions there. `chown -R root:root {folder}`, or clone the "
                                  "repository as root into a root-owned folder (docs/instructor.md)")
        for parent in folder.parents:
            pst = parent.stat()
            if pst.st_uid != 0 or (pst.st_mode & 0o022 and not pst.st_mode & stat.S_ISVTX):
                raise PermissionError(f"{parent} (owner uid {pst.st_uid}, mode {oct(pst.st_mode & 0o7777)}) lets "
                                      f"another user replace {folder}: move the repository under a root-owned "
                                      "folder that only root can write, such as /root or /srv (docs/instructor.md)")
    for folder in folders:
        folder.chmod(stat.S_IMODE(folder.stat().st_mode) & 0o700)
    return folders


def course_data(platform: Platform) -> dict[str, int | bool] | None:
    """Build the live course's data (``autograder data``) when its hidden split is missing, from
    :attr:`Platform.mnist_source` (empty: Keras' cache or download), then publish the public part
    to :attr:`Platform.public_data`.  Returns the sizes built (None when it was there already)."""
    target = Path(config.load(platform.course_dir).data_dir)
    sizes = None
    if not (target / data.HIDDEN / data.HIDDEN_FILE).exists():
        sizes = data.prepare_mnist(target, Path(platform.mnist_source) if platform.mnist_source else None)
    public = platform.public_data
    public.mkdir(parents=True, exist_ok=True)
    public.chmod(0o755)
    for source in sorted((target / data.PUBLIC).glob("*.npz")):
        copy = public / source.name
        if not (copy.exists() and copy.stat().st_mtime == source.stat().st_mtime
                and copy.stat().st_size == source.stat().st_size):
            tmp = public / f".{source.name}.tmp"
            shutil.copy2(source, tmp)
            tmp.chmod(0o644)
            os.replace(tmp, copy)
    return sizes


def exchange(platform: Platform) -> Path:
    """The nbgrader exchange: root's, world-writable, sticky."""
    root = Path(platform.exchange)
    root.mkdir(parents=True, exist_ok=True)
    for parent in [*reversed(root.parents)][1:]:
        if not parent.stat().st_mode & stat.S_IXOTH:
            parent.chmod(parent.stat().st_mode | 0o055)
    os.chown(root, 0, 0)
    root.chmod(EXCHANGE_MODE)
    return root


def course(platform: Platform) -> Path:
    """The live course: create the grader account, copy the repository's course settings (always)
    and each assignment's ``source/`` and ``release/`` that the live course does not have yet
    (an instructor's edits in the formgrader are kept)."""
    repo = Path(platform.course_source)
    accounts.ensure_user(platform.grader, platform.home_root)
    uid, gid = accounts.ids(platform.grader)
    home = platform.grader_home
    home.chmod(0o700)
    target = platform.course_dir
    target.mkdir(exist_ok=True)
    os.chown(target, 0, gid)
    target.chmod(COURSE_DIR_MODE)
    for name in COURSE_FILES:
        tmp = target / f".{name}.tmp"
        shutil.copyfile(repo / name, tmp)
        tmp.chmod(0o644)
        os.replace(tmp, target / name)
    for top in ("source", "release"):
        (target / top).mkdir(exist_ok=True)
        for folder in sorted((repo / top).iterdir()) if (repo / top).is_dir() else []:
            if folder.is_dir() and not (target / top / folder.name).exists():
                shutil.copytree(folder, target / top / folder.name,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    data = repo / "data"
    if data.is_dir() and not (target / "data").exists():
        (target / "data").symlink_to(data)  # course data, read by root's engine only
    hand_back(target, uid, gid)
    return target


def hand_back(course_dir: Path, uid: int, gid: int) -> int:
    """Give the grader account every file root wrote in the course (the formgrader must update
    them), except the course folder and its root-owned settings; links are never followed.
    Returns how many entries changed hands."""
    keep = {course_dir / name for name in (*COURSE_FILES, "data")}  # data: root's, hidden split included
    changed = 0
    for folder, dirs, files in os.walk(course_dir):
        dirs[:] = [d for d in dirs if Path(folder) / d not in keep]
        for name in [*dirs, *files]:
            path = Path(folder) / name
            if path in keep:
                continue
            st = path.lstat()
            if st.st_uid != uid or st.st_gid != gid:
                os.lchown(path, uid, gid)
                changed += 1
    return changed


def role_settings(platform: Platform) -> None:
    """Each role's Jupyter settings: nbgrader's (exchange, course), the server extensions and the
    JupyterLab plugins it gets."""
    for role in ("student", "instructor", "grader"):
        folder = platform.jupyter_dir(role)
        (folder / "labconfig").mkdir(parents=True, exist_ok=True)
        lines = ["c = get_config()  # noqa: F821  (written by autograder.hub.provision)"]
        if role == "grader":
            lines.append(f"load_subconfig({str(platform.course_dir / 'nbgrader_config.py')!r})  # noqa: F821")
            lines.append(f"c.CourseDirectory.root = {str(platform.course_dir)!r}")
            # the formgrader's collect counts only genuine submissions and copies no links
            (folder / "python").mkdir(exist_ok=True)
            _write(folder / "python" / f"{HARDENED_COLLECT}.py", (Path(__file__).parent / "exchange.py").read_text())
            lines.append(f"c.ExchangeFactory.collect = '{HARDENED_COLLECT}.VerifiedCollect'")
            # the formgrader's Autograde button would run students' code unconfined, as this
            # account; with no such kernel it fails, and grading stays with the engine's sandbox
            lines.append(f"c.Execute.kernel_name = {NO_KERNEL!r}")
        lines += [f"c.CourseDirectory.course_id = {platform.course_id!r}",
                  f"c.Exchange.root = {platform.exchange!r}", ""]
        _write(folder / "nbgrader_config.py", "\n".join(lines))
        extensions = {f"nbgrader.server_extensions.{k}": v for k, v in SERVER_EXTENSIONS[role].items()}
        _write(folder / "jupyter_server_config.json",
               json.dumps({"ServerApp": {"jpserver_extensions": extensions}}, indent=1))
        disabled = {f"@jupyter/nbgrader:{name}": True for name in LAB_PLUGINS_OFF[role]}
        disabled["@jupyterlab/apputils-extension:announcements"] = True  # no news pop-up: there is no internet
        _write(folder / "labconfig" / "page_config.json", json.dumps({"disabledExtensions": disabled}, indent=1))
    for path in [platform.state, platform.state / "jupyter", *(platform.jupyter_dir(r) for r in SERVER_EXTENSIONS),
                 platform.jupyter_dir("grader") / "python"]:
        path.chmod(0o755)


def kernel_spec(platform: Platform, gpu: bool | None = None) -> dict[str, object]:
    """Install the course's kernel as ``python3`` in the runtime: "Python 3 (GPU)" where the host
    has an NVIDIA GPU (``/dev/nvidia0``), "Python 3 (CPU)" otherwise, with the GPU hidden."""
    gpu = GPU_DEVICE.exists() if gpu is None else gpu
    env = ({"TF_FORCE_GPU_ALLOW_GROWTH": "true", "TF_CPP_MIN_LOG_LEVEL": "2"} if gpu
           else {"CUDA_VISIBLE_DEVICES": "", "TF_CPP_MIN_LOG_LEVEL": "2"})
    spec: dict[str, object] = {
        "argv": [str(platform.bin / "python"), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": f"Python 3 ({'GPU' if gpu else 'CPU'})",
        "language": "python",
        "env": env,
        "metadata": {"debugger": True, "lesson03": {"gpu": gpu}},
    }
    folder = Path(platform.runtime) / "share" / "jupyter" / "kernels" / KERNEL
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder / "kernel.json", json.dumps(spec, indent=1))
    return spec


def run_as(user: str, argv: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` as ``user`` (runuser, no login shell) and return what it printed."""
    return subprocess.run([RUNUSER, "-u", user, "--", "env", *(f"{k}={v}" for k, v in env.items()), *argv],
                          cwd=cwd, text=True, capture_output=True)


def grader_env(platform: Platform) -> dict[str, str]:
    """The environment of nbgrader commands run as the grader account."""
    home = str(platform.grader_home)
    return {"HOME": home, "USER": platform.grader, "PATH": f"{platform.bin}:/usr/bin:/bin",
            "JUPYTER_CONFIG_PATH": str(platform.jupyter_dir("grader")),
            "PYTHONPATH": str(platform.jupyter_dir("grader") / "python")}


_RELEASE = """
import json, os, sys
from jupyter_core.paths import jupyter_config_path
from nbgrader.apps import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader
app = NbGrader()
app.config_file_paths.extend([*jupyter_config_path(), os.getcwd()])
app.load_config_file()
api = NbGraderAPI(config=app.config)
for name in sys.argv[1:]:
    for step in ("generate_assignment", "release_assignment"):
        result = api.generate_assignment(name, force=True, create=True) if step == "generate_assignment" \\
            else api.release_assignment(name)
        if not result["success"]:
            print(json.dumps({"assignment": name, "step": step, "log": result.get("log", ""),
                              "error": result.get("error", "")}))
            sys.exit(1)
"""


def release(platform: Platform, assignments: list[str] | None = None) -> list[str]:
    """As the grader account, in one process: nbgrader's ``generate_assignment`` then
    ``release_assignment`` for every assignment of the live ``release/`` not yet in the exchange;
    returns those released."""
    names = assignments if assignments is not None else sorted(
        p.name for p in (platform.course_dir / "release").iterdir() if p.is_dir())
    outbound = Path(platform.exchange) / platform.course_id / "outbound"
    todo = [name for name in names if not (outbound / name).is_dir()]
    if todo:
        result = run_as(platform.grader, [str(platform.bin / "python"), "-c", _RELEASE, *todo], platform.course_dir,
                        grader_env(platform))
        if result.returncode:
            raise RuntimeError(f"releasing {', '.join(todo)} as {platform.grader} failed:\n"
                               f"{(result.stdout + result.stderr)[-3000:]}")
    return todo


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)
