"""Warm sandboxes: jails whose kernel is already started and has imported what the assignment needs.

Starting a sandboxed kernel costs about 0.7 s, and importing TensorFlow in it about 5 s: as long as
the student's own cells for many submissions.  A :class:`KernelPool` starts them ahead, in the
background, while other submissions are graded: each :class:`Warm` sandbox is a fresh
:class:`~autograder.sandbox.jail.Jail` (its own user namespace, home, cgroup and limits) with a
:class:`~autograder.run.kernel.SandboxedKernel` that has run the limits' preamble and imported the
assignment's modules.  It serves exactly one submission and is then destroyed, like any jail:
nothing of one student's run can reach another's, and a pooled kernel is never reused.

The warm-up imports modules by name (``importlib.import_module``) and binds nothing in the
kernel's namespace: a notebook that forgot ``import numpy as np`` fails as it would in a cold
kernel.  Only modules of the runtime are imported (a module shipped beside the notebook is not
there yet); one that cannot be imported is skipped.
"""

from __future__ import annotations

import ast
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field

from autograder.run.kernel import SandboxedKernel
from autograder.run.remote import PARSING
from autograder.sandbox import warmup
from autograder.sandbox.jail import Jail
from autograder.sandbox.limits import Limits

log = logging.getLogger("autograder.pool")
MEMORY_SHARE = 0.8  # warm and running sandboxes together may reserve this share of the machine's memory


def modules(imports: str) -> list[str]:
    """The top-level modules of import statements (``import numpy as np``, ``from keras import layers``)."""
    names: list[str] = []
    for line in imports.splitlines():
        try:
            with PARSING:
                tree = ast.parse(line)
        except SyntaxError:
            continue
        for node in tree.body:
            found = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module] if isinstance(node, ast.ImportFrom) and node.module and not node.level else [])
            names += [n for n in found if n not in names]
    return names


def warmup_code(imports: str) -> str:
    """Kernel code that imports the modules of ``imports`` and binds no name the student could use."""
    return (f"def __autograder_warm__(names={modules(imports)!r}):\n"
            "    import importlib\n"
            "    for name in names:\n"
            "        try:\n"
            "            importlib.import_module(name)\n"
            "        except Exception:\n"
            "            pass\n"
            "__autograder_warm__()\n"
            "del __autograder_warm__\n")


def size_for(workers: int, limits: Limits, requested: int = -1, memory_bytes: int | None = None) -> int:
    """How many warm sandboxes to keep: ``requested`` when >= 0, else one per worker, fewer when the
    running and warm sandboxes' memory limits together would pass :data:`MEMORY_SHARE` of the machine."""
    if requested >= 0:
        return requested
    total = memory_bytes if memory_bytes is not None else os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    room = int(total * MEMORY_SHARE) // max(limits.memory_bytes, 1) - workers
    return max(0, min(workers, room))


@dataclass
class Warm:
    """A started sandbox, ready for one submission.  Its jail is open; :meth:`close` destroys both."""

    jail: Jail
    kernel: SandboxedKernel
    seconds: float  # how long starting and warming it took
    born: float = field(default_factory=time.monotonic)

    def close(self) -> None:
        try:
            self.kernel.shutdown()
        finally:
            self.jail.__exit__(None, None, None)


def start_warm(limits: Limits, code: str, files: dict[str, bytes]) -> Warm:
    """A fresh jail with ``files`` in its home, its kernel started, the preamble and ``code`` run."""
    start = time.monotonic()
    jail = Jail(limits).__enter__()
    try:
        for name, data in files.items():
            jail.put(name, data)
        kernel = SandboxedKernel(jail)
        try:
            timeout = min(limits.cell_timeout_s, limits.notebook_timeout_s)
            for cell in (limits.preamble, code):
                if cell:
                    run = kernel.execute(cell, timeout, limits.output_bytes)
                    if run.timed_out or run.error:
                        raise RuntimeError(f"warming a sandbox failed: {run.error or 'timed out'}")
        except BaseException:
            kernel.shutdown()
            raise
    except BaseException:
        jail.__exit__(None, None, None)
        raise
    return Warm(jail, kernel, time.monotonic() - start)


class KernelPool:
    """Up to ``size`` warm sandboxes for one set of limits, refilled in the background by one thread.

    :meth:`take` hands out a ready sandbox (or starts one at once when none is ready) and never hands
    out the same one twice.  :meth:`close` stops the refill and destroys the sandboxes not taken."""

    def __init__(self, limits: Limits, imports: str = "", size: int = 1) -> None:
        self.limits, self.size = limits, size
        self.code = warmup_code(imports)
        self.files = warmup.home_files(limits)
        self._ready: queue.Queue[Warm] = queue.Queue()
        self._closed = threading.Event()
        self._wanted = threading.Semaphore(size)  # one permit per sandbox to start
        self._thread = threading.Thread(target=self._refill, name="autograder-pool", daemon=True)
        if size > 0:
            self._thread.start()

    def _refill(self) -> None:
        while not self._closed.is_set():
            if not self._wanted.acquire(timeout=0.2):
                continue
            if self._closed.is_set():
                break
            try:
                self._ready.put(start_warm(self.limits, self.code, self.files))
            except Exception as exc:  # the next take() starts one itself and reports the failure
                log.warning("could not warm a sandbox: %s", exc)
                self._wanted.release()
                self._closed.wait(1.0)

    def take(self) -> Warm:
        """A warm sandbox for one submission: a ready one, else one started now (the caller waits)."""
        try:
            warm = self._ready.get_nowait()
        except queue.Empty:
            warm = start_warm(self.limits, self.code, self.files)
        else:
            self._wanted.release()  # start its replacement
        if self._closed.is_set():
            warm.close()
            raise RuntimeError("the pool is closed")
        return warm

    def close(self) -> None:
        self._closed.set()
        if self._thread.is_alive():
            self._thread.join(timeout=120)
        while True:
            try:
                self._ready.get_nowait().close()
            except queue.Empty:
                break

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
