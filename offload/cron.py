"""EventBridge schedule expressions: when does `cron(...)` or `rate(...)` fire next (UTC)."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta

_RATE = re.compile(r"^rate\((\d+)\s+(minute|minutes|hour|hours|day|days)\)$")
_DAYS = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}


class ScheduleError(ValueError):
    """A schedule expression EventBridge would not accept (or this ticker cannot read)."""


def next_fire(expression: str, after: float) -> float:
    """The first time strictly after `after` (Unix seconds) the expression fires."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        n, unit = int(rate.group(1)), rate.group(2).rstrip("s")
        step = n * {"minute": 60, "hour": 3600, "day": 86400}[unit]
        return (int(after) // step + 1) * step
    if expression.startswith("cron(") and expression.endswith(")"):
        return _next_cron(expression[5:-1].split(), after)
    raise ScheduleError(f"not a schedule expression: {expression!r} (expected cron(...) or rate(...))")


def check_cron(cron: str) -> None:
    """Refuse (ScheduleError) a 6-field cron this module can't read, before anything is deployed."""
    _cron_sets(cron.split())


def _cron_sets(fields: list[str]) -> tuple[set[int], set[int], set[int] | None, set[int], set[int] | None, set[int]]:
    if len(fields) != 6:
        raise ScheduleError(f"cron needs 6 fields (min hour day-of-month month day-of-week year), got {fields}")
    minute, hour, dom, month, dow, year = fields
    return (
        _values(minute, 0, 59),
        _values(hour, 0, 23),
        None if dom == "?" else _values(dom, 1, 31),
        _values(month, 1, 12, _MONTHS),
        None if dow == "?" else _values(dow, 1, 7, _DAYS),
        _values(year, 1970, 2199),
    )


def _next_cron(fields: list[str], after: float) -> float:
    minutes, hours, doms, months, dows, years = _cron_sets(fields)
    t = datetime.fromtimestamp(int(after) // 60 * 60, UTC) + timedelta(minutes=1)
    limit = t + timedelta(days=366 * 5)
    while t < limit:
        day_ok = (doms is None or t.day in doms) and (dows is None or (t.isoweekday() % 7) + 1 in dows)
        if t.year in years and t.month in months and day_ok:
            if t.hour in hours:
                if t.minute in minutes:
                    return t.timestamp()
                t += timedelta(minutes=1)
            else:
                t = t.replace(minute=0) + timedelta(hours=1)
        else:
            t = t.replace(hour=0, minute=0) + timedelta(days=1)
    raise ScheduleError(f"cron({' '.join(fields)}) never fires in the next five years")


def _values(field: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    out: set[int] = set()
    for part in field.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = _number(step_text, None)
            if step < 1:
                raise ScheduleError(f"cron field {field!r}: the step after '/' must be 1 or more")
        if part in ("*", "?"):
            start, end = low, high
        elif "-" in part:
            a, b = part.split("-", 1)
            start, end = _number(a, names), _number(b, names)
        else:
            start = _number(part, names)
            end = high if step > 1 else start
        if not (low <= start <= high and low <= end <= high):
            raise ScheduleError(f"cron field {field!r} is outside {low}..{high}")
        out.update(range(start, end + 1, step))
    return out


def _number(text: str, names: dict[str, int] | None) -> int:
    if names and text.upper() in names:
        return names[text.upper()]
    try:
        return int(text)
    except ValueError:
        raise ScheduleError(
            f"cron value {text!r} is not a number or a known name (offload's scheduler reads numbers, ranges, "
            "lists, steps and JAN-DEC / SUN-SAT; not EventBridge's L, W or #)"
        ) from None


_DAY_NAMES = {"SUN": "Sunday", "MON": "Monday", "TUE": "Tuesday", "WED": "Wednesday", "THU": "Thursday"}
_DAY_NAMES |= {"FRI": "Friday", "SAT": "Saturday"}


def describe(expression: str) -> str:
    """A schedule expression in words ("every day at 02:00 UTC"); the cron itself when it is no simple one."""
    expression = expression.strip()
    rate = _RATE.match(expression)
    if rate:
        return f"every {rate.group(1)} {rate.group(2)}"
    fields = expression[5:-1].split() if expression.startswith("cron(") else []
    if len(fields) != 6 or not all(f.isdigit() for f in fields[:2]) or fields[5] != "*":
        return expression
    minute, hour, dom, month, dow, _ = fields
    at = f"at {int(hour):02d}:{int(minute):02d} UTC"
    if month == "*" and dom in ("*", "?") and dow in ("*", "?"):
        return f"every day {at}"
    if month == "*" and dom == "?" and dow.upper() in _DAY_NAMES:
        return f"every {_DAY_NAMES[dow.upper()]} {at}"
    if month == "*" and dow == "?" and dom.isdigit():
        return f"on day {int(dom)} of every month {at}"
    return expression
