"""A log-linear histogram of latencies in microseconds: exact below 128 µs, 1/64 (1.6 %) above.

bucket(v) is monotonic in v; the consumer hot loop inlines the same arithmetic.
"""

from __future__ import annotations

from typing import Iterable, Mapping


def bucket(us: int) -> int:
    if us < 128:
        return us if us > 0 else 0
    shift = us.bit_length() - 7
    return (shift << 6) + (us >> shift)


def lower_bound(index: int) -> int:
    """Smallest value in the bucket."""
    if index < 128:
        return index
    shift = (index >> 6) - 1
    return (index - (shift << 6)) << shift


def midpoint(index: int) -> float:
    if index < 128:
        return float(index)
    shift = (index >> 6) - 1
    return lower_bound(index) + ((1 << shift) - 1) / 2


def merge(into: dict[int, int], other: Mapping[int, int]) -> None:
    for k, v in other.items():
        into[k] = into.get(k, 0) + v


def percentiles(hist: Mapping[int, int], ps: Iterable[float]) -> list[float | None]:
    """Percentiles (0-100) in microseconds, or None for an empty histogram."""
    ps = list(ps)
    total = sum(hist.values())
    if not total:
        return [None] * len(ps)
    keys = sorted(hist)
    out: list[float | None] = []
    for p in ps:
        rank = max(1, -(-total * p // 100))  # ceil(total * p / 100), at least 1
        seen = 0
        for k in keys:
            seen += hist[k]
            if seen >= rank:
                out.append(midpoint(k))
                break
    return out


def mean_max(hist: Mapping[int, int]) -> tuple[float | None, float | None]:
    total = sum(hist.values())
    if not total:
        return None, None
    return sum(midpoint(k) * v for k, v in hist.items()) / total, midpoint(max(hist))
