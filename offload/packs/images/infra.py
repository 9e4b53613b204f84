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
from constructs import Construct, IConstruct

from offload.ai.s3_vectors import NON_FILTERABLE_KEYS
from offload.cdk.constructs.embed_layer import EmbedLayer
from offload.cdk.constructs.grants import grant_objects
from offload.cdk.constructs.job_queue import _logical_id, check_environment_size, offload_function
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
from offload.cdk.constructs.table_grants import grant_read_items, grant_read_write_items
from offload.cdk.constructs.vector_bucket import VectorBucket
from offload.cdk.nag import acknowledge
from offload.cdk.pack_context import PackContext
from offload.packs.images import REINDEX_QUEUE, ImagesOptions, pipeline_steps
from offload.packs.images.vectors import INDEX_NAME_PREFIX, INDEX_OBJECT_PREFIX, IndexRef
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
        self.options = ctx.options_as(ImagesOptions, "images_pack")
        self.table = records_table(self, "Images")
        step_settings: dict[str, str] = {
            "media_bucket": self.media.bucket_name,
            "images_table": self.table.table_name,
            "vector_index": self.options.vector_index,
        }
        self.vectors: VectorBucket | None = None
        if self.options.vector_index == "s3vectors":
            model, dimensions = stack_embedder(ctx.config.ai_key_secret_arn)
            self.vectors = VectorBucket(
                self,
                "Vectors",
                index_name=IndexRef.for_model(model, dimensions).name,
                dimensions=dimensions,
                index_prefix=f"{INDEX_NAME_PREFIX}-",
                non_filterable=NON_FILTERABLE_KEYS,
            )
            step_settings["vector_bucket"] = self.vectors.bucket_name
        # The offline embedder, where records are embedded (the step function, the re-index worker) and
        # queries are (the API).
        self.api_layers = [EmbedLayer.of(self).layer]
        self.worker_layers = {REINDEX_QUEUE: self.api_layers}
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
        """What the HTTP API does for images: presign uploads, read records, search the vector index (it reads
        the active-index pointer, whose absence is a NoSuchKey, and the S3-JSON index lists its prefix)."""
        grant_objects(self.media, role, read=True, write=True, list_=True)
        grant_read_items(self.table, role)
        if self.vectors is not None:
            self.vectors.grant_query(role)
        acknowledge_media_objects(
            role,
            self.media,
            "The API presigns uploads under uploads/images/ and reads the vector index and variants, keyed by "
            "upload key at run time; the grant covers objects in the media bucket only.",
        )

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """The starter job (`image.process`, images queue) registers uploads and starts executions; the
        re-index job (`image.reindex`, its own queue) reads the records and fills a new vector index: its
        state, the active-index pointer (both read expecting a NoSuchKey the first time) and, with the S3-JSON
        index, the vectors are objects under index/."""
        if queue == REINDEX_QUEUE:
            grant_read_items(self.table, role)
            grant_objects(self.media, role, read=True, write=True, list_=True, prefix=f"{INDEX_OBJECT_PREFIX}*")
            if self.vectors is not None:
                self.vectors.grant_write(role)
                self.vectors.grant_manage_indexes(role)
            _acknowledge_index_objects(role, self.media)
            return
        grant_start_and_stop(self.state_machine, role, "image pipeline")
        grant_read_write_items(self.table, role)

    def grant_records(self, role: iam.IGrantable) -> None:
        """What another pack's worker that marks image records (the moderation pack's) may do: read and write them."""
        grant_read_write_items(self.table, role)

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
        # The exact upload version an event named (GetObjectVersion), its variants and S3-JSON vectors (PutObject).
        grant_objects(self.media, role, read=True, read_versions=True, write=True)
        grant_read_write_items(self.table, role)
        if self.vectors is not None:
            self.vectors.grant_write(role)
            self.vectors.grant_manage_indexes(role)
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


def stack_embedder(ai_key_secret_arn: str | None) -> tuple[str, int]:
    """The embedder (model, dimensions) the stack's functions use: the OpenAI-compatible API's default
    model with an AI key, else the offline MiniLM (offload.ai.factory.build_providers chooses the same)."""
    if ai_key_secret_arn:
        from offload.ai.openai_adapter import DEFAULT_EMBEDDING_MODEL, KNOWN_EMBEDDING_DIMENSIONS

        return DEFAULT_EMBEDDING_MODEL, KNOWN_EMBEDDING_DIMENSIONS[DEFAULT_EMBEDDING_MODEL]
    from offload.ai.onnx_embedder import DIMENSIONS, MODEL

    return MODEL, DIMENSIONS


def _acknowledge_index_objects(role: iam.IGrantable, media: IConstruct) -> None:
    """cdk-nag's finding on `<media bucket>/index/*`: the re-index state and the active-index pointer."""
    policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
    if policy is not None:
        acknowledge(
            policy,
            f"AwsSolutions-IAM5[Resource::<{_logical_id(media)}.Arn>/index/*]",
            "The re-index job reads and writes its state and the active-index pointer (and, with the S3-JSON "
            "index, the vector objects) under index/ in the media bucket only.",
        )
