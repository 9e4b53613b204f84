"""Every catalog queue: a DLQ, a redrive policy, an alarm, and a worker wired with the catalog's numbers."""

from __future__ import annotations

from conftest import QueueWiring, ref_id, resources_of

from offload.packs import everything as CATALOG

FOURTEEN_DAYS_S = 14 * 24 * 3600


def test_every_catalog_queue_is_deployed_with_one_worker(wiring: dict[str, QueueWiring]) -> None:
    assert sorted(wiring) == sorted(q.name for q in CATALOG.queues)


def test_every_catalog_queue_has_a_dlq_with_14_day_retention(wiring: dict[str, QueueWiring]) -> None:
    for name, w in wiring.items():
        assert w.dlq_id != w.queue_id, name
        assert w.dlq["Properties"]["MessageRetentionPeriod"] == FOURTEEN_DAYS_S, name


def test_every_catalog_queue_redrives_to_its_dlq_only_after_more_receives_than_attempts_can_use(
    wiring: dict[str, QueueWiring],
) -> None:
    for name, w in wiring.items():
        count = w.queue["Properties"]["RedrivePolicy"]["maxReceiveCount"]
        # every attempt crashing plus the receive that fails the job, and a batch-mate's stop per attempt
        assert count == w.spec.max_receive_count and count > 2 * w.spec.max_attempts, name


def test_every_dlq_has_a_depth_alarm_that_notifies_the_alert_topic(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    alarms = resources_of(template_json, "AWS::CloudWatch::Alarm").values()
    topics = resources_of(template_json, "AWS::SNS::Topic")
    for name, w in wiring.items():
        on_dlq = [
            a["Properties"]
            for a in alarms
            if any(
                isinstance(d["Value"], dict) and ref_id(d["Value"]) == w.dlq_id
                for d in a["Properties"].get("Dimensions", [])
            )
        ]
        assert len(on_dlq) == 1, f"queue {name!r}: expected one alarm on its DLQ, found {len(on_dlq)}"
        alarm = on_dlq[0]
        assert alarm["Namespace"] == "AWS/SQS"
        assert alarm["MetricName"] == "ApproximateNumberOfMessagesVisible"
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == 0
        assert alarm["AlarmActions"], f"queue {name!r}: DLQ alarm has no action"
        assert all(ref_id(action) in topics for action in alarm["AlarmActions"]), alarm["AlarmActions"]


def test_every_event_source_mapping_reports_batch_item_failures_with_catalog_batch_size_and_concurrency(
    wiring: dict[str, QueueWiring],
) -> None:
    for name, w in wiring.items():
        props = w.mapping["Properties"]
        assert props["FunctionResponseTypes"] == ["ReportBatchItemFailures"], name
        assert props["BatchSize"] == w.spec.batch_size, name
        assert props["ScalingConfig"]["MaximumConcurrency"] == w.spec.base_lane.concurrency, name


def test_every_queue_visibility_timeout_is_at_least_six_times_its_worker_timeout(
    wiring: dict[str, QueueWiring],
) -> None:
    for name, w in wiring.items():
        visibility = w.queue["Properties"]["VisibilityTimeout"]
        assert visibility == w.spec.visibility_timeout_s, name
        assert visibility >= 6 * w.function["Properties"]["Timeout"], name


def test_every_worker_has_its_queue_timeout_and_memory_from_the_catalog(wiring: dict[str, QueueWiring]) -> None:
    for name, w in wiring.items():
        assert w.function["Properties"]["Timeout"] == w.spec.timeout_s, name
        assert w.function["Properties"]["MemorySize"] == w.spec.memory_mb, name


def test_every_queue_and_dlq_is_encrypted_at_rest_and_refuses_plain_http(template_json: dict) -> None:
    queues = resources_of(template_json, "AWS::SQS::Queue")
    assert queues
    for qid, q in queues.items():
        props = q["Properties"]
        assert props.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in props, qid
    ssl_only: set[str] = set()
    for policy in resources_of(template_json, "AWS::SQS::QueuePolicy").values():
        for stmt in policy["Properties"]["PolicyDocument"]["Statement"]:
            if (
                stmt["Effect"] == "Deny"
                and stmt.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
            ):
                ssl_only.update(ref_id(q) for q in policy["Properties"]["Queues"])
    assert ssl_only == set(queues)
