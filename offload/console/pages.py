"""The console's pages: each reads through the existing homes (offload.jobs.admin, offload.health, the
packs' stores) and renders a Jinja2 template; actions are POSTs answered with a redirect."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import BotoCoreError, ClientError
from jinja2 import Environment, FileSystemLoader, select_autoescape

from offload.client import OffloadApiError
from offload.console.server import Request, Response, Router
from offload.health import check_health, deployment_health
from offload.jobs import admin
from offload.jobs.enqueue import load_data
from offload.jobs.logs import JobLogs
from offload.jobs.model import InvalidJobIdError, Job, JobStatus
from offload.runtime import Runtime
from offload.settings import SettingsError

TEMPLATES = Path(__file__).with_name("templates")
# Choices of the jobs page's time filter: label -> how far back.
SINCE = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "24h": timedelta(hours=24), "7d": timedelta(days=7)}
PAGE_SIZE = 25
# Expected failures become a message on the page they came from; anything else is a bug (500).
EXPECTED = (admin.AdminError, SettingsError, InvalidJobIdError, ValueError, ClientError, BotoCoreError, TimeoutError)


@dataclass
class Console:
    """The pages of one deployment's console."""

    rt: Runtime
    logs: JobLogs | Any  # an object with `where` and `lines(job)`, or a callable making one on first use
    token: str = ""
    env: Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(), trim_blocks=True)
        self.env.filters["pretty"] = lambda v: json.dumps(v, indent=2, ensure_ascii=False, sort_keys=True)
        self.env.filters["when"] = _when
        self.env.filters["q"] = lambda v: quote(str(v), safe="")
        self.env.filters["qpath"] = lambda v: quote(str(v), safe="/")  # an S3 key: relative HLS URIs resolve
        self.env.globals["sparkline"] = sparkline

    # -- wiring ------------------------------------------------------------------------
    def routes(self) -> Router:
        """Every page and action."""
        r = Router()
        r.add("GET", "/", self.overview)
        r.add("GET", "/partials/overview", self.overview_cards)
        r.add("GET", "/jobs", self.jobs)
        r.add("GET", "/partials/jobs", self.job_rows)
        r.add("GET", "/jobs/{job_id}", self.job)
        r.add("GET", "/partials/jobs/{job_id}", self.job_live)
        r.add("GET", "/jobs/{job_id}/data.json", self.job_data)
        r.add("POST", "/jobs/{job_id}/retry", self.retry)
        r.add("POST", "/jobs/{job_id}/cancel", self.cancel)
        r.add("GET", "/dlqs", self.dlqs)
        r.add("POST", "/dlqs/{queue}/messages/{message_id}/retry", self.retry_message)
        r.add("GET", "/dlqs/{queue}/redrive", self.confirm_redrive)
        r.add("POST", "/dlqs/{queue}/redrive", self.redrive)
        r.add("GET", "/schedules", self.schedules)
        r.add("POST", "/schedules/{name}/run", self.run_schedule)
        r.add("GET", "/images", self.images)
        r.add("GET", "/videos", self.videos)
        r.add("GET", "/videos/{key:path}", self.video)
        r.add("GET", "/media/{key:path}", self.media)
        return r

    def render(self, template: str, status: int = 200, *, req: Request | None = None, **context: Any) -> Response:
        """A page (or a partial) rendered with the navigation's context, and the outcome of the action
        that redirected here (`?notice=` / `?error=` of `req`)."""
        packs = self.rt.settings.packs
        context.setdefault("notice", req.arg("notice") or None if req else None)
        context.setdefault("error", req.arg("error") or None if req else None)
        body = self.env.get_template(template).render(
            token=self.token, has_images="images" in packs, has_videos="video" in packs, **context
        )
        return Response(body, status=status)

    def failure(self, exc: BaseException) -> Response:
        """An expected error as a page that says what went wrong; a bug re-raises (a 500 with its traceback)."""
        if not isinstance(exc, EXPECTED):
            raise exc
        status = 404 if isinstance(exc, admin.JobNotFoundError) else 400
        return self.render("error.html", status=status, message=str(exc), title="Something went wrong")

    # -- overview ----------------------------------------------------------------------
    def overview(self, req: Request) -> Response:
        return self.render("overview.html", title="Overview", nav="overview", **self._overview())

    def overview_cards(self, req: Request) -> Response:
        return self.render("_overview_cards.html", **self._overview())

    def _overview(self) -> dict[str, Any]:
        overview = admin.queue_overview(self.rt, latest_failed=3)
        cards = []
        for name, q in overview["queues"].items():
            cards.append(
                {
                    "name": name,
                    **q,
                    "paused": admin.queue_paused(self.rt, name),
                    "per_minute": admin.throughput(self.rt, name),
                }
            )
        try:
            health = deployment_health(self.rt)
        except (OSError, OffloadApiError) as exc:
            health = {**check_health(self.rt), "checkedBy": "this machine"}
            health["reasons"] = [
                f"the deployment's GET /health did not answer ({exc}): checked from here",
                *health["reasons"],
            ]
        return {"cards": cards, "health": health, "at": overview["timestamp"]}

    # -- jobs --------------------------------------------------------------------------
    def jobs(self, req: Request) -> Response:
        context = self._jobs(req)
        return self.render("jobs.html", title="Jobs", nav="jobs", **context)

    def job_rows(self, req: Request) -> Response:
        return self.render("_job_rows.html", **self._jobs(req))

    def _jobs(self, req: Request) -> dict[str, Any]:
        catalog = self.rt.catalog
        filters = {k: req.arg(k) for k in ("queue", "status", "type", "since", "q")}
        error = None
        jobs: list[Job] = []
        cursor = None
        if filters["q"]:
            jobs = admin.find_jobs(self.rt, filters["q"])
        else:
            since = SINCE.get(filters["since"])
            try:
                page = admin.page_jobs(
                    self.rt,
                    statuses=[JobStatus(filters["status"])] if filters["status"] else None,
                    queue=filters["queue"] or None,
                    type_name=filters["type"] or None,
                    limit=PAGE_SIZE,
                    cursor=req.arg("cursor") or None,
                    since=(datetime.now(UTC) - since).isoformat(timespec="milliseconds") if since else None,
                )
                jobs, cursor = page.jobs, page.cursor
            except (ValueError, admin.InvalidCursorError) as exc:
                error = str(exc)
        query = {k: v for k, v in filters.items() if v}
        cursor_in = req.arg("cursor")
        return {
            "jobs": jobs,
            "filters": filters,
            "error": error,
            "queues": [q.name for q in catalog.queues if q.name in self.rt.settings.queues],
            "statuses": [s.value for s in JobStatus],
            "types": sorted(t.name for t in catalog.job_types),
            "since_choices": list(SINCE),
            "rows_url": "/partials/jobs?" + urlencode({**query, **({"cursor": cursor_in} if cursor_in else {})}),
            "next_url": "/jobs?" + urlencode({**query, "cursor": cursor}) if cursor else None,
            "first_url": "/jobs?" + urlencode(query) if cursor_in else None,
        }

    def job(self, req: Request) -> Response:
        job = admin.get_job(self.rt, req.params["job_id"])
        logs, logs_error, logs_where = self._log_lines(job)
        return self.render(
            "job.html",
            title=f"Job {job.job_id}",
            nav="jobs",
            job=job,
            live=self._job_live(job),
            data=None if job.data_ref else job.data,
            logs=logs,
            logs_error=logs_error,
            logs_where=logs_where,
            commands=commands_for(job),
            req=req,
        )

    def job_live(self, req: Request) -> Response:
        return self.render("_job_live.html", **self._job_live(admin.get_job(self.rt, req.params["job_id"])))

    def _job_live(self, job: Job) -> dict[str, Any]:
        return {"job": job, "timeline": timeline(job), "attempts": attempts_of(job)}

    def _log_lines(self, job: Job) -> tuple[list[Any], str | None, str]:
        try:
            if callable(self.logs) and not hasattr(self.logs, "lines"):
                self.logs = self.logs()  # found on first use: a stack lookup may fail, the page still renders
            return self.logs.lines(job), None, self.logs.where
        except EXPECTED as exc:
            return [], f"the job's log lines could not be read: {exc}", getattr(self.logs, "where", "")

    def job_data(self, req: Request) -> Response:
        job = admin.get_job(self.rt, req.params["job_id"])
        body = json.dumps(load_data(self.rt, job), indent=2, ensure_ascii=False)
        return Response(body, content_type="application/json; charset=utf-8")

    def retry(self, req: Request) -> Response:
        job_id = req.params["job_id"]
        return self._act(f"/jobs/{quote(job_id)}", lambda: _retried(admin.retry(self.rt, job_id)))

    def cancel(self, req: Request) -> Response:
        job_id = req.params["job_id"]
        return self._act(f"/jobs/{quote(job_id)}", lambda: _cancelled(admin.cancel(self.rt, job_id)))

    def _act(self, back: str, action: Any) -> Response:
        """Run an action; back to `back` with its outcome (or why it could not be done) as a notice."""
        try:
            notice = action()
        except EXPECTED as exc:
            return Response.redirect(f"{back}?{urlencode({'error': str(exc)})}")
        return Response.redirect(f"{back}?{urlencode({'notice': notice})}")

    # -- dead letters ------------------------------------------------------------------
    def dlqs(self, req: Request) -> Response:
        queues = []
        for spec in self.rt.catalog.queues:
            if spec.name not in self.rt.settings.queues:
                continue
            depth = self.rt.queues.depth(spec.name)["dlq"]
            letters = admin.peek_dlq(self.rt, spec.name) if depth else []
            queues.append({"name": spec.name, "depth": depth, "letters": letters})
        return self.render(
            "dlqs.html",
            title="Dead letters",
            nav="dlqs",
            queues=queues,
            req=req,
        )

    def retry_message(self, req: Request) -> Response:
        queue, message_id = req.params["queue"], req.params["message_id"]
        return self._act("/dlqs", lambda: _redriven(admin.redrive_message(self.rt, queue, message_id)))

    def confirm_redrive(self, req: Request) -> Response:
        queue = self.rt.catalog.queue(req.params["queue"]).name
        depth = self.rt.queues.depth(queue)["dlq"]
        return self.render("redrive.html", title=f"Redrive {queue}", nav="dlqs", queue=queue, depth=depth)

    def redrive(self, req: Request) -> Response:
        queue = req.params["queue"]
        if req.form.get("confirm") != "yes":
            return Response.redirect(f"/dlqs/{quote(queue)}/redrive")
        return self._act("/dlqs", lambda: _redriven(admin.redrive(self.rt, queue)))

    # -- schedules ---------------------------------------------------------------------
    def schedules(self, req: Request) -> Response:
        rows = admin.schedule_rows(self.rt, with_state=False)
        return self.render(
            "schedules.html",
            title="Schedules",
            nav="schedules",
            rows=rows,
            fired=req.arg("job") or None,
            req=req,
        )

    def run_schedule(self, req: Request) -> Response:
        try:
            job_id = admin.run_schedule(self.rt, req.params["name"])
        except EXPECTED as exc:
            return Response.redirect(f"/schedules?{urlencode({'error': str(exc)})}")
        note = f"schedule {req.params['name']} fired now: its job {job_id} was sent to its queue"
        return Response.redirect(f"/schedules?{urlencode({'notice': note, 'job': job_id})}")

    # -- media -------------------------------------------------------------------------
    def images(self, req: Request) -> Response:
        from offload.packs.images.search import search
        from offload.packs.images.steps import ImagePipeline

        store = ImagePipeline(self.rt).store
        query = req.arg("q")
        hits: dict[str, float] = {}
        error = None
        if query:
            try:
                hits = {h["key"]: h["score"] for h in search(self.rt, query, limit=24)}
            except EXPECTED as exc:
                error = f"search failed: {exc}"
            records = [r for key in hits if (r := store.get(key)) is not None]
        else:
            records = sorted(store.scan(), key=lambda r: r.updated_at, reverse=True)[:60]
        return self.render(
            "images.html", title="Images", nav="images", records=records, query=query, hits=hits, error=error
        )

    def videos(self, req: Request) -> Response:
        from offload.packs.video.steps import VideoPipeline

        records = sorted(VideoPipeline(self.rt).store.scan(), key=lambda r: r.updated_at, reverse=True)[:60]
        return self.render("videos.html", title="Videos", nav="videos", records=records)

    def video(self, req: Request) -> Response:
        from offload.packs.video.steps import VideoPipeline

        key = req.params["key"]
        record = VideoPipeline(self.rt).store.get(key)
        if record is None:
            return self.render("error.html", status=404, title="No such video", message=f"no video record for {key!r}")
        master = next((o["key"] for o in record.outputs if o.get("kind") == "hls_master"), None)
        return self.render("video.html", title=key, nav="videos", record=record, master=master)

    def media(self, req: Request) -> Response:
        """An object of the media bucket (thumbnails, variants, HLS playlists and segments), through this server
        so the browser needs no S3 credentials, presigned URLs or CORS."""
        bucket = self._media_bucket()
        kwargs: dict[str, Any] = {"Bucket": bucket, "Key": req.params["key"]}
        if "range" in req.headers:
            kwargs["Range"] = req.headers["range"]
        s3 = self.rt.clients.s3
        try:
            obj = s3.get_object(**kwargs)
        except s3.exceptions.NoSuchKey:
            return Response(f"no object {req.params['key']}", status=404, content_type="text/plain")
        headers = {"Accept-Ranges": "bytes", "Cache-Control": "max-age=60"}
        if "ContentRange" in obj:
            headers["Content-Range"] = obj["ContentRange"]
        return Response(
            obj["Body"].read(),
            status=206 if "ContentRange" in obj else 200,
            content_type=obj.get("ContentType") or "application/octet-stream",
            headers=headers,
        )

    def _media_bucket(self) -> str:
        for pack in ("images", "video"):
            bucket = self.rt.settings.packs.get(pack, {}).get("media_bucket")
            if bucket:
                return str(bucket)
        raise SettingsError("this deployment has no media bucket: compose the images or video pack")


# -- what the pages show ---------------------------------------------------------------------


def commands_for(job: Job) -> list[dict[str, str]]:
    """The `offload` commands that do what the page's buttons do, to copy."""
    out = [{"label": "Inspect", "command": f"offload jobs get {job.job_id} --watch"}]
    if job.status == JobStatus.FAILED:
        out.append({"label": "Retry", "command": f"offload jobs retry {job.job_id}"})
    if not job.status.terminal:
        out.append({"label": "Cancel", "command": f"offload jobs cancel {job.job_id}"})
    return out


def attempts_of(job: Job) -> list[dict[str, Any]]:
    """Every failed attempt (the record's history) and the current one, newest last."""
    rows = [{"attempt": h.attempt, "at": h.at, "step": h.step, "reason": h.reason, "kind": h.kind} for h in job.history]
    if job.error is not None and not any(
        (h.attempt, h.at, h.reason) == (job.error.attempt, job.error.at, job.error.reason) for h in job.history
    ):
        e = job.error
        rows.append({"attempt": e.attempt, "at": e.at, "step": e.step, "reason": e.reason, "kind": e.kind})
    return rows


def timeline(job: Job) -> list[dict[str, str]]:
    """The job's status changes that its record shows, oldest first."""
    events = [
        {
            "at": job.created_at,
            "status": "delayed" if job.run_at else "queued",
            "what": f"enqueued on {job.queue}" + (f", due {job.run_at}" if job.run_at else ""),
        }
    ]
    final = job.error if job.status == JobStatus.FAILED else None
    for h in job.history:
        if final is not None and (h.attempt, h.at) == (final.attempt, final.at):
            continue  # the attempt that ended the job: its own event below
        if h.at:
            events.append({"at": h.at, "status": "failed attempt", "what": f"attempt {h.attempt} failed at {h.step}"})
    if job.started_at:
        events.append({"at": job.started_at, "status": "active", "what": f"attempt {job.attempts} started"})
    if job.finished_at:
        what = {
            JobStatus.COMPLETED: "completed",
            JobStatus.FAILED: f"failed for good at {job.error.step}" if job.error else "failed",
            JobStatus.CANCELLED: "cancelled",
        }.get(job.status, job.status.value)
        events.append({"at": job.finished_at, "status": job.status.value, "what": what})
    events.sort(key=lambda e: e["at"])
    return events


def sparkline(values: list[int], width: int = 160, height: int = 32) -> str:
    """SVG polyline points for a small chart of `values` (left = oldest)."""
    peak = max(values) or 1
    step = width / max(len(values) - 1, 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (v / peak) * (height - 4):.1f}" for i, v in enumerate(values))


def _when(value: str | None) -> str:
    """An ISO time as `2026-12-02 13:40:48 UTC`."""
    if not value:
        return ""
    try:
        return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        return value


def _retried(job: Job) -> str:
    return f"job {job.job_id} requeued from attempt 1 (of {job.max_attempts})"


def _cancelled(job: Job) -> str:
    if job.status == JobStatus.CANCELLED:
        return f"job {job.job_id} cancelled: it will not run"
    if job.status == JobStatus.ACTIVE:
        return f"job {job.job_id} is running: asked it to stop at its next progress update"
    return f"job {job.job_id} finished before it could be cancelled: {job.status.value}"


def _redriven(report: admin.RedriveReport) -> str:
    moved = len(report.moved) + report.resent_foreign
    kept = f"; {len(report.left)} kept: {'; '.join(report.left)}" if report.left else ""
    return f"{moved} message(s) of {report.queue} sent back to their queue{kept}"
