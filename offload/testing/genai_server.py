"""A fake Vertex AI endpoint on 127.0.0.1 with scripted replies, for google-genai's Veo calls.

Usage: `with FakeGenAIServer() as server: server.script(veo_operation(...), ...)`, then build the
client with `http_options=HttpOptions(base_url=server.base_url)` (`make_genai_client(base_url=...)`).
Each request takes the next scripted reply, in order, and is recorded in `server.requests`; an
unscripted request gets a Google-shaped 599, which no test expects.

The paths the SDK calls in Vertex AI mode, which tests can check in `server.requests`:
POST /v1beta1/publishers/google/models/{model}:predictLongRunning (express mode; with a project,
/v1beta1/projects/{p}/locations/{l}/publishers/...) to start a video, and
POST /v1beta1/{model path}:fetchPredictOperation with {"operationName": name} to read it.
"""

from __future__ import annotations

import base64

from offload.testing.scripted_http import RecordedRequest, Reply, ScriptedServer

# The gRPC status names Google's JSON errors carry, by HTTP status.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


def operation_name(model: str = "veo-3.1-generate-001", op_id: str = "op-1", *, project: str = "demo") -> str:
    """A Vertex AI operation name for a video job, as the service returns it."""
    return f"projects/{project}/locations/us-central1/publishers/google/models/{model}/operations/{op_id}"


def veo_operation(
    name: str,
    *,
    done: bool = False,
    videos: list[bytes] | None = None,
    gcs_uris: list[str] | None = None,
    rai_filtered_count: int | None = None,
    rai_filtered_reasons: list[str] | None = None,
    error: tuple[int, str] | None = None,
) -> Reply:
    """A 200 long-running operation: running, or done with inline `videos` (MP4 bytes), stored
    `gcs_uris`, a RAI filter count and reasons, or `error` (code, message)."""
    body: dict[str, object] = {"name": name}
    if done or error:
        body["done"] = True
    if error:
        body["error"] = {"code": error[0], "message": error[1]}
    if done:
        response: dict[str, object] = {
            "@type": "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse",
            "videos": [
                {"bytesBase64Encoded": base64.b64encode(v).decode("ascii"), "mimeType": "video/mp4"}
                for v in videos or []
            ]
            + [{"gcsUri": uri, "mimeType": "video/mp4"} for uri in gcs_uris or []],
        }
        if rai_filtered_count is not None:
            response["raiMediaFilteredCount"] = rai_filtered_count
        if rai_filtered_reasons is not None:
            response["raiMediaFilteredReasons"] = rai_filtered_reasons
        body["response"] = response
    return Reply(body=body)


def google_error(status: int, message: str, **headers: str) -> Reply:
    """An error answer shaped like Google's (`{"error": {code, message, status}}`); header names use _ for -."""
    return Reply(
        status=status,
        body={"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}},
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


class FakeGenAIServer(ScriptedServer):
    """A loopback Vertex AI endpoint on a free port answering with scripted replies."""

    thread_name = "fake-genai"
    base_path = "/"  # HttpOptions.base_url: the SDK adds the API version (/v1beta1/...)

    def unscripted(self, request: RecordedRequest) -> Reply:
        """A Google-shaped 599 naming the request."""
        return google_error(599, f"fake server: no scripted reply for {request.method} {request.path}")
