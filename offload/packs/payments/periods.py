"""Payout and report periods: ISO weeks ("2026-W48") and calendar months ("2026-11"), in UTC."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

WEEK = re.compile(r"^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$")
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


def week_of(at: datetime) -> str:
    """The ISO week `at` falls in, e.g. "2026-W48"."""
    year, week, _ = at.astimezone(UTC).isocalendar()
    return f"{year}-W{week:02d}"


def previous_week(now: datetime | None = None) -> str:
    """The ISO week before the one `now` is in: what Monday's payout run pays."""
    return week_of((now or datetime.now(UTC)) - timedelta(days=7))


def month_of(at: datetime | str) -> str:
    """The calendar month of a time (or an ISO timestamp), e.g. "2026-11"."""
    when = datetime.fromisoformat(at) if isinstance(at, str) else at
    return when.astimezone(UTC).strftime("%Y-%m")


def previous_month(now: datetime | None = None) -> str:
    """The month before `now`'s: what the report on the 1st covers."""
    first = (now or datetime.now(UTC)).astimezone(UTC).replace(day=1)
    return month_of(first - timedelta(days=1))


def check_week(period: str) -> str:
    """`period` if it is an ISO week label, else a ValueError saying the shape."""
    if not WEEK.match(period):
        raise ValueError(f"period {period!r} is not an ISO week: give it like 2026-W48")
    return period


def check_month(month: str) -> str:
    if not MONTH.match(month):
        raise ValueError(f"month {month!r} is not a calendar month: give it like 2026-11")
    return month
