"""Seed 003's crons on the local cloud: each schedule's rule is there, fires from the CLI, its output lands."""

from __future__ import annotations

import json
import time

from offload.packs import everything as CATALOG
from tests.e2e.conftest import LocalStack


def _run(local: LocalStack, name: str) -> dict:
    done = local.cli("schedules", "run", name, "--wait", "--timeout", "90", "--json")
    summary, _ = json.JSONDecoder().raw_decode(done.stdout[done.stdout.index("{") :])
    assert summary["status"] == "completed", summary
    return summary


def _payload_bucket(local: LocalStack) -> str:
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    return json.loads(outputs["ClientConfig"])["payload_bucket"]


def test_schedules_list_shows_every_catalog_schedule_enabled_on_the_local_cloud(local):
    rows = json.loads(local.cli("schedules", "list", "--json").stdout)

    assert {r["name"] for r in rows} == {s.name for s in CATALOG.schedules}
    assert {r["enabled"] for r in rows} == {True}


def test_each_report_schedule_runs_from_the_cli_and_writes_json_and_html(local):
    s3 = local.client("s3")
    bucket = _payload_bucket(local)
    local.cli("jobs", "add", "diag.echo", "--data", '{"hello": "report"}')

    keys = [
        _run(local, name)["result"]["keys"] for name in ("daily-analytics", "weekly-performance", "monthly-platform")
    ]

    pages = []
    for pair in keys:
        assert s3.head_object(Bucket=bucket, Key=pair["json"])["ContentType"] == "application/json"
        pages.append(s3.get_object(Bucket=bucket, Key=pair["html"])["Body"].read().decode())
    assert all(page.startswith("<!doctype html>") and "<script" not in page for page in pages)
    assert "<svg" in pages[0]  # the day by hour; a fresh stack's weeks have no jobs to chart


def test_backup_cleanup_and_expiry_schedules_do_their_work_on_the_local_cloud(local):
    backup = _run(local, "daily-backup")["result"]
    tables = {c["table"] for c in backup["created"]}
    assert len(tables) >= 4  # jobs, images, videos, generations
    ddb = local.client("dynamodb")
    assert all(ddb.list_backups(TableName=t)["BackupSummaries"] for t in tables)

    cleanup = _run(local, "daily-cleanup")["result"]
    assert cleanup["dry_run"] is False and "deleted" in cleanup

    expiry = _run(local, "monthly-report-expiry")["result"]
    assert expiry["retention_days"] == 400 and expiry["versions"] == 0


def _completed_analytics(local: LocalStack) -> int:
    jobs = json.loads(local.cli("jobs", "list", "--queue", "maintenance", "--status", "completed", "--json").stdout)
    return sum(1 for j in jobs if j["type"] == "maintenance.analytics_daily")


def test_offload_local_trigger_fires_the_daily_analytics_rule(local):
    before = _completed_analytics(local)

    local.cli("local", "trigger", "daily-analytics", "--endpoint-url", local.endpoint)

    deadline = time.time() + 45
    while _completed_analytics(local) <= before:
        assert time.time() < deadline, "the triggered daily-analytics rule produced no completed job"
        time.sleep(0.5)
