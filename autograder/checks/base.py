"""The trusted side's vocabulary: a check (an item and its instructor's test cell), what happened
to it, and how text from the student's kernel is shown in messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """What happened to one graded item."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the student's code raised
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out-of-memory"
    KERNEL_DIED = "kernel died"
    MISSING = "missing"  # the function or constant is not defined


@dataclass(frozen=True)
class Check:
    """One automatically graded item: the nbgrader grade cell ``item`` and the instructor's test cell
    code that grades it (:mod:`autograder.authored`), run on the trusted side."""

    item: str
    test_source: str


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one graded item, as recorded in the gradebook and shown in feedback."""

    item: str  # grade_id of the test cell, e.g. "test_adam_step"
    status: Status
    points: float
    max_points: float
    message: str  # what the student reads: the function, the fault, expected vs got


# --- text that came from the student's kernel -------------------------------------------------
#
# Whatever the kernel sends back (type names in "<typename>" markers, exception names and
# messages, strings, dict keys) is the student's text.  In a message it is put on one line,
# shortened and quoted in «», so it can never start a line of its own nor pass for the grader's
# words; the grader writes the "[status] points" header of a verdict, the only line that starts
# with a status in brackets (see :mod:`autograder.run.notebook`).

_LINE_BREAKS = re.compile(r"\r\n|[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]")
# other control characters, zero-width and bidirectional marks (they can reorder what is shown)
_INVISIBLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_WORD = r"\(?[A-Za-z_][A-Za-z0-9_.]*\)?,?"
_PHRASE = re.compile(rf"{_WORD}( {_WORD})*")  # "raised ValueError": no digits, brackets or slashes
_HEADER = r"(?i:\[\s*(?:" + "|".join(re.escape(s.value) for s in Status) + r")\s*\])"
_QUOTED = r"«[^«»]*»"
_NUMBER = re.compile(r"[-+]?(\d+\.\d*|\.\d+|\d+(?=[eE]))([eE][-+]?\d+)?|[A-Za-z0-9+/=]{16,}")


def one_line(text: str) -> str:
    """``text`` on one line: line breaks shown as ⏎, other control and invisible characters as
    spaces (never removed, so no two pieces of text are joined)."""
    return _INVISIBLE.sub(" ", _LINE_BREAKS.sub("⏎", text))


def student_text(value: object, limit: int = 60) -> str:
    """Student-controlled ``value`` for a message: on one line, at most ``limit`` characters
    (cut with …) and quoted in «» (a « or » of its own becomes ‹ or ›)."""
    text = one_line(str(value)).replace("«", "‹").replace("»", "›")
    return "«" + (text if len(text) <= limit else text[: max(limit - 1, 1)] + "…") + "»"


def student_name(value: object, limit: int = 60) -> str:
    """A name from the student's kernel (a type, an exception, a function): as it is when it is a
    plain Python name of at most ``limit`` characters, else quoted by :func:`student_text`."""
    text = str(value)
    return text if len(text) <= limit and _NAME.fullmatch(text) else student_text(text, limit)


def scrub(text: str, limit: int = 300) -> str:
    """A student's exception text without numbers or long tokens: it may carry hidden inputs."""
    return _NUMBER.sub("…", text)[:limit]


def mark_student_text(message: str, strings: Iterable[str] = (), limit: int = 60) -> str:
    """``message`` with each verbatim occurrence of one of ``strings`` (text the kernel sent)
    quoted by :func:`student_text`, unless it is a plain phrase of names ("raised ValueError"),
    and any "[passed]"-like status in brackets quoted too: only the grader's header has one.
    Spans already in «» are left as they are."""
    found = {c for s in strings for c in (s, s[1:-1] if s[:1] == "<" and s[-1:] == ">" else s)
             if len(c.strip()) >= 4 and c in message and not (len(c) <= limit and _PHRASE.fullmatch(c))}
    parts = [_QUOTED, *(re.escape(c) for c in sorted(found, key=len, reverse=True)), _HEADER]
    pattern = re.compile("|".join(parts))
    return pattern.sub(lambda m: m[0] if re.fullmatch(_QUOTED, m[0]) else student_text(m[0], limit), message)
