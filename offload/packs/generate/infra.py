"""The generation pipeline: generation records, the Steps and Media functions, and the Standard state machine.

    Start (adds $$.Execution.Id) -> Script -> Map Images -> Map Clips -> Merge -> PublishWait -> PublishPoll
    -> PublishRoute (completed -> Complete -> Generated; else -> PublishWait)
    Clips, per scene: SubmitWhere (local -> SubmitLocal on Media, else Submit) -> ClipRoute
        completed -> ClipDone; ready -> Download -> ClipDone; else -> ClipWait ($.clip.wait_s) -> AfterWait
        (waiting -> SubmitWhere, else Poll -> ClipRoute); any error -> ClipFailed (recorded; the Map goes on)
    any other failure -> <State>Failed ($.failed_step) -> Fail -> GenerationFailed

Steps (no ffmpeg; the `generate` extra's layer: google-genai) runs the provider calls, Media (the ffmpeg
layer) renders the local provider's clips and merges. The provider calls retry 2 s / 4 s / 8 s (seed 002).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_cdk import CfnOutput, CfnResource, Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from offload.cdk.constructs.ffmpeg_layer import FfmpegLayer
from offload.cdk.constructs.grants import grant_objects
from offload.cdk.constructs.job_queue import OffloadFunction, check_environment_size, offload_function
from offload.cdk.constructs.pipeline import (
    LOG_RETENTION,
    RETRY_ERRORS,
    acknowledge_step_grants,
    catch_into,
    grant_start_and_stop,
    grant_stop,
    records_table,
    standard_state_machine,
    step_environment,
    step_task,
)
from offload.cdk.constructs.runtime_layer import layer_version
from offload.cdk.constructs.table_grants import grant_read_items, grant_read_write_items
from offload.cdk.layers import build_layer, layers_dir, runtime_requirements
from offload.cdk.pack_context import PackContext
from offload.packs.generate import STEPS
from offload.packs.generate.options import GenerateOptions

HANDLER = "offload.packs.generate.handler.handler"
STEPS_MEMORY_MB = 1024
MEDIA_MEMORY_MB = 3008
FUNCTION_TIMEOUT = Duration.seconds(900)
PIPELINE_TIMEOUT = Duration.hours(6)
MEDIA_STEPS = ("merge",)  # and `submit` for the local provider, which renders with ffmpeg
if not set(MEDIA_STEPS) <= set(STEPS):
    raise RuntimeError(f"offload.packs.generate.STEPS {STEPS} lacks {MEDIA_STEPS}")


class GeneratePipeline(Construct):
    """Generations table, the Steps and Media functions and the Standard state machine."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.media = ctx.require_media("generation pipeline")
        self.options = ctx.options_as(GenerateOptions, "generate_pack")
        self.jobs = ctx.require_jobs()
        self.table = records_table(self, "Generations")
        step_settings: dict[str, Any] = {
            "media_bucket": self.media.bucket_name,
            "generations_table": self.table.table_name,
            "options": self.options.model_dump(mode="json", exclude_unset=True),
        }
        video = ctx.require_pack("video")
        environment = {**ctx.environment, **ctx.packs_env(step_settings, with_packs=("video",))}
        genai = layer_version(
            Construct(self, "GenerateLayer"),
            build_layer(
                layers_dir() / "generate" / "build", requirements=runtime_requirements(extra="generate"), package=None
            ),
            "offload generate: google-genai (the Veo adapter)",
        )
        self.steps_function = self._function(
            ctx, "Steps", environment, layers=[*ctx.layers, genai], memory_mb=STEPS_MEMORY_MB, cache=ctx.cache
        )
        ffmpeg = FfmpegLayer.of(self).layer
        self.media_function = self._function(
            ctx, "Media", environment, layers=[*ctx.layers, ffmpeg], memory_mb=MEDIA_MEMORY_MB, cache=None
        )
        self.state_machine = self._state_machine()
        # The merge step starts the video pipeline on the merged video and reads its record.
        machine_arn = str(video["pipeline_arn"])
        video_machine = sfn.StateMachine.from_state_machine_arn(self, "VideoMachine", machine_arn)
        video_table = dynamodb.Table.from_table_name(self, "VideosTable", video["videos_table"])
        assert self.media_function.role is not None and self.steps_function.role is not None
        video_machine.grant_start_execution(self.media_function.role)  # Merge starts it
        grant_read_write_items(video_table, self.media_function.role)  # and registers the merged video
        grant_read_items(video_table, self.steps_function.role)  # PublishPoll and Complete read it
        self.settings = {**step_settings, "pipeline_arn": self.state_machine.state_machine_arn}
        CfnOutput(stack, "GenerationsTableName", value=self.table.table_name)
        CfnOutput(stack, "GeneratePipelineArn", value=self.state_machine.state_machine_arn)

    def grant_api(self, role: iam.IGrantable) -> None:
        """What the HTTP API does for generations: cancelling a `video.generate` job stops its execution."""
        grant_stop(self.state_machine, role, "generation pipeline")

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """The starter (`video.generate`): register the generation, start (and stop) its execution."""
        grant_start_and_stop(self.state_machine, role, "generation pipeline")
        grant_read_write_items(self.table, role)

    def _function(
        self,
        ctx: PackContext,
        name: str,
        environment: Mapping[str, str],
        *,
        layers: list[lambda_.ILayerVersion],
        memory_mb: int,
        cache: Any,
    ) -> OffloadFunction:
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION)
        role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        env = step_environment(
            role,
            environment,
            cache=cache,
            ai_key_secret_arn=ctx.config.ai_key_secret_arn,
            secret_arns=[a for a in (self.options.provider_key_secret_arn,) if a],
        )
        check_environment_size(self, env, f"the generation pipeline's {name} function")
        fn = offload_function(
            self,
            name,
            description=f"offload generation pipeline {name} steps",
            handler=HANDLER,
            code=ctx.code,
            layers=layers,
            timeout=FUNCTION_TIMEOUT,
            memory_mb=memory_mb,
            log_level=ctx.log_level,
            log_group=log_group,
            role=role,
            environment=env,
            cache=cache,
            **({"ephemeral_storage_mb": 4096} if name == "Media" else {}),
        )
        # Scene images, clip state and clips (upload_file/download_file: S3Blobs), the merged video; state and
        # clips not written yet are a NoSuchKey or a 404 (`get_json`, `_exists`). Nothing is deleted.
        grant_objects(self.media, role, read=True, write=True, abort_uploads=True, list_=True)
        grant_read_write_items(self.table, role)
        self.jobs.grant(role)  # the last step finishes the handed-off job (offload.jobs.handoff)
        if cache is not None:
            cache.grant_connect(role)
        acknowledge_step_grants(role, self.media, "Scene images, clips and merged videos", in_vpc=cache is not None)
        self.jobs.acknowledge_wildcards(role, in_vpc=cache is not None)
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        return fn

    def _state_machine(self) -> sfn.StateMachine:
        steps, media = self.steps_function, self.media_function
        fail_task = step_task(self, "Fail", function=steps, step="fail", retry=False)
        fail_task.next(sfn.Fail(self, "GenerationFailed", error="GenerationFailed", cause="see the job's error"))

        def task(step: str, function: lambda_.IFunction, construct_id: str, *, catch: sfn.IChainable) -> Any:
            state = step_task(self, construct_id, function=function, step=step, retry=False)
            provider_retries(state)
            catch_into(self, state, step, catch)
            return state

        item = {
            "job_id.$": "$.job_id",
            "run.$": "$.run",
            "data.$": "$.data",
            "execution_arn.$": "$.execution_arn",
            "scene.$": "$$.Map.Item.Value",
        }
        images = sfn.Map(
            self,
            "ImagesMap",
            state_name="Images",
            items_path="$.scenes",
            max_concurrency=self.options.image_concurrency,
            item_selector=item,
            result_path=sfn.JsonPath.DISCARD,
        )
        image = step_task(self, "SceneImage", function=steps, step="image", retry=False)
        provider_retries(image)
        images.item_processor(image)
        catch_into(self, images, "images", fail_task, name="Images")

        clip_failed = step_task(self, "ClipFailed", function=steps, step="clip_failed", retry=False)
        provider_retries(clip_failed)
        done = sfn.Succeed(self, "ClipDone")
        clip_failed.next(done)
        submit = task("submit", steps, "Submit", catch=clip_failed)
        submit_local = task("submit", media, "SubmitLocal", catch=clip_failed)
        poll = task("poll", steps, "Poll", catch=clip_failed)
        download = task("download", steps, "Download", catch=clip_failed)
        download.next(done)
        submit_where = (
            sfn.Choice(self, "SubmitWhere")
            .when(sfn.Condition.string_equals("$.scene.provider", "local"), submit_local)
            .otherwise(submit)
        )
        wait = sfn.Wait(self, "ClipWait", time=sfn.WaitTime.seconds_path("$.clip.wait_s"))
        route = (
            sfn.Choice(self, "ClipRoute")
            .when(sfn.Condition.string_equals("$.clip.status", "completed"), done)
            .when(sfn.Condition.string_equals("$.clip.status", "ready"), download)
            .otherwise(wait)
        )
        submit.next(route)
        submit_local.next(route)
        poll.next(route)
        wait.next(
            sfn.Choice(self, "AfterWait")
            .when(sfn.Condition.string_equals("$.clip.status", "waiting"), submit_where)
            .otherwise(poll)
        )
        clips = sfn.Map(
            self,
            "ClipsMap",
            state_name="Clips",
            items_path="$.scenes",
            max_concurrency=self.options.clip_concurrency,
            item_selector=item,
            result_path=sfn.JsonPath.DISCARD,
        )
        clips.item_processor(submit_where)
        catch_into(self, clips, "clips", fail_task, name="Clips")

        publish_wait = sfn.Wait(self, "PublishWait", time=sfn.WaitTime.seconds_path("$.publish.wait_s"))
        publish_poll = task("publish_poll", steps, "PublishPoll", catch=fail_task)
        complete = task("complete", steps, "Complete", catch=fail_task)
        complete.next(sfn.Succeed(self, "Generated"))
        publish_wait.next(publish_poll)
        publish_poll.next(
            sfn.Choice(self, "PublishRoute")
            .when(sfn.Condition.string_equals("$.publish.status", "completed"), complete)
            .otherwise(publish_wait)
        )
        start = sfn.Pass(
            self,
            "Start",
            parameters={
                "job_id.$": "$.job_id",
                "run.$": "$.run",
                "data.$": "$.data",
                "execution_arn.$": "$$.Execution.Id",
            },
        )
        chain = (
            start.next(task("script", steps, "Script", catch=fail_task))
            .next(images)
            .next(clips)
            .next(task("merge", media, "Merge", catch=fail_task))
            .next(publish_wait)
        )
        return standard_state_machine(self, chain, timeout=PIPELINE_TIMEOUT, functions=[steps, media])


def provider_retries(state: tasks.LambdaInvoke) -> None:
    """Seed 002's retries for provider calls: 3 more attempts at 2 s, 4 s, 8 s (429s never get here: the
    steps return them as a wait)."""
    state.add_retry(errors=RETRY_ERRORS, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2)
