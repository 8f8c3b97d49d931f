"""Where the platform lives: ports, folders and account names, in one value.

The defaults are the production layout (``make up``): the hub on 127.0.0.1:8000, its state in
``/srv/jupyterhub/lesson03``, the exchange at ``/srv/nbgrader/exchange``, the Python runtime
that every user runs at ``/opt/lesson03/venv`` and the live course in the grader account's home.
Tests make another value with a unique account prefix, free ports and temporary folders, so a
test platform never touches the production one.

:meth:`Platform.save` writes ``platform.json`` into the state folder; the hub's configuration
(``hub_config/jupyterhub_config.py``, run by JupyterHub's own interpreter, which does not have
this package) reads that file and nothing else.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
STATE_ENV = "AUTOGRADER_HUB_STATE"
"""Set to the state folder in the environment of the hub and of everything it starts, so that
``down`` finds every process of this platform (and of no other)."""
SETTINGS_ENV = "AUTOGRADER_HUB_SETTINGS"
"""The path of ``platform.json``, for ``hub_config/jupyterhub_config.py``."""
ROLES = ("student", "instructor", "grader")


@dataclass(frozen=True)
class Platform:
    """One hub, its course and its accounts."""

    course_id: str = "lesson03"
    ip: str = "127.0.0.1"
    port: int = 8000  # the public port (configurable-http-proxy)
    hub_port: int = 8081  # the hub's own port, behind the proxy
    proxy_api_port: int = 8001
    formgrader_port: int = 9999  # the grader account's Jupyter server (the formgrader service)
    check_port: int = 9998  # the Check service (autograder.check), behind the proxy
    state_dir: str = "/srv/jupyterhub/lesson03"  # hub database, secrets, logs, role settings
    exchange: str = "/srv/nbgrader/exchange"
    runtime: str = "/opt/lesson03/venv"  # what users run: JupyterLab, nbgrader, the kernels
    proxy_command: str = "/usr/bin/configurable-http-proxy"
    home_root: str = "/home"
    account_prefix: str = ""  # put before every account and group name this platform creates
    course_source: str = str(REPO)  # where the course's settings, source/ and release/ come from
    engine_python: str = str(REPO / ".venv" / "bin" / "python")  # has autograder; runs as root
    mnist_source: str = ""  # MNIST for the course data (`autograder data --mnist-source`); empty: Keras'
    selfcheck_interval_s: float = 2.0
    user_cpus: float = 1.0  # each user's server (and its kernels): at most this many cores' worth of CPU time
    user_memory_mb: int = 4096  # ... and this much memory; 03.2's training in a student's server needs ~1.5 GiB
    demo_students: int = 3

    # Accounts and groups
    @property
    def grader(self) -> str:
        """The Unix account that owns the course and runs the formgrader service."""
        return f"{self.account_prefix}grader-{self.course_id}"

    @property
    def instructor(self) -> str:
        return f"{self.account_prefix}instructor"

    @property
    def students(self) -> list[str]:
        return [f"{self.account_prefix}student{i}" for i in range(1, self.demo_students + 1)]

    @property
    def students_group(self) -> str:
        return f"{self.account_prefix}{self.course_id}-students"

    @property
    def instructors_group(self) -> str:
        return f"{self.account_prefix}{self.course_id}-instructors"

    @property
    def formgrade_group(self) -> str:
        """The hub group (not a Unix group) whose members reach the formgrader, as nbgrader names it."""
        return f"formgrade-{self.course_id}"

    # Folders
    @property
    def users_cgroup(self) -> str:
        """The cgroup (under each controller's hierarchy) holding one group per user's server, so
        that no student's server takes more than its share of the machine from the others or
        from grading."""
        return f"{self.account_prefix}{self.course_id}-users"

    @property
    def grader_home(self) -> Path:
        return Path(self.home_root) / self.grader

    @property
    def course_dir(self) -> Path:
        """The live nbgrader course: the gradebook, submitted/, autograded/, feedback/."""
        return self.grader_home / self.course_id

    @property
    def state(self) -> Path:
        return Path(self.state_dir)

    @property
    def settings_file(self) -> Path:
        return self.state / "platform.json"

    @property
    def private(self) -> Path:
        """Root's part of the state (mode 0700): the hub's database, cookie secret, pid file and
        log, and the self-check ledger."""
        return self.state / "hub"

    @property
    def pid_file(self) -> Path:
        return self.private / "jupyterhub.pid"

    @property
    def log_file(self) -> Path:
        return self.private / "jupyterhub.log"

    @property
    def public_data(self) -> Path:
        """The course's public data (``mnist.npz``), readable by every user: each server's
        ``COURSE_DATA_DIR``.  The hidden split stays in the live course's ``data/hidden``."""
        return self.state / "course-data"

    @property
    def secret_folders(self) -> list[Path]:
        """What only root may read: the course's repository (solutions, hidden tests, course data,
        the gradebook of ``autograder grade`` run there) and the one holding the grading engine's
        code and its ``.venv``.  Their contents keep their modes: the sandbox binds the ``.venv``
        into each jail, where the unprivileged sandbox user runs it."""
        return list(dict.fromkeys(f.resolve() for f in (Path(self.course_source), REPO)))

    @property
    def ledger(self) -> Path:
        """The self-check service's record of the submissions it handled."""
        return self.private / "selfcheck.json"

    @property
    def check_ledger(self) -> Path:
        """The Check service's record of every check (SQLite): ``python -m autograder.check report``."""
        return self.private / "checks.sqlite"

    def jupyter_dir(self, role: str) -> Path:
        """The Jupyter settings of one role (``student``, ``instructor``, ``grader``): put first
        on ``JUPYTER_CONFIG_PATH`` of that role's servers."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {', '.join(ROLES)}")
        return self.state / "jupyter" / role

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}"

    @property
    def bin(self) -> Path:
        return Path(self.runtime) / "bin"

    def env(self) -> dict[str, str]:
        """The environment the hub starts in (and passes on to what it starts)."""
        path = os.pathsep.join([str(self.bin), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin",
                                "/sbin", "/bin"])
        keep = {k: v for k, v in os.environ.items() if k in ("LANG", "LC_ALL", "TZ")}
        return {**keep, "PATH": path, "HOME": "/root", STATE_ENV: self.state_dir,
                SETTINGS_ENV: str(self.settings_file), "VIRTUAL_ENV": self.runtime}

    def to_json(self) -> dict[str, Any]:
        """The settings and every derived name and path the hub's configuration needs."""
        derived = {
            "grader": self.grader, "students_group": self.students_group,
            "instructors_group": self.instructors_group, "formgrade_group": self.formgrade_group,
            "grader_home": str(self.grader_home), "course_dir": str(self.course_dir),
            "jupyter_dirs": {role: str(self.jupyter_dir(role)) for role in ROLES},
            "state_env": STATE_ENV, "private_dir": str(self.private), "ledger": str(self.ledger),
            "check_ledger": str(self.check_ledger),
            "public_data": str(self.public_data), "users_cgroup": self.users_cgroup,
        }
        return {**asdict(self), "derived": derived}

    def save(self) -> Path:
        self.state.mkdir(parents=True, exist_ok=True)
        tmp = self.settings_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_json(), indent=1) + "\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.settings_file)
        return self.settings_file

    @classmethod
    def load(cls, path: Path) -> Platform:
        data = json.loads(path.read_text())
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
