"""The video pipeline in the template: the videos table, the Media and Transcode functions with the ffmpeg layer,
and a Standard state machine whose every task and Map is retried and caught into the fail step."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aws_cdk import App
from aws_cdk.assertions import Template
from conftest import ref_id, render, resources_of

from offload.catalog import Catalog, CatalogError
from offload.cdk.app import cdk_json_context
from offload.cdk.stack import OffloadConfig, OffloadStack
from offload.media.video.facts import Limits
from offload.media.video.plan import VideoOptions, scratch_mb_for
from offload.packs import core
from offload.packs import everything as CATALOG
from offload.packs.video import STEPS, video_pack
from offload.packs.video import pack as video
from offload.packs.video.infra import MEDIA_STEPS, TRANSCODE_STEPS, ephemeral_storage_mb
from offload.packs.video.settings import VideoSettings
from offload.packs.video.store import create_table_request

DEFAULTS = VideoOptions()
HANDLER = "offload.packs.video.handler.handler"


def _resources(template_json: dict, type_: str, contains: str = "VideoPack") -> dict[str, dict]:
    return {lid: r for lid, r in resources_of(template_json, type_).items() if contains in lid}


def _functions(template_json: dict) -> dict[str, dict]:
    """`Media` / `Transcode` -> the function's properties."""
    out = {}
    for lid, f in _resources(template_json, "AWS::Lambda::Function").items():
        match = re.fullmatch(r"VideoPack(\w+?)[0-9A-F]{8}", lid)
        assert match, lid
        out[match[1]] = {"id": lid, **f["Properties"]}
    assert set(out) == {"Media", "Transcode"}, out.keys()
    return out


def _definition(template_json: dict) -> dict:
    (machine,) = _resources(template_json, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else f"<{ref_id(p)}>" for p in parts))


def _states(definition: dict) -> dict[str, dict]:
    """Every state, the Maps' inner ones included."""
    states = dict(definition["States"])
    for state in definition["States"].values():
        if state["Type"] == "Map":
            states.update(_states(state["ItemProcessor"]))
    return states


def _function_of(task: dict) -> str:
    return task["Parameters"]["FunctionName"].strip("<>")


def test_the_videos_table_has_the_shape_the_store_uses(template_json: dict) -> None:
    (table,) = _resources(template_json, "AWS::DynamoDB::Table").values()
    props = table["Properties"]
    shape = create_table_request("any")
    assert props["KeySchema"] == shape["KeySchema"] == [{"AttributeName": "key", "KeyType": "HASH"}]
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(shape["AttributeDefinitions"], key=str)
    assert props["GlobalSecondaryIndexes"] == shape["GlobalSecondaryIndexes"]
    assert props["GlobalSecondaryIndexes"][0]["IndexName"] == "by-status"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_media_and_transcode_run_the_step_handler_with_the_ffmpeg_layer_after_the_runtime_layer(
    template_json: dict,
) -> None:
    functions = _functions(template_json)
    layers = resources_of(template_json, "AWS::Lambda::LayerVersion")
    (ffmpeg_layer,) = [lid for lid in layers if lid.startswith("FfmpegLayer")]  # one per stack, shared
    (runtime_layer,) = [lid for lid in layers if lid.startswith("RuntimeLayer")]
    scratch = max(512, scratch_mb_for(DEFAULTS))
    assert {name: (f["MemorySize"], f["Timeout"]) for name, f in functions.items()} == {
        "Media": (2048, 900),
        "Transcode": (DEFAULTS.transcode_memory_mb, 900),
    }
    for f in functions.values():
        assert f["Handler"] == HANDLER and f["Architectures"] == ["arm64"] and f["Runtime"] == "python3.14"
        assert [ref_id(layer) for layer in f["Layers"]] == [runtime_layer, ffmpeg_layer]
        assert f["EphemeralStorage"] == {"Size": scratch}
        assert "VpcConfig" not in f, "no shared limits: S3 traffic stays off the NAT gateway"
    assert functions["Media"]["Role"] != functions["Transcode"]["Role"]
    assert functions["Media"]["LoggingConfig"] != functions["Transcode"]["LoggingConfig"]
    ffmpeg = layers[ffmpeg_layer]
    assert ffmpeg["Properties"]["CompatibleArchitectures"] == ["arm64"]
    assert "GPL" in ffmpeg["Properties"]["Description"]


def test_the_functions_know_the_bucket_table_options_and_scratch_but_not_the_machine(template_json: dict) -> None:
    for f in _functions(template_json).values():
        packs = json.loads(render(f["Environment"]["Variables"]["OFFLOAD_PACKS"]))
        settings = VideoSettings.model_validate(packs["video"])
        assert set(packs["video"]) == {"media_bucket", "videos_table", "options", "scratch_mb"}
        assert settings.scratch_mb == f["EphemeralStorage"]["Size"]
        assert settings.media_bucket.startswith("<MediaBucket") and settings.videos_table.startswith("<VideoPackVideos")


def test_the_state_machine_is_standard_traced_logged_and_bounded_to_six_hours(template_json: dict) -> None:
    (machine,) = _resources(template_json, "AWS::StepFunctions::StateMachine").values()
    props = machine["Properties"]
    assert props["StateMachineType"] == "STANDARD"
    assert props["TracingConfiguration"] == {"Enabled": True}
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert _definition(template_json)["TimeoutSeconds"] == 6 * 3600


def test_probe_then_kind_routes_audio_live_and_video_to_their_branches(template_json: dict) -> None:
    definition = _definition(template_json)
    states = definition["States"]
    assert definition["StartAt"] == "Probe" and states["Probe"]["Next"] == "Kind"
    kind = states["Kind"]
    assert kind["Type"] == "Choice"
    assert {c["StringEquals"]: c["Next"] for c in kind["Choices"] if c["Variable"] == "$.kind"} == {
        "audio": "Audio",
        "live_segment": "LiveSegment",
        "live_end": "LiveEnd",
    }
    # The catalog has the moderation pack: a video's sampled frames are moderated before the plan.
    assert kind["Default"] == "Moderate"
    path, name = [], "Moderate"
    while states[name]["Type"] != "Succeed":
        path.append(name)
        name = states[name]["Next"]
    assert [*path, name] == ["Moderate", "Plan", "Transcode", "Join", "Package", "Complete", "VideoCompleted"]
    assert states["Audio"]["Next"] == "Complete"
    assert states[states["LiveSegment"]["Next"]]["Type"] == "Succeed"
    assert states[states["LiveEnd"]["Next"]]["Type"] == "Succeed"


def test_each_task_sends_its_step_and_the_state_to_the_function_that_runs_that_step(template_json: dict) -> None:
    functions = {name: f["id"] for name, f in _functions(template_json).items()}
    states = _definition(template_json)["States"]
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task"}
    steps = {s["Parameters"]["Payload"]["step"]: (name, s) for name, s in tasks.items()}
    assert set(steps) == set(STEPS) - {"transcode", "join"}  # those two run inside the Maps
    for step, (_, task) in steps.items():
        assert task["Parameters"]["Payload"] == {"step": step, "state.$": "$"}
        assert task["OutputPath"] == "$.Payload"
        want = "Media" if step in MEDIA_STEPS else "Transcode"
        assert step in (MEDIA_STEPS if want == "Media" else TRANSCODE_STEPS)
        assert _function_of(task) == functions[want], step


@pytest.mark.parametrize(
    ("map_state", "items", "step", "item_key", "result_path"),
    [("Transcode", "$.tasks", "transcode", "task", None), ("Join", "$.outputs", "join", "output", "$.joined")],
)
def test_the_maps_build_each_items_step_payload_and_run_it_on_transcode(
    template_json: dict, map_state: str, items: str, step: str, item_key: str, result_path: str | None
) -> None:
    functions = {name: f["id"] for name, f in _functions(template_json).items()}
    state = _definition(template_json)["States"][map_state]
    assert state["Type"] == "Map"
    assert state["ItemsPath"] == items
    assert state["MaxConcurrency"] == DEFAULTS.map_concurrency
    assert state["ResultPath"] == result_path
    assert state["ItemSelector"] == {
        "step": step,
        "state": {"video.$": "$.video", "plan.$": "$.plan", f"{item_key}.$": "$$.Map.Item.Value"},
    }
    processor = state["ItemProcessor"]
    (inner,) = processor["States"].values()
    assert inner["Type"] == "Task" and inner.get("End") is True
    assert inner["Parameters"]["Payload.$"] == "$", "the item selector already built {step, state}"
    assert _function_of(inner) == functions["Transcode"]
    assert [r["ErrorEquals"][0] for r in inner["Retry"]] == ["RetryableError", "RateLimitedError"]


def test_every_task_and_map_retries_then_records_its_step_and_goes_to_fail(template_json: dict) -> None:
    definition = _definition(template_json)
    states = definition["States"]
    caught = {name: s for name, s in states.items() if s["Type"] in ("Task", "Map") and name != "Fail"}
    assert set(caught) == {
        "Probe", "Moderate", "Audio", "LiveSegment", "LiveEnd", "Plan", "Transcode", "Join", "Package", "Complete",
    }  # fmt: skip
    for name, state in caught.items():
        (catch,) = state["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["ResultPath"] == "$.error"
        mark = states[catch["Next"]]
        assert mark["Type"] == "Pass" and mark["ResultPath"] == "$.failed_step" and mark["Next"] == "Fail"
        step = mark["Result"]
        assert step in STEPS and (state["Type"] == "Map" or state["Parameters"]["Payload"]["step"] == step), name
        if state["Type"] == "Task":
            retry, limited = state["Retry"]
            assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (1, 3, 2)
            assert "NonRetryableError" not in retry["ErrorEquals"]
            assert limited["ErrorEquals"] == ["RateLimitedError"]
    fail = states["Fail"]
    assert fail["Parameters"]["Payload"] == {"step": "fail", "state.$": "$"}
    assert "Catch" not in fail and "Retry" not in fail
    assert states[fail["Next"]] == {
        "Type": "Fail",
        "Error": "VideoFailed",
        "Cause": "see the video record's error",
    }


def test_only_the_video_queues_worker_starts_and_stops_executions_and_it_never_reads_uploads(
    template_json: dict,
) -> None:
    (machine_id,) = _resources(template_json, "AWS::StepFunctions::StateMachine")
    grants: dict[str, set[str]] = {}
    for policy in resources_of(template_json, "AWS::IAM::Policy").values():
        roles = {ref_id(r) for r in policy["Properties"]["Roles"]}
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if machine_id in json.dumps(s["Resource"]):
                for role in roles:
                    grants.setdefault(role, set()).update(actions)
    starters = {role for role, actions in grants.items() if "states:StartExecution" in actions}
    # the generate pack's Merge step hands its merged videos to the pipeline too
    assert {re.sub(r"[0-9A-F]{8}$", "", r) for r in starters} == {"QueueVideoWorkerRole", "GeneratePackMediaRole"}
    starters = {r for r in starters if r.startswith("QueueVideoWorkerRole")}
    # live.segment looks its execution up by name before starting it (offload/packs/video/live.py)
    assert {"states:StartExecution", "states:StopExecution", "states:DescribeExecution"} <= grants[next(iter(starters))]
    worker = next(
        p
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if any(ref_id(r).startswith("QueueVideoWorkerRole") for r in p["Properties"]["Roles"])
    )
    media = [
        s
        for s in worker["Properties"]["PolicyDocument"]["Statement"]
        if "<MediaBucket" in json.dumps(render(s["Resource"]))
    ]
    # The starters register the upload and start its execution; the pipeline's functions read it. The one
    # media access: an empty live segment's job republishes the stream's playlists under videos/.
    granted = {
        (action, json.dumps(resource))
        for s in media
        for action in _listed(s["Action"])
        for resource in _listed(render(s["Resource"]))
        if "<MediaBucket" in json.dumps(resource)  # CDK merges statements: the payload bucket may be beside it
    }
    assert {a for a, _ in granted} == {"s3:GetObject", "s3:PutObject", "s3:ListBucket"}
    for action, resource in granted:
        if action == "s3:ListBucket":
            assert resource.endswith('.Arn>"'), resource  # the bucket, no object
        else:
            assert resource.endswith('.Arn>/videos/*"'), resource  # outputs only, never uploads/


def test_outputs_and_client_config_name_the_table_and_the_machine(template_json: dict) -> None:
    outputs = template_json["Outputs"]
    (table_id,) = _resources(template_json, "AWS::DynamoDB::Table")
    (machine_id,) = _resources(template_json, "AWS::StepFunctions::StateMachine")
    assert ref_id(outputs["VideosTableName"]["Value"]) == table_id
    assert ref_id(outputs["VideoPipelineArn"]["Value"]) == machine_id
    packs = json.loads(render(outputs["ClientConfig"]["Value"]))["packs"]
    settings = VideoSettings.model_validate(packs["video"])
    assert settings.pipeline_arn == f"<{machine_id}>"
    assert CATALOG.pack("video").infra == "offload.packs.video.infra:VideoPipeline"


def _video_stack(tmp_path: Path, pack: Any) -> dict:
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    stack = OffloadStack(app, "Offload", config=OffloadConfig(), catalog=Catalog.compose(core, pack))
    return dict(Template.from_stack(stack).to_json())


def test_the_packs_options_size_the_maps_memory_and_scratch(tmp_path: Path) -> None:
    # Given a catalog whose video pack takes a shorter limit, 3-way Maps and 4 vCPUs for transcoding
    options = {"map_concurrency": 3, "transcode_memory_mb": 7076, "limits": {"max_duration_s": 600}}
    template = _video_stack(tmp_path, video_pack(**options))
    # then the Maps, the Transcode function and both functions' /tmp follow them
    states = _definition(template)["States"]
    assert states["Transcode"]["MaxConcurrency"] == states["Join"]["MaxConcurrency"] == 3
    functions = _functions(template)
    assert functions["Transcode"]["MemorySize"] == 7076 and functions["Media"]["MemorySize"] == 2048
    scratch = max(512, scratch_mb_for(VideoOptions(limits=Limits(max_duration_s=600))))
    assert {f["EphemeralStorage"]["Size"] for f in functions.values()} == {scratch}
    packs = json.loads(render(functions["Media"]["Environment"]["Variables"]["OFFLOAD_PACKS"]))
    assert VideoOptions.model_validate(packs["video"]["options"]).map_concurrency == 3


def test_bad_options_stop_synthesis_in_one_line_naming_the_option(tmp_path: Path) -> None:
    pack = dataclasses.replace(video, options={"map_concurrency": 0})
    with pytest.raises(CatalogError) as err:
        _video_stack(tmp_path, pack)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("pack 'video': option map_concurrency: ") and "(got 0)" in message


def test_scratch_is_at_least_lambdas_512_mb_and_more_than_10_gb_names_what_to_lower() -> None:
    assert ephemeral_storage_mb(100, DEFAULTS) == 512
    assert ephemeral_storage_mb(10240, DEFAULTS) == 10240
    with pytest.raises(CatalogError, match=r"need 10241 MB of /tmp .* lower limits\.max_duration_s \(now 7200 s\)"):
        ephemeral_storage_mb(10241, DEFAULTS)


def _listed(actions: str | list[str]) -> list[str]:
    return actions if isinstance(actions, list) else [actions]
