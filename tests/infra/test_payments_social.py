"""The payments and social packs in the synthesized template: their schedules' rules with the right
expressions and targets, their tables (pk/sk, encrypted, point-in-time recovery) and who may use them."""

from __future__ import annotations

import json

import pytest

from tests.infra.conftest import render, resources_of

SCHEDULES = {
    "weekly-payouts": ("cron(0 10 ? * MON *)", "payments.payout", "payments"),
    "monthly-renewals": ("cron(0 6 1 * ? *)", "payments.subscription_renewal", "payments"),
    "monthly-revenue-report": ("cron(0 9 1 * ? *)", "payments.revenue_report", "payments"),
    "weekly-trending": ("cron(0 10 ? * MON *)", "social.trending", "default"),
}


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_each_schedule_is_a_rule_with_its_expression_sending_its_job_to_its_queue(template_json, wiring, name):
    expression, job_type, queue = SCHEDULES[name]
    rules = [
        r["Properties"]
        for r in resources_of(template_json, "AWS::Events::Rule").values()
        if f"offload schedule {name}:" in r["Properties"].get("Description", "")
    ]
    assert len(rules) == 1, f"one rule for {name}, found {len(rules)}"
    rule = rules[0]
    assert rule["ScheduleExpression"] == expression and rule.get("State", "ENABLED") == "ENABLED"
    [target] = rule["Targets"]
    assert render(target["Arn"]) == f"<{wiring[queue].queue_id}.Arn>"
    assert json.loads(target["Input"]) == {"type": job_type, "data": {}}


def _table(template_json, output: str) -> tuple[str, dict]:
    table_id = template_json["Outputs"][output]["Value"]["Ref"]
    return table_id, template_json["Resources"][table_id]["Properties"]


@pytest.mark.parametrize("output", ["PaymentsTableName", "SocialTableName"])
def test_the_pack_tables_are_keyed_encrypted_and_recoverable(template_json, output):
    _, props = _table(template_json, output)
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def _policy_resources(template_json, role_id: str) -> str:
    policies = [
        p["Properties"]["PolicyDocument"]
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if any(r.get("Ref") == role_id for r in p["Properties"].get("Roles", []))
    ]
    return json.dumps(render(policies))


@pytest.mark.parametrize(
    ("queue", "mine", "other"), [("payments", "Payments", "Social"), ("default", "Social", "Payments")]
)
def test_only_the_pack_worker_may_use_its_table(template_json, wiring, queue, mine, other):
    mine_id, _ = _table(template_json, f"{mine}TableName")
    other_id, _ = _table(template_json, f"{other}TableName")
    role_id = wiring[queue].function["Properties"]["Role"]["Fn::GetAtt"][0]
    grants = _policy_resources(template_json, role_id)
    assert f"<{mine_id}.Arn>" in grants and "dynamodb:PutItem" in grants and "dynamodb:UpdateItem" in grants
    assert f"<{other_id}.Arn>" not in grants
    settings = json.dumps(wiring[queue].function["Properties"]["Environment"]["Variables"].get("OFFLOAD_PACKS"))
    assert f"{mine.lower()}_table" in settings, "the worker gets the pack's settings (OFFLOAD_PACKS)"


STRIPE_SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:stripe-AbCdEf"


@pytest.fixture(scope="module")
def stripe_stack(tmp_path_factory):
    """core + the payments pack on the Stripe provider, as a small stack of its own."""
    from aws_cdk import App
    from aws_cdk.assertions import Template

    from offload.catalog import Catalog
    from offload.cdk.app import cdk_json_context
    from offload.cdk.stack import OffloadConfig, OffloadStack
    from offload.packs import core, payments_pack

    app = App(outdir=str(tmp_path_factory.mktemp("stripe-out")), context=cdk_json_context())
    catalog = Catalog.compose(core, payments_pack(provider="stripe", stripe_secret_arn=STRIPE_SECRET))
    stack = OffloadStack(app, "Offload", config=OffloadConfig(), catalog=catalog)
    return Template.from_stack(stack).to_json()


def test_with_stripe_only_the_payments_worker_gets_the_sdk_layer_and_the_key(stripe_stack):
    functions = resources_of(stripe_stack, "AWS::Lambda::Function")
    by_queue = {
        f["Properties"]["Environment"]["Variables"].get("OFFLOAD_QUEUE"): f["Properties"] for f in functions.values()
    }
    layer_ids = {q: [render(layer) for layer in p.get("Layers", [])] for q, p in by_queue.items() if q}
    sdk = [layer for layer in layer_ids["payments"] if "PaymentsLayer" in layer]
    assert len(sdk) == 1, layer_ids["payments"]
    assert all(sdk[0] not in layers for q, layers in layer_ids.items() if q != "payments")
    role_id = by_queue["payments"]["Role"]["Fn::GetAtt"][0]
    grants = _policy_resources(stripe_stack, role_id)
    assert STRIPE_SECRET in grants and "secretsmanager:GetSecretValue" in grants
    other_role = by_queue["default"]["Role"]["Fn::GetAtt"][0]
    assert STRIPE_SECRET not in _policy_resources(stripe_stack, other_role)
