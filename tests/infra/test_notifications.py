"""The notifications pack's resources: deliveries table, SES identity and configuration set, the SES events
path to its function, and what the notifications worker may do."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template
from conftest import QueueWiring, ref_id, render, resources_of

from offload.packs.notifications.email import DELIVERY_TAG
from offload.packs.notifications.infra import EVENTS_HANDLER
from offload.packs.notifications.settings import DEFAULT_SENDER


def _events_function(template_json: dict) -> str:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    [fid] = [fid for fid, f in functions.items() if f["Properties"].get("Handler") == EVENTS_HANDLER]
    return fid


def test_deliveries_table_is_keyed_by_delivery_and_expires_records(template_json: dict) -> None:
    tables = resources_of(template_json, "AWS::DynamoDB::Table")
    [table] = [t for lid, t in tables.items() if lid.startswith("NotificationsPackDeliveries")]
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_the_sender_identity_and_configuration_set_exist(template: Template) -> None:
    template.has_resource_properties("AWS::SES::EmailIdentity", {"EmailIdentity": DEFAULT_SENDER})
    template.resource_count_is("AWS::SES::ConfigurationSet", 1)


def test_delivery_events_go_to_the_default_bus_and_a_rule_hands_them_to_the_events_function(
    template_json: dict,
) -> None:
    [destination] = resources_of(template_json, "AWS::SES::ConfigurationSetEventDestination").values()
    spec = destination["Properties"]["EventDestination"]
    assert spec["Enabled"] is True
    assert {"delivery", "bounce", "complaint", "reject"} <= set(spec["MatchingEventTypes"])
    assert render(spec["EventBridgeDestination"]["EventBusArn"]).endswith(":event-bus/default")
    rules = resources_of(template_json, "AWS::Events::Rule")
    [rule] = [r for r in rules.values() if r["Properties"].get("EventPattern", {}).get("source") == ["aws.ses"]]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["detail"] == {"mail": {"tags": {DELIVERY_TAG: [{"exists": True}]}}}
    assert "EventBusName" not in rule["Properties"]  # the default bus: the only one SES publishes to
    [target] = rule["Properties"]["Targets"]
    assert ref_id(target["Arn"]) == _events_function(template_json)


def test_the_notifications_worker_may_send_as_the_sender_and_publish_sms_and_push(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    worker = wiring["notifications"].function
    role_id = ref_id(worker["Properties"]["Role"])
    policies = [
        p
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if any(ref_id(r) == role_id for r in p["Properties"]["Roles"])
    ]
    statements = [s for p in policies for s in p["Properties"]["PolicyDocument"]["Statement"]]
    send = [s for s in statements if s["Action"] == "ses:SendEmail"]
    assert send, "the notifications worker can't send email"
    resources = [render(r) for r in send[0]["Resource"]]
    assert any(":identity/" in r for r in resources)
    assert any(":configuration-set/" in r for r in resources)
    on_any = {
        a
        for s in statements
        if s["Resource"] == "*"
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    # Phone numbers have no ARN and endpoints are made per device at run time: these three are on *.
    assert {"sns:Publish", "sns:CreatePlatformEndpoint", "sns:GetEndpointAttributes"} <= on_any
    assert not any(a.startswith("ses:") for a in on_any), "SES sends are limited to the sender and configuration set"
    env = worker["Properties"]["Environment"]["Variables"]
    assert "notifications" in str(env["OFFLOAD_PACKS"])


def test_the_notifications_queue_has_a_lane_per_seed_priority_band(template: Template, wiring: dict) -> None:
    w = wiring["notifications"]
    assert [lane.name for lane in w.spec.lanes] == ["bulk", "normal", "high"]
    template.has_resource_properties(
        "AWS::Lambda::EventSourceMapping",
        {"ScalingConfig": {"MaximumConcurrency": 10}, "EventSourceArn": Match.any_value()},
    )
