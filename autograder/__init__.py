"""Trusted, sandboxed grading for nbgrader courses.

The walk of one submission: ``submitted/`` -> :mod:`autograder.sandbox` (a jail) ->
:mod:`autograder.run` (the notebook in a kernel; the instructor notebook's test cells, read by
:mod:`autograder.authored`, run in this process against the student's names in the kernel) ->
:mod:`autograder.gradebook` (nbgrader) -> :mod:`autograder.feedback`.
:mod:`autograder.batch` grades a class in parallel; :mod:`autograder.cli` holds the verbs.
"""
