"""What the moderation pack does: score items, record verdicts, take reports, record human decisions.

The moderation record (`store.ModerationRecord`) is the source of truth; an image or video record
carries a copy of its state in `moderation` ({status, reason, at}), written with every change, so the
HTTP API, the console and `offload images get` can withhold a held item's outputs without a second
table (`withheld_reason`).

An item the moderator could not check at all (the local moderator and any image) is `unchecked`: the
pack's `unchecked` option decides whether it is held for a reviewer ("hold", the default) or approved
with its verdict still saying "unchecked" ("pass"). Nothing is ever called safe that nobody looked at.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from offload.ai.moderation import Decision, ModerationResult, Moderator, decide
from offload.errors import NonRetryableError
from offload.jobs.model import now_iso
from offload.jobs.notify import Alert, publish_alert
from offload.observability import logger
from offload.packs.moderation import MEDIA_PACKS, PACK
from offload.packs.moderation.options import ModerationOptions
from offload.packs.moderation.settings import ModerationSettings, moderation_settings
from offload.packs.moderation.store import (
    MACHINE_SOURCES,
    ItemKind,
    ModerationRecord,
    ModerationState,
    ModerationStore,
    subject_key,
)
from offload.runtime import Runtime
from offload.settings import SettingsError

# Where each kind's uploads live.
UPLOAD_KINDS = {"uploads/images/": "image", "uploads/videos/": "video"}
HumanDecision = Literal["approve", "reject"]


class ModerationError(ValueError):
    """A moderation request that can't be done; the message says why and what to do."""


def resolve_subject(key: str) -> tuple[ItemKind, str]:
    """(kind, id) of `image:<key>`, `video:<key>`, `text:<id>`, or of a bare upload key under
    uploads/images/ or uploads/videos/."""
    kind, sep, ident = key.partition(":")
    if sep and kind in ("text", "image", "video") and ident:
        return kind, ident  # type: ignore[return-value]
    for prefix, upload_kind in UPLOAD_KINDS.items():
        if key.startswith(prefix):
            return upload_kind, key  # type: ignore[return-value]
    raise ModerationError(
        f"{key!r} names no moderated item: give image:<upload key>, video:<upload key> or text:<id> "
        "(or an upload key under uploads/images/ or uploads/videos/); `offload moderation review` lists them"
    )


def text_id(text: str) -> str:
    """The id of a text moderated without one: its SHA-256, shortened."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def in_catalog(rt: Runtime) -> bool:
    return rt.catalog.pack(PACK) is not None


def withheld_reason(rt: Runtime, kind: str, record: dict[str, Any]) -> str | None:
    """Why an image or video record's outputs are not served, or None when they are (or the pack is out)."""
    if not in_catalog(rt) or record.get("kind", kind) not in MEDIA_PACKS:
        return None  # audio files and live recordings are not moderated (frames of videos are)
    state = record.get("moderation") or {}
    status = state.get("status")
    if status == "approved":
        return None
    subject = subject_key(kind, record["key"])  # type: ignore[arg-type]
    if status is None:
        return f"not moderated yet: outputs are served once moderation approves it (`offload moderation get {subject}`)"
    return (
        f"held by moderation ({status}): {state.get('reason') or 'no reason recorded'}; a reviewer approves it "
        f"with `offload moderation approve {subject}`"
    )


def served(rt: Runtime, kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as clients may see it: a held item keeps its status and metadata, but its outputs
    (an image's variants, a video's outputs) are replaced by `withheld`, the reason."""
    reason = withheld_reason(rt, kind, record)
    if reason is None:
        return record
    outputs = "variants" if kind == "image" else "outputs"
    return {**record, outputs: [], "withheld": reason}


@dataclass
class Moderation:
    """The pack's resources and decisions, built once per container (or per CLI call)."""

    rt: Runtime

    @cached_property
    def settings(self) -> ModerationSettings:
        try:
            return moderation_settings(self.rt)
        except SettingsError as exc:
            raise NonRetryableError(str(exc)) from None

    @cached_property
    def options(self) -> ModerationOptions:
        return ModerationOptions.model_validate(self.settings.options)

    @cached_property
    def store(self) -> ModerationStore:
        return ModerationStore(self.rt.clients.dynamodb, self.settings.moderation_table)

    @cached_property
    def moderator(self) -> Moderator:
        from offload.ai.factory import AiSettings, moderator_from_settings

        ai = AiSettings.from_env()
        if ai.api_key_secret_arn is None and self.settings.ai_key_secret_arn:
            ai = ai.model_copy(update={"api_key_secret_arn": self.settings.ai_key_secret_arn})
        return moderator_from_settings(ai, self.rt.clients.secrets)

    # -- machine verdicts -------------------------------------------------------------------

    def judge(self, results: list[ModerationResult]) -> tuple[ModerationState, Decision]:
        """The state a set of results puts an item in, and offload's decision on them."""
        decision = decide(results, self.options.thresholds, self.options.default)
        if decision.verdict == "flagged":
            return "flagged", decision
        if decision.verdict == "unchecked" and self.options.unchecked == "hold":
            return "flagged", decision.model_copy(update={"reason": f"unchecked, held for review: {decision.reason}"})
        return "approved", decision

    def record_verdict(
        self,
        kind: ItemKind,
        ident: str,
        results: list[ModerationResult],
        *,
        target: str | None = None,
        excerpt: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> ModerationRecord:
        """Store the verdict on `results` (never over a reviewer's rejection) and copy it to the media record."""
        state, decision = self.judge(results)
        key = subject_key(kind, ident)
        by = ", ".join(sorted({f"{r.provider}:{r.model}" for r in results})) or "moderator"
        docs = [
            {**r.model_dump(mode="json"), **(d or {})}
            for r, d in zip(results, details or [{}] * len(results), strict=True)
        ]
        record = self.store.move(
            key,
            kind,
            state,
            {"action": "moderated", "by": by, "verdict": decision.verdict, "note": decision.reason},
            sources=MACHINE_SOURCES,
            create=True,
            verdict=decision.verdict,
            reason=decision.reason,
            over=decision.over,
            results=docs,
            target=target,
            excerpt=excerpt,
        )
        if record is None:  # a human rejected it: a machine verdict doesn't overturn that
            record = self.store.get(key)
            if record is None:
                raise NonRetryableError(f"moderation record {key} vanished while recording its verdict")
            logger.info("moderation verdict kept the reviewer's decision", subject=key, status=record.status)
        logger.info("moderated", subject=key, status=record.status, verdict=decision.verdict)
        self.sync_media(record)
        return record

    def _limit(self) -> None:
        from offload.ai.moderation import LocalModerator

        if isinstance(self.moderator, LocalModerator):
            return
        limit = self.rt.catalog.resource_limits.get("openai")
        if limit is not None and self.rt.rate_limiter is not None:
            self.rt.rate_limiter.acquire_or_raise("openai", limit)

    def text(self, text: str, ident: str | None = None) -> ModerationRecord:
        """Moderate a text; its record is `text:<ident>` (default: a hash of the text)."""
        if not text.strip():
            raise NonRetryableError("the text to moderate is empty: pass the text itself")
        self._limit()
        result = self.moderator.text(text)
        return self.record_verdict("text", ident or text_id(text), [result], excerpt=text[:200])

    def image(self, key: str, data: bytes) -> ModerationRecord:
        """Moderate the image bytes of upload `key`."""
        self._limit()
        return self.record_verdict("image", key, [self.moderator.image(data)], target=key)

    def image_object(self, key: str, version_id: str | None = None) -> ModerationRecord:
        """Moderate an image of the media bucket."""
        return self.image(key, self._read(key, version_id))

    def video_object(self, key: str, frames: int | None = None, version_id: str | None = None) -> ModerationRecord:
        """Moderate frames sampled across a video of the media bucket (see `video`)."""
        from offload.media.video.facts import probe

        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / ("source" + Path(key).suffix)
            path.write_bytes(self._read(key, version_id))
            facts = probe(str(path))
            if facts.video is None:
                raise NonRetryableError(f"{key} has no video stream: moderate.video samples frames of videos only")
            return self.video(key, str(path), duration_s=facts.duration_s, frames=frames)

    def video(self, key: str, source: str, *, duration_s: float, frames: int | None = None) -> ModerationRecord:
        """Moderate `frames` (the pack's `video_frames`) frames sampled evenly across `source` (a path or a
        presigned URL): any frame over a threshold flags the video; each frame's result is kept with its time."""
        from offload.media.video.previews import sample_frames

        sampled = sample_frames(source, frames or self.options.video_frames, duration_s=duration_s)
        results, details = [], []
        for at, jpeg in sampled:
            self._limit()
            results.append(self.moderator.image(jpeg))
            details.append({"frame_s": round(at, 3)})
        return self.record_verdict("video", key, results, target=key, details=details)

    def _read(self, key: str, version_id: str | None) -> bytes:
        bucket = self.settings.media_bucket
        if not bucket:
            raise NonRetryableError("this deployment has no media bucket: compose the images or video pack")
        kwargs = {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}
        s3 = self.rt.clients.s3
        try:
            return bytes(s3.get_object(**kwargs)["Body"].read())
        except s3.exceptions.NoSuchKey:
            raise NonRetryableError(f"no object {key!r} in the media bucket {bucket}: upload it first") from None

    # -- people -----------------------------------------------------------------------------

    def report(self, subject: str, reporter: str, reason: str) -> tuple[ModerationRecord, bool]:
        """Store a user's report; when the distinct reporters reach the threshold the item is escalated
        (flagged, held, and one admin alert). Returns the record and whether this report escalated it."""
        kind, ident = resolve_subject(subject)
        key = subject_key(kind, ident)
        target = ident if kind in MEDIA_PACKS else None
        record = self.store.add_report(key, kind, {"reporter": reporter, "reason": reason}, target=target)
        threshold = self.options.report_threshold
        if len(record.reporters) < threshold or record.status in ("flagged", "rejected"):
            return record, False
        escalated = self.store.move(
            key,
            kind,
            "flagged",
            {"action": "escalated", "by": "reports", "note": f"{len(record.reporters)} distinct reporters"},
            sources=("pending", "approved"),
            reason=f"escalated: {len(record.reporters)} distinct users reported it (threshold {threshold})",
        )
        if escalated is None:  # another report escalated it first: one alert only
            return self.store.get(key) or record, False
        self.sync_media(escalated)
        self._alert(escalated, reason)
        return escalated, True

    def human_decision(
        self, subject: str, decision: HumanDecision, *, by: str, note: str, action: str = "review"
    ) -> ModerationRecord:
        """A reviewer's (or an appeal's) decision: approve or reject, with who and why, kept in the history."""
        if not by.strip():
            raise ModerationError("a decision needs the reviewer's name: pass --by NAME")
        kind, ident = resolve_subject(subject)
        key = subject_key(kind, ident)
        current = self.store.get(key)
        if current is None:
            raise ModerationError(f"no moderation record for {key}: moderate it first (offload moderation {kind} ...)")
        status: ModerationState = "approved" if decision == "approve" else "rejected"
        record = self.store.move(
            key, kind, status, {"action": action, "by": by, "decision": decision, "note": note, "was": current.status}
        )
        if record is None:
            raise ModerationError(
                f"{key} is {current.status}: a {decision} can't move it to {status}; check it with "
                f"`offload moderation get {key}`"
            )
        self.sync_media(record)
        return record

    def review_queue(self) -> list[ModerationRecord]:
        """What waits for a reviewer: flagged items (held), oldest first."""
        return self.store.scan(statuses=("flagged",))

    # -- the media records ------------------------------------------------------------------

    def sync_media(self, record: ModerationRecord) -> None:
        """Copy the moderation state onto the image or video record (when that pack is deployed here)."""
        pack = MEDIA_PACKS.get(record.kind)
        if pack is None or record.target is None or pack not in self.rt.settings.packs:
            return
        store = media_store(self.rt, pack)
        state = {"status": record.status, "reason": record.reason, "at": now_iso()}
        if store.set_aside(record.target, moderation=state) is None:
            logger.info("no media record to mark", subject=record.key)

    def _alert(self, record: ModerationRecord, last_reason: str) -> None:
        alert = Alert(
            subject=f"offload: {record.key} escalated by user reports",
            what=f"{record.kind.capitalize()} {record.target or record.key} was reported by "
            f"{len(record.reporters)} users and is now held back.",
            step="moderation.report",
            reason=last_reason,
            commands=(
                ("Review it", f"offload moderation get {record.key}"),
                ("Approve", f"offload moderation approve {record.key} --by NAME --note WHY"),
                ("Reject", f"offload moderation reject {record.key} --by NAME --note WHY"),
            ),
            details={"reports": record.reports[-5:]},
        )
        try:
            publish_alert(self.rt.clients.sns, self.rt.settings.alert_topic_arn, alert)
        except Exception:
            logger.exception("could not publish the moderation escalation alert")


def media_store(rt: Runtime, pack: str) -> Any:
    """The images or video pack's record store."""
    if pack == "images":
        from offload.packs.images.steps import ImagePipeline

        return ImagePipeline(rt).store
    from offload.packs.video.steps import VideoPipeline

    return VideoPipeline(rt).store
