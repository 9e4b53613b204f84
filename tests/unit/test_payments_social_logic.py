"""The pure parts of the payments and social packs: money in Decimal, periods, options, trending's decay,
the attribute-value codec and the batch writer's handling of UnprocessedItems."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from offload.ddb_items import batch_put, from_item, to_item
from offload.errors import RetryableError
from offload.packs.payments.money import percent_of, prorate, split_sale, to_major, to_minor
from offload.packs.payments.periods import check_week, previous_month, previous_week, week_of
from offload.packs.social.trending import decay, trending_scores


def test_amounts_round_half_even_to_the_cent():
    assert [to_minor(v) for v in ("0.125", "0.135", "12.345", "7")] == [12, 14, 1234, 700]
    assert to_major(1234) == Decimal("12.34")
    with pytest.raises(ValueError, match="not a number"):
        to_minor("NaN")


def test_the_split_always_adds_up_to_the_price():
    for price in range(1, 2000, 7):
        split = split_sale(price, creator_share_pct=Decimal("83.5"), tax_rate_pct=Decimal("7.25"))
        assert split.creator_minor + split.fee_minor == price
    split = split_sale(1999, creator_share_pct=Decimal("70"), tax_rate_pct=Decimal("8.25"))
    assert (split.creator_minor, split.fee_minor, split.tax_minor, split.gross_minor) == (1399, 600, 165, 2164)


def test_half_cents_go_to_the_even_neighbour():
    assert percent_of(50, Decimal("1")) == 0  # 0.5 -> 0
    assert percent_of(150, Decimal("1")) == 2  # 1.5 -> 2
    assert prorate(700, 541, 1083) == 350
    with pytest.raises(ValueError):
        prorate(700, 2, 1)


def test_periods_are_iso_weeks_and_months():
    monday = datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert week_of(monday) == "2026-W49" and previous_week(monday) == "2026-W48"
    assert previous_week(datetime(2027, 1, 4, tzinfo=UTC)) == "2026-W53"
    assert previous_month(datetime(2027, 1, 1, 9, tzinfo=UTC)) == "2026-12"
    with pytest.raises(ValueError, match="give it like 2026-W48"):
        check_week("2026-48")


def test_dunning_days_must_increase():
    from offload.packs import payments_pack

    with pytest.raises(ValueError, match="must be increasing whole days"):
        payments_pack(dunning_days=(3, 1))
    assert payments_pack(tax_rate_pct="8.25").options == {"tax_rate_pct": "8.25"}


def test_an_event_counts_half_after_one_half_life():
    assert decay(0, 3600) == 1.0
    assert decay(3600, 3600) == pytest.approx(0.5)
    assert decay(7200, 3600) == pytest.approx(0.25)


def test_trending_ranks_by_decayed_weight_not_by_count():
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)

    def ev(cid: str, kind: str, hours_ago: float) -> dict:
        return {"content_id": cid, "kind": kind, "at": (now - timedelta(hours=hours_ago)).isoformat()}

    events = [
        *[ev("old", "like", 48) for _ in range(10)],  # 10 likes two half-lives ago: 10 * 3 * 0.25 = 7.5
        ev("fresh", "share", 0),  # 8
        ev("fresh", "view", 24),  # 0.5
        ev("noise", "bookmark", 0),  # kind not weighted
    ]
    top = trending_scores(events, now=now, half_life_s=24 * 3600, weights={"view": 1, "like": 3, "share": 8}, top_n=5)
    assert [(t["content_id"], t["score"], t["events"]) for t in top] == [("fresh", 8.5, 2), ("old", 7.5, 10)]
    assert trending_scores(events, now=now, half_life_s=86400, weights={"like": 3, "share": 8}, top_n=1)[0]["rank"] == 1


def test_attribute_values_round_trip_without_floats():
    row = {"a": "x", "n": 12, "d": Decimal("1.50"), "b": True, "l": [1, "y"], "m": {"k": None}, "none": None}
    back = from_item(to_item(row))
    assert back == {"a": "x", "n": 12, "d": Decimal("1.50"), "b": True, "l": [1, "y"], "m": {"k": None}}
    with pytest.raises(TypeError, match="pass a Decimal"):
        to_item({"f": 0.1})


class ThrottlingDynamo:
    """DynamoDB's BatchWriteItem as it behaves when throttled: the first `refusals` calls leave the last
    item of the request unprocessed."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.written: list[dict] = []
        self.calls = 0

    def batch_write_item(self, RequestItems: dict) -> dict:
        self.calls += 1
        [(table, requests)] = RequestItems.items()
        assert len(requests) <= 25, "BatchWriteItem takes at most 25 requests"
        if self.refusals > 0:
            self.refusals -= 1
            self.written.extend(r["PutRequest"]["Item"] for r in requests[:-1])
            return {"UnprocessedItems": {table: requests[-1:]}}
        self.written.extend(r["PutRequest"]["Item"] for r in requests)
        return {"UnprocessedItems": {}}


def test_batch_put_writes_25_at_a_time_and_retries_what_was_left_unprocessed(monkeypatch):
    monkeypatch.setattr("offload.ddb_items.time.sleep", lambda s: None)
    db = ThrottlingDynamo(refusals=2)
    items = [to_item({"pk": f"p{i}", "sk": "x"}) for i in range(60)]
    calls = batch_put(db, "t", items, what="feed items")
    assert sorted(i["pk"]["S"] for i in db.written) == sorted(f"p{i}" for i in range(60))
    assert calls == db.calls == 3 + 2


def test_batch_put_gives_up_with_a_retryable_error_naming_what(monkeypatch):
    monkeypatch.setattr("offload.ddb_items.time.sleep", lambda s: None)
    with pytest.raises(RetryableError, match="kept refusing 1 feed items"):
        batch_put(ThrottlingDynamo(refusals=100), "t", [to_item({"pk": "p", "sk": "s"})], what="feed items", tries=3)
