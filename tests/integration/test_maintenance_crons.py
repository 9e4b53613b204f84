"""The maintenance pack's cron jobs on moto: seeded job records, media objects and tables, each job run
through the real worker (or its module with an explicit clock), and its output read back from S3/DynamoDB."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest

from offload.aws import Clients
from offload.catalog import Backoff
from offload.jobs.model import Job, JobErrorInfo, JobStatus, new_job_id
from offload.jobs.registry import PayloadError
from offload.packs.images.store import ImageRecord, ImageStore
from offload.packs.maintenance.backup import backup_tables
from offload.packs.maintenance.cleanup import Cleanup
from offload.packs.maintenance.expiry import expire_reports
from offload.packs.maintenance.reports import DAILY_PREFIX, write_daily
from offload.packs.video.store import create_table_request as videos_table_request
from offload.runtime import Runtime
from offload.settings import Settings
from offload.testing.worker import run_job

REGION = "us-east-1"
MEDIA = "offload-test-media"
IMAGES = "offload-test-images"
VIDEOS = "offload-test-videos"
YESTERDAY = datetime.now(UTC).date() - timedelta(days=1)


@pytest.fixture
def rt(settings: Settings, runtime: Runtime) -> Runtime:
    """The moto stack with what the maintenance construct names: a versioned media bucket, image and video tables."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=MEDIA)
    s3.put_bucket_versioning(Bucket=MEDIA, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_versioning(Bucket=settings.payload_bucket, VersioningConfiguration={"Status": "Enabled"})
    ddb = boto3.client("dynamodb", region_name=REGION)
    ddb.create_table(
        TableName=IMAGES,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )
    ddb.create_table(**videos_table_request(VIDEOS))
    packs = {
        "maintenance": {
            "media_bucket": MEDIA,
            "images_table": IMAGES,
            "videos_table": VIDEOS,
            "backup_tables": [IMAGES, VIDEOS],
            "backup_retention_days": 14,
            "report_retention_days": 30,
        }
    }
    wired = settings.model_copy(update={"packs": packs, "retain_completed_s": 72 * 3600, "retain_failed_s": 72 * 3600})
    return Runtime(wired, Clients(region=REGION), catalog=runtime.catalog)


def at(day: date, hour: int, minute: int = 0, ms: int = 0) -> str:
    stamp = datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) + timedelta(milliseconds=ms)
    return stamp.isoformat(timespec="milliseconds")


def record(
    type_name: str,
    status: JobStatus,
    created: str,
    *,
    run_ms: int | None = None,
    attempts: int = 1,
    deferrals: int = 0,
    error: tuple[str, str] | None = None,
    queue: str = "default",
) -> Job:
    """A job record as the worker leaves it: started 1 s after creation, finished `run_ms` later."""
    started = (datetime.fromisoformat(created) + timedelta(seconds=1)).isoformat(timespec="milliseconds")
    finished = (
        (datetime.fromisoformat(started) + timedelta(milliseconds=run_ms)).isoformat(timespec="milliseconds")
        if run_ms is not None
        else None
    )
    return Job(
        job_id=new_job_id(),
        type=type_name,
        queue=queue,
        status=status,
        attempts=attempts,
        deferrals=deferrals,
        max_attempts=3,
        backoff=Backoff().as_dict(),
        timeout_s=60,
        created_at=created,
        updated_at=finished or started,
        started_at=started if status != JobStatus.QUEUED else None,
        finished_at=finished,
        error=JobErrorInfo(step=error[0], reason=error[1]) if error else None,
    )


def seed_day(rt: Runtime, day: date, *, echo: int = 10, echo_ms: int = 100, failed: int = 2) -> None:
    """`echo` completed diag.echo jobs running echo_ms, 2*echo_ms, ...; `failed` failed diag.flaky jobs."""
    jobs = [record("diag.echo", JobStatus.COMPLETED, at(day, 3, i), run_ms=echo_ms * (i + 1)) for i in range(echo)]
    jobs += [
        record(
            "diag.flaky",
            JobStatus.FAILED,
            at(day, 15, i),
            run_ms=50,
            attempts=3,
            error=("process", f"flaky failure\nattempt detail {i}"),
        )
        for i in range(failed)
    ]
    rt.store.create_many(jobs)


def s3_json(rt: Runtime, key: str) -> Any:
    return json.loads(rt.clients.s3.get_object(Bucket=rt.settings.payload_bucket, Key=key)["Body"].read())


def s3_text(rt: Runtime, key: str) -> str:
    return str(rt.clients.s3.get_object(Bucket=rt.settings.payload_bucket, Key=key)["Body"].read().decode())


def row_of(doc: dict[str, Any], type_name: str) -> dict[str, Any]:
    return next(r for r in doc["types"] if r["type"] == type_name)


# -- daily analytics ---------------------------------------------------------------------
def test_daily_analytics_reports_counts_failure_rate_percentiles_retries_deferrals_and_top_errors(rt):
    seed_day(rt, YESTERDAY)
    # Outside the day: never counted.
    rt.store.create_many([record("diag.echo", JobStatus.COMPLETED, at(YESTERDAY + timedelta(days=1), 0), run_ms=9)])
    queued = record("diag.echo", JobStatus.QUEUED, at(YESTERDAY, 23, 59))
    rt.store.create_many([queued])
    started = rt.store.start(queued.job_id, "default", lease_s=60)
    assert started.job is not None
    assert rt.store.defer(started.job) is not None  # a rate limit sent it back once

    job = run_job(rt, "maintenance.analytics_daily", {"day": YESTERDAY.isoformat()})

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["keys"] == {
        "json": f"{DAILY_PREFIX}{YESTERDAY}.json",
        "html": f"{DAILY_PREFIX}{YESTERDAY}.html",
    }
    doc = s3_json(rt, job.result["keys"]["json"])
    echo, flaky = row_of(doc, "diag.echo"), row_of(doc, "diag.flaky")
    assert echo["counts"]["completed"] == 10 and echo["counts"]["delayed"] == 1 and echo["total"] == 11
    assert echo["p50_ms"] == 500.0 and echo["p95_ms"] == 1000.0  # nearest rank of 100, 200, ... 1000 ms
    assert echo["failure_rate"] == 0 and echo["deferrals"] == 1 and echo["retries"] == 0
    assert flaky["failure_rate"] == 1.0 and flaky["retries"] == 4 and flaky["retried_jobs"] == 2
    assert flaky["top_errors"] == [
        {"error": "process: flaky failure", "count": 2},
    ]
    assert doc["totals"]["total"] == 13 and doc["totals"]["failure_rate"] == round(2 / 12, 4)
    assert [h["created"] for h in doc["hourly"] if h["created"]] == [10, 2, 1]
    assert doc["coverage"]["complete"] is True


def test_daily_report_html_is_self_contained_with_svg_charts_and_the_figures(rt):
    seed_day(rt, YESTERDAY)

    result = write_daily(rt, YESTERDAY, datetime.now(UTC))

    page = s3_text(rt, result["keys"]["html"])
    assert page.count("<svg") == 3
    assert "<script" not in page and "http://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "diag.flaky" in page and "process: flaky failure" in page and "1,000.0 ms" in page
    head = rt.clients.s3.head_object(Bucket=rt.settings.payload_bucket, Key=result["keys"]["html"])
    assert head["ContentType"].startswith("text/html")


def test_daily_report_says_it_is_incomplete_when_finished_records_expire_before_the_day_is_read(rt):
    short = Runtime(rt.settings.model_copy(update={"retain_completed_s": 3600}), rt.clients, catalog=rt.catalog)

    result = write_daily(short, YESTERDAY, datetime.now(UTC))

    doc = s3_json(rt, result["keys"]["json"])
    assert doc["coverage"]["complete"] is False
    assert "completed records are kept 1 h" in doc["coverage"]["note"]
    assert "offload:completedRetentionHours" in s3_text(rt, result["keys"]["html"])


def test_a_future_day_is_refused_with_the_fix(rt):
    tomorrow = datetime.now(UTC).date() + timedelta(days=2)

    with pytest.raises(PayloadError, match=r"data.day: .*is in the future; pass a past UTC day"):
        run_job(rt, "maintenance.analytics_daily", {"day": tomorrow.isoformat()})


# -- weekly --------------------------------------------------------------------------------
def test_weekly_report_compares_this_week_with_last_week_per_type(rt):
    monday = YESTERDAY - timedelta(days=YESTERDAY.isoweekday() - 1 + 7)
    seed_day(rt, monday - timedelta(days=7), echo=10, echo_ms=100, failed=2)  # last week: 12 finished
    seed_day(rt, monday + timedelta(days=2), echo=20, echo_ms=300, failed=0)  # this week: 20, slower
    write_daily(rt, monday + timedelta(days=2), datetime.now(UTC))  # one day from its stored report

    job = run_job(rt, "maintenance.performance_weekly", {"week_start": monday.isoformat()})

    assert job.status == JobStatus.COMPLETED, job.error
    doc = s3_json(rt, job.result["keys"]["json"])
    iso = monday.isocalendar()
    assert job.result["keys"]["json"] == f"reports/analytics/weekly/{iso.year}-W{iso.week:02d}.json"
    echo = row_of(doc, "diag.echo")
    assert echo["this_week"]["throughput"] == 20 and echo["last_week"]["throughput"] == 10
    assert echo["delta"]["throughput"] == 1.0  # +100%
    # p95 from histograms: the bucket holding the exact value (5700 ms this week, 1000 ms last week).
    assert 5700 <= echo["this_week"]["p95_ms"] < 5700 * 1.19
    assert 1000 <= echo["last_week"]["p95_ms"] < 1000 * 1.19
    flaky = row_of(doc, "diag.flaky")
    assert flaky["this_week"]["throughput"] == 0 and flaky["last_week"]["failure_rate"] == 1.0
    assert str(monday + timedelta(days=2)) not in doc["computed_from_records"]
    assert len(doc["computed_from_records"]) == 13
    assert "<svg" in s3_text(rt, job.result["keys"]["html"])


def test_weekly_report_refuses_a_week_start_that_is_not_a_monday(rt):
    tuesday = YESTERDAY - timedelta(days=YESTERDAY.isoweekday() - 2 + 7)

    with pytest.raises(PayloadError, match=r"is a Tuesday; weeks start on Monday \(e.g. \d{4}-\d\d-\d\d\)"):
        run_job(rt, "maintenance.performance_weekly", {"week_start": tuesday.isoformat()})


# -- monthly -------------------------------------------------------------------------------
def test_monthly_platform_report_counts_jobs_media_and_storage_by_prefix(rt):
    first = YESTERDAY.replace(day=1)
    seed_day(rt, first, echo=3, failed=1)
    s3 = rt.clients.s3
    s3.put_object(Bucket=MEDIA, Key="uploads/images/a.jpg", Body=b"x" * 1000)
    s3.put_object(Bucket=MEDIA, Key="uploads/images/b.jpg", Body=b"x" * 500)
    s3.put_object(Bucket=MEDIA, Key="variants/images/a/thumb.webp", Body=b"x" * 100)
    store = ImageStore(rt.clients.dynamodb, IMAGES)
    for key, status in (("uploads/images/a.jpg", "completed"), ("uploads/images/b.jpg", "failed")):
        store.register(ImageRecord(key=key, bucket=MEDIA, status=status, created_at="t", updated_at="t"))

    job = run_job(rt, "maintenance.platform_monthly", {"month": first.strftime("%Y-%m")})

    assert job.status == JobStatus.COMPLETED, job.error
    doc = s3_json(rt, job.result["keys"]["json"])
    assert job.result["keys"]["json"] == f"reports/platform/monthly/{first:%Y-%m}.json"
    assert doc["jobs"]["by_status"]["completed"] >= 3 and doc["jobs"]["by_status"]["failed"] >= 1
    assert doc["top_types"][0]["type"] == "diag.echo"
    assert doc["media"]["images"] == {"completed": 1, "failed": 1}
    assert doc["storage"]["media"]["uploads/images/"] == {"objects": 2, "bytes": 1500}
    assert doc["storage"]["media"]["variants/"] == {"objects": 1, "bytes": 100}
    assert {q["queue"] for q in doc["queues"]} >= {"default", "maintenance"}


# -- cleanup -------------------------------------------------------------------------------
def _media(rt: Runtime) -> None:
    s3 = rt.clients.s3
    for key in (
        "uploads/images/cat.jpg",
        "variants/images/cat/thumb.webp",
        "variants/images/dog/thumb.webp",  # dog.jpg deleted below: orphan
        "variants/images/ghost/large.avif",  # never had an original: orphan
        "uploads/videos/clip.mp4",
        "videos/clip.mp4/master.m3u8",
        "videos/gone.mp4/master.m3u8",  # orphan
        "videos/gone.mp4/hls/seg-0.ts",  # orphan
        "uploads/images/dog.jpg",
    ):
        s3.put_object(Bucket=MEDIA, Key=key, Body=b"0123456789")
    s3.delete_object(Bucket=MEDIA, Key="uploads/images/dog.jpg")  # a delete marker: the original is gone
    store = ImageStore(rt.clients.dynamodb, IMAGES)
    for key, status in (
        ("uploads/images/cat.jpg", "completed"),
        ("uploads/images/dog.jpg", "completed"),
        ("uploads/images/running.jpg", "processing"),
    ):
        store.register(ImageRecord(key=key, bucket=MEDIA, status=status, created_at="t", updated_at="t"))
    s3.create_multipart_upload(Bucket=MEDIA, Key="uploads/videos/big.mp4")
    rt.clients.s3.put_object(Bucket=rt.settings.payload_bucket, Key="jobs/expired-job/data.json", Body=b"{}")


def _keys(bucket: str, prefix: str = "") -> set[str]:
    listed = boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for o in listed.get("Contents", [])}


def test_cleanup_deletes_only_what_is_provably_orphaned_and_every_version_of_it(rt):
    _media(rt)
    later = datetime.now(UTC) + timedelta(days=5)  # everything is past min_age and the 72 h record retention

    summary = Cleanup(rt, later).run()

    assert summary["deleted"] == {
        "expired_payloads": 1,
        "image_variants": 2,
        "multipart_uploads": 1,
        "records": 1,
        "video_outputs": 2,
    }
    assert _keys(MEDIA) == {
        "uploads/images/cat.jpg",
        "variants/images/cat/thumb.webp",
        "uploads/videos/clip.mp4",
        "videos/clip.mp4/master.m3u8",
    }
    versions = rt.clients.s3.list_object_versions(Bucket=MEDIA, Prefix="videos/gone.mp4/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")
    assert ImageStore(rt.clients.dynamodb, IMAGES).get("uploads/images/dog.jpg") is None
    assert ImageStore(rt.clients.dynamodb, IMAGES).get("uploads/images/running.jpg") is not None  # not final
    assert not rt.clients.s3.list_multipart_uploads(Bucket=MEDIA).get("Uploads")
    assert _keys(rt.settings.payload_bucket, "jobs/") == set()


def test_cleanup_keeps_a_payload_whose_job_record_still_exists(rt):
    job = record("diag.echo", JobStatus.COMPLETED, at(YESTERDAY, 1), run_ms=1)
    rt.store.create_many([job])
    key = f"jobs/{job.job_id}/result.json"
    rt.clients.s3.put_object(Bucket=rt.settings.payload_bucket, Key=key, Body=b"{}")

    summary = Cleanup(rt, datetime.now(UTC) + timedelta(days=5)).run()

    assert "expired_payloads" not in summary["deleted"]
    assert _keys(rt.settings.payload_bucket, "jobs/") == {key}


def test_cleanup_dry_run_lists_the_same_and_deletes_nothing(rt):
    _media(rt)
    before = _keys(MEDIA)

    summary = Cleanup(rt, datetime.now(UTC) + timedelta(days=3), dry_run=True).run()

    assert summary["would_delete"]["image_variants"] == 2 and summary["would_delete"]["video_outputs"] == 2
    assert summary["bytes"] == 40
    assert "variants/images/ghost/large.avif" in summary["samples"]["image_variants"]
    assert _keys(MEDIA) == before
    assert rt.clients.s3.list_multipart_uploads(Bucket=MEDIA).get("Uploads")


def test_the_cleanup_job_leaves_everything_younger_than_its_minimum_age(rt):
    _media(rt)
    before = _keys(MEDIA)

    # moto reports every multipart upload as initiated in 2010: a 20-year limit keeps it.
    job = run_job(rt, "maintenance.cleanup", {"upload_max_age_hours": 24 * 365 * 20})

    assert job.status == JobStatus.COMPLETED, job.error
    assert job.result["deleted"] == {"records": 1}  # the finished record of the deleted dog.jpg
    assert _keys(MEDIA) == before


# -- backups and expiry ----------------------------------------------------------------------
def test_backup_job_backs_up_the_jobs_and_pack_tables(rt):
    job = run_job(rt, "maintenance.backup")

    assert job.status == JobStatus.COMPLETED, job.error
    assert [c["table"] for c in job.result["created"]] == [rt.settings.table, IMAGES, VIDEOS]
    listed = rt.clients.dynamodb.list_backups(TableName=IMAGES)["BackupSummaries"]
    assert [b["BackupName"].startswith(f"{IMAGES}-offload-") for b in listed] == [True]


def test_backups_older_than_the_retention_are_deleted_and_others_kept(rt):
    db = rt.clients.dynamodb
    db.create_backup(TableName=IMAGES, BackupName="someone-elses-backup")
    backup_tables(rt, datetime.now(UTC))

    result = backup_tables(rt, datetime.now(UTC) + timedelta(days=15))

    assert [d["table"] for d in result["deleted"]] == [rt.settings.table, IMAGES, VIDEOS]
    names = sorted(b["BackupName"] for b in db.list_backups(TableName=IMAGES)["BackupSummaries"])
    assert len(names) == 2 and names[-1] == "someone-elses-backup"


def test_report_expiry_deletes_every_version_of_old_reports_only(rt):
    bucket = rt.settings.payload_bucket
    for key in ("reports/analytics/daily/2025-01-01.json", "reports/analytics/daily/2025-01-01.html"):
        rt.clients.s3.put_object(Bucket=bucket, Key=key, Body=b"old")
        rt.clients.s3.put_object(Bucket=bucket, Key=key, Body=b"old, rewritten")
    rt.clients.s3.put_object(Bucket=bucket, Key="jobs/j1/data.json", Body=b"{}")

    dry = expire_reports(rt, datetime.now(UTC) + timedelta(days=31), dry_run=True)
    assert dry["versions"] == 4 and len(_keys(bucket, "reports/")) == 2
    kept = expire_reports(rt, datetime.now(UTC) + timedelta(days=29))
    assert kept["versions"] == 0
    gone = expire_reports(rt, datetime.now(UTC) + timedelta(days=31))

    assert gone["versions"] == 4 and gone["retention_days"] == 30
    assert not rt.clients.s3.list_object_versions(Bucket=bucket, Prefix="reports/").get("Versions")
    assert _keys(bucket) == {"jobs/j1/data.json"}
