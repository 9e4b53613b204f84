"""A Python client of offload's HTTP API: every request signed with SigV4 (service `execute-api`) from
the caller's botocore credentials. Standard library HTTP only; no dependency beyond botocore."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import quote, urlencode

SERVICE = "execute-api"


class OffloadApiError(Exception):
    """The API refused or failed a request: its status and the `{"error", "message", "field"}` it sent."""

    def __init__(self, status: int, error: str, message: str, field: str | None = None, *, body: Any = None) -> None:
        super().__init__(f"{status} {error}: {message}" + (f" (field {field})" if field else ""))
        self.body = body  # the decoded answer (a 503's health report)
        self.status = status
        self.error = error
        self.message = message
        self.field = field


class OffloadClient:
    """`OffloadClient("https://abc.execute-api.us-east-1.amazonaws.com")`; `session` is a boto3 or
    botocore session (default: botocore's default credential chain)."""

    def __init__(self, base_url: str, *, region: str | None = None, session: Any = None, timeout_s: float = 30) -> None:
        import botocore.session

        self.base_url = base_url.rstrip("/")
        self._session = session or botocore.session.get_session()
        self.region = region or _region_of(self._session) or "us-east-1"
        self.timeout_s = timeout_s

    # -- jobs ----------------------------------------------------------------------------
    def enqueue(self, type: str, data: Any = None, **options: Any) -> str:
        """Add a job (options: delay_s, run_at, priority, idempotency_key, attempts, webhook_url); its id."""
        return str(self.request("POST", "/jobs", {"type": type, "data": data, **_given(options)})["jobId"])

    def enqueue_many(self, type: str, items: list[Any], **options: Any) -> list[str]:
        """Add up to 100 jobs of one type; their ids, in order."""
        body = self.request("POST", "/jobs/batch", {"type": type, "items": items, **_given(options)})
        return [j["jobId"] for j in body["jobs"]]

    def get_job(self, job_id: str) -> dict[str, Any]:
        """The job's status, progress, result or error."""
        return self.request("GET", f"/jobs/{quote(job_id, safe='')}")

    def list_jobs(self, **filters: Any) -> dict[str, Any]:
        """`{"jobs": [...], "cursor": ...}` (filters: status, queue, type, limit, cursor)."""
        return self.request("GET", "/jobs", query=_given(filters))

    def cancel(self, job_id: str) -> dict[str, Any]:
        """Cancel a waiting or running job."""
        return self.request("DELETE", f"/jobs/{quote(job_id, safe='')}")

    def retry(self, job_id: str) -> dict[str, Any]:
        """Run a failed job again from attempt 1."""
        return self.request("POST", f"/jobs/{quote(job_id, safe='')}/retry")

    # -- operations ------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """The health report; a 503 is returned as its report (`healthy` false), not raised."""
        try:
            return self.request("GET", "/health")
        except OffloadApiError as exc:
            if exc.status == 503 and isinstance(exc.body, dict):
                return exc.body
            raise

    def queues(self) -> dict[str, Any]:
        """Per queue counts, health and latest failed jobs (admin)."""
        return self.request("GET", "/admin/queues")

    def pause(self, queue: str) -> dict[str, Any]:
        """Stop delivering a queue's messages; they wait in SQS (admin)."""
        return self.request("POST", f"/admin/queues/{quote(queue, safe='')}/pause")

    def resume(self, queue: str) -> dict[str, Any]:
        """Deliver a paused queue's messages again (admin)."""
        return self.request("POST", f"/admin/queues/{quote(queue, safe='')}/resume")

    def redrive(self, queue: str, *, limit: int | None = None) -> dict[str, Any]:
        """Move a queue's dead letters back to it (admin)."""
        return self.request("POST", f"/admin/queues/{quote(queue, safe='')}/redrive", query=_given({"limit": limit}))

    # -- the wire --------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, *, query: dict[str, Any] | None = None) -> Any:
        """Send one signed request; the decoded JSON answer, or OffloadApiError."""
        url = self.base_url + path + (f"?{urlencode(query, quote_via=quote)}" if query else "")  # %20, not +
        data = None if body is None else json.dumps(body, default=str).encode()
        headers = self.signed_headers(method, url, data)
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:
                return _decode(resp.read())
        except urllib.error.HTTPError as exc:
            raise _api_error(exc.code, exc.read()) from None

    def signed_headers(self, method: str, url: str, data: bytes | None) -> dict[str, str]:
        """The headers (Authorization, X-Amz-Date, X-Amz-Security-Token, ...) that sign this request."""
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._session.get_credentials()
        if credentials is None:
            raise OffloadApiError(
                0, "no_credentials", "no AWS credentials found: set AWS_PROFILE or AWS_ACCESS_KEY_ID/SECRET"
            )
        headers = {"Content-Type": "application/json"} if data is not None else {}
        request = AWSRequest(method=method, url=url, data=data or b"", headers=headers)
        SigV4Auth(credentials.get_frozen_credentials(), SERVICE, self.region).add_auth(request)
        return dict(request.headers.items())


def _region_of(session: Any) -> str | None:
    """The region a botocore or boto3 session is configured with."""
    getter = getattr(session, "get_config_variable", None)
    if getter is not None:
        return getter("region")
    return getattr(session, "region_name", None)


def _given(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if v is not None}


def _decode(raw: bytes) -> Any:
    return json.loads(raw) if raw else None


def _api_error(status: int, raw: bytes) -> OffloadApiError:
    try:
        body = json.loads(raw)
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return OffloadApiError(status, str(body["error"]), str(body.get("message", "")), body.get("field"), body=body)
    if isinstance(body, dict) and set(body) == {"message"}:  # API Gateway's own answer: no route, IAM, throttling
        error = {403: "forbidden", 404: "not_found", 413: "payload_too_large", 429: "throttled"}.get(status, "gateway")
        return OffloadApiError(status, error, str(body["message"]), body=body)
    if isinstance(body, dict) and "healthy" in body:
        return OffloadApiError(status, "unhealthy", "; ".join(body.get("reasons", [])), body=body)
    return OffloadApiError(status, "http_error", raw[:200].decode(errors="replace") or f"HTTP {status}", body=body)
