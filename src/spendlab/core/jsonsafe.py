"""Plain JSON values: JSON has no NaN or infinity, so an undefined ratio (a CPA with no
conversions, a ROAS with no spend; see :mod:`spendlab.core.metrics`) is sent as ``null``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np


def jsonable(x: Any) -> Any:
    """``x`` as plain Python: mappings (keys as text), lists, tuples and arrays recursively, numpy
    scalars as Python numbers, and every non-finite float (NaN, +-inf) as ``None``."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return [jsonable(v) for v in x.tolist()]
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    return x
