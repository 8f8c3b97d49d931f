"""nbgrader configuration for the lesson 03 course (this directory is the course root)."""

import os

c = get_config()  # type: ignore[name-defined]  # noqa: F821

c.CourseDirectory.course_id = "lesson03"
c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# Hidden tests never run in a student's kernel under `autograder grade`; plain
# `nbgrader autograde` still runs them (used by the benchmark as the baseline).
c.Execute.timeout = 60
