"""``POST /autograder-check/check`` on a real Jupyter server, against a fake Check service on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import tempfile
from pathlib import Path
from typing import Any, ClassVar
from unittest import mock

import autograder_check.handlers
import tornado.web
from jupyter_server.serverapp import ServerApp
from tornado.httpclient import HTTPResponse
from tornado.httpserver import HTTPServer
from tornado.testing import AsyncHTTPTestCase, bind_unused_port, gen_test
from traitlets.config import Config

SERVER_TOKEN = "jupyter-server-token"  # authenticates the student's browser to their server
HUB_TOKEN = "hub-api-token"  # the user's hub token, which only the server holds
ASSIGNMENT = "03.0_gradient_descent"
NOTEBOOK_PATH = f"{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
NOTEBOOK: dict[str, Any] = {
    "cells": [
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "answer",
            "metadata": {"nbgrader": {"grade": False, "grade_id": "mse", "locked": False, "solution": True}},
            "outputs": [],
            "source": "def mse(y, p):\n    return ((y - p) ** 2).mean()",
        },
        {
            "cell_type": "code",
            "execution_count": None,
            "id": "test",
            "metadata": {"nbgrader": {"grade": True, "grade_id": "test_mse", "locked": True, "points": 1}},
            "outputs": [],
            "source": "assert mse is not None",
        },
    ],
    "metadata": {},
    "nbformat": 4,
    "nbformat_minor": 5,
}
ANSWER: dict[str, Any] = {
    "assignment": ASSIGNMENT,
    "items": [{"item": "test_mse", "status": "passed", "points": 1.0, "max_points": 1.0, "message": "Well done."}],
    "score": 1.0,
    "max_score": 1.0,
    "checks_left": 9,
}


class FakeCheckService(tornado.web.RequestHandler):
    """Records each request and answers what the test set in ``reply``."""

    requests: ClassVar[list[dict[str, Any]]] = []
    reply: ClassVar[tuple[int, bytes, str]] = (200, json.dumps(ANSWER).encode(), "application/json")
    delay: ClassVar[float] = 0.0

    async def post(self) -> None:
        FakeCheckService.requests.append(
            {"authorization": self.request.headers.get("Authorization"), "body": json.loads(self.request.body)}
        )
        if self.delay:
            await asyncio.sleep(self.delay)
        status, body, content_type = self.reply
        self.set_status(status)
        self.set_header("Content-Type", content_type)
        self.finish(body)


class CheckHandlerTest(AsyncHTTPTestCase):
    def setUp(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        tmp = Path(self._tmp.name)
        self.root = tmp / "home"
        (self.root / ASSIGNMENT).mkdir(parents=True)
        (self.root / NOTEBOOK_PATH).write_text(json.dumps(NOTEBOOK))
        FakeCheckService.requests = []
        FakeCheckService.reply = (200, json.dumps(ANSWER).encode(), "application/json")
        FakeCheckService.delay = 0.0
        self._env = mock.patch.dict(
            os.environ,
            {
                "JUPYTER_NO_CONFIG": "1",
                "JUPYTER_CONFIG_DIR": str(tmp / "config"),
                "JUPYTER_DATA_DIR": str(tmp / "data"),
                "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"),
                "JUPYTERHUB_API_TOKEN": HUB_TOKEN,
            },
        )
        self._env.start()
        super().setUp()  # builds the app (get_app) on this test's IOLoop
        sock, port = bind_unused_port()
        self.service = HTTPServer(tornado.web.Application([(r"/services/check/check", FakeCheckService)]))
        self.service.add_sockets([sock])
        self.service_url = f"http://127.0.0.1:{port}/services/check/check"
        os.environ["AUTOGRADER_CHECK_URL"] = self.service_url

    def tearDown(self) -> None:
        self.service.stop()
        super().tearDown()
        self._env.stop()
        self._tmp.cleanup()

    def get_app(self) -> tornado.web.Application:
        config = Config({"IdentityProvider": {"token": SERVER_TOKEN}})
        app = ServerApp(
            config=config,
            root_dir=str(self.root),
            open_browser=False,
            allow_root=True,
            jpserver_extensions={"autograder_check": True},
        )
        app.init_signal = lambda: None  # type: ignore[method-assign]
        app.initialize(argv=[], find_extensions=False, new_httpserver=False)
        return app.web_app

    async def check(self, body: dict[str, Any], token: str | None = SERVER_TOKEN) -> tuple[int, dict[str, Any]]:
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"token {token}"
        response: HTTPResponse = await self.http_client.fetch(
            self.get_url("/autograder-check/check"),
            method="POST",
            body=json.dumps(body),
            headers=headers,
            raise_error=False,
        )
        return response.code, json.loads(response.body)

    @gen_test
    async def test_forwards_the_saved_notebook_with_the_hub_token(self) -> None:
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 200
        assert answer == ANSWER
        [request] = FakeCheckService.requests
        assert request["authorization"] == f"token {HUB_TOKEN}"
        assert request["body"]["assignment"] == ASSIGNMENT
        assert request["body"]["notebook"]["cells"] == NOTEBOOK["cells"]

    @gen_test
    async def test_forwards_a_notebook_sent_in_the_body(self) -> None:
        code, answer = await self.check({"notebook": NOTEBOOK, "assignment": "03.1_chain_rule"})
        assert code == 200
        assert answer == ANSWER
        [request] = FakeCheckService.requests
        assert request["body"] == {"assignment": "03.1_chain_rule", "notebook": NOTEBOOK}

    @gen_test
    async def test_relays_rate_limiting_with_its_message(self) -> None:
        message = "Too many checks: 10 an hour. Try again in 12 minutes."
        FakeCheckService.reply = (429, json.dumps({"message": message, "checks_left": 0}).encode(), "application/json")
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 429
        assert answer["message"] == message
        assert answer["checks_left"] == 0

    @gen_test
    async def test_relays_an_assignment_without_check(self) -> None:
        FakeCheckService.reply = (404, b'{"message": "this assignment has no Check"}', "application/json")
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert (code, answer["message"]) == (404, "this assignment has no Check")

    @gen_test
    async def test_without_a_service_url_answers_503(self) -> None:
        del os.environ["AUTOGRADER_CHECK_URL"]
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 503
        assert "not configured" in answer["message"]
        assert FakeCheckService.requests == []

    @gen_test
    async def test_without_a_hub_token_answers_503(self) -> None:
        del os.environ["JUPYTERHUB_API_TOKEN"]
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 503
        assert "JUPYTERHUB_API_TOKEN" in answer["message"]

    @gen_test
    async def test_an_unreachable_service_is_a_502(self) -> None:
        with socket.socket() as closed:
            closed.bind(("127.0.0.1", 0))
            port = closed.getsockname()[1]
        os.environ["AUTOGRADER_CHECK_URL"] = f"http://127.0.0.1:{port}/services/check/check"
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 502
        assert "could not be reached" in answer["message"]

    @gen_test
    async def test_a_page_instead_of_json_is_a_502(self) -> None:
        FakeCheckService.reply = (404, b"<html>404: Not Found</html>", "text/html")
        code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 502
        assert "HTTP 404" in answer["message"]

    @gen_test
    async def test_a_slow_service_is_a_504(self) -> None:
        FakeCheckService.delay = 2.0
        with mock.patch.object(autograder_check.handlers, "REQUEST_TIMEOUT", 0.3):
            code, answer = await self.check({"path": NOTEBOOK_PATH})
        assert code == 504
        assert "too long" in answer["message"]

    @gen_test
    async def test_needs_the_jupyter_servers_auth(self) -> None:
        code, _ = await self.check({"path": NOTEBOOK_PATH}, token=None)
        assert code == 403
        code, _ = await self.check({"path": NOTEBOOK_PATH}, token="wrong")
        assert code == 403
        assert FakeCheckService.requests == []

    @gen_test
    async def test_a_notebook_outside_an_assignment_folder_is_a_400(self) -> None:
        (self.root / "loose.ipynb").write_text(json.dumps(NOTEBOOK))
        code, answer = await self.check({"path": "loose.ipynb"})
        assert code == 400
        assert "assignment" in answer["message"]
        assert FakeCheckService.requests == []

    @gen_test
    async def test_a_missing_notebook_is_a_404(self) -> None:
        code, _ = await self.check({"path": f"{ASSIGNMENT}/missing.ipynb"})
        assert code == 404
        assert FakeCheckService.requests == []

    @gen_test
    async def test_paths_cannot_leave_the_server_root(self) -> None:
        code, _ = await self.check({"path": f"../{ASSIGNMENT}/{ASSIGNMENT}.ipynb"})
        assert code in (400, 404)
        assert FakeCheckService.requests == []
