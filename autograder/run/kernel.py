"""An IPython kernel inside a :class:`~autograder.sandbox.jail.Jail`, driven over IPC sockets.

The kernel has no network, so the grader talks to it through Unix sockets in the jail's home
directory (ZeroMQ's ``ipc`` transport).  :meth:`SandboxedKernel.execute` runs one cell with a
wall-time limit and reports what happened as a :class:`Execution`; a kernel that dies raises
:class:`KernelDied`.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from queue import Empty
from typing import Any

from jupyter_client.blocking import BlockingKernelClient

from autograder.sandbox.jail import HOME, RUNTIME, Jail

STDOUT_LIMIT = 80 * 1024**2  # output kept per execute; older output is dropped
PORTS = {"shell_port": 1, "iopub_port": 2, "stdin_port": 3, "control_port": 4, "hb_port": 5}


class KernelDied(RuntimeError):
    """The kernel process ended.  ``out_of_memory`` says whether the OOM killer did it;
    ``timed_out`` whether the grader killed it because a cell ran past its time limit and did
    not stop when interrupted."""

    def __init__(self, out_of_memory: bool, returncode: int | None, timed_out: bool = False) -> None:
        super().__init__(out_of_memory, returncode)
        self.out_of_memory = out_of_memory
        self.returncode = returncode
        self.timed_out = timed_out


@dataclass
class Execution:
    """The outcome of one execute request."""

    outputs: list[dict[str, Any]] = field(default_factory=list)  # nbformat v4 outputs
    stdout: str = ""
    error: tuple[str, str] | None = None  # (ename, evalue) when the code raised
    timed_out: bool = False
    seconds: float = 0.0


class SandboxedKernel:
    """Start an ``ipykernel`` as the sandbox user inside ``jail`` and wait until it answers."""

    def __init__(self, jail: Jail, startup_timeout_s: float = 60.0) -> None:
        self.jail = jail
        self._killed_on_timeout = False
        key = secrets.token_hex(16)
        info: dict[str, Any] = {**PORTS, "transport": "ipc", "signature_scheme": "hmac-sha256", "key": key}
        jail.put("kernel.json", json.dumps({**info, "ip": f"{HOME}/.k"}).encode())
        self.process = jail.popen(
            [f"{RUNTIME}/bin/python", "-m", "ipykernel_launcher", "-f", f"{HOME}/kernel.json",
             "--HistoryManager.enabled=False", "--IPKernelApp.quiet=True"]
        )
        self.client = BlockingKernelClient()
        self.client.load_connection_info({**info, "ip": str(jail.home / ".k"), "key": key.encode()})
        self.client.start_channels()
        deadline = time.monotonic() + startup_timeout_s
        while True:
            self._check_alive()
            try:
                self.client.wait_for_ready(timeout=1)
                break
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise

    def _check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            cgroup = self.jail.cgroup
            raise KernelDied(cgroup is not None and cgroup.oom_killed(), code, self._killed_on_timeout)

    def execute(self, code: str, timeout_s: float, output_limit: int) -> Execution:
        """Run ``code``; on timeout interrupt it, and kill the kernel if it does not stop in 3 s.

        Messages are untrusted: malformed ones are ignored, and a kernel that keeps talking
        is stopped on time all the same.
        """
        result = Execution()
        start = time.monotonic()
        msg_id = self.client.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = start + timeout_s
        kept = 0
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if interrupted_at is None and now > deadline:
                result.timed_out = True
                interrupted_at = now
                self._interrupt()
            elif interrupted_at is not None and now > interrupted_at + 3:
                self._killed_on_timeout = True
                self.kill()
                self._check_alive()
            try:
                msg = self.client.get_iopub_msg(timeout=0.2)
            except Empty:
                self._check_alive()
                continue
            except (KeyError, TypeError, ValueError):
                continue  # a message the kernel's patched serializer broke: ignore it
            try:
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind, content = msg["msg_type"], msg["content"]
                if kind == "status" and content.get("execution_state") == "idle":
                    break
                if kind == "stream" and content.get("name") == "stdout":
                    result.stdout = (result.stdout + str(content.get("text", "")))[-STDOUT_LIMIT:]
                if kind == "error":
                    result.error = (str(content.get("ename")), str(content.get("evalue")))
                if kind in ("stream", "error", "execute_result", "display_data") and kept < output_limit:
                    output = _to_output(kind, content)
                    size = len(json.dumps(output))
                    if kept + size > output_limit:
                        output = {"output_type": "stream", "name": "stdout",
                                  "text": f"[output truncated: more than {output_limit} bytes]\n"}
                        size = output_limit
                    kept += size
                    result.outputs.append(output)
            except (AttributeError, KeyError, TypeError, ValueError):
                continue  # a malformed message from the kernel: ignore it
        result.seconds = time.monotonic() - start
        return result

    def _interrupt(self) -> None:
        msg = self.client.session.msg("interrupt_request", {})
        self.client.control_channel.send(msg)

    def kill(self) -> None:
        if self.jail.cgroup is not None:
            self.jail.cgroup.kill_all()
        self.process.kill()
        self.process.wait()

    def shutdown(self) -> None:
        self.client.stop_channels()
        if self.process.poll() is None:
            self.kill()


def _to_output(kind: str, content: dict[str, Any]) -> dict[str, Any]:
    if kind == "stream":
        return {"output_type": "stream", "name": str(content["name"]), "text": str(content["text"])}
    if kind == "error":
        return {"output_type": "error", "ename": str(content["ename"]), "evalue": str(content["evalue"]),
                "traceback": [str(t) for t in content["traceback"]]}
    output: dict[str, Any] = {"output_type": kind, "data": dict(content["data"]),
                              "metadata": dict(content.get("metadata", {}))}
    if kind == "execute_result":
        output["execution_count"] = content.get("execution_count")
    return output
