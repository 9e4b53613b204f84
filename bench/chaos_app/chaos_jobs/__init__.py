"""The chaos run's catalog: what the scenarios exercise (the core, images and video packs), and a `brief` queue
for the ones that stop workers.

A worker killed mid-job or a job past its function timeout comes back after the queue's visibility timeout
(6 x the function timeout) once its lease (the timeout + 5 s) has passed: 12 minutes on the `default`
queue. The `brief` queue's 3 s function makes that 18 s, so the scenarios see several rounds of it in a
minute, through the same worker, wiring and settings as every other queue.
"""

from offload.catalog import Catalog, JobType, Pack, QueueSpec
from offload.packs import core, images, video

brief = Pack(
    "brief",
    description="A queue whose worker times out after 3 s: the chaos run stops its invocations.",
    queues=(QueueSpec("brief", concurrency=4, timeout_s=3, attempts=4),),
    job_types=(
        JobType(
            "brief.sleep",
            queue="brief",
            processor="offload.packs.core.diagnostics:sleep",
            description="Sleep in steps, reporting progress (diag.sleep on the brief queue).",
        ),
    ),
)

catalog = Catalog.compose(core, images, video, brief)
