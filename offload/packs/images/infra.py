"""The image pipeline: image records, step function, state machine, on the stack's media bucket.

Uploads under uploads/images/ in the media bucket (offload.cdk.constructs.media_bucket) reach the
catalog queue of their S3 trigger's job type (`image.process`, on the rate-limited `images` queue);
that job registers the upload and starts one Standard execution per object version. A backlog
therefore waits in SQS, not in running executions.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from offload.cdk.constructs.embed_layer import EmbedLayer
from offload.cdk.constructs.job_queue import check_environment_size, offload_function
from offload.cdk.constructs.pipeline import (
    LOG_RETENTION,
    acknowledge_media_objects,
    acknowledge_step_grants,
    catch_into,
    grant_start_and_stop,
    records_table,
    standard_state_machine,
    step_environment,
    step_task,
)
from offload.cdk.pack_context import PackContext
from offload.packs.images import pipeline_steps
from offload.packs.moderation.infra import grant_moderation_step, moderation_packs

PIPELINE_HANDLER = "offload.packs.images.handler.handler"
PIPELINE_MEMORY_MB = 2048  # above 1,769 MB a function gets a full vCPU: AVIF encoding is CPU-bound
PIPELINE_TIMEOUT = Duration.minutes(5)


class ImagePipeline(Construct):
    """Images table, the step function and the Standard state machine that runs it."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.media = ctx.require_media("images pipeline")
        self.table = records_table(self, "Images")
        step_settings = {"media_bucket": self.media.bucket_name, "images_table": self.table.table_name}
        # The offline embedder, where records are embedded (the step function) and queries are (the API).
        self.api_layers = [EmbedLayer.of(self).layer]
        # With the moderation pack in, the `moderate` step writes its records: its settings and grants too.
        moderated = moderation_packs(ctx)
        env = {**ctx.environment, **ctx.packs_env(step_settings, with_packs=moderated)}
        self.function = self._step_function(ctx, env)
        if moderated:
            grant_moderation_step(self, ctx, self.function)
        self.state_machine = self._state_machine(pipeline_steps(ctx.catalog))
        # Settings.packs["images"] for the workers and clients (offload.packs.images.settings.ImagesSettings).
        self.settings = {**step_settings, "pipeline_arn": self.state_machine.state_machine_arn}
        self.api_settings = step_settings  # the HTTP API presigns uploads, reads records, searches
        CfnOutput(stack, "ImagesTableName", value=self.table.table_name)
        CfnOutput(stack, "ImagePipelineArn", value=self.state_machine.state_machine_arn)

    def grant_api(self, role: iam.IGrantable) -> None:
        """What the HTTP API does for images: presign uploads, read records, search the vector index."""
        self.media.grant_put(role)
        self.media.grant_read(role)
        self.table.grant_read_data(role)
        acknowledge_media_objects(
            role,
            self.media,
            "The API presigns uploads under uploads/images/ and reads the vector index and variants, keyed by "
            "upload key at run time; the grant covers objects in the media bucket only.",
        )

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """What the starter job (`image.process` on the images queue) does: register uploads, start executions."""
        grant_start_and_stop(self.state_machine, role, "image pipeline")
        self.table.grant_read_write_data(role)

    def grant_records(self, role: iam.IGrantable) -> None:
        """What another pack's worker that marks image records (the moderation pack's) may do: read and write them."""
        self.table.grant_read_write_data(role)

    def _step_function(self, ctx: PackContext, environment: Mapping[str, str]) -> lambda_.Function:
        cache = ctx.cache
        ai_key_secret_arn = ctx.config.ai_key_secret_arn
        log_group = logs.LogGroup(self, "StepLogs", retention=LOG_RETENTION)
        role = iam.Role(self, "StepRole", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        env = step_environment(role, environment, cache=cache, ai_key_secret_arn=ai_key_secret_arn)
        check_environment_size(self, env, "the image pipeline's step function")
        fn = offload_function(
            self,
            "Step",
            description="offload image pipeline steps (inspect, moderate, metadata, variants, embed, index, complete)",
            handler=PIPELINE_HANDLER,
            code=ctx.code,
            layers=[*ctx.layers, *self.api_layers],
            timeout=PIPELINE_TIMEOUT,
            memory_mb=PIPELINE_MEMORY_MB,
            log_level=ctx.log_level,
            log_group=log_group,
            role=role,
            environment=env,
            cache=cache,
        )
        self.media.grant_read_write(role)
        self.table.grant_read_write_data(role)
        ctx.topic.grant_publish(role)
        if cache is not None:
            cache.grant_connect(role)
        acknowledge_step_grants(role, self.media, "Originals, variants and the vector index", in_vpc=cache is not None)
        return fn

    def _state_machine(self, names: tuple[str, ...]) -> sfn.StateMachine:
        fail_task = step_task(self, "Fail", function=self.function, step="fail", retry=False)
        fail_task.next(sfn.Fail(self, "ImageFailed", error="ImageFailed", cause="see the image record's error"))
        steps = [step_task(self, name.capitalize(), function=self.function, step=name) for name in names]
        for name, task in zip(names, steps, strict=True):
            catch_into(self, task, name, fail_task)
        for task, following in itertools.pairwise(steps):
            task.next(following)
        steps[-1].next(sfn.Succeed(self, "ImageCompleted"))
        return standard_state_machine(self, steps[0], timeout=Duration.hours(2), functions=[self.function])
