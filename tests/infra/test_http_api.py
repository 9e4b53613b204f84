"""The HTTP API in the template: a route per API route, IAM on all but /health, a throttled stage with access
logs, producer and admin policies that grant exactly their routes, and the function's admin grants."""

from __future__ import annotations

import json

from conftest import ref_id, render, resources_of

from offload.api.app import PRODUCER_ROUTES, PUBLIC_ROUTES, routes
from offload.cdk.constructs.http_api import ACCESS_LOG_FIELDS, API_HANDLER


def api_routes(template_json: dict) -> dict[str, dict]:
    return {
        r["Properties"]["RouteKey"]: r["Properties"]
        for r in resources_of(template_json, "AWS::ApiGatewayV2::Route").values()
    }


def test_every_api_route_is_a_gateway_route_and_only_health_is_open(template_json: dict) -> None:
    deployed = api_routes(template_json)
    assert sorted(deployed) == sorted(f"{m} {p}" for m, p in routes())
    open_routes = {key for key, props in deployed.items() if props["AuthorizationType"] != "AWS_IAM"}
    assert open_routes == {f"{m} {p}" for m, p in PUBLIC_ROUTES} == {"GET /health"}
    assert deployed["GET /health"]["AuthorizationType"] == "NONE"


def test_every_route_reaches_the_api_function_with_payload_format_2(template_json: dict) -> None:
    integrations = resources_of(template_json, "AWS::ApiGatewayV2::Integration")
    ((integration_id, integration),) = integrations.items()
    assert integration["Properties"]["PayloadFormatVersion"] == "2.0"
    function_id = ref_id(integration["Properties"]["IntegrationUri"])
    function = template_json["Resources"][function_id]["Properties"]
    assert function["Handler"] == API_HANDLER
    assert function["Timeout"] < 30  # API Gateway gives an integration 30 s
    for key, props in api_routes(template_json).items():
        assert render(props["Target"]) == f"integrations/<{integration_id}>", key


def test_the_stage_throttles_and_writes_json_access_logs(template_json: dict) -> None:
    ((_, stage),) = resources_of(template_json, "AWS::ApiGatewayV2::Stage").items()
    props = stage["Properties"]
    assert props["StageName"] == "$default" and props["AutoDeploy"] is True
    assert props["DefaultRouteSettings"] == {"ThrottlingBurstLimit": 200, "ThrottlingRateLimit": 100}
    assert json.loads(props["AccessLogSettings"]["Format"]) == ACCESS_LOG_FIELDS
    group = ref_id(props["AccessLogSettings"]["DestinationArn"])
    assert template_json["Resources"][group]["Type"] == "AWS::Logs::LogGroup"


def _invoke_arns(template_json: dict, policy_output: str) -> set[str]:
    policy_id = ref_id(template_json["Outputs"][policy_output]["Value"])
    statements = template_json["Resources"][policy_id]["Properties"]["PolicyDocument"]["Statement"]
    assert {s["Action"] for s in statements} == {"execute-api:Invoke"}
    resources = [r for s in statements for r in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])]
    return {render(r).split("/", 1)[1] for r in resources}  # "$default/POST/jobs"


def _as_arn(method: str, path: str) -> str:
    return f"$default/{method}" + "/".join("*" if p.startswith("{") else p for p in path.split("/"))


def test_producer_and_admin_policies_grant_exactly_their_routes(template_json: dict) -> None:
    producer = _invoke_arns(template_json, "ApiProducerPolicyArn")
    admin = _invoke_arns(template_json, "ApiAdminPolicyArn")
    assert producer == {_as_arn(m, p) for m, p in PRODUCER_ROUTES - PUBLIC_ROUTES}
    assert admin == {_as_arn(m, p) for m, p in routes()}
    assert not any("/admin/" in arn for arn in producer)
    assert {"$default/POST/admin/queues/*/pause", "$default/POST/admin/queues/*/redrive"} <= admin


def test_the_api_function_may_flip_only_this_stacks_workers_event_source_mappings(template_json: dict) -> None:
    integration = next(iter(resources_of(template_json, "AWS::ApiGatewayV2::Integration").values()))
    function = template_json["Resources"][ref_id(integration["Properties"]["IntegrationUri"])]["Properties"]
    role_id = ref_id(function["Role"])
    policies = [
        p["Properties"]["PolicyDocument"]["Statement"]
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if any(ref_id(r) == role_id for r in p["Properties"]["Roles"])
    ]
    statements = [s for doc in policies for s in doc]
    update = [s for s in statements if "lambda:UpdateEventSourceMapping" in json.dumps(s["Action"])]
    assert len(update) == 1
    workers = {ref_id(f) for f in update[0]["Condition"]["ArnLike"]["lambda:FunctionArn"]}
    queue_workers = {
        lid
        for lid, r in resources_of(template_json, "AWS::Lambda::Function").items()
        if r["Properties"]["Handler"] == "offload.handlers.worker.handler"
    }
    assert workers == queue_workers
    actions = json.dumps([s["Action"] for s in statements])
    for needed in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:SendMessage", "dynamodb:PutItem"):
        assert needed in actions, needed
