"""The CloudWatch dashboard and alarms: built from the catalog, every alarm acting on the alert topic."""

from __future__ import annotations

import json
from typing import Any

from aws_cdk import App, Stack
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_events as events
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk.assertions import Template
from conftest import QueueWiring, ref_id, render, resources_of

from offload.catalog import Catalog, QueueSpec
from offload.cdk.app import cdk_json_context
from offload.cdk.constructs.alert_topic import AlertTopic
from offload.cdk.constructs.job_queue import JobAccess
from offload.cdk.constructs.jobs_table import JobsTable
from offload.cdk.constructs.monitoring import (
    API_5XX_PERCENT,
    JOB_COUNTS,
    JOB_DURATION,
    WORKER_ERROR_PERCENT,
    Monitoring,
)
from offload.cdk.stack import OffloadConfig, OffloadStack
from offload.packs import core
from offload.packs import everything as CATALOG

ALARM = "AWS::CloudWatch::Alarm"
DASHBOARD = "AWS::CloudWatch::Dashboard"


def dashboard_of(template_json: dict) -> dict:
    """The one dashboard's body, parsed, with references rendered as `<LogicalId.Attr>` placeholders."""
    dashboards = resources_of(template_json, DASHBOARD)
    assert len(dashboards) == 1, f"expected one dashboard, found {sorted(dashboards)}"
    ((_, dashboard),) = dashboards.items()
    return json.loads(render(dashboard["Properties"]["DashboardBody"]))


def widget_metrics(body: dict) -> list[tuple[str, list[Any]]]:
    """(widget title, metric row) for every metric row of every graph widget."""
    return [
        (w["properties"].get("title", ""), row)
        for w in body["widgets"]
        for row in w["properties"].get("metrics", [])
        if isinstance(row, list)
    ]


def alarm_metrics(alarm: dict) -> list[tuple[str, dict[str, Any]]]:
    """(metric name, dimensions as name -> raw value) of an alarm, a plain one or a metric-math one."""
    props = alarm["Properties"]
    if "MetricName" in props:
        return [(props["MetricName"], {d["Name"]: d["Value"] for d in props.get("Dimensions", [])})]
    return [
        (
            m["MetricStat"]["Metric"]["MetricName"],
            {d["Name"]: d["Value"] for d in m["MetricStat"]["Metric"]["Dimensions"]},
        )
        for m in props["Metrics"]
        if "MetricStat" in m
        for stat in [m["MetricStat"]["Metric"]]
    ]


def alarms_on(template_json: dict, metric: str, dimension: str, logical_id: str) -> list[dict]:
    """The alarms that watch `metric` of the resource whose `dimension` refers to `logical_id`."""
    return [
        a["Properties"]
        for a in resources_of(template_json, ALARM).values()
        for name, dims in alarm_metrics(a)
        if name == metric and dimension in dims and ref_id(dims[dimension]) == logical_id
    ]


def test_every_queue_its_lanes_and_its_dlq_have_depth_age_and_in_flight_widgets(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    rows = widget_metrics(dashboard_of(template_json))
    shown = {(row[1], row[3]) for _, row in rows if len(row) > 3 and row[0] == "AWS/SQS"}
    for name, w in wiring.items():
        queue = f"<{w.queue_id}.QueueName>"
        for metric in (
            "ApproximateNumberOfMessagesVisible",
            "ApproximateAgeOfOldestMessage",
            "ApproximateNumberOfMessagesNotVisible",
        ):
            assert (metric, queue) in shown, f"queue {name!r}: no {metric} widget"
        assert ("ApproximateNumberOfMessagesVisible", f"<{w.dlq_id}.QueueName>") in shown, f"{name!r}: no DLQ depth"


def test_every_queue_has_one_dlq_alarm_and_an_age_alarm_at_the_catalogs_threshold(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    for name, w in wiring.items():
        # The DLQ alarm is JobQueue's: the dashboard shows it and makes no second one.
        (dlq,) = alarms_on(template_json, "ApproximateNumberOfMessagesVisible", "QueueName", w.dlq_id)
        assert (dlq["Threshold"], dlq["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        (age,) = alarms_on(template_json, "ApproximateAgeOfOldestMessage", "QueueName", w.queue_id)
        assert age["Threshold"] == w.spec.oldest_age_alarm_s, name
        assert age["ComparisonOperator"] == "GreaterThanThreshold"


def test_every_worker_has_an_error_share_alarm(template_json: dict, wiring: dict[str, QueueWiring]) -> None:
    for name, w in wiring.items():
        alarms = alarms_on(template_json, "Errors", "FunctionName", w.function_id)
        assert len(alarms) == 1, f"worker of {name!r}: expected one error alarm, found {alarms}"
        (alarm,) = alarms
        assert alarm["Threshold"] == WORKER_ERROR_PERCENT
        # errors per invocation, not Lambda's per-second rate
        (math,) = [m for m in alarm["Metrics"] if "Expression" in m]
        assert "/ invocations" in math["Expression"]


def test_every_state_machine_has_failure_and_timeout_alarms(template_json: dict) -> None:
    machines = resources_of(template_json, "AWS::StepFunctions::StateMachine")
    assert machines, "the default catalog's packs have pipelines"
    for mid in machines:
        for metric in ("ExecutionsFailed", "ExecutionsTimedOut"):
            (alarm,) = alarms_on(template_json, metric, "StateMachineArn", mid)
            assert alarm["Threshold"] == 0 and alarm["ComparisonOperator"] == "GreaterThanThreshold"
            # one failed execution in one period is enough
            assert (alarm["EvaluationPeriods"], alarm["DatapointsToAlarm"]) == (1, 1)


def test_every_alarm_notifies_the_alert_topic(template_json: dict) -> None:
    (topic,) = resources_of(template_json, "AWS::SNS::Topic")
    alarms = resources_of(template_json, ALARM)
    assert alarms
    for aid, alarm in alarms.items():
        assert [ref_id(a) for a in alarm["Properties"]["AlarmActions"]] == [topic], aid


def test_the_rate_limiter_alarm_is_not_duplicated(template_json: dict) -> None:
    limiter = [
        a
        for a in resources_of(template_json, ALARM).values()
        if any(name == "RateLimiterUnavailable" for name, _ in alarm_metrics(a))
    ]
    queues = [dims["queue"] for a in limiter for _, dims in alarm_metrics(a)]
    assert queues and len(queues) == len(set(queues)), queues


def test_every_job_type_has_its_emf_counts_and_duration(template_json: dict) -> None:
    rows = widget_metrics(dashboard_of(template_json))
    # a row is namespace, name, then dimension name, value pairs (CloudWatch keeps them sorted by name)
    emf = {(row[1], row[3], row[5]) for _, row in rows if row[0] == "Offload" and row[2:5:2] == ["job_type", "queue"]}
    for jt in CATALOG.job_types:
        for metric in (*JOB_COUNTS, JOB_DURATION):
            assert (metric, jt.name, jt.queue) in emf, f"{jt.name}: no {metric}"


def test_the_tables_and_the_cache_are_on_the_dashboard(template_json: dict) -> None:
    rows = widget_metrics(dashboard_of(template_json))
    throttled = {row[3] for _, row in rows if row[0] == "AWS/DynamoDB" and "Throttle" in row[1]}
    tables = resources_of(template_json, "AWS::DynamoDB::Table")
    assert {f"<{tid}>" for tid in tables} <= throttled
    (group,) = resources_of(template_json, "AWS::ElastiCache::ReplicationGroup")
    cache = {row[1] for _, row in rows if row[0] == "AWS/ElastiCache" and str(row[3]).startswith(f"<{group}>-")}
    assert {"CPUUtilization", "FreeableMemory", "CurrConnections"} <= cache, cache


def test_the_dashboard_url_output_names_the_dashboard_in_the_console(template_json: dict) -> None:
    (dashboard,) = resources_of(template_json, DASHBOARD)
    url = render(template_json["Outputs"]["DashboardUrl"]["Value"])
    assert url == (
        "https://<AWS::Region>.console.aws.amazon.com/cloudwatch/home?region=<AWS::Region>"
        f"#dashboards/dashboard/<{dashboard}>"
    )
    config = json.loads(render(template_json["Outputs"]["ClientConfig"]["Value"]))
    assert config["dashboard_url"] == url


def _dashboard_and_alarms(catalog: Catalog) -> tuple[dict, dict]:
    template = Template.from_stack(
        OffloadStack(
            App(context=cdk_json_context()), "Small", config=OffloadConfig(stack_name="Small"), catalog=catalog
        )
    ).to_json()
    return dashboard_of(template), resources_of(template, ALARM)


def test_a_new_catalog_queue_gets_its_widgets_and_alarms() -> None:
    # Given the core pack alone, and the same with one more queue that says how old a message may get
    extra = QueueSpec("reports", concurrency=2, max_age_s=600)
    before, before_alarms = _dashboard_and_alarms(Catalog.compose(core))
    after, after_alarms = _dashboard_and_alarms(Catalog.compose(core, Catalog(queues=(extra,), job_types=())))
    # then the dashboard grows by the queue's section and the alarms by its DLQ, age and worker alarms
    titles = {w["properties"].get("markdown", "") for w in after["widgets"]} - {
        w["properties"].get("markdown", "") for w in before["widgets"]
    }
    assert "## Queue reports" in titles
    assert len(after["widgets"]) > len(before["widgets"])
    new = [a["Properties"] for aid, a in after_alarms.items() if aid not in before_alarms]
    assert sorted(a.get("Threshold") for a in new) == sorted([0, 600, WORKER_ERROR_PERCENT])


def test_an_http_api_gets_its_widgets_and_a_5xx_share_alarm_on_the_alert_topic() -> None:
    # Given a stack with an HTTP API and no queues, monitored with the API passed in

    stack = Stack(App(), "Api")
    topic = AlertTopic(stack, "Alerts").topic
    api = apigwv2.HttpApi(stack, "Http")
    jobs = JobAccess(
        table=JobsTable(stack, "Jobs").table,
        bus=events.EventBus(stack, "Bus"),
        topic=topic,
        bucket=s3.Bucket(stack, "Payloads"),
        secret=secretsmanager.Secret(stack, "Secret"),
        queues=[],
    )
    Monitoring(stack, "Monitoring", catalog=Catalog(queues=(), job_types=()), jobs=jobs, packs={}, http_api=api)
    template = Template.from_stack(stack).to_json()
    # then the dashboard draws its requests, errors and latency, and its 5xx share alarms on the topic
    rows = widget_metrics(dashboard_of(template))
    shown = {row[1] for _, row in rows if row[0] == "AWS/ApiGateway"}
    assert {"Count", "4xx", "5xx", "Latency"} <= shown, shown
    (alarm,) = [a for a in resources_of(template, ALARM).values() if "5xx" in a["Properties"]["AlarmName"]]
    assert alarm["Properties"]["Threshold"] == API_5XX_PERCENT / 100  # the share of requests, as a fraction
    (topic_id,) = resources_of(template, "AWS::SNS::Topic")
    assert [ref_id(a) for a in alarm["Properties"]["AlarmActions"]] == [topic_id]
