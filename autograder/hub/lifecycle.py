"""The platform's two verbs: ``up`` (lay it out, create the demo accounts, release the course,
start the hub) and ``down`` (stop everything it started)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from autograder import selfcheck
from autograder.hub import accounts, daemon, provision
from autograder.hub.layout import Platform
from autograder.sandbox import cgroup


@dataclass
class Report:
    """What ``up`` did, for the person who ran it."""

    platform: Platform
    created: list[accounts.Account] = field(default_factory=list)  # new accounts and their passwords
    existing: list[str] = field(default_factory=list)  # demo accounts that were there already
    released: list[str] = field(default_factory=list)
    selfcheck: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)  # folders made root's alone
    data: str = ""  # what became of the course data
    kernel: str = ""
    started: daemon.Started | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def render(self) -> str:
        p = self.platform
        lines = [f"JupyterHub for {p.course_id} is up at {p.url}/  (log: {p.log_file})"]
        if self.started and self.started.already_running:
            lines[0] += "  [it was already running]"
        if self.created:
            lines.append("New accounts (these passwords are shown only now; `passwd NAME` changes one):")
            width = max(len(a.name) for a in self.created)
            lines += [f"  {a.role:<10}  {a.name:<{width}}  {a.password}" for a in self.created]
        if self.existing:
            lines.append("Existing accounts, passwords unchanged: " + ", ".join(self.existing))
        lines.append(f"Formgrader (instructors): {p.url}/services/{p.course_id}/formgrader")
        lines.append("Released: " + (", ".join(self.released) if self.released else "nothing new (already released)"))
        lines.append("Self-check (graded on submission): " + (", ".join(self.selfcheck) if self.selfcheck else
                     "none; list assignments under [selfcheck] in course.toml"))
        lines.append("Root's only (mode 0700): " + ", ".join(self.locked))
        lines.append(f"Course data: {self.data}")
        lines.append(f"Kernel: {self.kernel}.  Stop everything with `make down`.")
        return "\n".join(lines)


def up(platform: Platform, demo_accounts: bool = True, release: bool = True) -> Report:
    """Lay out and start ``platform``; idempotent (a second run keeps accounts and releases)."""
    report = Report(platform)
    clock = time.monotonic()
    provision.check_runtime(platform)
    report.locked = [str(p) for p in provision.lock_down(platform)]
    platform.private.mkdir(parents=True, exist_ok=True)
    platform.state.chmod(0o755)  # the role settings in it are read by every user ...
    platform.private.chmod(0o700)  # ... the hub's database and secrets by root only
    platform.save()
    provision.exchange(platform)
    for group in (platform.students_group, platform.instructors_group):
        accounts.ensure_group(group)
    provision.course(platform)
    report.data = _course_data(platform)
    provision.role_settings(platform)
    report.kernel = str(provision.kernel_spec(platform)["display_name"])
    if demo_accounts:
        wanted = [(platform.instructor, "instructor", platform.instructors_group)]
        wanted += [(name, "student", platform.students_group) for name in platform.students]
        for name, role, group in wanted:
            account = accounts.create(name, role, [group], platform.home_root)
            if account:
                report.created.append(account)
            else:
                report.existing.append(name)
    report.timings["provision"] = time.monotonic() - clock
    report.selfcheck = selfcheck.assignments(platform.course_dir)
    with ThreadPoolExecutor(1) as pool:  # nbgrader's release needs no hub: both at once
        releasing = pool.submit(provision.release, platform) if release else None
        report.started = daemon.start(platform)
        report.timings["hub ready"] = report.started.seconds
        report.released = releasing.result() if releasing else []
    report.timings["up"] = time.monotonic() - clock
    return report


def _course_data(platform: Platform) -> str:
    """Build the course data if needed; what happened, in words (a failure does not stop ``up``:
    only 03.2 needs the data, and the message says how to build it)."""
    try:
        sizes = provision.course_data(platform)
    except (OSError, ValueError, RuntimeError) as exc:  # no MNIST here, and no network
        return (f"NOT BUILT ({type(exc).__name__}: {str(exc)[:300]}); 03.2 needs it: run `make up "
                "MNIST_SOURCE=DIR` with a folder holding MNIST's IDX files or mnist.npz")
    if not sizes:
        return f"already built; students read it at {platform.public_data}"
    built = f"built ({sizes['train']:,} training, {sizes['validate']:,} validation, {sizes['hidden']:,} hidden digits)"
    return f"{built}; students read it at {platform.public_data}"


def down(platform: Platform) -> list[int]:
    """Stop the hub and everything it started, and remove the users' cgroups (empty by then);
    returns the process ids that were ended."""
    ended = daemon.stop(platform)
    for hierarchy in (cgroup.ROOT, cgroup.ROOT / "cpu", cgroup.ROOT / "memory"):
        parent = hierarchy / platform.users_cgroup
        for group in [*parent.glob("*/"), parent] if parent.is_dir() else []:
            try:
                group.rmdir()
            except OSError:  # a process is still in it (gone in a moment): left for the next `down`
                pass
    return ended
