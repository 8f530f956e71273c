"""Percentiles for metrics and benchmarks: one helper over numpy.percentile.

Linear interpolation between the two nearest ranks (numpy's default, the same as
``statistics.quantiles(method='inclusive')``), so a p99 from /metrics, a bench report
and a chaos test mean the same thing.
"""
from typing import Any, Sequence


def percentile(values: Sequence[float], q: float, empty: Any = float("nan")) -> Any:
    """The ``q``-th percentile (0..100) of ``values``; ``empty`` when there are none."""
    if len(values) == 0:
        return empty
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=np.float64), q))
