"""`POST /uploads`: a presigned S3 POST for one file, limited to its size and type, under the prefix
whose S3 trigger feeds the pack that handles that kind (uploads/images/, uploads/videos/, uploads/audio/)."""

from __future__ import annotations

import posixpath
import re
import secrets
from typing import TYPE_CHECKING, Any

from offload.api.errors import ApiError
from offload.api.models import UploadRequest

if TYPE_CHECKING:
    from offload.runtime import Runtime

PREFIXES = {"image": "uploads/images/", "video": "uploads/videos/", "audio": "uploads/audio/"}
# Which pack's settings name the media bucket for a kind (the packs share one bucket).
_PACK_OF = {"image": "images", "video": "video", "audio": "video"}
# One presigned POST carries at most 5 GB (S3's single-upload limit).
PRESIGNED_POST_MAX_BYTES = 5 * 1024**3
EXPIRES_S = 900
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def presign_upload(rt: Runtime, req: UploadRequest) -> dict[str, Any]:
    """The URL and form fields to POST the file to, the key it lands at, and where to poll it."""
    prefix = PREFIXES[req.kind]
    trigger = rt.catalog.trigger_for(prefix + "x")
    if trigger is None or trigger.prefix != prefix:
        raise ApiError(
            422,
            "validation_error",
            f"kind {req.kind!r} is not accepted here: add the {_PACK_OF[req.kind]} pack to "
            "the app's catalog and deploy again",
            "kind",
        )
    major = req.content_type.split("/", 1)[0]
    if major != req.kind:
        raise ApiError(
            422,
            "validation_error",
            f"content_type {req.content_type!r} is not an {req.kind} type: send {req.kind}/...",
            "content_type",
        )
    limit = _max_bytes(rt, req.kind)
    if req.bytes > limit:
        raise ApiError(
            413 if req.bytes > PRESIGNED_POST_MAX_BYTES else 422,
            "payload_too_large" if req.bytes > PRESIGNED_POST_MAX_BYTES else "validation_error",
            f"bytes {req.bytes} is over the {limit} bytes a {req.kind} upload may have",
            "bytes",
        )
    bucket = str(rt.settings.packs.get(_PACK_OF[req.kind], {}).get("media_bucket") or "")
    if not bucket:
        raise ApiError(404, "not_found", f"the {_PACK_OF[req.kind]} pack is not deployed in this stack")
    name = _SAFE_NAME.sub("-", posixpath.basename(req.filename)).strip("-.") or "upload"
    key = f"{prefix}{secrets.token_hex(8)}/{name}"
    post = rt.clients.s3.generate_presigned_post(
        Bucket=bucket,
        Key=key,
        Fields={"Content-Type": req.content_type},
        Conditions=[{"Content-Type": req.content_type}, ["content-length-range", req.bytes, req.bytes]],
        ExpiresIn=EXPIRES_S,
    )
    poll = "/images/" if req.kind == "image" else "/videos/"
    from urllib.parse import quote

    return {
        "key": key,
        "url": post["url"],
        "fields": post["fields"],
        "expiresIn": EXPIRES_S,
        "poll": poll + quote(key, safe=""),
    }


def _max_bytes(rt: Runtime, kind: str) -> int:
    """The largest file the pack accepts for this kind (and one POST can carry)."""
    if kind == "image":
        from offload.media.facts import DEFAULT_MAX_BYTES

        return DEFAULT_MAX_BYTES
    from offload.media.video.plan import VideoOptions

    options = VideoOptions.model_validate(rt.settings.packs.get("video", {}).get("options") or {})
    return min(options.limits.max_bytes, PRESIGNED_POST_MAX_BYTES)
