"""The `offload` CLI against a moto deployment: each command's output and its effect on jobs and queues."""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable

import boto3
import pytest
from typer.testing import CliRunner, Result

from offload.cli.main import app
from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.model import InvalidJobIdError, JobStatus
from offload.runtime import Runtime
from offload.testing.worker import Pump

Cli = Callable[..., Result]


def _invoke(*args: str) -> Result:
    # Wide enough that rich never wraps a line the assertions look for.
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


@pytest.fixture
def cli(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run `offload ARGS...` with the moto deployment described by OFFLOAD_* variables."""
    for name, value in runtime.settings.to_env().items():
        monkeypatch.setenv(name, value)
    return _invoke


def _status(rt: Runtime, job_id: str) -> JobStatus:
    job = rt.store.get(job_id)
    assert job is not None, job_id
    return job.status


def _run_until_terminal(rt: Runtime, job_id: str) -> None:
    Pump(rt, "default").until(lambda: _status(rt, job_id).terminal)


def _dead_lettered_flaky_job(rt: Runtime, data: dict[str, object]) -> str:
    """A diag.flaky job with one attempt, run until it fails and its message sits in the DLQ."""
    job_id = enqueue("diag.flaky", data, attempts=1, runtime=rt)
    _run_until_terminal(rt, job_id)
    assert _status(rt, job_id) == JobStatus.FAILED
    return job_id


def _json_after_worker_logs(stdout: str) -> dict[str, object]:
    """The CLI's indented JSON; the in-process worker's one-line log records share stdout."""
    value, _ = json.JSONDecoder().raw_decode(stdout[stdout.index('{\n  "job_id"') :])
    assert isinstance(value, dict)
    return value


def _pump_in_background(rt: Runtime, job_id: str, after_s: float = 0.3) -> threading.Thread:
    def work() -> None:
        time.sleep(after_s)
        _run_until_terminal(rt, job_id)

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread


# -- jobs add ---------------------------------------------------------------------------
def test_add_prints_the_job_id_as_queued_and_the_job_exists(cli, runtime):
    result = cli("jobs", "add", "diag.echo", "--data", '{"hello": "world"}')

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out == {"jobId": out["jobId"], "status": "queued"}
    job = runtime.store.get(out["jobId"])
    assert job is not None and (job.type, job.status, job.data) == ("diag.echo", JobStatus.QUEUED, {"hello": "world"})
    assert runtime.queues.depth("default")["visible"] == 1


def test_add_without_data_queues_the_job_with_empty_data(cli, runtime):
    result = cli("jobs", "add", "diag.echo")

    assert result.exit_code == 0, result.output
    job = runtime.store.get(json.loads(result.stdout)["jobId"])
    assert job is not None and (job.status, job.data) == (JobStatus.QUEUED, {})


def test_add_with_delay_and_options_from_a_data_file_is_delayed(cli, runtime, tmp_path):
    data_file = tmp_path / "payload.json"
    data_file.write_text('{"seconds": 0.1, "steps": 2}')

    result = cli("jobs", "add", "diag.sleep", "--data", f"@{data_file}", "--delay", "30", "--attempts", "2")

    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["status"] == "delayed"
    job = runtime.store.get(out["jobId"])
    assert job is not None and (job.data, job.max_attempts) == ({"seconds": 0.1, "steps": 2}, 2)


def test_add_with_invalid_data_exits_1_naming_the_field_and_creates_nothing(cli, runtime):
    result = cli("jobs", "add", "diag.sleep", "--data", '{"seconds": "soon"}')

    assert result.exit_code == 1
    assert "data.seconds" in result.stderr and "'soon'" in result.stderr
    assert "Traceback" not in result.output
    assert admin.list_jobs(runtime, JobStatus.QUEUED) == []


def test_add_with_an_unknown_type_suggests_the_closest_type(cli):
    result = cli("jobs", "add", "diag.ecoh", "--data", "{}")

    assert result.exit_code == 1
    assert "unknown job type 'diag.ecoh'" in result.stderr and "Did you mean 'diag.echo'?" in result.stderr


def test_add_with_data_that_is_not_json_is_a_usage_error(cli):
    result = cli("jobs", "add", "diag.echo", "--data", "{hello}")

    assert result.exit_code == 2
    assert "not valid JSON" in result.stderr


# -- jobs get ---------------------------------------------------------------------------
def test_get_json_shows_a_completed_jobs_result_after_the_worker_ran(cli, runtime):
    job_id = enqueue("diag.echo", {"n": 7}, runtime=runtime)
    _run_until_terminal(runtime, job_id)

    result = cli("jobs", "get", job_id, "--json")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["job_id"], shown["status"], shown["result"], shown["attempts"]) == (job_id, "completed", {"n": 7}, 1)
    assert shown["error"] is None and shown["finished_at"]


def test_get_shows_a_failed_jobs_error_step_and_reason_in_a_panel(cli, runtime):
    job_id = _dead_lettered_flaky_job(runtime, {"fail_times": 5, "message": "disk full"})

    result = cli("jobs", "get", job_id)

    assert result.exit_code == 0, result.output
    assert f"job {job_id}" in result.stdout and "failed" in result.stdout
    assert "process: RetryableError: disk full 1 of 5" in result.stdout


def test_get_of_an_unknown_job_is_a_one_line_error(cli):
    result = cli("jobs", "get", "no-such-job")

    assert result.exit_code == 1
    assert result.stderr.strip().startswith("error: no job 'no-such-job'") and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("job_id", "problem"),
    [("", "it is empty"), ("a" * 300, "300 characters long"), ("abc/def?", "characters a job id never has: '/' '?'")],
    ids=["empty", "oversized", "bad-characters"],
)
@pytest.mark.parametrize("command", ["get", "cancel", "retry"])
def test_a_malformed_job_id_is_a_usage_error_saying_what_a_job_id_looks_like(cli, command, job_id, problem):
    result = cli("jobs", command, job_id)

    assert result.exit_code == 2, result.output
    message = " ".join(result.stderr.split())
    assert "is not a job id" in message and problem in message and "letters, digits" in message
    assert "ValidationException" not in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("action", [admin.get_job, admin.cancel, admin.retry])
def test_admin_functions_refuse_a_malformed_job_id_before_calling_aws(runtime, action):
    calls: list[str] = []
    runtime.clients.dynamodb.meta.events.register("before-call.dynamodb.*", lambda **kw: calls.append("call"))

    with pytest.raises(InvalidJobIdError, match="'' is not a job id: it is empty; a job id is 1-128 letters"):
        action(runtime, "")
    assert calls == []


def test_get_watch_exits_0_when_the_job_completes(cli, runtime):
    job_id = enqueue("diag.sleep", {"seconds": 0.4, "steps": 4}, runtime=runtime)
    worker = _pump_in_background(runtime, job_id)

    result = cli("jobs", "get", job_id, "--watch", "--interval", "0.1", "--timeout", "20", "--json")
    worker.join()

    assert result.exit_code == 0, result.output
    assert _json_after_worker_logs(result.stdout)["status"] == "completed"


def test_get_watch_exits_1_when_the_job_fails(cli, runtime):
    job_id = enqueue("diag.flaky", {"fail_times": 5}, attempts=1, runtime=runtime)
    worker = _pump_in_background(runtime, job_id)

    result = cli("jobs", "get", job_id, "--watch", "--interval", "0.1", "--timeout", "20", "--json")
    worker.join()

    assert result.exit_code == 1, result.output
    assert _json_after_worker_logs(result.stdout)["status"] == "failed"


def test_get_watch_gives_up_at_the_timeout_with_exit_1(cli, runtime):
    job_id = enqueue("diag.echo", {}, runtime=runtime)

    started = time.monotonic()
    result = cli("jobs", "get", job_id, "--watch", "--interval", "0.1", "--timeout", "0.5")

    assert result.exit_code == 1
    assert time.monotonic() - started < 5
    assert f"job {job_id} is still queued after 0.5 s" in result.stderr


# -- jobs list / cancel / retry / types ---------------------------------------------------
def test_list_status_failed_json_lists_only_failed_jobs(cli, runtime):
    failed = _dead_lettered_flaky_job(runtime, {"fail_times": 5})
    queued = enqueue("diag.echo", {}, runtime=runtime)

    result = cli("jobs", "list", "--status", "failed", "--json")
    everything = cli("jobs", "list", "--json")

    assert result.exit_code == 0, result.output
    assert [(j["job_id"], j["status"]) for j in json.loads(result.stdout)] == [(failed, "failed")]
    assert {j["job_id"] for j in json.loads(everything.stdout)} == {failed, queued}


def test_list_table_shows_the_error_reason(cli, runtime):
    failed = _dead_lettered_flaky_job(runtime, {"fail_times": 5, "message": "disk full"})

    result = cli("jobs", "list", "--status", "failed", "--queue", "default")

    assert result.exit_code == 0, result.output
    assert failed in result.stdout and "disk full" in result.stdout


def test_cancel_of_a_queued_job_makes_it_cancelled(cli, runtime):
    job_id = enqueue("diag.echo", {}, runtime=runtime)

    result = cli("jobs", "cancel", job_id)

    assert result.exit_code == 0, result.output
    assert f"cancelled job {job_id}" in result.stdout
    assert _status(runtime, job_id) == JobStatus.CANCELLED


def test_cancel_of_a_finished_job_says_why_it_cannot(cli, runtime):
    job_id = enqueue("diag.echo", {}, runtime=runtime)
    _run_until_terminal(runtime, job_id)

    result = cli("jobs", "cancel", job_id)

    assert result.exit_code == 1
    assert "already completed" in result.stderr


def test_retry_of_a_dead_lettered_job_requeues_it_empties_the_dlq_and_then_it_completes(cli, runtime):
    fail_until = time.time() + 2
    job_id = _dead_lettered_flaky_job(runtime, {"fail_until": fail_until})
    assert runtime.queues.depth("default")["dlq"] == 1
    time.sleep(max(0.0, fail_until - time.time()) + 0.1)

    result = cli("jobs", "retry", job_id)

    assert result.exit_code == 0, result.output
    assert f"requeued job {job_id}" in result.stdout
    assert _status(runtime, job_id) == JobStatus.QUEUED
    assert runtime.queues.depth("default")["dlq"] == 0
    _run_until_terminal(runtime, job_id)
    job = runtime.store.get(job_id)
    assert job is not None and (job.status, job.result) == (JobStatus.COMPLETED, {"succeeded_on_attempt": 1})


def test_retry_of_a_queued_job_is_refused(cli, runtime):
    job_id = enqueue("diag.echo", {}, runtime=runtime)

    result = cli("jobs", "retry", job_id)

    assert result.exit_code == 1
    assert "only failed jobs can be retried" in result.stderr


def test_types_json_lists_the_catalog_with_resolved_policies(cli):
    result = cli("jobs", "types", "--json")

    assert result.exit_code == 0, result.output
    by_name = {t["name"]: t for t in json.loads(result.stdout)}
    assert by_name["webhook.deliver"]["queue"] == "notifications"
    assert (by_name["webhook.deliver"]["attempts"], by_name["webhook.deliver"]["timeout_s"]) == (5, 30)
    assert by_name["diag.echo"]["backoff"] == {"kind": "exponential", "delay_s": 1.0, "max_delay_s": 900}


# -- queues -----------------------------------------------------------------------------
def test_queue_stats_json_counts_jobs_by_status_and_sqs_messages(cli, runtime):
    for _ in range(2):
        enqueue("diag.echo", {}, runtime=runtime)
    enqueue("diag.echo", {}, delay=60, runtime=runtime)
    admin.cancel(runtime, enqueue("diag.echo", {}, runtime=runtime))

    result = cli("queues", "stats", "--json")

    assert result.exit_code == 0, result.output
    rows = {r["queue"]: r for r in json.loads(result.stdout)}
    assert set(rows) == {
        "default",
        "images",
        "images-reindex",
        "notifications",
        "maintenance",
        "moderation",
        "video",
        "generate",
        "payments",
    }
    default = rows["default"]
    counts = {k: default[k] for k in ("waiting", "active", "delayed", "failed", "completed", "cancelled")}
    assert counts == {"waiting": 2, "active": 0, "delayed": 1, "failed": 0, "completed": 0, "cancelled": 1}
    # The cancelled job's message stays on the queue until a worker drops it.
    assert (default["messages"]["visible"], default["messages"]["dlq"]) == (3, 0)
    assert all(r["waiting"] == 0 and r["messages"]["visible"] == 0 for q, r in rows.items() if q != "default")


def test_redrive_moves_dlq_messages_back_and_reports_the_ones_it_left(cli, runtime):
    jobs = [_dead_lettered_flaky_job(runtime, {"fail_times": 5}) for _ in range(2)]
    runtime.clients.sqs.send_message(
        QueueUrl=runtime.settings.queue_urls("default").dlq_url,
        MessageBody="garbage",
        MessageAttributes={"offload-reason": {"DataType": "String", "StringValue": "message body is not JSON"}},
    )

    result = cli("queues", "redrive", "default", "--json")

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert sorted(report["moved"]) == sorted(jobs) and report["resent_foreign"] == 0
    [left] = report["left"]
    assert "message body is not JSON" in left
    assert all(_status(runtime, j) == JobStatus.QUEUED for j in jobs)
    depth = runtime.queues.depth("default")
    assert (depth["visible"], depth["dlq"]) == (2, 1)


def test_redrive_prints_moved_count_and_left_reasons(cli, runtime):
    _dead_lettered_flaky_job(runtime, {"fail_times": 5})

    result = cli("queues", "redrive", "default")

    assert result.exit_code == 0, result.output
    assert "moved 1 job(s) from the DLQ back to 'default'" in result.stdout


def test_redrive_limit_moves_at_most_that_many_messages(cli, runtime):
    jobs = [_dead_lettered_flaky_job(runtime, {"fail_times": 5}) for _ in range(3)]

    result = cli("queues", "redrive", "default", "--limit", "1", "--json")

    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)["moved"]) == 1
    assert sorted(_status(runtime, j).value for j in jobs) == ["failed", "failed", "queued"]
    assert runtime.queues.depth("default")["dlq"] == 2


def test_redrive_of_an_unknown_queue_is_a_usage_error_listing_the_queues(cli):
    result = cli("queues", "redrive", "defualt")

    assert result.exit_code == 2
    assert "unknown queue 'defualt'" in result.stderr and "default" in result.stderr


# -- finding the deployment -------------------------------------------------------------
@pytest.fixture
def no_offload_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith("OFFLOAD_")]:
        monkeypatch.delenv(name)


def test_resources_are_found_through_the_stacks_client_config_output(runtime, no_offload_env):
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ClientConfig": {"Value": json.dumps(runtime.settings.model_dump())}},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="offload-dev", TemplateBody=json.dumps(template)
    )
    enqueue("diag.echo", {}, runtime=runtime)

    result = _invoke("--stack", "offload-dev", "queues", "stats", "--json")

    assert result.exit_code == 0, result.output
    default = next(r for r in json.loads(result.stdout) if r["queue"] == "default")
    assert (default["waiting"], default["messages"]["visible"]) == (1, 1)


def test_dashboard_prints_the_console_url_from_the_stacks_client_config(runtime, no_offload_env):
    url = "https://eu-west-1.console.aws.amazon.com/cloudwatch/home?region=eu-west-1#dashboards/dashboard/Offload"
    config = runtime.settings.model_copy(update={"dashboard_url": url}).model_dump()
    template = {
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"ClientConfig": {"Value": json.dumps(config)}},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="offload-dash", TemplateBody=json.dumps(template)
    )

    result = _invoke("--stack", "offload-dash", "dashboard")

    assert result.exit_code == 0, result.output
    assert result.stdout == url + "\n"


def test_dashboard_without_a_url_in_the_settings_says_how_to_get_one(cli):
    result = cli("dashboard")

    assert result.exit_code == 1
    assert "no dashboard_url" in result.stderr and "unset OFFLOAD_TABLE" in result.stderr


def test_missing_stack_is_a_clear_error_naming_the_stack_and_the_fix(runtime, no_offload_env):
    result = _invoke("--stack", "nope", "queues", "stats")

    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    message = result.stderr
    assert "stack 'nope' not found at AWS region us-east-1" in message
    assert "--stack" in message and "--endpoint-url" in message and "offload local up" in message


def test_get_reads_a_large_result_back_from_s3(cli, runtime):
    blob = "ж" * 250_000  # 500 KB of UTF-8
    job_id = enqueue("diag.echo", {"blob": blob}, runtime=runtime)
    _run_until_terminal(runtime, job_id)

    result = cli("jobs", "get", job_id, "--json")

    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert (shown["status"], shown["progress"], shown["result"]) == ("completed", 100, {"blob": blob})
    assert shown["result_ref"].endswith(f"/jobs/{job_id}/result.json") and shown["finished_at"]


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "panel"])
def test_get_prints_unicode_in_a_result_as_real_characters(cli, runtime, as_json):
    job_id = enqueue("diag.echo", {"word": "кот", "emoji": "🐈"}, runtime=runtime)
    _run_until_terminal(runtime, job_id)

    result = cli("jobs", "get", job_id, *(["--json"] if as_json else []))

    assert result.exit_code == 0, result.output
    assert "кот" in result.stdout and "🐈" in result.stdout and "\\u" not in result.stdout


def test_images_search_with_no_indexed_images_says_nothing_matches(cli, runtime, monkeypatch):
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="offload-test-media")
    boto3.client("s3vectors", region_name="us-east-1").create_vector_bucket(vectorBucketName="offload-test-vectors")
    images = {"media_bucket": "offload-test-media", "images_table": "unused", "vector_bucket": "offload-test-vectors"}
    monkeypatch.setenv("OFFLOAD_PACKS", json.dumps({"images": images}))

    result = cli("images", "search", "orange sunset")

    assert result.exit_code == 0, result.output
    assert "no images match 'orange sunset'" in " ".join(result.stdout.split())


def test_get_shows_the_failed_attempts_of_earlier_runs_after_a_retry_and_a_redrive(cli, runtime):
    # Given a job that failed, was retried and failed again, then was redriven and failed again
    job_id = _dead_lettered_flaky_job(runtime, {"fail_times": 5, "message": "disk full"})
    admin.retry(runtime, job_id)
    _run_until_terminal(runtime, job_id)
    admin.redrive(runtime, "default")
    _run_until_terminal(runtime, job_id)

    # When it is shown
    shown = json.loads(cli("jobs", "get", job_id, "--json").stdout)
    panel = cli("jobs", "get", job_id).stdout

    # Then every failed attempt is still there, oldest first
    assert shown["status"] == "failed" and len(shown["history"]) == 3
    assert all("disk full 1 of 5" in h["reason"] and h["attempt"] == 1 for h in shown["history"])
    assert "history (3)" in panel and panel.count("process: RetryableError: disk full 1 of 5") == 4
