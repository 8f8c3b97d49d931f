"""JupyterHub on one machine for the course (the embedded default; see docs/instructor.md).

Run by JupyterHub's own interpreter (the platform runtime, /opt/lesson03/venv), which does not
have the ``autograder`` package: everything this file needs is in ``platform.json``, written by
``python -m autograder.hub up`` (``make up``) and named by $AUTOGRADER_HUB_SETTINGS.

- configurable-http-proxy in front, SQLite behind, the hub as root;
- PAMAuthenticator: real Unix users with their Unix passwords, admitted by Unix group
  (``<course>-students``, ``<course>-instructors``);
- LocalProcessSpawner: each user's Jupyter server runs as that user, from the shared runtime,
  with the Jupyter settings of their role first on JUPYTER_CONFIG_PATH (students see the
  assignment list only; no formgrader, no create-assignment), in a cgroup of its own with a CPU
  quota and a memory limit (``user_cpus``, ``user_memory_mb`` in platform.json);
- the formgrader: the grader account's Jupyter server as the managed service named after the
  course, reached by the hub group ``formgrade-<course>`` through a role holding
  ``access:services!service=<course>`` (nbgrader's "Using nbgrader with JupyterHub");
- the self-check service: ``python -m autograder.selfcheck``, as root, with the grading engine;
- the Check service: ``python -m autograder.check serve``, as root: the students' Check button
  (the ``autograder-check`` extension in the runtime) reaches it through their own server, which
  holds their hub token, at ``$AUTOGRADER_CHECK_URL``.
"""

import grp
import json
import os
import pwd

from jupyterhub.spawner import LocalProcessSpawner

c = get_config()  # type: ignore[name-defined]  # noqa: F821

with open(os.environ.get("AUTOGRADER_HUB_SETTINGS", "/srv/jupyterhub/lesson03/platform.json")) as f:
    P = json.load(f)
D = P["derived"]
COURSE = P["course_id"]
RUNTIME_BIN = os.path.join(P["runtime"], "bin")
PATH = os.pathsep.join([RUNTIME_BIN, "/usr/local/bin", "/usr/bin", "/bin"])
ROOT_PATH = os.pathsep.join([os.path.dirname(P["engine_python"]), "/usr/local/sbin", "/usr/local/bin", "/usr/sbin",
                             "/usr/bin", "/sbin", "/bin"])
STATE = P["state_dir"]
PRIVATE = D["private_dir"]  # root's only (0700): database, secrets, pid file, log, ledger
MARK = {D["state_env"]: STATE}  # `down` finds every process of this platform by it
# The course's public data (lesson03_data.load_mnist reads $COURSE_DATA_DIR), readable by all
DATA = {"COURSE_DATA_DIR": D["public_data"]} if os.path.isdir(D["public_data"]) else {}

# The hub, the proxy, the database
c.JupyterHub.ip = P["ip"]
c.JupyterHub.port = P["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = P["hub_port"]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{P['proxy_api_port']}"
c.ConfigurableHTTPProxy.command = [P["proxy_command"]]
c.ConfigurableHTTPProxy.should_start = True
c.JupyterHub.db_url = f"sqlite:///{os.path.join(PRIVATE, 'jupyterhub.sqlite')}"
c.JupyterHub.cookie_secret_file = os.path.join(PRIVATE, "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = os.path.join(PRIVATE, "jupyterhub.pid")
c.JupyterHub.cleanup_servers = True  # stopping the hub stops every user's server
c.JupyterHub.cleanup_proxy = True

# Who may log in: Unix users with their Unix passwords, by Unix group
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.open_sessions = False  # no systemd-logind here
c.PAMAuthenticator.check_account = True
c.LocalAuthenticator.create_system_users = False  # accounts are made by `make up` (or by hand)
c.LocalAuthenticator.allowed_groups = {D["students_group"], D["instructors_group"]}
c.Authenticator.manage_groups = True  # hub groups follow Unix groups, at every login


def _in_unix_group(username, group):
    try:
        gid = grp.getgrnam(group).gr_gid
        return gid in os.getgrouplist(username, pwd.getpwnam(username).pw_gid)
    except KeyError:
        return False


def _role(username):
    return "instructor" if _in_unix_group(username, D["instructors_group"]) else "student"


def post_auth_hook(authenticator, handler, authentication):
    """Instructors join the hub group that reaches the formgrader; students join the course."""
    role = _role(authentication["name"])
    authentication["groups"] = [D["formgrade_group"] if role == "instructor" else f"nbgrader-{COURSE}"]
    return authentication


c.Authenticator.post_auth_hook = post_auth_hook


def default_url(handler):
    """Where a person lands after logging in: instructors on the hub's home page (its Services
    menu leads to the formgrader), students in their own JupyterLab (started for them)."""
    user = handler.current_user
    if user is not None and _role(user.name) == "instructor":
        return handler.hub.base_url + "home"
    return ""


c.JupyterHub.default_url = default_url

c.JupyterHub.load_roles = [
    {
        "name": f"formgrader-{COURSE}",
        "description": f"Reach the formgrader of {COURSE} (the grader account's server)",
        "scopes": [f"access:services!service={COURSE}", "list:services", f"read:services!service={COURSE}"],
        "groups": [D["formgrade_group"]],
    },
]

# Each user's server: their Unix user, the shared runtime, the settings of their role, and a
# cgroup of its own (a CPU quota and a memory limit), so that a student's busy loops cannot slow
# the other students or the grading jails beyond their share.
CGROUP = "/sys/fs/cgroup"
PERIOD_US = 100_000


def _write(path, value):
    with open(path, "w") as f:
        f.write(value)


def user_cgroups(name):
    """The cgroup(s) of ``name``'s server, created with its limits (platform.json's ``user_cpus``
    and ``user_memory_mb``): ``<users_cgroup>/<name>`` on cgroup v2, or under the v1 cpu and
    memory hierarchies.  Returns their ``cgroup.procs`` files."""
    quota = str(max(int(P["user_cpus"] * PERIOD_US), 1000))
    memory = str(P["user_memory_mb"] * 1024**2)
    if os.path.exists(f"{CGROUP}/cgroup.controllers"):  # v2: one group, the controllers delegated to it
        parent = f"{CGROUP}/{D['users_cgroup']}"
        for path in (CGROUP, parent):
            os.makedirs(path, exist_ok=True)
            _write(f"{path}/cgroup.subtree_control", "+cpu +memory")
        group = f"{parent}/{name}"
        os.makedirs(group, exist_ok=True)
        _write(f"{group}/cpu.max", f"{quota} {PERIOD_US}")
        _write(f"{group}/memory.max", memory)
        return [f"{group}/cgroup.procs"]
    limits = {"cpu": {"cpu.cfs_period_us": str(PERIOD_US), "cpu.cfs_quota_us": quota},
              "memory": {"memory.limit_in_bytes": memory}}
    procs = []
    for controller, files in limits.items():
        group = f"{CGROUP}/{controller}/{D['users_cgroup']}/{name}"
        os.makedirs(group, exist_ok=True)
        for key, value in files.items():
            _write(f"{group}/{key}", value)
        procs.append(f"{group}/cgroup.procs")
    return procs


class CourseSpawner(LocalProcessSpawner):
    """LocalProcessSpawner that starts each server in its user's cgroup (joined as root, before
    the switch to the user, who cannot leave it)."""

    def make_preexec_fn(self, name):
        become_user = super().make_preexec_fn(name)
        procs = user_cgroups(name)

        def preexec():
            for path in procs:
                _write(path, str(os.getpid()))
            become_user()

        return preexec


c.JupyterHub.spawner_class = CourseSpawner
c.Spawner.cmd = [os.path.join(RUNTIME_BIN, "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.env_keep = ["LANG", "LC_ALL", "TZ"]
c.Spawner.start_timeout = 300  # 20 students starting at once on a busy 2-core machine
c.Spawner.http_timeout = 180


def pre_spawn_hook(spawner):
    role = _role(spawner.user.name)
    spawner.environment.update({
        **MARK,
        **DATA,
        "PATH": PATH,
        "JUPYTER_CONFIG_PATH": D["jupyter_dirs"][role],
        "VIRTUAL_ENV": P["runtime"],
        "AUTOGRADER_CHECK_URL": f"http://127.0.0.1:{P['port']}/services/check-{COURSE}/check",
    })


c.Spawner.pre_spawn_hook = pre_spawn_hook

# The formgrader (a managed service running as the grader account) and the self-check loop
grader_env = {
    **MARK,
    **DATA,
    "PATH": PATH,
    "JUPYTER_CONFIG_PATH": D["jupyter_dirs"]["grader"],
    "PYTHONPATH": os.path.join(D["jupyter_dirs"]["grader"], "python"),  # nbgrader's collect, hardened
    "JUPYTERHUB_DEFAULT_URL": "/formgrader",
    "VIRTUAL_ENV": P["runtime"],
}
c.JupyterHub.services = [
    {
        "name": COURSE,
        "url": f"http://127.0.0.1:{P['formgrader_port']}",
        "command": [os.path.join(RUNTIME_BIN, "jupyterhub-singleuser"), "--ServerApp.default_url=/formgrader"],
        "user": D["grader"],
        "cwd": D["grader_home"],
        "environment": grader_env,
        "oauth_no_confirm": True,
        "display": True,
    },
    {
        "name": f"selfcheck-{COURSE}",
        "command": [
            P["engine_python"], "-m", "autograder.selfcheck",
            "--course", D["course_dir"], "--exchange", P["exchange"], "--owner", D["grader"], "--runtime", P["runtime"],
            "--state", D["ledger"], "--interval", str(P["selfcheck_interval_s"]),
        ],
        "cwd": PRIVATE,
        "environment": {**MARK, "PATH": ROOT_PATH},
        "display": False,
    },
    {
        "name": f"check-{COURSE}",
        "url": f"http://127.0.0.1:{P['check_port']}",
        "command": [P["engine_python"], "-m", "autograder.check", "serve", "--course", D["course_dir"],
                    "--state", D["check_ledger"]],
        "cwd": PRIVATE,
        "environment": {**MARK, "PATH": ROOT_PATH},
        "display": False,
    },
]
