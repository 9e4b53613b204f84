"""The stack's CloudWatch dashboard and the alarms that go with it, built from the catalog.

One MonitoringFacade (cdk-monitoring-constructs) draws, in catalog order: per queue its depth, oldest
message age, messages in flight and DLQ depth; its worker's invocations, errors, throttles, duration and
concurrency; the EMF job metrics of each of its job types; then the packs' state machines, the tables,
the rate-limit cache and (when there is one) the HTTP API.

Alarms all act on the alert topic. The DLQ depth and RateLimiterUnavailable alarms belong to JobQueue
(offload/cdk/constructs/job_queue.py) and are shown here, not made twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import cdk_monitoring_constructs as mon
from aws_cdk import Aws, Duration, Fn, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cloudwatch_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from offload.catalog import METRICS_NAMESPACE, Catalog
from offload.cdk.constructs.job_queue import JobAccess, JobQueue, pascal
from offload.cdk.constructs.rate_limit_cache import NODES, RateLimitCache

PERIOD = Duration.minutes(5)
# A worker's Lambda errors are crashes and timeouts (job failures are reported per message, not raised):
# more than this share of its invocations in one period is an incident.
WORKER_ERROR_PERCENT = 5
# The HTTP API's 5xx share (per cent of requests) that alarms, when the stack has an API.
API_5XX_PERCENT = 1
JOB_COUNTS = ("JobsCompleted", "JobsFailed", "JobsRetried", "JobsDeferred")
JOB_DURATION = "JobDuration"
DURATION_STATS = ("p50", "p95", "p99")


@dataclass(frozen=True)
class MonitoredPack:
    """What the dashboard finds on one pack's construct: its state machines and its own tables."""

    name: str
    state_machines: Mapping[str, sfn.StateMachine]
    tables: Mapping[str, dynamodb.Table]

    @classmethod
    def of(cls, name: str, construct: Construct) -> MonitoredPack:
        """Every sfn.StateMachine and dynamodb.Table attribute of the construct (imported tables are not its own)."""
        attrs = vars(construct)
        return cls(
            name,
            {k: v for k, v in attrs.items() if isinstance(v, sfn.StateMachine)},
            {k: v for k, v in attrs.items() if isinstance(v, dynamodb.Table)},
        )


def dashboard_url(dashboard_name: str) -> str:
    """The CloudWatch console URL of a dashboard in the stack's region (a deploy-time string)."""
    return Fn.join(
        "",
        [
            "https://",
            Aws.REGION,
            ".console.aws.amazon.com/cloudwatch/home?region=",
            Aws.REGION,
            "#dashboards/dashboard/",
            dashboard_name,
        ],
    )


class Monitoring(Construct):
    """The dashboard (`dashboard`, its console `url`) and every alarm it shows (`alarms`: construct path -> alarm)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        catalog: Catalog,
        jobs: JobAccess,
        packs: Mapping[str, Construct],
        cache: RateLimitCache | None = None,
        http_api: apigwv2.IHttpApi | None = None,
        api_function: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.alert_topic = jobs.topic
        self.action = mon.SnsAlarmActionStrategy(on_alarm_topic=jobs.topic)
        self.facade = mon.MonitoringFacade(
            self,
            "Facade",
            # One period over the threshold alarms: one failed pipeline run is worth a message, and the age
            # thresholds already allow for a crashed worker and the longest backoff.
            alarm_factory_defaults=mon.AlarmFactoryDefaults(
                actions_enabled=True,
                alarm_name_prefix=stack.stack_name,
                action=self.action,
                evaluation_periods=1,
                datapoints_to_alarm=1,
            ),
            metric_factory_defaults=mon.MetricFactoryDefaults(period=PERIOD),
            dashboard_factory=mon.DefaultDashboardFactory(
                self,
                "Dashboards",
                dashboard_name_prefix=stack.stack_name,
                create_dashboard=True,
                create_summary_dashboard=False,
                create_alarm_dashboard=False,
                rendering_preference=mon.DashboardRenderingPreference.INTERACTIVE_ONLY,
            ),
        )
        self.alarms: dict[str, cloudwatch.AlarmBase] = {}
        self.facade.add_large_header("offload: queues, workers and jobs")
        for queue in jobs.queues:
            self._queue(queue, catalog)
        monitored = [MonitoredPack.of(name, construct) for name, construct in packs.items()]
        if any(p.state_machines for p in monitored):
            self.facade.add_large_header("Pack pipelines (Step Functions)")
        for pack in monitored:
            for attr, machine in pack.state_machines.items():
                self._state_machine(pack.name, attr, machine)
        self.facade.add_large_header("Tables")
        self.facade.monitor_dynamo_table(table=jobs.table, human_readable_name="Jobs table", alarm_friendly_name="Jobs")
        for pack in monitored:
            for attr, table in pack.tables.items():
                self.facade.monitor_dynamo_table(
                    table=table,
                    human_readable_name=f"{pack.name} pack: {attr.replace('_', ' ')}",
                    alarm_friendly_name=f"{pascal(pack.name)}{pascal(attr)}",
                )
        if cache is not None:
            self._cache(cache)
        if http_api is not None:
            self._http_api(http_api, api_function)
        for created in self.facade.created_alarms():
            self.alarms[created.alarm.node.path] = created.alarm
        dashboard = self.facade.created_dashboard()
        assert dashboard is not None
        self.dashboard = dashboard
        self.url = dashboard_url(dashboard.dashboard_name)

    def _queue(self, q: JobQueue, catalog: Catalog) -> None:
        spec = q.spec
        name = pascal(spec.name)
        self.facade.add_medium_header(f"Queue {spec.name}")
        age = {"Age": mon.MaxMessageAgeThreshold(max_age_in_seconds=spec.oldest_age_alarm_s)}
        self.facade.monitor_sqs_queue_with_dlq(
            queue=q.queue,
            dead_letter_queue=q.dlq,
            human_readable_name=f"queue {spec.name}",
            alarm_friendly_name=f"Queue{name}",
            add_queue_max_message_age_alarm=age,
        )
        for lane_name, lane in q.lanes.items():
            self.facade.monitor_sqs_queue(
                queue=lane,
                human_readable_name=f"queue {spec.name}, lane {lane_name}",
                alarm_friendly_name=f"Queue{name}Lane{pascal(lane_name)}",
                add_queue_max_message_age_alarm=age,
            )
        in_flight = [
            queue.metric_approximate_number_of_messages_not_visible(period=PERIOD, statistic=cloudwatch.Stats.MAXIMUM)
            for queue in q.all_queues
        ]
        self.facade.monitor_custom(
            human_readable_name=f"queue {spec.name}: in flight",
            alarm_friendly_name=f"Queue{name}InFlight",
            metric_groups=[mon.CustomMetricGroup(title="In flight (being processed)", metrics=in_flight)],
        )
        assert q.worker is not None
        self.facade.monitor_lambda_function(
            lambda_function=q.worker,
            human_readable_name=f"worker of {spec.name}",
            alarm_friendly_name=f"Worker{name}",
            latency_types_to_render=[mon.LatencyType.P50, mon.LatencyType.P95, mon.LatencyType.P99],
            is_iterator=False,  # SQS, not a stream: no iterator age or offset lag to show
            is_offset_lag=False,
        )
        # JobQueue's own alarms (made there, shown here) and the worker's error share, in one status row;
        # the age alarm is drawn on the queue's "Oldest Message Age" graph.
        alarms = [
            q.dlq_alarm,
            *([q.limiter_alarm] if hasattr(q, "limiter_alarm") else []),
            self._worker_error_alarm(q, name),
        ]
        self.facade.add_widget(
            cloudwatch.AlarmStatusWidget(alarms=alarms, title=f"queue {spec.name}: alarms", width=24, height=2)
        )
        for alarm in alarms:
            self.alarms[alarm.node.path] = alarm
        for job_type in catalog.types_of(spec.name):
            dims = {"queue": spec.name, "job_type": job_type.name}
            counts = [self._emf(metric, dims, "Sum") for metric in JOB_COUNTS]
            durations = [self._emf(JOB_DURATION, dims, stat) for stat in DURATION_STATS]
            self.facade.monitor_custom(
                human_readable_name=f"job type {job_type.name}",
                alarm_friendly_name=f"Job{pascal(job_type.name)}",
                metric_groups=[
                    mon.CustomMetricGroup(title="Jobs (completed / failed / retried / deferred)", metrics=counts),
                    mon.CustomMetricGroup(title="Job duration (ms)", metrics=durations),
                ],
            )

    @staticmethod
    def _emf(metric: str, dims: Mapping[str, str], statistic: str) -> cloudwatch.Metric:
        """One of the worker's EMF metrics (offload/jobs/worker.py `_count`) for one queue and job type."""
        label = metric.removeprefix("Jobs") if statistic == "Sum" else statistic
        return cloudwatch.Metric(
            namespace=METRICS_NAMESPACE,
            metric_name=metric,
            dimensions_map=dict(dims),
            statistic=statistic,
            period=PERIOD,
            label=label,
        )

    def _worker_error_alarm(self, q: JobQueue, name: str) -> cloudwatch.Alarm:
        """Errors as a share of invocations: Lambda's own rate metrics are per second, which hides a small
        worker's outage and floods a busy one."""
        assert q.worker is not None
        share = cloudwatch.MathExpression(
            expression="IF(invocations > 0, 100 * errors / invocations, 0)",
            using_metrics={
                "errors": q.worker.metric_errors(period=PERIOD, statistic=cloudwatch.Stats.SUM),
                "invocations": q.worker.metric_invocations(period=PERIOD, statistic=cloudwatch.Stats.SUM),
            },
            period=PERIOD,
            label="errors (% of invocations)",
        )
        alarm = share.create_alarm(
            self,
            f"Worker{name}ErrorRateAlarm",
            alarm_description=f"offload worker of queue {q.spec.name!r}: over {WORKER_ERROR_PERCENT}% of "
            "invocations failed (crash or timeout); read the function's logs",
            threshold=WORKER_ERROR_PERCENT,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(cloudwatch_actions.SnsAction(self.alert_topic))
        return alarm

    def _state_machine(self, pack: str, attr: str, machine: sfn.StateMachine) -> None:
        failed = {"Failed": mon.ErrorCountThreshold(max_error_count=0)}
        self.facade.monitor_step_function(
            state_machine=machine,
            human_readable_name=f"{pack} pack: {attr.replace('_', ' ')}",
            alarm_friendly_name=f"{pascal(pack)}{pascal(attr)}",
            add_failed_execution_count_alarm=failed,
            add_timed_out_execution_count_alarm={"TimedOut": mon.ErrorCountThreshold(max_error_count=0)},
        )

    def _cache(self, cache: RateLimitCache) -> None:
        self.facade.add_large_header("Rate-limit cache")
        group = cache.replication_group.ref
        # A replication group's metrics are per node: <group id>-001, -002, ...
        for node in range(1, NODES + 1):
            self.facade.monitor_elasti_cache_cluster(
                cluster_type=mon.ElastiCacheClusterType.REDIS,
                cluster_id=Fn.join("-", [group, f"{node:03d}"]),
                human_readable_name=f"rate-limit cache node {node}",
                alarm_friendly_name=f"CacheNode{node}",
            )

    def _http_api(self, api: apigwv2.IHttpApi, function: lambda_.IFunction | None) -> None:
        self.facade.add_large_header("HTTP API")
        self.facade.monitor_api_gateway_v2_http_api(
            api=api,
            human_readable_name="HTTP API",
            alarm_friendly_name="Api",
            add5xx_rate_alarm={"5xx": mon.ErrorRateThreshold(max_error_rate=API_5XX_PERCENT / 100)},
        )
        if function is not None:
            self.facade.monitor_lambda_function(
                lambda_function=function,
                human_readable_name="API function",
                alarm_friendly_name="ApiFunction",
                latency_types_to_render=[mon.LatencyType.P50, mon.LatencyType.P95, mon.LatencyType.P99],
                is_iterator=False,
                is_offset_lag=False,
            )
