"""The analytics reports the schedules write to the payload bucket, each as JSON and as self-contained HTML.

- daily   reports/analytics/daily/<date>.{json,html}: job analytics of one UTC day (`analytics.job_analytics`);
- weekly  reports/analytics/weekly/<YYYY-Www>.{json,html}: this week against last week per type (from the
  daily reports; a day without one is computed from the records);
- monthly reports/platform/monthly/<YYYY-MM>.{json,html}: jobs, media counts, storage bytes by prefix, top types.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from offload.jobs.admin import queue_stats
from offload.packs.maintenance import htmlpage as html
from offload.packs.maintenance.analytics import coverage, histogram_percentile, job_analytics
from offload.packs.maintenance.settings import maintenance_settings

if TYPE_CHECKING:
    from offload.runtime import Runtime

REPORTS_PREFIX = "reports/"
DAILY_PREFIX = "reports/analytics/daily/"
WEEKLY_PREFIX = "reports/analytics/weekly/"
MONTHLY_PREFIX = "reports/platform/monthly/"


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def put_report(rt: Runtime, stem: str, doc: dict[str, Any], page: str) -> dict[str, str]:
    """Write `<stem>.json` and `<stem>.html` to the payload bucket; their keys."""
    s3, bucket = rt.clients.s3, rt.settings.payload_bucket
    keys = {"json": f"{stem}.json", "html": f"{stem}.html"}
    s3.put_object(
        Bucket=bucket, Key=keys["json"], Body=json.dumps(doc, indent=2).encode(), ContentType="application/json"
    )
    s3.put_object(Bucket=bucket, Key=keys["html"], Body=page.encode(), ContentType="text/html; charset=utf-8")
    return keys


def _read_json(rt: Runtime, key: str) -> dict[str, Any] | None:
    try:
        body = rt.clients.s3.get_object(Bucket=rt.settings.payload_bucket, Key=key)["Body"].read()
    except rt.clients.s3.exceptions.NoSuchKey:
        return None
    doc = json.loads(body)
    return doc if isinstance(doc, dict) else None


# -- daily ---------------------------------------------------------------------------------
def daily_figures(rt: Runtime, day: date, now: datetime) -> dict[str, Any]:
    """The daily report's document for one UTC day."""
    start = _midnight(day)
    return {
        "kind": "daily-analytics",
        "date": day.isoformat(),
        "window": {"start": start.isoformat(), "end": (start + timedelta(days=1)).isoformat()},
        "generated_at": now.isoformat(timespec="seconds"),
        "coverage": coverage(rt, start, now),
        **job_analytics(rt, start, start + timedelta(days=1)),
    }


def daily_page(doc: dict[str, Any]) -> str:
    """The daily report as HTML: headline cards, jobs and p95 per type, the day by hour, the table, errors."""
    t, rows = doc["totals"], doc["types"]
    labels = [f"{r['type']} ({r['queue']})" for r in rows]
    body = [
        "" if doc["coverage"]["complete"] else f'<p class="warn">{html.escape(doc["coverage"]["note"])}</p>',
        html.cards(
            [
                ("Jobs", html.fmt(t["total"])),
                ("Completed", html.fmt(t["counts"]["completed"])),
                ("Failed", html.fmt(t["counts"]["failed"])),
                ("Failure rate", html.fmt(t["failure_rate"], "%")),
                ("p50 run time", html.fmt(t["p50_ms"], " ms")),
                ("p95 run time", html.fmt(t["p95_ms"], " ms")),
                ("Retries", html.fmt(t["retries"])),
                ("Deferrals", html.fmt(t["deferrals"])),
            ]
        ),
        "<h2>Jobs by type</h2>",
        html.bar_chart(
            "Jobs by type and outcome",
            labels,
            {
                "completed": [r["counts"]["completed"] for r in rows],
                "failed": [r["counts"]["failed"] for r in rows],
                "other": [r["total"] - r["finished"] for r in rows],
            },
        ),
        "<h2>p95 run time by type</h2>",
        html.bar_chart("p95 run time by type (ms)", labels, {"p95 ms": [r["p95_ms"] or 0 for r in rows]}, unit=" ms"),
        "<h2>The day by hour (UTC)</h2>",
        html.line_chart(
            "Jobs created and failed per hour",
            [f"{h['hour']:02d}" for h in doc["hourly"]],
            {"created": [h["created"] for h in doc["hourly"]], "failed": [h["failed"] for h in doc["hourly"]]},
        ),
        "<h2>Per type and queue</h2>",
        html.table(
            ["Type", "Queue", "Jobs", "Completed", "Failed", "Failure rate", "p50", "p95", "Retries", "Deferrals"],
            [
                [
                    html.escape(r["type"]),
                    html.escape(r["queue"]),
                    html.fmt(r["total"]),
                    html.fmt(r["counts"]["completed"]),
                    html.fmt(r["counts"]["failed"]),
                    html.fmt(r["failure_rate"], "%"),
                    html.fmt(r["p50_ms"], " ms"),
                    html.fmt(r["p95_ms"], " ms"),
                    html.fmt(r["retries"]),
                    html.fmt(r["deferrals"]),
                ]
                for r in rows
            ],
            text_columns=2,
        ),
        "<h2>Top errors</h2>",
        html.table(
            ["Type", "Error (step: reason)", "Jobs"],
            [
                [html.escape(r["type"]), html.escape(e["error"]), html.fmt(e["count"])]
                for r in rows
                for e in r["top_errors"]
            ],
            text_columns=2,
        ),
    ]
    return html.page(
        f"Job analytics, {doc['date']}", f"UTC day {doc['window']['start']} to {doc['window']['end']}", body
    )


def write_daily(rt: Runtime, day: date, now: datetime) -> dict[str, Any]:
    """Compute and write one day's report; the job's result: keys and headline totals."""
    doc = daily_figures(rt, day, now)
    keys = put_report(rt, f"{DAILY_PREFIX}{day.isoformat()}", doc, daily_page(doc))
    totals = doc["totals"]
    return {
        "date": day.isoformat(),
        "keys": keys,
        "jobs": totals["total"],
        "failed": totals["counts"]["failed"],
        "types": len(doc["types"]),
        "complete": doc["coverage"]["complete"],
    }


# -- weekly --------------------------------------------------------------------------------
def _days(rt: Runtime, first: date, now: datetime) -> tuple[list[dict[str, Any]], list[str]]:
    """Seven daily documents from `first` on: the stored reports, else computed from the records."""
    docs, computed = [], []
    for i in range(7):
        day = first + timedelta(days=i)
        doc = _read_json(rt, f"{DAILY_PREFIX}{day.isoformat()}.json")
        if doc is None:
            doc = daily_figures(rt, day, now)
            computed.append(day.isoformat())
        docs.append(doc)
    return docs, computed


def _week_rows(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per type: finished jobs, failures, failure rate and p95 (from the days' merged histograms)."""
    merged: dict[str, dict[str, Any]] = {}
    for doc in docs:
        for r in doc["types"]:
            row = merged.setdefault(r["type"], {"finished": 0, "failed": 0, "total": 0, "histogram": Counter()})
            row["finished"] += r["finished"]
            row["failed"] += r["counts"]["failed"]
            row["total"] += r["total"]
            row["histogram"].update(r["histogram"])
    return {
        name: {
            "jobs": row["total"],
            "throughput": row["finished"],
            "failure_rate": round(row["failed"] / row["finished"], 4) if row["finished"] else None,
            "p95_ms": histogram_percentile(row["histogram"], 0.95),
        }
        for name, row in merged.items()
    }


def _delta(now: float | None, before: float | None, *, relative: bool) -> float | None:
    if now is None or before is None:
        return None
    if not relative:
        return round(now - before, 4)
    return round((now - before) / before, 4) if before else None


def weekly_figures(rt: Runtime, week_start: date, now: datetime) -> dict[str, Any]:
    """This week (7 days from `week_start`, a Monday) against the 7 days before, per type."""
    this_docs, this_computed = _days(rt, week_start, now)
    last_docs, last_computed = _days(rt, week_start - timedelta(days=7), now)
    this, last = _week_rows(this_docs), _week_rows(last_docs)
    empty = {"jobs": 0, "throughput": 0, "failure_rate": None, "p95_ms": None}
    rows = []
    for name in sorted(set(this) | set(last), key=lambda n: (-this.get(n, empty)["throughput"], n)):
        a, b = this.get(name, empty), last.get(name, empty)
        rows.append(
            {
                "type": name,
                "this_week": a,
                "last_week": b,
                "delta": {
                    "throughput": _delta(a["throughput"], b["throughput"], relative=True),
                    "failure_rate": _delta(a["failure_rate"], b["failure_rate"], relative=False),
                    "p95_ms": _delta(a["p95_ms"], b["p95_ms"], relative=True),
                },
            }
        )
    iso = week_start.isocalendar()
    return {
        "kind": "weekly-performance",
        "week": f"{iso.year}-W{iso.week:02d}",
        "this_week": {"start": week_start.isoformat(), "end": (week_start + timedelta(days=6)).isoformat()},
        "last_week": {
            "start": (week_start - timedelta(days=7)).isoformat(),
            "end": (week_start - timedelta(days=1)).isoformat(),
        },
        "generated_at": now.isoformat(timespec="seconds"),
        "computed_from_records": sorted(this_computed + last_computed),
        "p95_note": "weekly p95 is read from the days' merged run-time histograms: within 19% of the exact value",
        "types": rows,
    }


def _arrow(delta: float | None, *, worse_when_up: bool, percent: bool) -> str:
    if delta is None:
        return "-"
    cls = ("up" if worse_when_up else "down") if delta > 0 else ("down" if worse_when_up else "up") if delta else ""
    text = f"{delta * 100:+.1f}%" if percent else f"{delta * 100:+.1f} pts"
    return f'<span class="{cls}">{text}</span>'


def weekly_page(doc: dict[str, Any]) -> str:
    """The week-over-week report as HTML: throughput bars for both weeks and the table of deltas."""
    rows = doc["types"]
    labels = [r["type"] for r in rows]
    body = [
        "<h2>Throughput (finished jobs)</h2>",
        html.bar_chart("Finished jobs, this week", labels, {"this week": [r["this_week"]["throughput"] for r in rows]}),
        html.bar_chart("Finished jobs, last week", labels, {"last week": [r["last_week"]["throughput"] for r in rows]}),
        "<h2>Week over week</h2>",
        html.table(
            ["Type", "Throughput", "Δ", "Failure rate", "Δ", "p95", "Δ", "Last week: throughput / failure / p95"],
            [
                [
                    html.escape(r["type"]),
                    html.fmt(r["this_week"]["throughput"]),
                    _arrow(r["delta"]["throughput"], worse_when_up=False, percent=True),
                    html.fmt(r["this_week"]["failure_rate"], "%"),
                    _arrow(r["delta"]["failure_rate"], worse_when_up=True, percent=False),
                    html.fmt(r["this_week"]["p95_ms"], " ms"),
                    _arrow(r["delta"]["p95_ms"], worse_when_up=True, percent=True),
                    f"{html.fmt(r['last_week']['throughput'])} / {html.fmt(r['last_week']['failure_rate'], '%')} / "
                    f"{html.fmt(r['last_week']['p95_ms'], ' ms')}",
                ]
                for r in rows
            ],
        ),
        f'<p class="muted">{html.escape(doc["p95_note"])}.</p>',
    ]
    if doc["computed_from_records"]:
        days = ", ".join(doc["computed_from_records"])
        body.insert(0, f'<p class="warn">No daily report for {html.escape(days)}: computed from the records.</p>')
    subtitle = (
        f"{doc['this_week']['start']} to {doc['this_week']['end']} against "
        f"{doc['last_week']['start']} to {doc['last_week']['end']} (UTC)"
    )
    return html.page(f"Weekly performance, {doc['week']}", subtitle, body)


def write_weekly(rt: Runtime, week_start: date, now: datetime) -> dict[str, Any]:
    """Compute and write a week-over-week report; the job's result."""
    doc = weekly_figures(rt, week_start, now)
    keys = put_report(rt, f"{WEEKLY_PREFIX}{doc['week']}", doc, weekly_page(doc))
    return {"week": doc["week"], "keys": keys, "types": len(doc["types"]), "computed": doc["computed_from_records"]}


# -- monthly -------------------------------------------------------------------------------
def storage_by_prefix(rt: Runtime, bucket: str) -> dict[str, dict[str, int]]:
    """Objects and bytes (current versions) per prefix: two levels under uploads/ and reports/, else one."""
    out: dict[str, dict[str, int]] = {}
    for page in rt.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for obj in page.get("Contents", []):
            parts = obj["Key"].split("/")
            depth = 2 if parts[0] in ("uploads", "reports") and len(parts) > 2 else 1
            prefix = "/".join(parts[:depth]) + "/" if len(parts) > depth else "(top level)"
            row = out.setdefault(prefix, {"objects": 0, "bytes": 0})
            row["objects"] += 1
            row["bytes"] += int(obj["Size"])
    return dict(sorted(out.items()))


def media_counts(rt: Runtime) -> dict[str, dict[str, int]]:
    """Records by status in the images and videos tables (the packs deployed)."""
    from offload.packs.images.store import ImageStore
    from offload.packs.video.store import VideoStore

    ms = maintenance_settings(rt)
    db = rt.clients.dynamodb
    out: dict[str, dict[str, int]] = {}
    if ms.images_table:
        out["images"] = dict(Counter(r.status for r in ImageStore(db, ms.images_table).scan()))
    if ms.videos_table:
        counts: Counter[str] = Counter()
        for record in VideoStore(db, ms.videos_table).scan():
            counts[f"{record.kind}:{record.status}"] += 1
        out["videos"] = dict(sorted(counts.items()))
    return out


def monthly_figures(rt: Runtime, month: str, now: datetime) -> dict[str, Any]:
    """The platform metrics of one month (YYYY-MM): jobs from its days' analytics, media, storage, queues."""
    first = date.fromisoformat(f"{month}-01")
    next_month = (first + timedelta(days=32)).replace(day=1)
    days = [first + timedelta(days=i) for i in range((next_month - first).days)]
    statuses: Counter[str] = Counter()
    by_type: Counter[str] = Counter()
    failed_by_type: Counter[str] = Counter()
    computed = []
    for day in days:
        doc = _read_json(rt, f"{DAILY_PREFIX}{day.isoformat()}.json")
        if doc is None:
            if _midnight(day) > now:
                continue
            doc = daily_figures(rt, day, now)
            computed.append(day.isoformat())
        statuses.update(doc["totals"]["counts"])
        for r in doc["types"]:
            by_type[r["type"]] += r["total"]
            failed_by_type[r["type"]] += r["counts"]["failed"]
    ms = maintenance_settings(rt)
    buckets = {"payload": rt.settings.payload_bucket, **({"media": ms.media_bucket} if ms.media_bucket else {})}
    return {
        "kind": "monthly-platform",
        "month": month,
        "generated_at": now.isoformat(timespec="seconds"),
        "jobs": {"total": sum(statuses.values()), "by_status": dict(statuses)},
        "top_types": [{"type": t, "jobs": n, "failed": failed_by_type[t]} for t, n in by_type.most_common(10)],
        "computed_from_records": computed,
        "media": media_counts(rt),
        "storage": {name: storage_by_prefix(rt, bucket) for name, bucket in buckets.items()},
        "queues": queue_stats(rt),
    }


def monthly_page(doc: dict[str, Any]) -> str:
    """The platform metrics as HTML."""
    top = doc["top_types"]
    body = [
        html.cards(
            [("Jobs", html.fmt(doc["jobs"]["total"]))]
            + [(status, html.fmt(n)) for status, n in sorted(doc["jobs"]["by_status"].items()) if n]
        ),
        "<h2>Top job types</h2>",
        html.bar_chart(
            "Jobs by type this month",
            [t["type"] for t in top],
            {"ok": [t["jobs"] - t["failed"] for t in top], "failed": [t["failed"] for t in top]},
        ),
        "<h2>Media</h2>",
        html.table(
            ["Table", "Status", "Records"],
            [
                [html.escape(table), html.escape(status), html.fmt(n)]
                for table, counts in doc["media"].items()
                for status, n in counts.items()
            ],
            text_columns=2,
        ),
    ]
    for name, prefixes in doc["storage"].items():
        body += [
            f"<h2>Storage: {html.escape(name)} bucket</h2>",
            html.bar_chart(
                f"Bytes by prefix, {name} bucket",
                list(prefixes),
                {"MiB": [round(p["bytes"] / 2**20, 3) for p in prefixes.values()]},
                unit=" MiB",
            ),
            html.table(
                ["Prefix", "Objects", "Bytes"],
                [[html.escape(p), html.fmt(v["objects"]), html.fmt(v["bytes"])] for p, v in prefixes.items()],
            ),
        ]
    body += [
        "<h2>Queues now</h2>",
        html.table(
            ["Queue", "Waiting", "Active", "Delayed", "Failed", "Completed", "DLQ"],
            [
                [html.escape(q["queue"])]
                + [html.fmt(q[k]) for k in ("waiting", "active", "delayed", "failed", "completed")]
                + [html.fmt(q["messages"]["dlq"])]
                for q in doc["queues"]
            ],
        ),
    ]
    return html.page(f"Platform metrics, {doc['month']}", f"Generated {doc['generated_at']} (UTC)", body)


def write_monthly(rt: Runtime, month: str, now: datetime) -> dict[str, Any]:
    """Compute and write the month's platform metrics; the job's result."""
    doc = monthly_figures(rt, month, now)
    keys = put_report(rt, f"{MONTHLY_PREFIX}{month}", doc, monthly_page(doc))
    return {"month": month, "keys": keys, "jobs": doc["jobs"]["total"], "top_types": doc["top_types"][:3]}
