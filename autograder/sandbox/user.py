"""The unprivileged Unix account that runs student kernels."""

from __future__ import annotations

import pwd
import subprocess
from dataclasses import dataclass

DEFAULT_USER = "ag-sandbox"


@dataclass(frozen=True)
class SandboxUser:
    name: str
    uid: int
    gid: int


def ensure_user(name: str = DEFAULT_USER) -> SandboxUser:
    """Return the sandbox account, creating it (no home, no shell) when it does not exist."""
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
        )
        entry = pwd.getpwnam(name)
    if entry.pw_uid == 0:
        raise ValueError(f"sandbox user {name!r} has uid 0; choose an unprivileged account")
    return SandboxUser(name, entry.pw_uid, entry.pw_gid)
