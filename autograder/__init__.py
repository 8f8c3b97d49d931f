"""Trusted, sandboxed grading for nbgrader courses.

The walk of one submission: ``submitted/`` -> :mod:`autograder.sandbox` (a jail) ->
:mod:`autograder.run` (the notebook in a kernel, probes returning plain data) ->
:mod:`autograder.checks` and :mod:`autograder.course` (trusted verdicts) ->
:mod:`autograder.gradebook` (nbgrader) -> :mod:`autograder.feedback`.
:mod:`autograder.batch` grades a class in parallel; :mod:`autograder.cli` holds the verbs.
"""
