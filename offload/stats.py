"""Summary statistics shared by the reports and the benchmarks: the one percentile function."""

from __future__ import annotations

from collections.abc import Iterable


def percentile(values: Iterable[float], q: float) -> float:
    """The q-quantile (0 <= q <= 1) of `values` by the nearest-rank method: a value that occurred.

    Raises ValueError on no values or a q outside 0..1, so a report never shows a made-up figure."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values: check for an empty sample before asking")
    if not 0 <= q <= 1:
        raise ValueError(f"percentile q must be in 0..1 (0.95 for p95), got {q}")
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]
