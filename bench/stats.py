"""What the benchmarks share: percentiles of latencies."""
from __future__ import annotations

import statistics


def percentile(values, p: int) -> float:
    """The ``p``-th percentile (1–99) of ``values``, interpolated between the closest ranks
    (``statistics.quantiles``' inclusive method); NaN when there are none."""
    values = list(values)
    if len(values) < 2:
        return float(values[0]) if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]
