"""Helpers of the platform tests (tests/test_hub*.py): a throw-away platform on loopback and an
HTTP client that logs in and works as a person would.

- :mod:`tests.hub.platform`: ``running_platform(tag)``, a context manager that lays out and starts
  a platform with its own accounts (a unique prefix), ports, exchange and state, then stops it
  and removes every account and folder it made.
- :mod:`tests.hub.client`: ``HubUser``, one person's session (login, server, the nbgrader
  assignment list API, the formgrader API).
- :mod:`tests.hub.fixtures`: ``selfcheck_hub``, the session's self-check platform, shared by
  the self-check and browser tests (``pytest_plugins = ["tests.hub.fixtures"]``).
"""
