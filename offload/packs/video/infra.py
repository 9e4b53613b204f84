"""The video pipeline: video records, the Media and Transcode functions (with the ffmpeg layer), and
the Standard state machine, on the stack's media bucket.

Uploads under uploads/videos/, uploads/audio/ and uploads/live/<stream>/ reach the `video` queue
(offload.cdk.constructs.media_bucket); its jobs register the upload and start one execution:

    Probe -> Kind: audio        -> Audio -> Complete
                   live_segment -> LiveSegment -> LiveDone
                   live_end     -> LiveEnd -> LiveEnded
                   (video)      -> [Moderate] -> Plan -> Map Transcode (segments + audio) -> Map Join (outputs)
                                   -> Package -> Complete -> VideoCompleted
    any failure -> <State>Failed ($.failed_step) -> Fail -> VideoFailed

Moderate runs only when the catalog has the moderation pack. Media runs the light steps (probe,
moderate, plan, package, complete, fail, live_end) at 2,048 MB; Transcode
runs ffmpeg (transcode, join, audio, live_segment) at the pack's `transcode_memory_mb`. Both get
the /tmp `scratch_mb_for(options)` says the longest accepted source needs.
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
from constructs import Construct

from offload.catalog import CatalogError
from offload.cdk.constructs.ffmpeg_layer import FfmpegLayer
from offload.cdk.constructs.grants import grant_objects
from offload.cdk.constructs.job_queue import (
    OffloadFunction,
    _logical_id,
    check_environment_size,
    offload_function,
    pascal,
)
from offload.cdk.constructs.pipeline import (
    LOG_RETENTION,
    acknowledge_media_objects,
    acknowledge_step_grants,
    catch_into,
    grant_start_and_stop,
    records_table,
    standard_state_machine,
    step_task,
)
from offload.cdk.constructs.table_grants import grant_read_items, grant_read_write_items
from offload.cdk.nag import acknowledge
from offload.cdk.pack_context import PackContext
from offload.media.video.plan import VideoOptions, scratch_mb_for
from offload.packs.moderation.infra import grant_moderation_step, moderation_packs
from offload.packs.video import OUTPUT_PREFIX, STEPS
from offload.packs.video.store import STATUS_INDEX

PIPELINE_HANDLER = "offload.packs.video.handler.handler"
MEDIA_MEMORY_MB = 2048  # above 1,769 MB a function gets a full vCPU: PyAV probing, posters and sprites
FUNCTION_TIMEOUT = Duration.seconds(900)  # Lambda's longest; the plan sizes segments well inside it
PIPELINE_TIMEOUT = Duration.hours(6)
# Lambda's ephemeral storage (/tmp) range.
MIN_SCRATCH_MB, MAX_SCRATCH_MB = 512, 10240
MEDIA_STEPS = ("probe", "moderate", "plan", "package", "complete", "fail", "live_end")
TRANSCODE_STEPS = ("transcode", "join", "audio", "live_segment")
# The steps that delete the execution's scratch parts (offload.packs.video.steps._delete_prefix).
SCRATCH_DELETING_STEPS = ("package", "fail")
if set(MEDIA_STEPS) | set(TRANSCODE_STEPS) != set(STEPS):
    raise RuntimeError(f"offload.packs.video.STEPS {STEPS} and the functions' steps in {__name__} differ")


class VideoPipeline(Construct):
    """Videos table, the Media and Transcode functions and the Standard state machine that runs them."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        self.media = ctx.require_media("video pipeline")
        self.options = ctx.options_as(VideoOptions, "video_pack")
        self.scratch_mb = ephemeral_storage_mb(scratch_mb_for(self.options), self.options)
        self.table = records_table(self, "Videos")
        self.table.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name="updated_at", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        step_settings: dict[str, Any] = {
            "media_bucket": self.media.bucket_name,
            "videos_table": self.table.table_name,
            "options": self.options.model_dump(mode="json", exclude_unset=True),
            "scratch_mb": self.scratch_mb,
        }
        # With the moderation pack in, videos get a `moderate` step (sampled frames) before `plan`.
        self.moderated = moderation_packs(ctx)
        environment = {**ctx.environment, **ctx.packs_env(step_settings, with_packs=self.moderated)}
        self.ffmpeg_layer = FfmpegLayer.of(self).layer
        self.media_function = self._function(
            ctx,
            "Media",
            environment,
            memory_mb=MEDIA_MEMORY_MB,
            steps=MEDIA_STEPS,
        )
        self.transcode_function = self._function(
            ctx,
            "Transcode",
            environment,
            memory_mb=self.options.transcode_memory_mb,
            steps=TRANSCODE_STEPS,
        )
        if self.moderated:
            grant_moderation_step(self, ctx, self.media_function)
        self.state_machine = self._state_machine()
        # Settings.packs["video"] for the workers and clients (offload.packs.video.settings.VideoSettings).
        self.settings = {**step_settings, "pipeline_arn": self.state_machine.state_machine_arn}
        # The HTTP API presigns uploads up to the pack's size limit and reads records; nothing else.
        limits = step_settings["options"].get("limits")
        self.api_settings = {
            "media_bucket": self.media.bucket_name,
            "videos_table": self.table.table_name,
            **({"options": {"limits": limits}} if limits else {}),
        }
        CfnOutput(stack, "VideosTableName", value=self.table.table_name)
        CfnOutput(stack, "VideoPipelineArn", value=self.state_machine.state_machine_arn)

    def grant_api(self, role: iam.IGrantable) -> None:
        """What the HTTP API does for video and audio: presign uploads and read records."""
        grant_objects(self.media, role, write=True)
        grant_read_items(self.table, role)
        acknowledge_media_objects(
            role,
            self.media,
            "The API presigns uploads under uploads/videos/ and uploads/audio/, keyed at run time; the grant "
            "covers putting objects in the media bucket only.",
        )
        policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
        if isinstance(policy, CfnResource):
            _acknowledge_table_indexes(policy, self.table)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """What the starter jobs (on the video queue) do: register uploads, start (and stop) executions; a
        live segment's job first looks its execution up by name (DescribeExecution). They never read the
        upload itself: the pipeline's functions do. An empty live segment is failed by its job, which then
        republishes the stream's playlists past it (live.record_segment_error -> publish: the segments'
        metadata and the playlists under videos/, and a listing of the stream's segments)."""
        grant_start_and_stop(self.state_machine, role, "video pipeline")
        self.state_machine.grant_execution(role, "states:DescribeExecution")
        grant_read_write_items(self.table, role)
        grant_objects(self.media, role, read=True, write=True, list_=True, prefix=f"{OUTPUT_PREFIX}*")
        policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
        if isinstance(policy, CfnResource):
            _acknowledge_table_indexes(policy, self.table)
            acknowledge(
                policy,
                f"AwsSolutions-IAM5[Resource::<{_logical_id(self.media)}.Arn>/{OUTPUT_PREFIX}*]",
                "A live stream's playlists and segments, keyed by stream name, unknown at deploy time; the grant "
                "covers the pipeline's outputs (videos/) only.",
            )

    def grant_records(self, role: iam.IGrantable) -> None:
        """What another pack's worker that marks video records (the moderation pack's) may do: read and write them."""
        grant_read_write_items(self.table, role)
        policy = role.node.find_child("DefaultPolicy").node.default_child if isinstance(role, iam.Role) else None
        if isinstance(policy, CfnResource):
            _acknowledge_table_indexes(policy, self.table)

    def _function(
        self,
        ctx: PackContext,
        name: str,
        environment: Mapping[str, str],
        *,
        memory_mb: int,
        steps: tuple[str, ...],
    ) -> OffloadFunction:
        log_group = logs.LogGroup(self, f"{name}Logs", retention=LOG_RETENTION)
        role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        check_environment_size(self, environment, f"the video pipeline's {name} function")
        # No shared limits in this pack, so the functions stay out of the cache's VPC: their S3 traffic
        # (sources, parts, outputs) never goes through the NAT gateway.
        fn = offload_function(
            self,
            name,
            description=f"offload video pipeline {name} steps ({', '.join(steps)})",
            handler=PIPELINE_HANDLER,
            code=ctx.code,
            layers=[*ctx.layers, self.ffmpeg_layer],
            timeout=FUNCTION_TIMEOUT,
            memory_mb=memory_mb,
            log_level=ctx.log_level,
            log_group=log_group,
            role=role,
            environment=environment,
            cache=None,
            ephemeral_storage_mb=self.scratch_mb,
        )
        # The exact source version an event named (GetObject, GetObjectVersion: a presigned URL or a download),
        # parts and outputs (upload_file: PutObject, AbortMultipartUpload), listings of parts and live segments
        # (and playlists not written yet are a NoSuchKey); only the steps in SCRATCH_DELETING_STEPS delete.
        grant_objects(
            self.media,
            role,
            read=True,
            read_versions=True,
            write=True,
            abort_uploads=True,
            delete=bool(set(steps) & set(SCRATCH_DELETING_STEPS)),
            list_=True,
        )
        grant_read_write_items(self.table, role)
        ctx.topic.grant_publish(role)
        acknowledge_step_grants(role, self.media, "Sources, transcoded parts and outputs", in_vpc=False)
        policy = role.node.find_child("DefaultPolicy").node.default_child
        assert isinstance(policy, CfnResource)
        _acknowledge_table_indexes(policy, self.table)
        return fn

    def _state_machine(self) -> sfn.StateMachine:
        media, transcode = self.media_function, self.transcode_function
        fail_task = step_task(self, "Fail", function=media, step="fail", retry=False)
        fail_task.next(sfn.Fail(self, "VideoFailed", error="VideoFailed", cause="see the video record's error"))

        def task(step: str, function: lambda_.IFunction) -> Any:
            state = step_task(self, pascal(step), function=function, step=step)
            catch_into(self, state, step, fail_task)
            return state

        complete = task("complete", media).next(sfn.Succeed(self, "VideoCompleted"))
        concurrency = self.options.map_concurrency
        segments = sfn.Map(
            self,
            "TranscodeMap",
            state_name="Transcode",
            items_path="$.tasks",
            max_concurrency=concurrency,
            item_selector={
                "step": "transcode",
                "state": {
                    "video.$": "$.video",
                    "plan.$": "$.plan",
                    "task.$": "$$.Map.Item.Value",
                },
            },
            result_path=sfn.JsonPath.DISCARD,
        )
        segments.item_processor(step_task(self, "TranscodeSegment", function=transcode, step=None))
        catch_into(self, segments, "transcode", fail_task, name="Transcode")
        joins = sfn.Map(
            self,
            "JoinMap",
            state_name="Join",
            items_path="$.outputs",
            max_concurrency=concurrency,
            item_selector={
                "step": "join",
                "state": {
                    "video.$": "$.video",
                    "plan.$": "$.plan",
                    "output.$": "$$.Map.Item.Value",
                },
            },
            result_path="$.joined",
        )
        joins.item_processor(step_task(self, "JoinOutput", function=transcode, step=None))
        catch_into(self, joins, "join", fail_task, name="Join")
        video = task("plan", media).next(segments).next(joins).next(task("package", media)).next(complete)
        if self.moderated:
            video = task("moderate", media).next(video)
        kind = (
            sfn.Choice(self, "Kind")
            .when(sfn.Condition.string_equals("$.kind", "audio"), task("audio", transcode).next(complete))
            .when(
                sfn.Condition.string_equals("$.kind", "live_segment"),
                task("live_segment", transcode).next(sfn.Succeed(self, "LiveDone")),
            )
            .when(
                sfn.Condition.string_equals("$.kind", "live_end"),
                task("live_end", media).next(sfn.Succeed(self, "LiveEnded")),
            )
            .otherwise(video)
        )
        return standard_state_machine(
            self, task("probe", media).next(kind), timeout=PIPELINE_TIMEOUT, functions=[media, transcode]
        )


def ephemeral_storage_mb(needed: int, options: VideoOptions) -> int:
    """The functions' /tmp: what the longest accepted source needs (`scratch_mb_for(options)`), at least
    Lambda's 512 MB; more than its 10,240 MB is a CatalogError naming the options to lower."""
    if needed > MAX_SCRATCH_MB:
        raise CatalogError(
            f"the video pack's options need {needed} MB of /tmp for the longest source they accept, over Lambda's "
            f"{MAX_SCRATCH_MB} MB of ephemeral storage: lower limits.max_duration_s "
            f"(now {options.limits.max_duration_s:g} s) or max_rung (now {options.max_rung}) in video_pack(...)"
        )
    return max(MIN_SCRATCH_MB, needed)


def _acknowledge_table_indexes(policy: CfnResource, table: dynamodb.Table) -> None:
    acknowledge(
        policy,
        f"AwsSolutions-IAM5[Resource::<{_logical_id(table)}.Arn>/index/*]",
        f"Video records are listed by status through the table's {STATUS_INDEX} index; the grant covers the "
        "videos table's own indexes and nothing else.",
    )
