"""The generate pack's on-finish hook: a cancelled generation cancels its outstanding provider jobs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from offload.jobs.model import Job, JobStatus
from offload.observability import logger

if TYPE_CHECKING:
    from offload.runtime import Runtime


def on_job_finished(job: Job, rt: Runtime) -> None:
    """For a cancelled `video.generate`: end its record cancelled and cancel each clip still in progress
    where the provider can (a provider that can't is logged: the clip finishes and is never used)."""
    if job.type != "video.generate" or job.status != JobStatus.CANCELLED or not job.execution_arn:
        return  # never handed off: no record, no provider job
    from offload.packs.generate.options import GenerateData
    from offload.packs.generate.steps import Generation, script_key

    g = Generation(rt)
    record = g.store.get(job.job_id)
    if record is not None and record.status in ("pending", "processing"):
        g.store.update(job.job_id, "cancelled", error={"step": record.stage, "reason": "cancelled"})
    data = GenerateData.model_validate(job.data) if isinstance(job.data, dict) else None
    script = g.get_json(script_key(job.job_id)) or {"scenes": []}
    for index in range(len(script["scenes"])):
        clip = g.clip_state(job.job_id, index)
        if clip.get("status") != "in_progress" or not clip.get("provider_job_id"):
            continue
        provider = g.provider(clip.get("provider") or g.options.provider, data.model if data else None)
        cancelled = provider.cancel(clip["provider_job_id"])
        g.save_clip_state(job.job_id, index, status="cancelled", provider_cancelled=cancelled)
        logger.info(
            "provider job cancelled" if cancelled else "provider can't cancel; clip left to finish",
            provider=provider.name,
            provider_job_id=clip["provider_job_id"],
        )
