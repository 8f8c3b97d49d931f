"""Checks that call one student function on hidden inputs, case by case.

A :class:`Case` is one call: its arguments (arrays travel as exact literals and must be
unchanged after the call) and a judge that turns the returned value into a verdict.
:func:`calls_check` builds the probe that makes every call in the kernel and the verdict
that judges them in order, stopping at the first failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from autograder.checks import literal
from autograder.checks.base import Check, Plain, Verdict
from autograder.checks.numeric import PLAIN_SOURCE, FloatArray, check_unchanged, fetch, guarded, passed


class Source(str):
    """An argument given as probe source (a function the probe's setup defines), not a value."""


@dataclass(frozen=True)
class Case:
    """One call: ``(parameter, value)`` pairs in call order and ``judge(got, context=...)``.

    Array arguments travel as exact literals and must be unchanged after the call.
    """

    args: tuple[tuple[str, object], ...]
    judge: Callable[..., Verdict]

    def arrays(self) -> list[tuple[int, str, FloatArray]]:
        return [(i, n, v) for i, (n, v) in enumerate(self.args) if isinstance(v, np.ndarray)]

    def source(self, value: object) -> str:
        if isinstance(value, np.ndarray):
            return literal.array(value)
        return str(value) if isinstance(value, Source) else repr(value)

    def context(self) -> str:
        _, name, first = self.arrays()[0]
        return f"for {name} of shape {tuple(first.shape)}, "


def calls_check(item: str, function: str, cases: list[Case], setup: str = "") -> Check:
    """A check calling ``function`` once per case; records the output and the array inputs."""
    lines = [PLAIN_SOURCE, "result = {}", setup, f"fn = student[{function!r}]"]
    for c, case in enumerate(cases):
        lines.append(f"args = [{', '.join(case.source(v) for _, v in case.args)}]")
        lines.append(f"result['c{c}.out'] = _plain(fn(*args))")
        lines += [f"result['c{c}.in.{n}'] = _plain(args[{i}])" for i, n, _ in case.arrays()]
    probe = "\n".join(lines) + "\n"

    @guarded(function)
    def verdict(result: Plain) -> Verdict:
        for c, case in enumerate(cases):
            ctx = case.context()
            v = case.judge(fetch(result, f"c{c}.out"), context=ctx)
            for _, name, original in case.arrays():
                if v.passed:
                    v = check_unchanged(function, name, original, fetch(result, f"c{c}.in.{name}"), ctx)
            if not v.passed:
                return v
        return passed(f"{function}: correct on {len(cases)} hidden cases")

    return Check(item, (function,), probe, verdict)
