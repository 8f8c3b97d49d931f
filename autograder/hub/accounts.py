"""Unix accounts and groups: the platform's users are real users (PAM checks their passwords,
their servers run as them), created with a private home folder."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

HOME_MODE = 0o700  # nobody reads another user's notebooks, submissions cache or feedback


@dataclass(frozen=True)
class Account:
    """A user this run created, with the password it was given (printed once, stored nowhere)."""

    name: str
    password: str
    role: str  # "student" or "instructor"


def _run(argv: list[str], stdin: str | None = None) -> None:
    done = subprocess.run(argv, input=stdin, text=True, capture_output=True)
    if done.returncode:
        raise RuntimeError(f"`{' '.join(argv)}` failed ({done.returncode}): {done.stderr.strip()}")


def exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True


def ensure_group(name: str) -> None:
    if not group_exists(name):
        _run(["groupadd", name])


def ensure_user(name: str, home_root: str = "/home", groups: Iterable[str] = (),
                shell: str = "/bin/bash") -> bool:
    """Create the user ``name`` (home ``home_root/name``, mode 0700) unless it exists, and add it
    to ``groups``; returns whether it was created."""
    groups = list(groups)
    for group in groups:
        ensure_group(group)
    created = not exists(name)
    if created:
        home = Path(home_root) / name
        argv = ["useradd", "--create-home", "--home-dir", str(home), "--shell", shell, "--user-group"]
        if groups:
            argv += ["--groups", ",".join(groups)]
        _run([*argv, name])
    else:
        missing = [g for g in groups if name not in grp.getgrnam(g).gr_mem]
        if missing:
            _run(["usermod", "--append", "--groups", ",".join(missing), name])
    entry = pwd.getpwnam(name)
    os.chmod(entry.pw_dir, HOME_MODE)
    return created


def new_password() -> str:
    """A password that is easy to type and hard to guess (about 72 bits)."""
    return secrets.token_urlsafe(9)


def set_password(name: str, password: str) -> None:
    if ":" in password or "\n" in password:
        raise ValueError("a password may not contain ':' or a newline (chpasswd reads NAME:PASSWORD lines)")
    _run(["chpasswd"], stdin=f"{name}:{password}\n")


def create(name: str, role: str, groups: Iterable[str], home_root: str = "/home") -> Account | None:
    """Create a user with a fresh password; None when the user already exists (its password is kept)."""
    if not ensure_user(name, home_root, groups):
        return None
    password = new_password()
    set_password(name, password)
    return Account(name, password, role)


def remove_user(name: str) -> None:
    """Delete the user, its home folder and its own group (no error when it does not exist)."""
    if exists(name):
        _run(["userdel", "--remove", name])
    if group_exists(name):  # its user group, when userdel left it
        _run(["groupdel", name])


def remove_group(name: str) -> None:
    if group_exists(name):
        _run(["groupdel", name])


def members(group: str) -> list[str]:
    """The users in ``group`` (as a supplementary group); none when the group does not exist."""
    try:
        return sorted(grp.getgrnam(group).gr_mem)
    except KeyError:
        return []


def ids(name: str) -> tuple[int, int]:
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid
