"""The HTTP API's routes: thin calls into offload.jobs.enqueue, offload.jobs.admin, offload.health
and the packs' stores. `handle(event, context)` is what the Lambda (and the local server) calls."""

from __future__ import annotations

import json
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


_bound: Runtime | None = None


def bind(rt: Runtime | None) -> None:
    """Serve this deployment (the Lambda handler binds its environment's at import; None: the default)."""
    global _bound
    _bound = rt


def runtime() -> Runtime:
    """The deployment this function serves: the bound one, else the process's default."""
    return _bound or default_runtime()


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
    status: Annotated[str | None, Query(max_length=64, description="vector metadata status, e.g. indexed")] = None,
    tag: Annotated[str | None, Query(max_length=100, description="only images with this tag")] = None,
    filter: Annotated[
        str | None, Query(max_length=2000, description='a metadata filter as JSON, e.g. {"mood": {"$ne": "dark"}}')
    ] = None,
) -> dict[str, Any]:
    _pack("images")
    from offload.ai.vector_filter import FilterError
    from offload.packs.images.search import get_image as image_record
    from offload.packs.images.search import search, search_filter
    from offload.packs.moderation.service import in_catalog, withheld_reason

    try:
        flt = search_filter(status=status, tag=tag, raw=filter)
    except FilterError as exc:
        raise ApiError(400, "bad_filter", str(exc)) from None
    rt = runtime()
    hits = search(rt, q, limit=limit, filter=flt)
    if in_catalog(rt):  # held images (flagged, rejected, not moderated yet) are not served in results either
        hits = [
            h for h in hits if (r := image_record(rt, h["key"])) and not withheld_reason(rt, "image", r.model_dump())
        ]
    return {"results": hits}


@app.get("/images/<key>", summary="An image upload's record (key URL-encoded); a held image's variants are withheld")
def get_image(key: str) -> dict[str, Any]:
    _pack("images")
    from offload.packs.images.search import get_image as image_record
    from offload.packs.moderation.service import served

    record = image_record(runtime(), unquote(key))
    if record is None:
        raise ApiError(404, "not_found", f"no image record for {unquote(key)!r}: upload it with POST /uploads first")
    return served(runtime(), "image", record.model_dump(mode="json"))


@app.get(
    "/videos/<key>",
    summary="A video or audio upload's record, with progress per stage (key URL-encoded); a held video's outputs "
    "are withheld",
)
def get_video(key: str) -> dict[str, Any]:
    _pack("video")
    from offload.packs.video.steps import VideoPipeline

    record = VideoPipeline(runtime()).store.get(unquote(key))
    if record is None:
        raise ApiError(404, "not_found", f"no video record for {unquote(key)!r}: upload it with POST /uploads first")
    from offload.packs.moderation.service import served

    return served(runtime(), "video", {**record.model_dump(mode="json"), "progress": record.progress})


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
def openapi() -> dict[str, Any]:
    return openapi_document()


# -- the route table the stack is built from ---------------------------------------------------

# Callable without credentials (load balancers, uptime checks): nothing secret in the answer.
PUBLIC_ROUTES = frozenset({("GET", "/health")})
# What an application that adds jobs and uploads media may call (the producer policy); admins may call all.
PRODUCER_ROUTES = frozenset(
    {
        ("POST", "/jobs"),
        ("POST", "/jobs/batch"),
        ("GET", "/jobs"),
        ("GET", "/jobs/{job_id}"),
        ("DELETE", "/jobs/{job_id}"),
        ("POST", "/jobs/{job_id}/retry"),
        ("POST", "/uploads"),
        ("GET", "/images/search"),
        ("GET", "/images/{key}"),
        ("GET", "/videos/{key}"),
        ("GET", "/openapi.json"),
    }
)
SIGV4_SCHEME = {
    "type": "apiKey",
    "in": "header",
    "name": "Authorization",
    "description": "AWS Signature Version 4, service `execute-api`, from the caller's IAM credentials "
    "(offload.client, `curl --aws-sigv4`, or any AWS SDK's signer)",
    "x-amazon-apigateway-authtype": "awsSigv4",
}


# offload's errors carry all three; API Gateway's own (403 unsigned, 429 throttled) carry only `message`.
ERROR_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "error": {"type": "string", "description": "a short code: validation_error, not_found, conflict, ..."},
        "message": {"type": "string", "description": "what is wrong and how to fix it"},
        "field": {"type": "string", "description": "the request field at fault, when there is one"},
    },
}
# Every error the routes (and API Gateway's IAM check, 403) can answer, in the one Error shape.
ERROR_STATUSES = {
    "400": "the body is not JSON",
    "403": "the request is not signed, or the caller's policy does not allow this route",
    "404": "no such job, queue, record or route",
    "409": "the job or queue is not in a state that allows this",
    "413": "the body is over 256 KB (put large data in S3 and pass its key)",
    "422": "a field is invalid: `field` names it",
    "429": "throttled: retry after a moment",
}


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document: every route, with SigV4 required on all but PUBLIC_ROUTES."""
    doc: dict[str, Any] = json.loads(app.get_openapi_json_schema(title="offload", version=_version()))
    components = doc.setdefault("components", {})
    components["securitySchemes"] = {"sigv4": SIGV4_SCHEME}
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Error"] = ERROR_SCHEMA
    doc["security"] = [{"sigv4": []}]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            public = (method.upper(), path) in PUBLIC_ROUTES
            for status, why in ERROR_STATUSES.items():
                if not public or status in ("400", "422", "429"):
                    operation["responses"][status] = {"description": why, "content": error}
            if public:
                operation["security"] = []
    health = doc["paths"]["/health"]["get"]["responses"]
    health["503"] = {"description": "unhealthy: `reasons` names each failed check", "content": health["200"]["content"]}
    return doc


def routes() -> list[tuple[str, str]]:
    """Every (METHOD, /path/{param}) the API serves, in the OpenAPI document's spelling (API Gateway's too)."""
    paths: dict[str, dict[str, Any]] = json.loads(app.get_openapi_json_schema(title="offload"))["paths"]
    return sorted((method.upper(), path) for path, operations in paths.items() for method in operations)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("offload")
    except PackageNotFoundError:
        return "0"


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
    logger.thread_safe_append_keys(caller=who or None)  # on every line logged while this request runs
    try:
        logger.info("api request", method=http.get("method"), path=event.get("rawPath"), body_bytes=size)
        if size > errors.MAX_BODY_BYTES:
            return errors.too_large(size)
        app.append_context(identity=who)
        return app.resolve(event, context)
    finally:
        logger.thread_safe_remove_keys(["caller"])
