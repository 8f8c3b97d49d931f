"""``POST /autograder-check/check``: forward the notebook to the platform's self-check service.

The browser cannot call the hub's Check service with the student's credentials (it holds no hub
token, only this server's cookie); this single-user server does: JupyterHub gives it the user's API
token in ``JUPYTERHUB_API_TOKEN``.  The handler reads the notebook as it is saved now (the frontend
saves first), names the assignment after the notebook's folder (nbgrader's layout:
``03.0_gradient_descent/03.0_gradient_descent.ipynb``) and relays the service's JSON answer and its
status code.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

import tornado.web
from jupyter_core.utils import ensure_async
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest, HTTPResponse
from tornado.simple_httpclient import HTTPTimeoutError

#: Where the self-check service answers, e.g. ``http://127.0.0.1:8000/services/check/check``.
URL_ENV = "AUTOGRADER_CHECK_URL"
#: The user's hub API token, set by JupyterHub in every single-user server.
TOKEN_ENV = "JUPYTERHUB_API_TOKEN"
#: Seconds a check may take, end to end (the service grades in a jail; most checks take a few).
REQUEST_TIMEOUT = 60.0
CONNECT_TIMEOUT = 10.0
#: A notebook larger than this is not sent (saved outputs, embedded images...).
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
#: The service's answers are small; anything larger is not relayed.
MAX_ANSWER_BYTES = 1024 * 1024

ROUTE = ("autograder-check", "check")


def assignment_of(path: str) -> str:
    """The assignment a notebook belongs to: its folder's name, as nbgrader lays assignments out."""
    folder = PurePosixPath(path.strip("/")).parent.name
    if not folder:
        raise tornado.web.HTTPError(
            400, "Cannot tell the assignment: open the notebook from its assignment folder (03.0_name/03.0_name.ipynb)."
        )
    return folder


class CheckHandler(APIHandler):
    """Grades the current notebook with the course's hidden checks, through the hub's Check service."""

    @tornado.web.authenticated
    async def post(self) -> None:
        body = self.get_json_body()
        if not isinstance(body, dict):
            raise tornado.web.HTTPError(400, 'Expected {"path": ...} or {"notebook": ..., "assignment": ...}')
        notebook, assignment = await self._notebook_and_assignment(body)

        url = os.environ.get(URL_ENV, "").strip()
        if not url:
            raise tornado.web.HTTPError(503, f"The Check service is not configured on this server (no {URL_ENV}).")
        token = os.environ.get(TOKEN_ENV, "").strip()
        if not token:
            raise tornado.web.HTTPError(503, f"The Check service needs JupyterHub: this server has no {TOKEN_ENV}.")

        payload = json.dumps({"assignment": assignment, "notebook": notebook}).encode()
        if len(payload) > MAX_NOTEBOOK_BYTES:
            raise tornado.web.HTTPError(
                413, f"The notebook is too large to check ({len(payload) // 2**20} MiB): clear its outputs and retry."
            )
        request = HTTPRequest(
            url,
            method="POST",
            body=payload,
            headers={"Authorization": f"token {token}", "Content-Type": "application/json"},
            connect_timeout=CONNECT_TIMEOUT,
            request_timeout=REQUEST_TIMEOUT,
            follow_redirects=False,
        )
        response = await self._fetch(request)
        status, answer = _answer(response)
        self.set_status(status)
        self.finish(json.dumps(answer))

    async def _notebook_and_assignment(self, body: dict[str, Any]) -> tuple[dict[str, Any], str]:
        assignment = body.get("assignment")
        if assignment is not None and (not isinstance(assignment, str) or not assignment.strip()):
            raise tornado.web.HTTPError(400, '"assignment" must be a non-empty string')
        if "notebook" in body:
            notebook = body["notebook"]
            if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
                raise tornado.web.HTTPError(400, '"notebook" must be a notebook (nbformat JSON)')
            if assignment is None:
                path = body.get("path")
                if not isinstance(path, str):
                    raise tornado.web.HTTPError(400, 'Name the "assignment" (or the notebook\'s "path")')
                assignment = assignment_of(path)
            return notebook, assignment.strip()
        path = body.get("path")
        if not isinstance(path, str) or not path.strip("/").endswith(".ipynb"):
            raise tornado.web.HTTPError(400, '"path" must name a notebook (.ipynb) relative to the server root')
        path = path.strip("/")
        if assignment is None:
            assignment = assignment_of(path)
        # The contents manager checks the path (no escaping the root, no hidden files) and answers
        # 404 for a missing notebook.  Read as text, the notebook is sent as saved (as a notebook
        # model, it would gain trust marks).  ``get`` is untyped (sync or async by manager).
        get: Callable[..., Any] = self.contents_manager.get
        model = await ensure_async(get(path, content=True, type="file", format="text"))
        try:
            notebook = json.loads(model["content"])
        except ValueError as e:
            raise tornado.web.HTTPError(400, f"{path} is not a readable notebook: {e}") from e
        if not isinstance(notebook, dict) or not isinstance(notebook.get("cells"), list):
            raise tornado.web.HTTPError(400, f"{path} is not a notebook (no cells)")
        return notebook, assignment.strip()

    async def _fetch(self, request: HTTPRequest) -> HTTPResponse:
        # A private client: the shared one's settings belong to the server and its other extensions.
        client = AsyncHTTPClient(force_instance=True, max_body_size=MAX_ANSWER_BYTES)
        try:
            # raise_error=False returns HTTP error answers; timeouts and network errors still raise.
            return await client.fetch(request, raise_error=False)
        except HTTPTimeoutError as e:
            raise tornado.web.HTTPError(504, "The Check service took too long to answer; try again later.") from e
        except (HTTPClientError, OSError, ValueError) as e:
            self.log.warning("autograder-check: cannot reach %s: %s", request.url, e)
            raise tornado.web.HTTPError(502, f"The Check service could not be reached ({e}).") from e
        finally:
            client.close()


def _answer(response: HTTPResponse) -> tuple[int, dict[str, Any]]:
    """The status and JSON object to relay; a non-JSON answer (a proxy's page, a login redirect) is a 502."""
    try:
        answer = json.loads(response.body or b"")
    except ValueError:
        answer = None
    if 300 <= response.code < 400:
        return 502, {"message": f"The Check service redirected (HTTP {response.code}); is its URL right?"}
    if not isinstance(answer, dict):
        return 502, {"message": f"The Check service is unavailable (HTTP {response.code}, no JSON answer)."}
    if response.code >= 400 and not isinstance(answer.get("message"), str):
        detail = answer.get("error") or answer.get("detail") or response.reason
        answer["message"] = f"The Check service refused (HTTP {response.code}): {detail}"
    return response.code, answer


def setup_route_handlers(web_app: tornado.web.Application) -> None:
    pattern = url_path_join(web_app.settings["base_url"], *ROUTE)
    web_app.add_handlers(".*$", [(pattern, CheckHandler)])
