"""Follow one job with a live progress bar until it finishes (or the watcher gives up)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

from offload.jobs import admin
from offload.jobs.model import Job
from offload.runtime import Runtime


def _describe(job: Job) -> str:
    return f"{job.job_id} {job.status.value} (attempt {job.attempts} of {job.max_attempts})"


def watch_job(rt: Runtime, job_id: str, *, interval_s: float, timeout_s: float | None, console: Console) -> Job:
    """Poll the job every `interval_s` until it is terminal or `timeout_s` passes; return its last state."""
    job = admin.get_job(rt, job_id)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    columns = (
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(_describe(job), total=100, completed=job.progress)
        while not job.status.terminal:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            time.sleep(interval_s if left is None else min(interval_s, left))
            job = admin.get_job(rt, job_id)
            progress.update(task, completed=job.progress, description=_describe(job))
    return job
