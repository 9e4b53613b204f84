"""Seed 003's crons in the template: every schedule's rule, and the maintenance worker's scoped grants."""

from __future__ import annotations

import json

from conftest import QueueWiring, ref_id, render, resources_of

from offload.packs import everything as CATALOG
from offload.packs.maintenance import DAILY, MONTHLY, WEEKLY


def _schedule_rules(template_json: dict) -> list[dict]:
    """The scheduled rules (event-pattern rules, such as the SES delivery events', have no name here)."""
    return [
        r for r in resources_of(template_json, "AWS::Events::Rule").values() if "ScheduleExpression" in r["Properties"]
    ]


def test_every_catalog_schedule_has_a_rule_with_its_cron_expression_targeting_its_queue(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    rules = {r["Properties"]["Name"]: r for r in _schedule_rules(template_json)}
    assert CATALOG.schedules
    for sched in CATALOG.schedules:
        rule = rules[f"Offload-{sched.name}"]["Properties"]
        assert rule["ScheduleExpression"] == f"cron({sched.cron})", sched.name
        assert rule["State"] == "ENABLED", sched.name
        (target,) = rule["Targets"]
        queue = CATALOG.job_type(sched.job_type).queue
        assert ref_id(target["Arn"]) == wiring[queue].queue_id, sched.name
        assert json.loads(target["Input"]) == {"type": sched.job_type, "data": sched.data}, sched.name


def test_seed_003_times_daily_0200_weekly_monday_1000_monthly_first_0900(template_json: dict) -> None:
    rules = {r["Properties"]["Name"]: r["Properties"] for r in _schedule_rules(template_json)}
    expected = {
        "daily-dlq-audit": DAILY,
        "daily-analytics": DAILY,
        "daily-cleanup": DAILY,
        "daily-backup": DAILY,
        "weekly-performance": WEEKLY,
        "monthly-platform": MONTHLY,
        "monthly-report-expiry": MONTHLY,
    }
    assert {name: rules[f"Offload-{name}"]["ScheduleExpression"] for name in expected} == {
        name: f"cron({cron})" for name, cron in expected.items()
    }
    assert (DAILY, WEEKLY, MONTHLY) == ("0 2 * * ? *", "0 10 ? * MON *", "0 9 1 * ? *")


def _maintenance_statements(template_json: dict, wiring: dict[str, QueueWiring]) -> list[dict]:
    role = ref_id(wiring["maintenance"].function["Properties"]["Role"])
    return [
        s
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if role in {ref_id(r) for r in p["Properties"]["Roles"]}
        for s in render(p["Properties"]["PolicyDocument"]["Statement"])
    ]


def _allowed(statements: list[dict], action: str) -> list[str]:
    out: list[str] = []
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if action in actions:
            out += s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
    return out


def test_the_maintenance_worker_backs_up_exactly_the_jobs_and_pack_tables(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    statements = _maintenance_statements(template_json, wiring)
    tables = {k for k in resources_of(template_json, "AWS::DynamoDB::Table")}
    backed_up = _allowed(statements, "dynamodb:CreateBackup")
    named = {t for t in tables if any(f"<{t}" in str(r) for r in backed_up)}
    assert named == tables  # the jobs table and every pack's table, nothing else
    assert all(str(r).endswith("/backup/*") for r in _allowed(statements, "dynamodb:DeleteBackup"))
    assert _allowed(statements, "dynamodb:ListBackups") == ["*"]


def test_other_workers_get_no_backup_or_media_delete_rights(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    for name, w in wiring.items():
        if name == "maintenance":
            continue
        role = ref_id(w.function["Properties"]["Role"])
        statements = [
            s
            for p in resources_of(template_json, "AWS::IAM::Policy").values()
            if role in {ref_id(r) for r in p["Properties"]["Roles"]}
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert not _allowed(statements, "dynamodb:CreateBackup"), name
        assert not _allowed(statements, "s3:DeleteObjectVersion"), name


def test_the_maintenance_worker_knows_the_retentions_from_cdk_json(
    wiring: dict[str, QueueWiring], synthesis, template_json: dict
) -> None:
    env = wiring["maintenance"].function["Properties"]["Environment"]["Variables"]
    packs = env["OFFLOAD_PACKS"]
    text = json.dumps(packs)
    assert f'\\"backup_retention_days\\":{synthesis.app.node.try_get_context("offload:backupRetentionDays")}' in text
    assert f'\\"report_retention_days\\":{synthesis.app.node.try_get_context("offload:reportRetentionDays")}' in text
