"""http.fetch: download a URL into S3, streaming, with a size cap."""

from __future__ import annotations

import hashlib
import tempfile
import urllib.error
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, Field, HttpUrl

from offload.errors import NonRetryableError, RetryableError
from offload.http_rules import error_for_status
from offload.jobs.context import JobContext
from offload.packs.core.http_util import Allowlist, open_url

_CHUNK = 1024 * 1024


class FetchData(BaseModel):
    url: HttpUrl
    key: str | None = Field(default=None, description="S3 key; default fetched/<job id>/<file name>")
    bucket: str | None = Field(default=None, description="S3 bucket; default the stack's payload bucket")
    max_bytes: int = Field(default=512 * 1024 * 1024, gt=0, le=5 * 1024**3)
    timeout_s: float = Field(default=30.0, gt=0, le=120)


def fetch_to_s3(data: FetchData, ctx: JobContext) -> dict[str, Any]:
    """Stream the URL to a temp file (refusing more than max_bytes), then upload it to S3."""
    url = str(data.url)
    bucket = data.bucket or ctx.runtime.settings.payload_bucket
    name = urlparse(url).path.rsplit("/", 1)[-1] or "index"
    key = data.key or f"fetched/{ctx.job_id}/{name}"
    digest = hashlib.sha256()
    size = 0
    try:
        with (
            open_url(url, timeout=data.timeout_s, allow=Allowlist.parse(ctx.runtime.settings.http_allow_hosts)) as resp,
            tempfile.SpooledTemporaryFile(max_size=8 * _CHUNK) as buffer,
        ):
            content_type = resp.headers.get_content_type()
            expected = int(resp.headers.get("Content-Length") or 0)
            if expected > data.max_bytes:
                raise NonRetryableError(f"{url} is {expected} bytes, over max_bytes={data.max_bytes}")
            while chunk := resp.read(_CHUNK):
                size += len(chunk)
                if size > data.max_bytes:
                    raise NonRetryableError(f"{url} sent more than max_bytes={data.max_bytes}")
                digest.update(chunk)
                buffer.write(chunk)
                if expected:
                    ctx.update_progress(min(90, round(90 * size / expected)))
            buffer.seek(0)
            # One PUT (up to 5 GB, and max_bytes is at most that): no multipart layer needed.
            ctx.runtime.clients.s3.put_object(
                Bucket=bucket, Key=key, Body=buffer, ContentLength=size, ContentType=content_type
            )
    except urllib.error.HTTPError as exc:
        raise error_for_status(exc.code, url) from None
    except (TimeoutError, ConnectionError) as exc:
        raise RetryableError(f"could not download {url}: {exc}") from None
    return {"bucket": bucket, "key": key, "bytes": size, "content_type": content_type, "sha256": digest.hexdigest()}
