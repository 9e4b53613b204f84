"""What the console reads and does, against a moto deployment: the admin functions it added (time
filter, search, throughput, DLQ peek, one-message redrive, run-now), job log lines, and its pages
rendered through the server's handler (no socket, no browser: the browser tests are in tests/e2e)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from offload.console.pages import Console
from offload.console.server import ConsoleServer, Request
from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.logs import FileJobLogs, InsightsJobLogs, stack_log_groups
from offload.jobs.model import JobStatus
from offload.runtime import Runtime
from offload.testing.worker import Pump


def _iso(dt: datetime) -> str:
    return dt.isoformat(timespec="milliseconds")


def _run(rt: Runtime, *job_ids: str) -> None:
    Pump(rt, "default").until(lambda: all(rt.store.get(j).status.terminal for j in job_ids))


def _dead(rt: Runtime, data: dict[str, object] | None = None) -> str:
    job_id = enqueue("diag.flaky", data or {"fail_until": time.time() + 3600}, attempts=1, runtime=rt)
    _run(rt, job_id)
    assert rt.store.get(job_id).status == JobStatus.FAILED
    return job_id


def test_page_jobs_since_keeps_only_jobs_created_at_or_after_it(runtime):
    job_id = enqueue("diag.echo", {"n": 1}, runtime=runtime)

    recent = admin.page_jobs(runtime, queue="default", since=_iso(datetime.now(UTC) - timedelta(minutes=5)))
    future = admin.page_jobs(runtime, queue="default", since=_iso(datetime.now(UTC) + timedelta(seconds=5)))

    assert [j.job_id for j in recent.jobs] == [job_id]
    assert future.jobs == []


def test_find_jobs_matches_a_job_id_and_an_idempotency_key_of_any_type(runtime):
    keyed = enqueue("diag.echo", {"n": 1}, idempotency_key="order-77", runtime=runtime)
    plain = enqueue("diag.echo", {"n": 2}, runtime=runtime)

    assert [j.job_id for j in admin.find_jobs(runtime, "order-77")] == [keyed]
    assert [j.job_id for j in admin.find_jobs(runtime, plain)] == [plain]
    assert admin.find_jobs(runtime, "no such key") == []


def test_throughput_counts_finished_jobs_in_the_minute_they_finished(runtime):
    jobs = [enqueue("diag.echo", {"n": i}, runtime=runtime) for i in range(3)]
    _run(runtime, *jobs)

    buckets = admin.throughput(runtime, "default")
    an_hour_later = admin.throughput(runtime, "default", now=datetime.now(UTC) + timedelta(hours=1, minutes=1))

    assert len(buckets) == 60 and sum(buckets) == 3 and buckets[-1] == 3
    assert sum(an_hour_later) == 0


def test_peek_dlq_lists_messages_with_their_reason_and_leaves_them_there(runtime):
    job_id = _dead(runtime)

    first = admin.peek_dlq(runtime, "default")
    again = admin.peek_dlq(runtime, "default")

    assert [(m.job_id, m.type) for m in first] == [(job_id, "diag.flaky")]
    assert "failing until" in first[0].reason
    assert [m.message_id for m in again] == [first[0].message_id]


def test_redrive_message_moves_that_one_message_and_its_job_runs_again(runtime):
    keep = _dead(runtime)
    move = _dead(runtime, {"fail_until": time.time() + 1})
    time.sleep(1.1)
    letter = next(m for m in admin.peek_dlq(runtime, "default") if m.job_id == move)

    report = admin.redrive_message(runtime, "default", letter.message_id)
    _run(runtime, move)

    assert report.moved == [move]
    assert runtime.store.get(move).status == JobStatus.COMPLETED
    assert [m.job_id for m in admin.peek_dlq(runtime, "default")] == [keep]


def test_redrive_message_of_an_unknown_message_says_it_is_not_there(runtime):
    with pytest.raises(admin.AdminError, match="is not in the dead-letter queue of 'default'"):
        admin.redrive_message(runtime, "default", "00000000-0000-0000-0000-000000000000")


def test_run_schedule_sends_the_rules_body_and_the_worker_adopts_it_under_the_returned_id(runtime):
    # the DLQ audit: it needs only the core resources the moto stack has (no pack's tables)
    (schedule,) = [s for s in runtime.catalog.schedules if s.name == "daily-dlq-audit"]
    queue = runtime.catalog.job_type(schedule.job_type).queue

    job_id = admin.run_schedule(runtime, schedule.name)
    Pump(runtime, queue).until(lambda: (j := runtime.store.get(job_id)) is not None and j.status.terminal)

    job = runtime.store.get(job_id)
    assert job_id.startswith("sqs-") and job.type == schedule.job_type


def test_run_schedule_of_an_unknown_name_lists_the_schedules(runtime):
    with pytest.raises(admin.AdminError, match=r"no schedule .nope.; schedules: .*daily-dlq-audit"):
        admin.run_schedule(runtime, "nope")


def _powertools_line(job_id: str, message: str, **fields: object) -> str:
    return json.dumps(
        {
            "level": "INFO",
            "message": message,
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3] + "+0000",
            "service": "offload",
            "function_name": "Offload-QueueDefaultWorker",
            "job_id": job_id,
            **fields,
        }
    )


def test_file_logs_keep_only_the_jobs_own_lines_oldest_first(runtime, tmp_path):
    job_id = enqueue("diag.echo", {"n": 1}, runtime=runtime)
    log = tmp_path / "functions.log"
    log.write_text(
        "\n".join(
            [
                _powertools_line(job_id, "job started", attempt=1),
                _powertools_line("someone-else", "job started"),
                "not json at all",
                _powertools_line(job_id, "job completed", duration_ms=3.2),
            ]
        )
    )

    lines = FileJobLogs(log).lines(runtime.store.get(job_id))

    assert [(line.message, line.fields) for line in lines] == [
        ("job started", {"attempt": 1}),
        ("job completed", {"duration_ms": 3.2}),
    ]


def test_insights_logs_query_the_stacks_log_groups_and_keep_the_jobs_lines(runtime):
    job_id = enqueue("diag.echo", {"n": 1}, runtime=runtime)
    logs = runtime.clients.client("logs")
    cfn = runtime.clients.client("cloudformation")
    template = {"Resources": {"WorkerLogs": {"Type": "AWS::Logs::LogGroup", "Properties": {}}}}
    cfn.create_stack(StackName="ConsoleLogs", TemplateBody=json.dumps(template))
    [group] = stack_log_groups(cfn, "ConsoleLogs")
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now_ms = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now_ms, "message": _powertools_line(job_id, "job started")},
            {"timestamp": now_ms + 1, "message": _powertools_line("another-job", "job started")},
            {"timestamp": now_ms + 2, "message": _powertools_line(job_id, "job completed")},
        ],
    )

    lines = InsightsJobLogs(logs, [group]).lines(runtime.store.get(job_id))

    assert [line.message for line in lines] == ["job started", "job completed"]


# -- pages, through the server's handler -----------------------------------------------------


@pytest.fixture
def console(runtime: Runtime, tmp_path: Path) -> ConsoleServer:
    pages = Console(runtime, FileJobLogs(tmp_path / "functions.log"), token="t0k")
    return ConsoleServer(pages.routes(), port=8765, token="t0k", on_error=pages.failure)


def _get(console: ConsoleServer, path: str, **query: str) -> tuple[int, str]:
    response = console.handle(Request("GET", path, query, {}, {"host": "127.0.0.1:8765"}))
    body = response.body.decode() if isinstance(response.body, bytes) else response.body
    return response.status, body


def _post(console: ConsoleServer, path: str, **form: str) -> str:
    response = console.handle(Request("POST", path, {}, {"token": "t0k", **form}, {"host": "127.0.0.1:8765"}))
    assert response.status == 303, response.body
    return response.headers["Location"]


def test_the_failed_job_page_shows_the_step_the_reason_and_a_retry_button(runtime, console):
    job_id = _dead(runtime)

    status, body = _get(console, f"/jobs/{job_id}")

    assert status == 200
    assert '<code class="step">process</code>' in body and "planned failure: failing until" in body
    assert f'action="/jobs/{job_id}/retry"' in body and f"offload jobs retry {job_id}" in body


def test_retry_from_the_page_requeues_the_job_and_says_so(runtime, console):
    job_id = _dead(runtime)

    location = _post(console, f"/jobs/{job_id}/retry")

    assert location.startswith(f"/jobs/{job_id}?notice=") and "requeued" in location
    assert runtime.store.get(job_id).status == JobStatus.QUEUED


def test_an_action_that_cannot_be_done_comes_back_as_the_reason(runtime, console):
    job_id = enqueue("diag.echo", {"n": 1}, runtime=runtime)

    location = _post(console, f"/jobs/{job_id}/retry")

    assert "error=" in location and "only+failed+jobs+can+be+retried" in location


def test_a_missing_job_is_a_404_page_that_says_so(console):
    status, body = _get(console, "/jobs/01a2b3c4d5e6f708192a3b4c5d6e")

    assert status == 404 and "it never existed, or it finished and has expired" in body


def test_the_jobs_table_filters_by_status(runtime, console):
    done = enqueue("diag.echo", {"n": 1}, runtime=runtime)
    _run(runtime, done)
    waiting = enqueue("diag.echo", {"n": 2}, runtime=runtime)

    _, body = _get(console, "/partials/jobs", status="queued")

    assert f'data-job="{waiting}"' in body and f'data-job="{done}"' not in body


def test_redrive_without_the_confirmation_field_only_asks(runtime, console):
    _dead(runtime)

    location = _post(console, "/dlqs/default/redrive")

    assert location == "/dlqs/default/redrive"
    assert runtime.queues.depth("default")["dlq"] == 1


def test_the_schedules_page_shows_each_schedules_next_run(runtime, console):
    _, body = _get(console, "/schedules")

    for schedule in runtime.catalog.schedules:
        assert f'data-schedule="{schedule.name}"' in body
    assert body.count("<time datetime=") == len(runtime.catalog.schedules)


def test_the_schedules_page_says_when_each_schedule_runs_in_words(console):
    _, body = _get(console, "/schedules")

    assert "every Monday at 10:00 UTC<br><code>0 10 ? * MON *</code>" in body
    assert "on day 1 of every month at 09:00 UTC" in body
