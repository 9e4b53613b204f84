"""The EventBridge bus that carries `Job Completed` / `Job Failed` events (source `offload.jobs`)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from constructs import Construct

EVENT_SOURCE = "offload.jobs"
DETAIL_TYPES = ("Job Completed", "Job Failed")


class JobEvents(Construct):
    """A custom bus named `<stack name>-jobs`, so subscribers can find it without stack outputs."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.bus = events.EventBus(
            self,
            "Bus",
            event_bus_name=f"{Stack.of(self).stack_name}-jobs",
            description=f"offload job lifecycle events: source {EVENT_SOURCE}, detail types {', '.join(DETAIL_TYPES)}",
        )
