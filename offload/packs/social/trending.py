"""Trending: a time-decayed engagement score per item, the top N kept.

    score(item) = sum over its events of weight(kind) * exp(-ln 2 * age / half_life)

An event counts fully now, half after one half-life, a quarter after two; events older than the window are
not read. Scores are rounded to 6 places so a list compares equal across runs on the same data.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any


def decay(age_s: float, half_life_s: float) -> float:
    """How much an event of this age still counts (1 now, 0.5 after one half-life)."""
    return math.exp(-math.log(2) * max(age_s, 0.0) / half_life_s)


def trending_scores(
    events: Iterable[Mapping[str, Any]],
    *,
    now: datetime,
    half_life_s: float,
    weights: Mapping[str, float],
    top_n: int,
) -> list[dict[str, Any]]:
    """The top `top_n` items by decayed score, highest first (ties by content id), with their event counts."""
    scores: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for event in events:
        weight = weights.get(event["kind"], 0.0)
        if weight == 0:
            continue
        age = (now - datetime.fromisoformat(event["at"])).total_seconds()
        scores[event["content_id"]] += weight * decay(age, half_life_s)
        counts[event["content_id"]] += 1
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
    return [
        {"rank": i, "content_id": cid, "score": round(score, 6), "events": counts[cid]}
        for i, (cid, score) in enumerate(ranked, start=1)
    ]
