"""Picture the maintenance reports: seed a day (and two weeks) of job records in moto, run the report
code the crons run, and screenshot the HTML it wrote with Chromium.

    python scripts/report_picture.py            # docs/img/analytics-daily.png, docs/img/performance-weekly.png

The records are made by the real job store; the figures on the pictures are what the report computed.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
# type, queue, jobs a day, median run time (ms), failure share, the error its failures give
TYPES = (
    ("image.process", "images", 420, 900, 0.02, ("variants", "cannot identify image file 'uploads/images/x.heic'")),
    ("video.process", "video", 60, 42_000, 0.05, ("transcode", "ffmpeg exited 1: Invalid data found")),
    ("webhook.deliver", "notifications", 900, 180, 0.04, ("deliver", "POST https://hooks.example.com: 503")),
    ("http.fetch", "default", 250, 650, 0.08, ("fetch", "https://example.com/a.csv timed out after 30 s")),
    ("generate.video", "generate", 12, 95_000, 0.17, ("clips", "provider refused: moderation_blocked")),
    ("diag.echo", "default", 300, 25, 0.0, ("process", "")),
)


def seed(rt: object, day: date, rng: random.Random, scale: float = 1.0) -> None:
    """A day of finished records per TYPES, created through the day (busier in the afternoon)."""
    from offload.catalog import Backoff
    from offload.jobs.model import Job, JobErrorInfo, JobStatus, new_job_id

    jobs = []
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    for type_name, queue, per_day, median_ms, failing, (step, reason) in TYPES:
        for _ in range(int(per_day * scale)):
            created = midnight + timedelta(hours=min(23.99, abs(rng.gauss(14, 5))))
            started = created + timedelta(milliseconds=rng.expovariate(1 / 400))
            failed = rng.random() < failing
            run_ms = rng.lognormvariate(0, 0.6) * median_ms
            attempts = 3 if failed else (2 if rng.random() < 0.05 else 1)
            jobs.append(
                Job(
                    job_id=new_job_id(),
                    type=type_name,
                    queue=queue,
                    status=JobStatus.FAILED if failed else JobStatus.COMPLETED,
                    attempts=attempts,
                    deferrals=1 if queue == "images" and rng.random() < 0.1 else 0,
                    max_attempts=3,
                    backoff=Backoff().as_dict(),
                    timeout_s=900,
                    created_at=created.isoformat(timespec="milliseconds"),
                    updated_at=created.isoformat(timespec="milliseconds"),
                    started_at=started.isoformat(timespec="milliseconds"),
                    finished_at=(started + timedelta(milliseconds=run_ms)).isoformat(timespec="milliseconds"),
                    error=JobErrorInfo(step=step, reason=reason) if failed else None,
                )
            )
    rt.store.create_many(jobs)  # type: ignore[attr-defined]


def shoot(html: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        page_file = Path(tmp) / "report.html"
        page_file.write_text(html)
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1180, "height": 900})
        page.goto(page_file.as_uri())
        page.screenshot(path=str(out), full_page=True)
        browser.close()
    print(f"wrote {out.relative_to(ROOT)}")


def main() -> None:
    os.environ.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"})
    from moto import mock_aws

    from offload.aws import Clients
    from offload.packs import everything
    from offload.packs.maintenance.reports import daily_figures, daily_page, weekly_figures, weekly_page, write_daily
    from offload.runtime import Runtime
    from offload.testing.aws import REGION, provision

    rng = random.Random(2026)
    now = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)  # a Monday, when the weekly report runs
    with mock_aws():
        settings = provision(everything).model_copy(update={"retain_completed_s": 30 * 24 * 3600})
        settings = settings.model_copy(update={"retain_failed_s": 30 * 24 * 3600})
        rt = Runtime(settings, Clients(region=REGION), catalog=everything)
        last_monday = date(2026, 11, 23)
        for i in range(14):
            # This week a little busier; each day's report written as the daily cron writes it.
            day = last_monday + timedelta(days=i)
            seed(rt, day, rng, scale=0.1 if i < 7 else 0.12)
            write_daily(rt, day, now)
        img = ROOT / "docs" / "img"
        shoot(daily_page(daily_figures(rt, date(2026, 12, 6), now)), img / "analytics-daily.png")
        shoot(weekly_page(weekly_figures(rt, date(2026, 11, 30), now)), img / "performance-weekly.png")


if __name__ == "__main__":
    main()
