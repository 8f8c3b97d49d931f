"""The course on one machine: JupyterHub around the nbgrader course, as The Littlest JupyterHub
lays it out, without systemd.

- :mod:`~autograder.hub.layout`: where everything lives (ports, folders, accounts), one
  :class:`~autograder.hub.layout.Platform` value saved as ``platform.json`` for the hub's
  configuration (``hub_config/jupyterhub_config.py``) to read.
- :mod:`~autograder.hub.accounts`: the Unix accounts and groups (students, instructors, the
  grader account that owns the course).
- :mod:`~autograder.hub.provision`: the live course folder, the nbgrader exchange, the Jupyter
  settings of each role and the kernel specs.
- :mod:`~autograder.hub.daemon`: start the hub in the background, wait until it answers, stop
  it and everything it started.
- :mod:`~autograder.hub.lifecycle`: ``up`` and ``down``, the above in order.
- :mod:`~autograder.hub.exchange`: the inbound as root reads it: genuine submissions only, and
  nbgrader's collect hardened accordingly.
- :mod:`~autograder.hub.grading`: the instructor's root-side steps on the live course (the
  engine's grade and feedback, then the files handed back to the grader account).

``python -m autograder.hub up`` (``make up``), ``down`` (``make down``), ``status``, ``grade`` and
``feedback`` are the verbs.  The self-check service that grades submissions as they arrive is
:mod:`autograder.selfcheck`.
"""
