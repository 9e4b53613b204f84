"""The HTTP API's routes: thin calls into offload.jobs.enqueue, offload.jobs.admin, offload.health
and the packs' stores. `handle(event, context)` is what the Lambda (and the local server) calls."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import unquote

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.params import Query

from offload.api import errors
from offload.api.errors import ApiError
from offload.api.models import BatchRequest, EnqueueRequest, UploadRequest
from offload.jobs import admin
from offload.jobs.enqueue import enqueue, enqueue_many
from offload.jobs.model import Job, JobStatus
from offload.observability import logger
from offload.runtime import Runtime, default_runtime

app = APIGatewayHttpResolver(enable_validation=True)
errors.register(app)


def runtime() -> Runtime:
    """The deployment this function serves (its OFFLOAD_* variables)."""
    return default_runtime()


def identity() -> dict[str, Any]:
    """The caller's IAM identity (API Gateway's `requestContext.authorizer.iam`), {} for /health."""
    return dict(app.context.get("identity") or {})


def job_doc(job: Job) -> dict[str, Any]:
    """What clients see of a job: status, progress, result, error with its step, attempts, timestamps."""
    doc = job.summary()
    return {"jobId": doc.pop("job_id"), **doc, "run_at": job.run_at, "updated_at": job.updated_at}


def _json(body: dict[str, Any], status: int) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=body)


def _queued(job_id: str) -> dict[str, Any]:
    return {"jobId": job_id, "status": "queued"}


def _queue(name: str) -> str:
    names = [q.name for q in runtime().catalog.queues]
    if name not in names:
        raise ApiError(404, "not_found", f"no queue {name!r}; queues: {', '.join(names)}")
    return name


# -- jobs ----------------------------------------------------------------------------------


@app.post("/jobs", summary="Add a job", responses={202: {"description": "queued"}})
def post_job(req: EnqueueRequest) -> Response[dict[str, Any]]:
    job_id = enqueue(
        req.type,
        req.data,
        idempotency_key=req.idempotency_key,
        webhook_url=req.webhook_url,
        runtime=runtime(),
        **req.enqueue_options(),
    )
    logger.info("job enqueued", job_id=job_id, job_type=req.type)
    return _json(_queued(job_id), 202)


@app.post("/jobs/batch", summary="Add up to 100 jobs of one type", responses={202: {"description": "queued"}})
def post_batch(req: BatchRequest) -> Response[dict[str, Any]]:
    ids = enqueue_many(req.type, req.items, runtime=runtime(), **req.enqueue_options())
    return _json({"jobs": [_queued(i) for i in ids]}, 202)


@app.get("/jobs/<job_id>", summary="A job's status, progress, result or error")
def get_job(job_id: str) -> dict[str, Any]:
    return job_doc(admin.get_job(runtime(), job_id))


@app.get("/jobs", summary="Jobs newest first, in pages")
def list_jobs(
    status: Annotated[JobStatus | None, Query()] = None,
    queue: Annotated[str | None, Query()] = None,
    type: Annotated[str | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    if queue is not None:
        _queue(queue)
    page = admin.page_jobs(
        runtime(),
        statuses=[status] if status else None,
        queue=queue,
        type_name=type,
        limit=limit,
        cursor=cursor or None,
    )
    return {"jobs": [job_doc(j) for j in page.jobs], "cursor": page.cursor}


@app.delete("/jobs/<job_id>", summary="Cancel a job")
def delete_job(job_id: str) -> dict[str, Any]:
    return job_doc(admin.cancel(runtime(), job_id))


@app.post("/jobs/<job_id>/retry", summary="Run a failed job again")
def retry_job(job_id: str) -> Response[dict[str, Any]]:
    return _json(job_doc(admin.retry(runtime(), job_id)), 202)


# -- uploads and media ---------------------------------------------------------------------


@app.post("/uploads", summary="A presigned upload for one image, video or audio file")
def post_upload(req: UploadRequest) -> Response[dict[str, Any]]:
    from offload.api.uploads import presign_upload

    return _json(presign_upload(runtime(), req), 201)


@app.get("/images/search", summary="Indexed images nearest to a text query")
def search_images(
    q: Annotated[str, Query(min_length=1, max_length=500)],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    _pack("images")
    from offload.packs.images.search import search

    return {"results": search(runtime(), q, limit=limit)}


@app.get("/images/<key>", summary="An image upload's record (key URL-encoded)")
def get_image(key: str) -> dict[str, Any]:
    _pack("images")
    from offload.packs.images.search import get_image as image_record

    record = image_record(runtime(), unquote(key))
    if record is None:
        raise ApiError(404, "not_found", f"no image record for {unquote(key)!r}: upload it with POST /uploads first")
    return record.model_dump(mode="json")


@app.get("/videos/<key>", summary="A video or audio upload's record, with progress per stage (key URL-encoded)")
def get_video(key: str) -> dict[str, Any]:
    _pack("video")
    from offload.packs.video.steps import VideoPipeline

    record = VideoPipeline(runtime()).store.get(unquote(key))
    if record is None:
        raise ApiError(404, "not_found", f"no video record for {unquote(key)!r}: upload it with POST /uploads first")
    return {**record.model_dump(mode="json"), "progress": record.progress}


def _pack(name: str) -> None:
    if name not in {p.name for p in runtime().catalog.packs}:
        raise ApiError(404, "not_found", f"the {name} pack is not in this deployment's catalog")


# -- health and admin ----------------------------------------------------------------------


@app.get("/health", summary="200 when the deployment can take and run jobs, else 503 with the reasons")
def health() -> Response[dict[str, Any]]:
    from offload.health import check_health

    report = check_health(runtime())
    return _json(report, 200 if report["healthy"] else 503)


@app.get("/admin/queues", summary="Per queue counts, health and the latest failed jobs")
def admin_queues() -> dict[str, Any]:
    return admin.queue_overview(runtime())


@app.post("/admin/jobs/<job_id>/retry", summary="Run a failed job again (admin)")
def admin_retry(job_id: str) -> Response[dict[str, Any]]:
    return _json(job_doc(admin.retry(runtime(), job_id)), 202)


@app.post("/admin/queues/<queue>/redrive", summary="Move a queue's dead letters back to it")
def admin_redrive(queue: str, limit: Annotated[int | None, Query(ge=1)] = None) -> dict[str, Any]:
    report = admin.redrive(runtime(), _queue(queue), limit=limit)
    return {"queue": report.queue, "moved": report.moved, "resentForeign": report.resent_foreign, "left": report.left}


@app.post("/admin/queues/<queue>/pause", summary="Stop delivering a queue's messages (they wait in SQS)")
def admin_pause(queue: str) -> dict[str, Any]:
    report = admin.pause_queue(runtime(), _queue(queue))
    logger.info("queue paused", queue=queue)
    return {"queue": report.queue, "paused": True, "mappings": report.mappings}


@app.post("/admin/queues/<queue>/resume", summary="Deliver a paused queue's messages again")
def admin_resume(queue: str) -> dict[str, Any]:
    report = admin.resume_queue(runtime(), _queue(queue))
    logger.info("queue resumed", queue=queue)
    return {"queue": report.queue, "paused": False, "mappings": report.mappings}


@app.get("/openapi.json", summary="This API's OpenAPI document")
def openapi() -> Response[str]:
    return Response(
        status_code=200, content_type=content_types.APPLICATION_JSON, body=app.get_openapi_json_schema(title="offload")
    )


# -- the entry --------------------------------------------------------------------------------


def handle(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One API Gateway HTTP API (v2) event -> its response; the caller's IAM identity is logged with it."""
    body = event.get("body") or ""
    size = len(body.encode()) if isinstance(body, str) else len(body)
    if event.get("isBase64Encoded"):
        size = size * 3 // 4
    iam = ((event.get("requestContext") or {}).get("authorizer") or {}).get("iam") or {}
    who = {k: iam.get(k) for k in ("accountId", "userArn", "userId", "callerId", "principalOrgId") if iam.get(k)}
    http = (event.get("requestContext") or {}).get("http") or {}
    logger.append_keys(caller=who or None)  # on every line logged while this request runs
    try:
        logger.info("api request", method=http.get("method"), path=event.get("rawPath"), body_bytes=size)
        if size > errors.MAX_BODY_BYTES:
            return errors.too_large(size)
        app.append_context(identity=who)
        return app.resolve(event, context)
    finally:
        logger.remove_keys(["caller"])
