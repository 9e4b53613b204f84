"""The HTTP API: API Gateway (HTTP API, payload format 2.0) in front of one Lambda (`offload.api`).

Routes are the API's own OpenAPI route table (`offload.api.app.routes`), one API Gateway route each, so an
unknown path is refused by API Gateway before any function runs. Every route but `PUBLIC_ROUTES`
(`GET /health`) takes IAM (SigV4) authorization; two managed policies grant the routes to the callers:
producers (add, read, cancel and retry jobs, upload media) and admins (everything). The `$default` stage
throttles (rate and burst from cdk.json) and writes JSON access logs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsii
from aws_cdk import ArnFormat, CfnOutput, CfnResource, Duration, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_authorizers as authorizers
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from offload.api.app import PRODUCER_ROUTES, PUBLIC_ROUTES, routes
from offload.cdk.constructs.grants import grant_consume
from offload.cdk.constructs.job_queue import (
    WORKER_LOG_RETENTION,
    OffloadFunction,
    WorkerRuntime,
    _logical_id,
    check_environment_size,
    offload_function,
)
from offload.cdk.constructs.pipeline import step_environment
from offload.cdk.nag import acknowledge

API_HANDLER = "offload.api.handler.handler"
# API Gateway gives an HTTP API integration at most 30 s; the function stops a little before.
API_TIMEOUT = Duration.seconds(29)
API_MEMORY_MB = 512
STAGE = "$default"
# The access log: one JSON line per request, with the caller's IAM identity and the integration's status.
ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "caller": "$context.identity.caller",
    "user": "$context.identity.userArn",
    "time": "$context.requestTime",
    "method": "$context.httpMethod",
    "route": "$context.routeKey",
    "status": "$context.status",
    "bytes": "$context.responseLength",
    "latencyMs": "$context.responseLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationLatencyMs": "$context.integrationLatency",
    "error": "$context.error.message",
    "authorizerError": "$context.authorizer.error",
}


class HttpApi(Construct):
    """The API function (the jobs' grants, the admin actions, each pack's `grant_api` and `api_settings`), the
    HTTP API with a
    route per API route, the stage, and the producer and admin policies (stack outputs)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        runtime: WorkerRuntime,
        packs: Mapping[str, Construct],
        pack_settings: Mapping[str, Any],
        rate_limit: float,
        burst_limit: int,
        ai_key_secret_arn: str | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.function = self._function(runtime, packs, pack_settings, ai_key_secret_arn)
        self.access_logs = logs.LogGroup(self, "AccessLogs", retention=WORKER_LOG_RETENTION)
        self.api = apigwv2.HttpApi(
            self,
            "Api",
            api_name=f"{stack.stack_name}-api",
            description="offload: add and watch jobs, upload media, operate queues (SigV4)",
            create_default_stage=False,
        )
        self.stage = apigwv2.HttpStage(
            self,
            "Stage",
            http_api=self.api,
            stage_name=STAGE,
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(rate_limit=rate_limit, burst_limit=burst_limit),
            access_log_settings=_AccessLogs(self.access_logs),
        )
        integration = integrations.HttpLambdaIntegration(
            "Function", self.function, payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0
        )
        iam_auth = authorizers.HttpIamAuthorizer()
        self.routes: dict[tuple[str, str], apigwv2.HttpRoute] = {}
        for method, path in routes():
            public = (method, path) in PUBLIC_ROUTES
            (route,) = self.api.add_routes(
                path=path,
                methods=[apigwv2.HttpMethod(method)],
                integration=integration,
                authorizer=apigwv2.HttpNoneAuthorizer() if public else iam_auth,
            )
            self.routes[(method, path)] = route
            if public:
                acknowledge(
                    route.node.default_child,
                    "AwsSolutions-APIG4",
                    f"{method} {path} is the health check load balancers and uptime monitors call without "
                    "credentials; it answers healthy or not with reasons and nothing secret (no URL, ARN or key).",
                )
        self.url = self.api.api_endpoint
        self.producer_policy = self._policy(
            "ProducerPolicy",
            "offload API producer: add, read, cancel and retry jobs; upload and read media",
            sorted(PRODUCER_ROUTES - PUBLIC_ROUTES),
        )
        self.admin_policy = self._policy("AdminPolicy", "offload API admin: every route", sorted(self.routes))
        CfnOutput(stack, "ApiUrl", value=self.url, description="offload HTTP API (SigV4, service execute-api)")
        CfnOutput(stack, "ApiProducerPolicyArn", value=self.producer_policy.managed_policy_arn)
        CfnOutput(stack, "ApiAdminPolicyArn", value=self.admin_policy.managed_policy_arn)

    def _function(
        self,
        runtime: WorkerRuntime,
        packs: Mapping[str, Construct],
        pack_settings: Mapping[str, Any],
        ai_key_secret_arn: str | None,
    ) -> OffloadFunction:
        stack = Stack.of(self)
        cache = runtime.rate_limit_cache  # /health pings the limiter: the function joins the cache's VPC
        log_group = logs.LogGroup(self, "FunctionLogs", retention=WORKER_LOG_RETENTION)
        role = iam.Role(
            self, "FunctionRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description="offload API"
        )
        log_group.grant_write(role)
        # The packs' `api_settings` (what the routes read: buckets, records tables); the AI key embeds
        # search queries.
        packs_env = {"OFFLOAD_PACKS": stack.to_json_string(dict(pack_settings))} if pack_settings else {}
        environment = step_environment(
            role, {**runtime.environment, **packs_env}, cache=cache, ai_key_secret_arn=ai_key_secret_arn
        )
        check_environment_size(self, environment, "the API function")
        fn = offload_function(
            self,
            "Function",
            description="offload HTTP API (every route)",
            handler=API_HANDLER,
            code=runtime.code,
            layers=runtime.layers,
            timeout=API_TIMEOUT,
            memory_mb=API_MEMORY_MB,
            log_level=runtime.log_level,
            log_group=log_group,
            role=role,
            environment=environment,
            cache=cache,
        )
        access = runtime.access
        access.grant(role)
        for q in access.queues:
            # Retry takes a job's message off its DLQ; redrive moves them all back.
            grant_consume(q.dlq, role)
        access.grant_queue_counts(role)
        # Pause and resume flip the queues' event source mappings (offload/jobs/admin.py lists, then
        # updates; it never reads one mapping). Listing has no resource-level permission; updating is
        # limited to mappings of this stack's workers.
        role.add_to_policy(iam.PolicyStatement(actions=["lambda:ListEventSourceMappings"], resources=["*"]))
        workers = [q.worker.function_arn for q in access.queues if q.worker is not None]
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["lambda:UpdateEventSourceMapping"],
                resources=[
                    stack.format_arn(
                        service="lambda",
                        resource="event-source-mapping",
                        resource_name="*",
                        arn_format=ArnFormat.COLON_RESOURCE_NAME,
                    )
                ],
                conditions={"ArnLike": {"lambda:FunctionArn": workers}},
            )
        )
        if cache is not None:
            cache.grant_connect(role)
        for construct in packs.values():
            grant = getattr(construct, "grant_api", None)
            if grant is not None:
                grant(role)
        access.acknowledge_wildcards(role, in_vpc=cache is not None)
        self._acknowledge_admin_grants(role)
        return fn

    def _acknowledge_admin_grants(self, role: iam.Role) -> None:
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        acknowledge(
            policy,
            "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:lambda:<AWS::Region>:<AWS::AccountId>:"
            "event-source-mapping:*]",
            "Event source mapping ids are generated at deploy time; the lambda:FunctionArn condition limits "
            "Get/UpdateEventSourceMapping to mappings of this stack's workers (ListEventSourceMappings has no "
            "resource-level permission).",
        )

    def _policy(self, construct_id: str, description: str, allowed: list[tuple[str, str]]) -> iam.ManagedPolicy:
        resources = [self.api.arn_for_execute_api(method, _arn_path(path), STAGE) for method, path in allowed]
        policy = iam.ManagedPolicy(
            self,
            construct_id,
            description=description,
            statements=[iam.PolicyStatement(actions=["execute-api:Invoke"], resources=resources)],
        )
        api_id = _logical_id(self.api)
        for method, path in allowed:
            if "{" in path:
                acknowledge(
                    policy.node.default_child,
                    "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:"
                    f"<{api_id}>/{STAGE}/{method}{_arn_path(path)}]",
                    f"{method} {path}: its path parameter is one segment, any job id, key or queue name; the "
                    "policy lists the API's routes one by one and nothing else.",
                )
        return policy


def _arn_path(path: str) -> str:
    """`/jobs/{job_id}/retry` -> `/jobs/*/retry`: a route's path as execute-api ARNs spell it."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogs:
    """The stage's access log settings: ACCESS_LOG_FIELDS as JSON lines into the API's log group."""

    def __init__(self, group: logs.ILogGroup) -> None:
        self._group = group

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return apigwv2.LogGroupLogDestination(self._group)

    @property
    def format(self) -> apigw.AccessLogFormat:
        return apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS))
