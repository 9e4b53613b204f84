"""The offload stack: composes the constructs, one job queue per catalog queue, and the client outputs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CfnOutput, Fn, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from offload.catalog import CATALOG, METRICS_NAMESPACE, Catalog
from stacks.constructs.alert_topic import AlertTopic
from stacks.constructs.image_pipeline import ImagePipeline
from stacks.constructs.job_events import JobEvents
from stacks.constructs.job_queue import JobQueue, WorkerRuntime, pascal, worker_code
from stacks.constructs.jobs_table import JobsTable
from stacks.constructs.network import MAX_AZS, Network
from stacks.constructs.payload_bucket import PayloadBucket
from stacks.constructs.rate_limit_cache import RateLimitCache
from stacks.constructs.runtime_layer import RuntimeLayer
from stacks.constructs.schedules import JobSchedules
from stacks.constructs.webhook_secret import WebhookSecret

SECONDS_PER_HOUR = 3600
# Lambda's application log levels; Python's WARNING is spelled WARN there.
LOG_LEVELS = {level.value: level for level in lambda_.ApplicationLogLevel} | {
    "WARNING": lambda_.ApplicationLogLevel.WARN
}


@dataclass(frozen=True)
class OffloadConfig:
    """Per-environment settings, read from cdk.json context by app.py."""

    stack_name: str = "Offload"
    completed_retention_hours: float = 1
    failed_retention_hours: float = 24
    log_level: str = "INFO"
    # A Secrets Manager secret holding an OpenAI-compatible API key; without one the pipeline's
    # AI steps use the local deterministic providers.
    ai_key_secret_arn: str | None = None

    def __post_init__(self) -> None:
        if self.log_level.upper() not in LOG_LEVELS:
            raise ValueError(
                f"offload:logLevel {self.log_level!r} is not one of {', '.join(LOG_LEVELS)}; fix it in cdk.json "
                "or pass -c offload:logLevel=INFO"
            )
        for name in ("completed_retention_hours", "failed_retention_hours"):
            if getattr(self, name) * SECONDS_PER_HOUR < 60:
                raise ValueError(f"{name}={getattr(self, name)} keeps jobs less than a minute; use at least 1/60")

    @property
    def retain_completed_s(self) -> int:
        """How long a completed job's record stays before TTL removes it."""
        return round(self.completed_retention_hours * SECONDS_PER_HOUR)

    @property
    def retain_failed_s(self) -> int:
        """How long a failed job's record stays before TTL removes it."""
        return round(self.failed_retention_hours * SECONDS_PER_HOUR)


class OffloadStack(Stack):
    """Jobs table, event bus, alert topic, payload bucket, webhook secret, and per catalog queue a worker.

    When a catalog queue has a rate limit, also a VPC and the shared rate-limit cache, with those queues'
    workers (and only those) in the VPC.
    """

    def __init__(
        self, scope: Construct, construct_id: str, *, config: OffloadConfig, catalog: Catalog = CATALOG, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        table = JobsTable(self, "Jobs").table
        bus = JobEvents(self, "Events").bus
        alerts = AlertTopic(self, "Alerts").topic
        payloads = PayloadBucket(self, "Payloads")
        bucket = payloads.bucket
        secret = WebhookSecret(self, "WebhookSecret").secret
        layer = RuntimeLayer(self, "RuntimeLayer").layer
        # No rate-limited queue, no VPC: the NAT gateway and the cache are the stack's only fixed monthly cost.
        cache = (
            RateLimitCache(self, "RateLimitCache", vpc=Network(self, "Network").vpc)
            if any(spec.rate_limit is not None for spec in catalog.queues)
            else None
        )

        queues = [JobQueue(self, f"Queue{pascal(spec.name)}", spec=spec, alert_topic=alerts) for spec in catalog.queues]
        queue_urls = {
            q.spec.name: {
                "url": q.queue.queue_url,
                "dlq_url": q.dlq.queue_url,
                **({"lanes": {name: lane.queue_url for name, lane in q.lanes.items()}} if q.lanes else {}),
            }
            for q in queues
        }
        # Keys match offload.settings.Settings: the CLI builds Settings from this, workers from OFFLOAD_*.
        client_config = {
            "table": table.table_name,
            "queues": queue_urls,
            "event_bus": bus.event_bus_name,
            "alert_topic_arn": alerts.topic_arn,
            "payload_bucket": bucket.bucket_name,
            "webhook_secret_arn": secret.secret_arn,
            "retain_completed_s": config.retain_completed_s,
            "retain_failed_s": config.retain_failed_s,
        }
        log_level = LOG_LEVELS[config.log_level.upper()]
        environment = {
            "OFFLOAD_TABLE": table.table_name,
            "OFFLOAD_QUEUES": self.to_json_string(queue_urls),
            "OFFLOAD_EVENT_BUS": bus.event_bus_name,
            "OFFLOAD_ALERT_TOPIC_ARN": alerts.topic_arn,
            "OFFLOAD_PAYLOAD_BUCKET": bucket.bucket_name,
            "OFFLOAD_WEBHOOK_SECRET_ARN": secret.secret_arn,
            "OFFLOAD_RETAIN_COMPLETED_S": str(config.retain_completed_s),
            "OFFLOAD_RETAIN_FAILED_S": str(config.retain_failed_s),
            "LOG_LEVEL": config.log_level.upper(),
            "POWERTOOLS_SERVICE_NAME": "offload",
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        }
        code = worker_code()
        pipeline = (
            ImagePipeline(
                self,
                "ImagePipeline",
                catalog=catalog,
                queues={q.spec.name: q.queue for q in queues},
                code=code,
                layer=layer,
                environment=environment,
                log_level=log_level,
                topic=alerts,
                access_logs=payloads.access_logs,
                cache=cache,
                ai_key_secret_arn=config.ai_key_secret_arn,
            )
            if catalog.s3_triggers
            else None
        )
        if pipeline is not None:
            environment = {**environment, **pipeline.environment}
            client_config.update(
                media_bucket=pipeline.media.bucket_name,
                images_table=pipeline.table.table_name,
                image_pipeline_arn=pipeline.state_machine.state_machine_arn,
            )
        runtime = WorkerRuntime(
            code=code,
            layer=layer,
            environment=environment,
            log_level=log_level,
            table=table,
            bus=bus,
            topic=alerts,
            bucket=bucket,
            secret=secret,
            queues=queues,
            rate_limit_cache=cache,
        )
        for q in queues:
            worker = q.add_worker(runtime)
            if pipeline is not None and any(
                catalog.job_type(t.job_type).queue == q.spec.name for t in catalog.s3_triggers
            ):
                assert worker.role is not None
                pipeline.grant_start(worker.role)
        self.schedules = JobSchedules(self, "Schedules", catalog=catalog, queues={q.spec.name: q.queue for q in queues})

        self.client_config = client_config
        self.queues = queues
        CfnOutput(self, "ClientConfig", value=self.to_json_string(client_config), description="offload Settings JSON")
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(self, "EventBusName", value=bus.event_bus_name)
        CfnOutput(self, "AlertTopicArn", value=alerts.topic_arn)
        CfnOutput(self, "PayloadBucketName", value=bucket.bucket_name)
        CfnOutput(self, "WebhookSecretArn", value=secret.secret_arn)
        if pipeline is not None:
            CfnOutput(
                self, "MediaBucketName", value=pipeline.media.bucket_name, description="upload to uploads/images/"
            )
            CfnOutput(self, "ImagesTableName", value=pipeline.table.table_name)
            CfnOutput(self, "ImagePipelineArn", value=pipeline.state_machine.state_machine_arn)
        if cache is not None:
            CfnOutput(self, "RateLimitCacheUrl", value=cache.url, description="rate-limit cache, VPC only")
            CfnOutput(self, "RateLimitCacheAuthSecretArn", value=cache.auth_secret.secret_arn)
        for q in queues:
            prefix = f"Queue{pascal(q.spec.name)}"
            CfnOutput(self, f"{prefix}Url", value=q.queue.queue_url, description=f"queue {q.spec.name}")
            CfnOutput(self, f"{prefix}DlqUrl", value=q.dlq.queue_url, description=f"dead-letter queue of {q.spec.name}")
            for lane_name, lane in q.lanes.items():
                CfnOutput(
                    self,
                    f"{prefix}Lane{pascal(lane_name)}Url",
                    value=lane.queue_url,
                    description=f"priority lane {lane_name!r} of {q.spec.name}",
                )
            assert q.worker is not None
            CfnOutput(
                self,
                f"{prefix}WorkerFunctionName",
                value=q.worker.function_name,
                description=f"worker of queue {q.spec.name}",
            )

    @property
    def availability_zones(self) -> list[str]:
        """The region's first AZs, resolved at deploy time (Fn::GetAZs): what CDK itself gives an env-agnostic stack.

        Overridden only because CDK's getter also acknowledges cfn-lint's W3010 (literal AZs) for the whole
        stack whenever a VPC reads it; the template has no literal AZs, and acknowledgements here are per resource.
        """
        return [Fn.select(i, Fn.get_azs()) for i in range(MAX_AZS)]
