"""`offload schedules list | run` against a moto deployment with the stack's EventBridge rules."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import boto3
import pytest
from typer.testing import CliRunner, Result

from offload.cli.main import app
from offload.jobs.admin import schedule_rows
from offload.runtime import Runtime
from offload.testing.worker import Pump

REGION = "us-east-1"


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch):
    for name, value in runtime.settings.to_env().items():
        monkeypatch.setenv(name, value)

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})

    return invoke


def _rules(runtime: Runtime, *, disabled: tuple[str, ...] = ()) -> None:
    """The stack's rules as JobSchedules declares them (`<stack>-<schedule>`), some disabled."""
    events = boto3.client("events", region_name=REGION)
    for s in runtime.catalog.schedules:
        events.put_rule(
            Name=f"Offload-{s.name}",
            ScheduleExpression=s.expression,
            State="DISABLED" if s.name in disabled else "ENABLED",
        )


def test_list_shows_each_schedule_in_words_and_cron_with_its_type_next_run_and_state(cli, runtime):
    _rules(runtime, disabled=("daily-backup",))

    result = cli("schedules", "list", "--json")

    assert result.exit_code == 0, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {s.name for s in runtime.catalog.schedules}
    weekly = rows["weekly-performance"]
    assert weekly["words"] == "every Monday at 10:00 UTC"
    assert weekly["expression"] == "cron(0 10 ? * MON *)"
    assert weekly["job_type"] == "maintenance.performance_weekly" and weekly["queue"] == "maintenance"
    next_run = datetime.fromisoformat(weekly["next_run"])
    assert next_run > datetime.now(UTC) and next_run.isoweekday() == 1 and (next_run.hour, next_run.minute) == (10, 0)
    assert rows["monthly-platform"]["words"] == "on day 1 of every month at 09:00 UTC"
    assert rows["daily-analytics"]["words"] == "every day at 02:00 UTC"
    assert rows["daily-backup"]["enabled"] is False and rows["daily-analytics"]["enabled"] is True


def test_list_says_a_schedule_without_a_deployed_rule_is_of_unknown_state(runtime):
    rows = schedule_rows(runtime)

    assert {r.enabled for r in rows} == {None}


def test_the_table_shows_the_words_and_the_cron_form(cli, runtime):
    _rules(runtime)

    result = cli("schedules", "list")

    assert result.exit_code == 0, result.output
    assert "every day at 02:00 UTC" in result.stdout and "cron(0 2 * * ? *)" in result.stdout
    assert "maintenance.analytics_daily" in result.stdout


def test_run_an_unknown_schedule_names_the_known_ones_and_the_closest(cli):
    result = cli("schedules", "run", "daily-analytic")

    assert result.exit_code == 1
    assert "no schedule 'daily-analytic'" in result.stderr
    assert "daily-backup" in result.stderr and "did you mean 'daily-analytics'?" in result.stderr


def test_run_enqueues_the_schedules_job_and_prints_its_id(cli, runtime):
    result = cli("schedules", "run", "daily-dlq-audit", "--json")

    assert result.exit_code == 0, result.output
    job_id = json.loads(result.stdout)["job_id"]
    assert job_id.startswith("sqs-")
    Pump(runtime, "maintenance").until(lambda: runtime.store.get(job_id) is not None)
    job = runtime.store.get(job_id)
    assert job is not None and job.type == "maintenance.dlq_audit"


def test_run_wait_follows_the_job_and_shows_its_result(cli, runtime):
    def work() -> None:
        time.sleep(0.3)
        pump = Pump(runtime, "maintenance")
        end = time.time() + 20
        while time.time() < end and not pump.once()[0]:
            time.sleep(0.1)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    result = cli("schedules", "run", "daily-analytics", "--wait", "--timeout", "30", "--json")
    thread.join(5)

    assert result.exit_code == 0, result.output
    summary, _ = json.JSONDecoder().raw_decode(result.stdout[result.stdout.index('{\n  "job_id"') :])
    assert summary["status"] == "completed" and summary["type"] == "maintenance.analytics_daily"
    key = summary["result"]["keys"]["json"]
    assert key.startswith("reports/analytics/daily/")
    doc = json.loads(runtime.clients.s3.get_object(Bucket=runtime.settings.payload_bucket, Key=key)["Body"].read())
    assert doc["kind"] == "daily-analytics"
