"""EventBridge rules from the catalog's schedules: each sends a {type, data} job to its queue."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from offload.catalog import Catalog
from offload.cdk.constructs.job_queue import pascal


class JobSchedules(Construct):
    """One rule per catalog schedule. The worker adopts the {type, data} body as a new job."""

    def __init__(self, scope: Construct, construct_id: str, *, catalog: Catalog, queues: dict[str, sqs.IQueue]) -> None:
        super().__init__(scope, construct_id)
        self.rules: dict[str, events.Rule] = {}
        for sched in catalog.schedules:
            queue = queues[catalog.job_type(sched.job_type).queue]
            self.rules[sched.name] = events.Rule(
                self,
                pascal(sched.name),
                rule_name=f"{Stack.of(self).stack_name}-{sched.name}",
                description=f"offload schedule {sched.name}: {sched.description or sched.job_type}",
                schedule=events.Schedule.expression(sched.expression),
                targets=[
                    targets.SqsQueue(
                        queue,
                        message=events.RuleTargetInput.from_object({"type": sched.job_type, "data": sched.data}),
                    )
                ],
            )
