"""The student's Check button: a JupyterLab 4 extension and the server extension it talks to.

The frontend (``labextension/``, prebuilt; sources in ``src/``) puts a **Check** button in the
toolbar of nbgrader notebooks, beside nbgrader's Validate.  A click saves the notebook and posts
``{"path": "<notebook path relative to the server root>"}`` to this server's
``POST /autograder-check/check`` (Jupyter auth and XSRF, as every Jupyter API).  The server extension
(:mod:`autograder_check.handlers`) reads the notebook, names its assignment after its folder and
forwards ``{"assignment": str, "notebook": <nbformat JSON>}`` to the platform's self-check service
at ``$AUTOGRADER_CHECK_URL`` with ``Authorization: token $JUPYTERHUB_API_TOKEN`` (the user's hub
token, which only this server holds).  The request body may instead carry the notebook itself:
``{"notebook": <nbformat JSON>, "assignment": "<id>"}``.

The service's answer, relayed with its status code::

    {
      "assignment": "03.0_gradient_descent",
      "items": [
        {"item": "test_mse", "status": "passed", "points": 1.0, "max_points": 1.0, "message": "..."}
      ],
      "score": 1.0,
      "max_score": 1.0,
      "checks_left": 9
    }

``items`` has one entry per graded test cell (``item`` is its nbgrader ``grade_id``); ``status`` is
``"passed"``, ``"failed"`` or ``"error"``; ``message`` is feedback meant for the student (never
test code); ``checks_left`` is how many checks the student has left in the service's rate-limit
window (absent when unlimited).  Errors are ``{"message": str}`` with their status: 403 (not
allowed), 404 (this assignment has no Check), 429 (too many checks; try later), and, from this
server, 400 (bad request), 413 (notebook too large), 502 (service unreachable or not answering
JSON), 503 (``AUTOGRADER_CHECK_URL`` or the hub token missing), 504 (service timed out).
"""

from __future__ import annotations

from typing import Any

from .handlers import setup_route_handlers

__version__ = "0.1.0"
__all__ = ["__version__"]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "autograder-check"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "autograder_check"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    """Register ``POST /autograder-check/check`` on the Jupyter server."""
    setup_route_handlers(server_app.web_app)
    server_app.log.info("Registered autograder_check server extension")
