"""The offload stack: composes the constructs, one job queue per catalog queue, and the client outputs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Fn, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from offload.catalog import DEFAULT_CATALOG, METRICS_NAMESPACE, Catalog, import_object
from offload.cdk.constructs.alert_topic import AlertTopic
from offload.cdk.constructs.http_api import HttpApi
from offload.cdk.constructs.job_events import JobEvents
from offload.cdk.constructs.job_queue import (
    JobAccess,
    JobQueue,
    WorkerRuntime,
    check_every_function_sized,
    empty_code,
    pascal,
)
from offload.cdk.constructs.jobs_table import JobsTable
from offload.cdk.constructs.media_bucket import MediaBucket
from offload.cdk.constructs.monitoring import Monitoring
from offload.cdk.constructs.network import MAX_AZS, Network
from offload.cdk.constructs.payload_bucket import PayloadBucket
from offload.cdk.constructs.rate_limit_cache import RateLimitCache
from offload.cdk.constructs.runtime_layer import AppLayer, RuntimeLayer
from offload.cdk.constructs.schedules import JobSchedules
from offload.cdk.constructs.webhook_secret import WebhookSecret
from offload.cdk.pack_context import PackContext

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
    # The HTTP API stage's steady-state requests per second and burst (API Gateway throttling).
    api_rate_limit: float = 100
    api_burst_limit: int = 200

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


def needs_rate_limit_cache(catalog: Catalog) -> bool:
    """A queue with a rate limit, or a shared limit on an outside service, needs the Redis cache."""
    return any(spec.rate_limit is not None for spec in catalog.queues) or bool(catalog.resource_limits)


def shared_limit_queues(catalog: Catalog) -> set[str]:
    """Queues that run job types of a pack with `resource_limits`: their workers take those limits
    (`ctx.rate_limit("openai", ...)`), so they join the cache's VPC like a rate-limited queue's."""
    return {t.queue for p in catalog.packs if p.resource_limits for t in p.job_types}


class OffloadStack(Stack):
    """Jobs table, event bus, alert topic, payload bucket, webhook secret, per catalog queue a worker, and
    each pack's own construct.

    Sized to the catalog: a VPC and the shared rate-limit cache only when a queue or a step takes a shared
    limit, with those queues' workers (and only those) in the VPC; buckets, tables and state machines only
    for the packs that bring them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OffloadConfig,
        catalog: Catalog,
        catalog_path: str | None = None,
        code: lambda_.Code | None = None,
        app_requirements: Path | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        self.catalog = catalog
        table = JobsTable(self, "Jobs").table
        bus = JobEvents(self, "Events").bus
        alerts = AlertTopic(self, "Alerts").topic
        payloads = PayloadBucket(self, "Payloads")
        bucket = payloads.bucket
        secret = WebhookSecret(self, "WebhookSecret").secret
        layers: list[lambda_.ILayerVersion] = [RuntimeLayer(self, "RuntimeLayer").layer]
        if app_requirements is not None:
            layers.append(AppLayer(self, "AppLayer", requirements=app_requirements).layer)
        # No shared limit, no VPC: the NAT gateway and the cache are the stack's only fixed monthly cost.
        cache = (
            RateLimitCache(self, "RateLimitCache", vpc=Network(self, "Network").vpc)
            if needs_rate_limit_cache(catalog)
            else None
        )

        queues = [JobQueue(self, f"Queue{pascal(spec.name)}", spec=spec, alert_topic=alerts) for spec in catalog.queues]
        by_name = {q.spec.name: q for q in queues}
        # One bucket for every pack's uploads, when the catalog has uploads at all.
        media = (
            MediaBucket(self, "Media", catalog=catalog, queues=by_name, access_logs=payloads.access_logs)
            if catalog.s3_triggers
            else None
        )
        queue_urls = {
            q.spec.name: {
                "url": q.queue.queue_url,
                "dlq_url": q.dlq.queue_url,
                **({"lanes": {name: lane.queue_url for name, lane in q.lanes.items()}} if q.lanes else {}),
            }
            for q in queues
        }
        queue_names = {
            q.spec.name: {
                "url": q.queue.queue_name,
                "dlq_url": q.dlq.queue_name,
                **({"lanes": {name: lane.queue_name for name, lane in q.lanes.items()}} if q.lanes else {}),
            }
            for q in queues
        }
        # Keys match offload.settings.Settings: clients build Settings from this, workers from OFFLOAD_*.
        client_config: dict[str, Any] = {
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
            # Names against one base URL: a queue URL is ~110 bytes, its name at most 80 (Lambda's 4 KB).
            "OFFLOAD_QUEUES": self.to_json_string(queue_names),
            "OFFLOAD_QUEUE_BASE_URL": f"https://sqs.{Aws.REGION}.{Aws.URL_SUFFIX}/{Aws.ACCOUNT_ID}/",
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
        # Every function loads the catalog the stack was built from (None: the default, named explicitly).
        environment["OFFLOAD_CATALOG"] = catalog_path or DEFAULT_CATALOG
        client_config["catalog"] = catalog_path or DEFAULT_CATALOG
        code = code or empty_code()
        self.pack_constructs: dict[str, Construct] = {}
        access = JobAccess(table=table, bus=bus, topic=alerts, bucket=bucket, secret=secret, queues=queues)
        pack_settings: dict[str, Any] = {}
        for pack in catalog.packs:
            if pack.infra is None:
                continue
            infra_class = import_object(pack.infra, f"pack {pack.name!r} infra")
            ctx = PackContext(
                catalog=catalog,
                pack=pack,
                queues=by_name,
                code=code,
                layers=layers,
                environment=environment,
                log_level=log_level,
                topic=alerts,
                access_logs=payloads.access_logs,
                cache=cache,
                config=config,
                media=media.bucket if media else None,
                jobs=access,
                built_settings=dict(pack_settings),
            )
            construct = infra_class(self, f"{pascal(pack.name)}Pack", ctx=ctx)
            self.pack_constructs[pack.name] = construct
            if getattr(construct, "settings", None):
                pack_settings[pack.name] = construct.settings
        if pack_settings:
            client_config["packs"] = pack_settings
        runtime = WorkerRuntime(
            code=code,
            layers=layers,
            environment=environment,
            log_level=log_level,
            access=access,
            rate_limit_cache=cache,
        )
        for q in queues:
            # A worker gets the settings of the packs whose job types run on its queue (and of the packs
            # their constructs name in `worker_packs`, whose records they update), and no others:
            # Lambda's 4 KB environment is shared by every queue URL.
            owners = [p.name for p in catalog.packs if any(t.queue == q.spec.name for t in p.job_types)]
            used = [n for o in owners for n in getattr(self.pack_constructs.get(o), "worker_packs", ())]
            mine = {name: settings for name, settings in pack_settings.items() if name in (*owners, *used)}
            # Layers a pack's construct asks for on one of its queues' workers (`worker_layers`).
            extra = [
                layer
                for c in self.pack_constructs.values()
                for layer in getattr(c, "worker_layers", {}).get(q.spec.name, [])
            ]
            worker = q.add_worker(
                replace(runtime, layers=[*layers, *extra]) if extra else runtime,
                shared_limits=q.spec.name in shared_limit_queues(catalog),
                extra_environment={"OFFLOAD_PACKS": self.to_json_string(mine)} if mine else {},
            )
            assert worker.role is not None
            for pack in catalog.packs:
                construct = self.pack_constructs.get(pack.name)
                grant = getattr(construct, "grant_worker", None)
                if grant is not None and pack.name in owners:
                    grant(worker.role, q.spec.name)
            for name in dict.fromkeys(used):
                grant_records = getattr(self.pack_constructs.get(name), "grant_records", None)
                if grant_records is not None:
                    grant_records(worker.role)
        # Layers packs need in the API function too (the images pack's embedder, for search queries).
        api_layers = [layer for c in self.pack_constructs.values() for layer in getattr(c, "api_layers", [])]
        self.http_api = HttpApi(
            self,
            "HttpApi",
            runtime=replace(runtime, layers=[*layers, *api_layers]),
            packs=self.pack_constructs,
            pack_settings={
                name: settings
                for name, construct in self.pack_constructs.items()
                if (settings := getattr(construct, "api_settings", None))
            },
            rate_limit=config.api_rate_limit,
            burst_limit=config.api_burst_limit,
            ai_key_secret_arn=config.ai_key_secret_arn,
        )
        client_config["api_url"] = self.http_api.url
        self.schedules = JobSchedules(self, "Schedules", catalog=catalog, queues={q.spec.name: q.queue for q in queues})
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            catalog=catalog,
            jobs=access,
            packs=self.pack_constructs,
            cache=cache,
            http_api=self.http_api.api,
            api_function=self.http_api.function,
        )
        client_config["dashboard_url"] = self.monitoring.url

        self.client_config = client_config
        self.queues = queues
        CfnOutput(self, "ClientConfig", value=self.to_json_string(client_config), description="offload Settings JSON")
        CfnOutput(self, "TableName", value=table.table_name)
        CfnOutput(self, "EventBusName", value=bus.event_bus_name)
        CfnOutput(self, "AlertTopicArn", value=alerts.topic_arn)
        CfnOutput(
            self, "DashboardUrl", value=self.monitoring.url, description="CloudWatch dashboard: offload dashboard"
        )
        CfnOutput(self, "PayloadBucketName", value=bucket.bucket_name)
        CfnOutput(self, "WebhookSecretArn", value=secret.secret_arn)
        if media is not None:
            CfnOutput(
                self,
                "MediaBucketName",
                value=media.bucket.bucket_name,
                description=f"upload to {', '.join(media.prefixes)}",
            )
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
        check_every_function_sized(self)

    @property
    def availability_zones(self) -> list[str]:
        """The region's first AZs, resolved at deploy time (Fn::GetAZs): what CDK itself gives an env-agnostic stack.

        Overridden only because CDK's getter also acknowledges cfn-lint's W3010 (literal AZs) for the whole
        stack whenever a VPC reads it; the template has no literal AZs, and acknowledgements here are per resource.
        """
        return [Fn.select(i, Fn.get_azs()) for i in range(MAX_AZS)]
