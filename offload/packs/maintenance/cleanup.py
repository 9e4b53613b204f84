"""Daily cleanup: what is provably left over, never an original.

- image variants (`variants/<stem>/...`) and video/audio outputs (`videos/<name>/...`, `audio/<name>/...`)
  whose original upload has no current version any more, with the finished record of that upload;
- multipart uploads (media and payload buckets) started more than `upload_max_age_hours` ago and never
  completed;
- spilled job data and results (`jobs/<job id>/` in the payload bucket) whose job record has expired.

Only keys under those derived prefixes are ever deleted (every version of them, so the bytes go);
anything younger than `min_age_hours` is left, so a pipeline still writing is never raced. A dry run
reports the same summary and deletes nothing.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from offload.packs.maintenance.settings import maintenance_settings

if TYPE_CHECKING:
    from offload.runtime import Runtime

UPLOADS = "uploads/"
VARIANTS = "variants/"  # offload.packs.images.steps.VARIANT_PREFIX
VIDEO_OUTPUTS = {"videos/": "uploads/videos/", "audio/": "uploads/audio/"}  # output prefix -> upload prefix
PAYLOAD_JOBS = "jobs/"  # offload.jobs.enqueue spills data and results to jobs/<job id>/
SAMPLE_KEYS = 20
FINAL = ("completed", "failed", "cancelled")


@dataclass
class Found:
    """What one category of leftovers came to."""

    objects: int = 0
    bytes: int = 0
    sample: list[str] = field(default_factory=list)

    def add(self, key: str, size: int) -> None:
        self.objects += 1
        self.bytes += size
        if len(self.sample) < SAMPLE_KEYS:
            self.sample.append(key)


@dataclass
class Cleanup:
    """One cleanup run over a deployment."""

    rt: Runtime
    now: datetime
    dry_run: bool = False
    min_age: timedelta = timedelta(hours=24)
    upload_max_age: timedelta = timedelta(hours=24)
    found: dict[str, Found] = field(default_factory=dict)
    _exists: dict[tuple[str, str], bool] = field(default_factory=dict)

    def _found(self, category: str) -> Found:
        return self.found.setdefault(category, Found())

    def run(self) -> dict[str, Any]:
        """Every category; the summary the job returns."""
        ms = maintenance_settings(self.rt)
        if ms.media_bucket:
            self.orphaned_variants(ms.media_bucket)
            self.orphaned_video_outputs(ms.media_bucket)
            self.orphaned_records(ms.media_bucket, ms.images_table, ms.videos_table)
        for bucket in filter(None, (ms.media_bucket, self.rt.settings.payload_bucket)):
            self.stale_multipart_uploads(bucket)
        self.expired_payloads(self.rt.settings.payload_bucket)
        return {
            "dry_run": self.dry_run,
            "deleted" if not self.dry_run else "would_delete": {k: v.objects for k, v in sorted(self.found.items())},
            "bytes": sum(v.bytes for v in self.found.values()),
            "samples": {k: v.sample for k, v in sorted(self.found.items()) if v.sample},
        }

    # -- media ---------------------------------------------------------------------------
    def _objects(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        for page in self.rt.clients.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _old(self, obj: dict[str, Any]) -> bool:
        return bool(obj["LastModified"] <= self.now - self.min_age)

    def _original_exists(self, bucket: str, key: str) -> bool:
        """The upload has a current version (a deleted one's latest is a delete marker: HEAD says 404)."""
        if (bucket, key) not in self._exists:
            s3 = self.rt.clients.s3
            try:
                s3.head_object(Bucket=bucket, Key=key)
                self._exists[(bucket, key)] = True
            except s3.exceptions.ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise  # unsure (throttled, denied): never treat as gone
                self._exists[(bucket, key)] = False
        return self._exists[(bucket, key)]

    def _stem_has_original(self, bucket: str, stem: str) -> bool:
        """An image variant's stem (`images/cat`) has an upload `uploads/images/cat.<ext>` (any extension)."""
        for obj in self._objects(bucket, f"{UPLOADS}{stem}."):
            if posixpath.splitext(obj["Key"].removeprefix(UPLOADS))[0] == stem:
                return True
        return False

    def orphaned_variants(self, bucket: str) -> None:
        """variants/<stem>/<file> whose `uploads/<stem>.*` is gone."""
        verdicts: dict[str, bool] = {}
        for obj in self._objects(bucket, VARIANTS):
            stem = posixpath.dirname(obj["Key"].removeprefix(VARIANTS))
            if not stem or not self._old(obj):
                continue
            if stem not in verdicts:
                verdicts[stem] = self._stem_has_original(bucket, stem)
            if not verdicts[stem]:
                self._delete(bucket, obj, "image_variants")

    def orphaned_video_outputs(self, bucket: str) -> None:
        """videos/<name>/... (audio/<name>/...) where no `uploads/videos/<name>` exists for any <name>
        the key could have been made from (names may hold slashes: every leading part is tried)."""
        for out_prefix, upload_prefix in VIDEO_OUTPUTS.items():
            for obj in self._objects(bucket, out_prefix):
                if not self._old(obj):
                    continue
                parts = obj["Key"].removeprefix(out_prefix).split("/")
                names = ["/".join(parts[:i]) for i in range(1, len(parts))]
                if names and not any(self._original_exists(bucket, upload_prefix + n) for n in names):
                    self._delete(bucket, obj, "video_outputs")

    def orphaned_records(self, bucket: str, images_table: str | None, videos_table: str | None) -> None:
        """Finished image/video records whose upload is gone (a running one is left to its pipeline)."""
        db = self.rt.clients.dynamodb
        for table in filter(None, (images_table, videos_table)):
            kwargs: dict[str, Any] = {
                "TableName": table,
                "ProjectionExpression": "#k, #s, updated_at",
                "ExpressionAttributeNames": {"#k": "key", "#s": "status"},
            }
            while True:
                page = db.scan(**kwargs)
                for item in page.get("Items", []):
                    key = item["key"]["S"]
                    status = item.get("status", {}).get("S", "").strip('"')
                    if status in FINAL and key.startswith(UPLOADS) and not self._original_exists(bucket, key):
                        self._found("records").add(f"{table}:{key}", 0)
                        if not self.dry_run:
                            db.delete_item(
                                TableName=table,
                                Key={"key": {"S": key}},
                                ConditionExpression="#s = :s",
                                ExpressionAttributeNames={"#s": "status"},
                                ExpressionAttributeValues={":s": item["status"]},
                            )
                if "LastEvaluatedKey" not in page:
                    break
                kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # -- uploads and payloads ------------------------------------------------------------
    def stale_multipart_uploads(self, bucket: str) -> None:
        """Abort multipart uploads started before `upload_max_age` ago (their parts are billed until then)."""
        s3 = self.rt.clients.s3
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] > self.now - self.upload_max_age:
                    continue
                self._found("multipart_uploads").add(f"{bucket}/{upload['Key']}", 0)
                if not self.dry_run:
                    s3.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])

    def expired_payloads(self, bucket: str) -> None:
        """jobs/<job id>/... older than the longest record retention, whose job record is gone."""
        kept = max(self.rt.settings.retain_completed_s, self.rt.settings.retain_failed_s)
        old = [
            obj
            for obj in self._objects(bucket, PAYLOAD_JOBS)
            if obj["LastModified"] <= self.now - timedelta(seconds=kept) - self.min_age
        ]
        by_job: dict[str, list[dict[str, Any]]] = {}
        for obj in old:
            job_id = obj["Key"].removeprefix(PAYLOAD_JOBS).split("/", 1)[0]
            by_job.setdefault(job_id, []).append(obj)
        alive = {job.job_id for job in self.rt.store.get_many(list(by_job))}
        for job_id, objects in by_job.items():
            if job_id not in alive:
                for obj in objects:
                    self._delete(bucket, obj, "expired_payloads")

    # -- deleting ------------------------------------------------------------------------
    def _delete(self, bucket: str, obj: dict[str, Any], category: str) -> None:
        """Count the object; unless dry, delete every version of exactly that key (and its delete markers)."""
        self._found(category).add(obj["Key"], int(obj.get("Size", 0)))
        if self.dry_run:
            return
        s3 = self.rt.clients.s3
        versions: list[dict[str, str]] = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=obj["Key"]):
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if v["Key"] == obj["Key"]:
                    versions.append({"Key": v["Key"], "VersionId": v["VersionId"]})
        for i in range(0, len(versions), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": versions[i : i + 1000], "Quiet": True})
        if not versions:  # an unversioned bucket lists none
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
