"""Uploads become jobs: the message kind for S3 -> SQS notifications, shared by the upload packs.

A pack whose S3 triggers feed a queue (images, later video) lists
`offload.packs.uploads:adopt_s3_notification` in its `message_kinds`; the worker asks it about
every body that is not an offload job message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote_plus

from pydantic import BaseModel

from offload.jobs.enqueue import enqueue
from offload.observability import logger

if TYPE_CHECKING:
    from offload.jobs.batch import SQSRecord
    from offload.jobs.worker import Worker


class UploadData(BaseModel):
    """The data of a job an S3 upload became: which object, which version of it."""

    bucket: str
    key: str
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None


def adopt_s3_notification(body: dict[str, Any], record: SQSRecord, worker: Worker) -> bool:
    """S3's test event and object-created events; each object under a catalog trigger's prefix
    becomes a job whose idempotency key is the object version, so duplicate events start nothing."""
    if body.get("Event") == "s3:TestEvent":
        logger.info("S3 test event acknowledged", bucket=body.get("Bucket"))
        return True
    entries = body.get("Records")
    if not (isinstance(entries, list) and entries and isinstance(entries[0], dict) and "s3" in entries[0]):
        return False
    rt = worker.rt
    for entry in entries:
        obj = entry.get("s3", {}).get("object", {})
        bucket = entry.get("s3", {}).get("bucket", {}).get("name", "")
        key = unquote_plus(obj.get("key", ""))  # event keys are URL-encoded, spaces as '+'
        trigger = rt.catalog.trigger_for(key)
        if not str(entry.get("eventName", "")).startswith("ObjectCreated") or trigger is None:
            logger.info("S3 event ignored", key=key, event=entry.get("eventName"))
            continue
        version = obj.get("versionId") or obj.get("eTag") or obj.get("sequencer", "")
        enqueue(
            trigger.job_type,
            {
                "bucket": bucket,
                "key": key,
                "version_id": obj.get("versionId"),
                "etag": obj.get("eTag"),
                "size": obj.get("size"),
            },
            idempotency_key=f"s3:{bucket}/{key}#{version}",
            runtime=rt,
        )
        logger.info("S3 upload queued", key=key, job_type=trigger.job_type, message_id=record.message_id)
    return True
