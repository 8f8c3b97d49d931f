"""Exact array literals for probes: hidden inputs travel as base64 of their raw bytes."""

from __future__ import annotations

import base64

import numpy as np
import numpy.typing as npt


def array(a: npt.ArrayLike) -> str:
    """Python source that rebuilds ``a`` bit for bit inside a probe (via its ``arr`` helper)."""
    x = np.ascontiguousarray(a)
    data = base64.b64encode(x.tobytes()).decode("ascii")
    return f"arr({data!r}, {x.dtype.str!r}, {tuple(x.shape)!r})"
