"""One person's HTTP session with the hub, as a browser would hold it: the login form, the
user's server behind the hub's OAuth, the nbgrader assignment-list API under /user/NAME/, and
the formgrader's API under /services/COURSE/ (instructors)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import requests
import websocket


class HubError(AssertionError):
    """The hub or a server answered something other than what a person would need to go on."""


class HubUser:
    """A person logged in to the hub at ``base_url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self, base_url: str, name: str, password: str, course_id: str = "lesson03",
                 timeout_s: float = 120.0) -> None:
        self.base = base_url.rstrip("/")
        self.name = name
        self.password = password
        self.course_id = course_id
        self.timeout_s = timeout_s
        self.http = requests.Session()
        self.spawn_seconds = 0.0

    # The hub
    def _xsrf(self, path: str) -> str:
        value = self.http.cookies.get("_xsrf", path=path)
        if not value:
            raise HubError(f"no _xsrf cookie for {path} (cookies: {[(c.name, c.path) for c in self.http.cookies]})")
        return str(value)

    def login(self) -> HubUser:
        """Log in with the form, as a browser does; raises when the hub refuses."""
        self.http.get(f"{self.base}/hub/login", timeout=30).raise_for_status()
        answer = self.http.post(f"{self.base}/hub/login", timeout=60, allow_redirects=False,
                                data={"username": self.name, "password": self.password,
                                      "_xsrf": self._xsrf("/hub/")})
        if answer.status_code != 302:
            raise HubError(f"login of {self.name} answered {answer.status_code}: {answer.text[:300]}")
        return self

    def hub_api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-XSRFToken": self._xsrf("/hub/"), **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.base}/hub/api{path}", headers=headers, timeout=60, **kwargs)

    def start_server(self) -> float:
        """Start this user's server and wait until it is ready; returns the seconds it took."""
        began = time.monotonic()
        answer = self.hub_api("POST", f"/users/{quote(self.name)}/server")
        if answer.status_code not in (201, 202, 400):  # 400: already running
            raise HubError(f"starting {self.name}'s server answered {answer.status_code}: {answer.text[:300]}")
        while time.monotonic() - began < self.timeout_s:
            model = self.hub_api("GET", f"/users/{quote(self.name)}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                self.spawn_seconds = time.monotonic() - began
                return self.spawn_seconds
            if server is None and not model.get("pending") and time.monotonic() - began > 5:
                raise HubError(f"{self.name}'s server stopped while starting: {model}")
            time.sleep(0.5)
        raise HubError(f"{self.name}'s server was not ready within {self.timeout_s:.0f} s")

    def open_lab(self) -> None:
        """Open JupyterLab once (the OAuth round trip that gives the server's cookie)."""
        answer = self.http.get(f"{self.base}/user/{quote(self.name)}/lab", timeout=60)
        if answer.status_code != 200 or "jupyter-config-data" not in answer.text:
            raise HubError(f"/user/{self.name}/lab answered {answer.status_code} at {answer.url}")

    # The user's server
    @property
    def server(self) -> str:
        return f"{self.base}/user/{quote(self.name)}"

    def server_api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-XSRFToken": self._xsrf(f"/user/{quote(self.name)}/"), **kwargs.pop("headers", {})}
        return self.http.request(method, f"{self.server}{path}", headers=headers, timeout=120, **kwargs)

    def _nbgrader(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.server_api(method, path, **kwargs)
        if answer.status_code != 200:
            raise HubError(f"{method} {path} as {self.name} answered {answer.status_code}: {answer.text[:300]}")
        body = answer.json()
        if isinstance(body, dict) and body.get("success") is False:
            raise HubError(f"{method} {path} as {self.name} failed: {str(body.get('value'))[-1500:]}")
        return body

    def assignments(self) -> list[dict[str, Any]]:
        """The assignment list as the Assignments tab gets it (released, fetched and submitted)."""
        return list(self._nbgrader("GET", "/assignments", params={"course_id": self.course_id})["value"])

    def act(self, action: str, assignment: str) -> list[dict[str, Any]]:
        """``fetch``, ``submit`` or ``fetch_feedback`` as the tab's buttons do; returns the new list."""
        body = self._nbgrader("POST", f"/assignments/{action}",
                              data={"course_id": self.course_id, "assignment_id": assignment})
        return list(body["value"]) if isinstance(body, dict) and "value" in body else []

    def put_notebook(self, path: str, notebook: dict[str, Any]) -> None:
        answer = self.server_api("PUT", f"/api/contents/{quote(path)}",
                                 json={"type": "notebook", "format": "json", "content": notebook})
        if answer.status_code not in (200, 201):
            raise HubError(f"saving {path} as {self.name} answered {answer.status_code}: {answer.text[:300]}")

    def read_file(self, path: str) -> str:
        answer = self.server_api("GET", f"/files/{quote(path)}")
        if answer.status_code != 200:
            raise HubError(f"reading {path} as {self.name} answered {answer.status_code}")
        return answer.text

    def run_code(self, code: str, cwd: str = "", timeout_s: float = 120.0) -> str:
        """Run ``code`` in a new kernel of this user's server, as a notebook does (the kernels REST
        API, then the kernel's websocket), and return what it printed; raises with the error's
        name and value when the code failed.  The kernel is shut down afterwards."""
        answer = self.server_api("POST", "/api/kernels", json={"name": "python3", "path": cwd})
        if answer.status_code not in (200, 201):
            raise HubError(f"starting a kernel as {self.name} answered {answer.status_code}: {answer.text[:300]}")
        kernel = answer.json()["id"]
        path = f"/user/{quote(self.name)}/"
        cookies = "; ".join(f"{c.name}={c.value}" for c in self.http.cookies)
        url = self.server.replace("http", "ws", 1) + f"/api/kernels/{kernel}/channels?_xsrf={self._xsrf(path)}"
        socket = websocket.create_connection(url, timeout=timeout_s, cookie=cookies, origin=self.base,
                                             header=[f"X-XSRFToken: {self._xsrf(path)}"])
        try:
            msg_id = uuid.uuid4().hex
            socket.send(json.dumps({
                "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": uuid.uuid4().hex,
                           "username": self.name, "version": "5.3"},
                "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
                "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                            "allow_stdin": False, "stop_on_error": True}}))
            printed, error = [], None
            deadline = time.monotonic() + timeout_s
            while time.monotonic() < deadline:
                message = json.loads(socket.recv())
                if message.get("parent_header", {}).get("msg_id") != msg_id:
                    continue
                kind, content = message["msg_type"], message["content"]
                if kind == "stream":
                    printed.append(content["text"])
                elif kind == "error":
                    error = f"{content['ename']}: {content['evalue']}"
                elif kind == "status" and content["execution_state"] == "idle":
                    break
            else:
                raise HubError(f"the kernel of {self.name} did not finish within {timeout_s:.0f} s")
        finally:
            socket.close()
            self.server_api("DELETE", f"/api/kernels/{kernel}")
        if error:
            raise HubError(f"code run by {self.name} failed: {error}\n{''.join(printed)[-2000:]}")
        return "".join(printed)

    # The formgrader (instructors)
    def formgrader(self, method: str, path: str) -> Any:
        """Call the formgrader's API (``/services/COURSE/formgrader/api...``) as this user."""
        prefix = f"{self.base}/services/{self.course_id}"
        if self.http.cookies.get("_xsrf", path=f"/services/{self.course_id}/") is None:
            page = self.http.get(f"{prefix}/formgrader", timeout=60)
            if page.status_code != 200:
                raise HubError(f"the formgrader answered {page.status_code} to {self.name} at {page.url}")
        headers = {"X-XSRFToken": self._xsrf(f"/services/{self.course_id}/")}
        answer = self.http.request(method, f"{prefix}/formgrader/api{path}", headers=headers, timeout=300)
        if answer.status_code != 200:
            raise HubError(f"{method} formgrader/api{path} as {self.name} answered {answer.status_code}")
        return answer.json()
