"""Pack constructs for the infra tests: a function whose layers are too big, and one built without offload_function."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from offload.cdk.constructs.job_queue import offload_function
from offload.cdk.constructs.runtime_layer import ARCHITECTURE, RUNTIME, BuiltLayer
from offload.cdk.layers import LayerBuild
from offload.cdk.pack_context import PackContext


class ExtraLayerFunction(Construct):
    """A function with the stack's layers plus the layer directory the pack's options name (`layer_dir`)."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        built = LayerBuild(Path(ctx.pack.options["layer_dir"]), "test", rebuilt=False)
        layer = BuiltLayer(self, "ExtraLayer", built=built, description="a test layer")
        self.function = offload_function(
            self,
            "Step",
            description="a test function with an extra layer",
            handler="tests.support.processors.count",
            code=ctx.code,
            layers=[*ctx.layers, layer],
            timeout=Duration.seconds(10),
            memory_mb=128,
            log_level=ctx.log_level,
            log_group=logs.LogGroup(self, "Logs"),
            role=iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com")),
            environment={},
            cache=None,
        )


class RawFunction(Construct):
    """A Lambda function made directly, not with offload_function."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        lambda_.Function(
            self,
            "Raw",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler="index.handler",
            code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
        )
