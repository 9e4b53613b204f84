"""The web console in a real browser (Debian's Chromium through Playwright) against `offload local up`,
which serves it: pages load clean, and an operator can find, understand and fix failed jobs."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from offload.local import samples
from tests.e2e.conftest import OFFLOAD, ROOT, LocalStack

CHROMIUM = "/usr/bin/chromium"
# This machine's network is closed: nothing may try to phone home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "console"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (it installs Debian's chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def console(local: LocalStack) -> str:
    found = re.search(r"^console (http://127\.0\.0\.1:\d+/)", local.output_text(), re.MULTILINE)
    assert found, f"offload local up printed no console URL:\n{local.output_text()}"
    return found.group(1).rstrip("/")


class Tab:
    """A browser page that records console errors and leaves a screenshot behind."""

    def __init__(self, page: Page, base: str, name: str) -> None:
        self.page = page
        self.base = base
        self.name = name
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(f"{m.text} ({m.location})") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("requestfailed", lambda r: self.errors.append(f"request failed: {r.url} {r.failure}"))

    def open(self, path: str) -> Page:
        response = self.page.goto(self.base + path)
        assert response is not None and response.ok, f"{path}: HTTP {response and response.status}"
        return self.page

    def shot(self, label: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{self.name}-{label}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def tab(browser: Browser, console: str, request: pytest.FixtureRequest) -> Iterator[Tab]:
    context = browser.new_context(viewport=DESKTOP)
    opened = Tab(context.new_page(), console, request.node.name.removeprefix("test_")[:60])
    yield opened
    opened.shot("end")
    context.close()
    assert not opened.errors, f"browser console errors: {opened.errors}"


def _add(local: LocalStack, type_name: str, data: dict[str, Any], *extra: str) -> str:
    return str(json.loads(local.cli("jobs", "add", type_name, "--data", json.dumps(data), *extra).stdout)["jobId"])


def _job(local: LocalStack, job_id: str) -> dict[str, Any] | None:
    done = local.cli("jobs", "get", job_id, "--json", check=False)
    return json.loads(done.stdout) if done.returncode == 0 else None


def _wait(local: LocalStack, job_id: str, statuses: tuple[str, ...], timeout_s: float = 45) -> dict[str, Any]:
    deadline = time.time() + timeout_s
    while True:
        job = _job(local, job_id)
        if job and job["status"] in statuses:
            return job
        assert time.time() < deadline, f"job {job_id} is {job and job['status']} after {timeout_s} s"
        time.sleep(0.3)


def _failed_for_good(local: LocalStack, outage_s: float) -> tuple[str, float]:
    """A diag.flaky job with one attempt that fails until `outage_s` from now: it ends failed, in the DLQ."""
    until = time.time() + outage_s
    job_id = _add(local, "diag.flaky", {"fail_until": until}, "--attempts", "1")
    _wait(local, job_id, ("failed",))
    return job_id, until


def _upload(local: LocalStack, pack: str, key: str, body: bytes, *, timeout_s: float) -> None:
    """Put an object in the media bucket and wait until the pack's record of it is final."""
    outputs = json.loads(local.cli("local", "outputs", "--endpoint-url", local.endpoint).stdout)
    bucket = json.loads(outputs["ClientConfig"])["packs"][pack]["media_bucket"]
    local.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    command = {"images": "images", "video": "videos"}[pack]
    deadline = time.time() + timeout_s
    while True:
        done = local.cli(command, "get", key, "--json", check=False)
        if done.returncode == 0 and json.loads(done.stdout)["status"] in ("completed", "failed"):
            return
        assert time.time() < deadline, f"{key} was not processed in {timeout_s:g} s"
        time.sleep(1)


PAGES = ["/", "/jobs", "/dlqs", "/schedules", "/images", "/videos"]


def test_every_page_loads_clean_at_desktop_and_phone_width_and_is_keyboard_reachable(tab):
    for path in PAGES:
        page = tab.open(path)
        expect(page.locator("h1")).to_be_visible()
    tab.page.set_viewport_size(PHONE)
    for path in PAGES:
        page = tab.open(path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{path} is {overflow} px wider than a phone's screen"
        tab.shot(f"phone{path.replace('/', '-') or '-overview'}")
    tab.page.set_viewport_size(DESKTOP)
    page = tab.open("/jobs")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    for label in ("Queue", "Status", "Type", "Created", "Job id or idempotency key"):
        expect(page.get_by_label(label, exact=True)).to_be_visible()


def test_overview_shows_a_card_per_queue_with_counts_delivery_and_health(tab, local):
    page = tab.open("/")

    for queue in ("default", "images", "notifications", "maintenance", "video", "generate"):
        card = page.locator("section.card", has=page.locator(f"h2#q-{queue}"))
        expect(card).to_be_visible()
        expect(card.locator("dt")).to_have_text(["waiting", "active", "delayed", "failed", "completed", "dead letters"])
        expect(card.locator("h2 .pill").first).to_have_text("delivering")
        expect(card.locator("svg[role=img]")).to_have_attribute(
            "aria-label", re.compile(r"jobs finished in the last hour")
        )
    expect(page.locator("#health-h")).to_contain_text("Health")
    tab.shot("overview")


def test_a_job_that_failed_for_good_shows_its_reason_and_step_and_retry_brings_it_to_completed(tab, local):
    job_id, until = _failed_for_good(local, outage_s=4)

    page = tab.open(f"/jobs/{job_id}")

    failure = page.locator(".failure")
    expect(failure.locator("code.step")).to_have_text("process")
    expect(failure.locator(".reason")).to_contain_text("planned failure")
    expect(page.locator("table.logs")).to_contain_text("job failed")
    expect(page.locator(".commands")).to_contain_text(f"offload jobs retry {job_id}")
    tab.shot("failed")
    time.sleep(max(0.0, until + 0.3 - time.time()))  # the outage is over: the next attempt succeeds

    page.get_by_role("button", name="Retry", exact=True).click()

    expect(page.locator("[role=status]")).to_contain_text("requeued from attempt 1")
    expect(page.locator("#job-status")).to_have_text("completed", timeout=30_000)  # live, without a reload
    assert _job(local, job_id)["status"] == "completed"


def test_cancel_cancels_a_delayed_job(tab, local):
    job_id = _add(local, "diag.echo", {"n": 1}, "--delay", "600")
    page = tab.open(f"/jobs/{job_id}")
    expect(page.locator("#job-status")).to_have_text("delayed")

    page.get_by_role("button", name="Cancel", exact=True).click()

    expect(page.locator("[role=status]")).to_contain_text("cancelled: it will not run")
    expect(page.locator("#job-status")).to_have_text("cancelled")
    assert _job(local, job_id)["status"] == "cancelled"


def test_redrive_all_asks_first_then_empties_the_dlq_and_the_jobs_complete(tab, local):
    failed = [_failed_for_good(local, outage_s=3) for _ in range(2)]
    time.sleep(max(0.0, max(until for _, until in failed) + 0.3 - time.time()))
    page = tab.open("/dlqs")
    section = page.locator("section.dlq", has=page.locator("h2#dlq-default"))
    for job_id, _ in failed:
        expect(section.locator("tbody")).to_contain_text(job_id)

    page.get_by_role("link", name="Redrive all of default…").click()
    expect(page.locator("h2#confirm-h")).to_contain_text("Send every dead letter of default back")
    page.get_by_role("button", name="Yes, redrive default").click()

    expect(page.locator("[role=status]")).to_contain_text("sent back to their queue")
    expect(page.locator("h2#dlq-default")).to_contain_text("0 dead letters")
    for job_id, _ in failed:
        assert _wait(local, job_id, ("completed", "failed"))["status"] == "completed"


def test_retry_one_dead_letter_moves_only_that_message(tab, local):
    (first, until_first), (second, _) = _failed_for_good(local, outage_s=3), _failed_for_good(local, outage_s=600)
    time.sleep(max(0.0, until_first + 0.3 - time.time()))
    page = tab.open("/dlqs")
    row = page.locator("tr", has=page.locator(f"a[href='/jobs/{first}']"))

    row.get_by_role("button", name=re.compile("Retry message")).click()

    expect(page.locator("[role=status]")).to_contain_text("1 message(s) of default sent back")
    assert _wait(local, first, ("completed", "failed"))["status"] == "completed"
    expect(page.locator("section.dlq", has=page.locator("h2#dlq-default"))).to_contain_text(second)


def test_run_now_fires_a_schedule_and_its_job_completes(tab, local):
    page = tab.open("/schedules")
    row = page.locator("tr[data-schedule='daily-dlq-audit']")
    expect(row.locator("time")).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"))

    row.get_by_role("button", name="Run daily-dlq-audit now").click()

    expect(page.locator("[role=status]")).to_contain_text("schedule daily-dlq-audit fired now")
    job_id = page.locator("#fired-job").get_attribute("href").removeprefix("/jobs/")
    job = _wait(local, job_id, ("completed", "failed"))
    assert (job["type"], job["status"]) == ("maintenance.dlq_audit", "completed")
    page.locator("#fired-job").click()
    expect(page.locator("#job-status")).to_have_text("completed")


def test_the_gallery_shows_thumbnails_and_search_finds_an_image(tab, local):
    key = "uploads/images/console sunset.jpg"
    _upload(local, "images", key, samples.sunset(), timeout_s=90)

    page = tab.open("/images")
    thumb = page.locator(f"li[data-key='{key}'] img")
    expect(thumb).to_be_visible()
    thumb.scroll_into_view_if_needed()  # it loads lazily
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=thumb.element_handle(), timeout=10_000)
    page.get_by_label("Search images by what they show").fill("orange sunset landscape")
    page.get_by_role("button", name="Search").click()

    expect(page.locator("ul.gallery li").first).to_have_attribute("data-key", key)
    expect(page.locator("ul.gallery li").first.locator("img")).to_be_visible()


def test_the_jobs_table_updates_live_while_jobs_run(tab, local):
    page = tab.open("/jobs?queue=default")
    page.evaluate("window.notReloaded = true")

    job_id = _add(local, "diag.sleep", {"seconds": 3, "steps": 3})

    row = page.locator(f"tr[data-job='{job_id}']")
    expect(row).to_be_visible(timeout=10_000)
    expect(row.locator(".pill")).to_have_text("completed", timeout=20_000)
    assert page.evaluate("window.notReloaded === true"), "the page was reloaded"


def test_search_by_idempotency_key_finds_the_job(tab, local):
    job_id = _add(local, "diag.echo", {"n": 2}, "--idempotency-key", "console-order-42")
    page = tab.open("/jobs")

    page.get_by_label("Job id or idempotency key").fill("console-order-42")
    page.get_by_role("button", name="Show").click()

    expect(page.locator("#job-rows tr")).to_have_count(1)
    expect(page.locator(f"#job-rows tr[data-job='{job_id}']")).to_be_visible()


def test_offload_console_serves_the_deployment_the_cli_options_name(local):
    proc = subprocess.Popen(
        [OFFLOAD, "console", "--port", "0"],
        env=local.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        found = re.search(r"offload console on (http://127\.0\.0\.1:\d+/)", first)
        assert found, first
        with urllib.request.urlopen(found.group(1) + "jobs") as answer:
            page = answer.read().decode()
        assert answer.status == 200 and 'id="job-rows"' in page
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=10)


def test_a_running_jobs_page_shows_its_progress_live_and_copy_puts_the_command_on_the_clipboard(
    browser, console, local
):
    context = browser.new_context(viewport=DESKTOP, permissions=["clipboard-read", "clipboard-write"])
    tab = Tab(context.new_page(), console, "running-job")
    try:
        job_id = _add(local, "diag.sleep", {"seconds": 4, "steps": 4})
        page = tab.open(f"/jobs/{job_id}")
        seen: set[str] = set()
        deadline = time.time() + 30
        while (status := page.locator("#job-status").inner_text()) != "completed":
            seen.add(page.locator("#job-progress").get_attribute("value") or "")
            assert time.time() < deadline, f"still {status} after 30 s"
            time.sleep(0.2)
        assert seen & {"25", "50", "75"}, f"no progress in between was shown: {seen}"

        page.get_by_role("button", name="Copy the inspect command").click()

        assert page.evaluate("navigator.clipboard.readText()") == f"offload jobs get {job_id} --watch"
        assert not tab.errors, tab.errors
    finally:
        tab.shot("end")
        context.close()


def test_a_videos_page_plays_its_hls_output_with_the_vendored_player(tab, local, tmp_path):
    from offload.media.video import samples as video_samples

    key = "uploads/videos/console clip.mp4"
    clip = video_samples.landscape(tmp_path / "clip.mp4", duration_s=2.0)
    _upload(local, "video", key, clip.read_bytes(), timeout_s=180)

    page = tab.open("/videos")
    page.get_by_role("link", name=key).click()

    expect(page.locator(".pill").first).to_have_text("completed")
    expect(page.locator("table")).to_contain_text("hls_master")
    assert page.evaluate("typeof window.Hls") == "function", "the vendored hls.js did not load"
    page.wait_for_function("() => document.querySelector('#player').readyState >= 1", timeout=20_000)
    assert page.evaluate("document.querySelector('#player').duration") == pytest.approx(2.0, abs=0.3)


def test_a_paused_queue_shows_paused_on_its_card_until_it_is_resumed(tab, local):
    local.cli("queues", "pause", "maintenance")
    try:
        page = tab.open("/")
        expect(page.locator("h2#q-maintenance .pill").first).to_have_text("paused")
        expect(page.locator("h2#q-default .pill").first).to_have_text("delivering")
    finally:
        local.cli("queues", "resume", "maintenance")
    expect(page.locator("h2#q-maintenance .pill").first).to_have_text("delivering", timeout=10_000)  # live
