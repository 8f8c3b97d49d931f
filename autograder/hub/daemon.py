"""Start JupyterHub in the background, wait until it answers, and stop it with everything it started.

Every process of a platform carries ``AUTOGRADER_HUB_STATE=<its state folder>`` in its
environment (the hub, the proxy, the services, each user's server and kernels), so ``stop``
ends exactly those, by process id, and none of another platform's.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from autograder.hub.layout import REPO, STATE_ENV, Platform

HUB_CONFIG = REPO / "hub_config" / "jupyterhub_config.py"


class HubError(RuntimeError):
    """The hub did not start (the message ends with the tail of its log)."""


@dataclass(frozen=True)
class Started:
    pid: int
    seconds: float  # from launch until the hub and the formgrader answered
    already_running: bool = False


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return 0


def processes(platform: Platform) -> Iterator[int]:
    """The ids of every live process that belongs to ``platform``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or a kernel thread
            continue
        if f"{STATE_ENV}={platform.state_dir}".encode() in environ:
            yield int(entry.name)


def hub_pid(platform: Platform) -> int | None:
    """The running hub's process id, from its pid file, when that process is this platform's."""
    try:
        pid = int(platform.pid_file.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if pid in set(processes(platform)) else None


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def start(platform: Platform, config: Path = HUB_CONFIG, timeout_s: float = 120.0) -> Started:
    """Launch the hub (unless it runs already) and wait until it and the formgrader answer."""
    began = time.monotonic()
    running = hub_pid(platform)
    if running:
        return Started(running, 0.0, already_running=True)
    platform.save()
    platform.private.mkdir(mode=0o700, parents=True, exist_ok=True)
    log = open(platform.log_file, "ab")  # the hub writes to it; our copy closes below
    os.chmod(platform.log_file, 0o600)
    hub = subprocess.Popen([str(platform.bin / "jupyterhub"), "-f", str(config)], cwd=platform.private,
                           env=platform.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                           start_new_session=True)
    log.close()
    service = f"http://127.0.0.1:{platform.formgrader_port}/services/{platform.course_id}/api"
    deadline = began + timeout_s
    while time.monotonic() < deadline:
        if hub.poll() is not None:
            raise HubError(f"jupyterhub exited with status {hub.returncode}; its log ({platform.log_file}):\n"
                           + tail(platform.log_file))
        if _get(f"{platform.url}/hub/health") == 200 and _get(service) == 200:
            return Started(hub.pid, time.monotonic() - began)
        time.sleep(0.25)
    stop(platform)
    raise HubError(f"the hub did not answer at {platform.url} within {timeout_s:.0f} s; its log:\n"
                   + tail(platform.log_file))


def _reap(pid: int) -> None:
    """Collect the exit status of ``pid`` when it is our own child (a hub started by this process)."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def stop(platform: Platform, timeout_s: float = 30.0, grace_s: float = 3.0) -> list[int]:
    """Stop the hub (which stops the proxy, the services and every user's server).  After
    ``grace_s`` seconds, whatever of this platform is still alive is sent SIGTERM too, so that
    the servers shut down side by side rather than one after another; what outlives
    ``timeout_s`` is killed.  Returns the ids of the processes that were signalled."""
    ended: set[int] = set()
    hub = hub_pid(platform)
    if hub:
        os.kill(hub, signal.SIGTERM)
        ended.add(hub)
        _wait(platform, {hub}, grace_s, hub)
    ended |= _signal_all(platform, signal.SIGTERM, spare=hub)  # the hub is shutting down already
    if not _wait(platform, None, timeout_s, hub):
        ended |= _signal_all(platform, signal.SIGKILL)
        _wait(platform, None, 5.0, hub)
    platform.pid_file.unlink(missing_ok=True)
    return sorted(ended)


def _signal_all(platform: Platform, sig: signal.Signals, spare: int | None = None) -> set[int]:
    hit: set[int] = set()
    for pid in processes(platform):
        if pid == spare:
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            continue
        hit.add(pid)
    return hit


def _wait(platform: Platform, pids: set[int] | None, seconds: float, hub: int | None) -> bool:
    """Wait until none of ``pids`` (of the platform's processes, when None) is alive; returns
    whether that happened within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        if hub:
            _reap(hub)
        alive = set(processes(platform))
        if not (alive & pids if pids is not None else alive):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
