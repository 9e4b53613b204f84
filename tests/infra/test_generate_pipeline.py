"""The generation pipeline in the template: polling is Wait states, each clip's errors stay in its Map
item, provider calls retry at 2 s / 4 s / 8 s, and the functions finish handed-off jobs."""

from __future__ import annotations

import json
import re

from conftest import ref_id, resources_of

from offload.packs.generate.options import GenerateOptions


def _resources(template_json: dict, type_: str) -> dict[str, dict]:
    return {lid: r for lid, r in resources_of(template_json, type_).items() if "GeneratePack" in lid}


def _definition(template_json: dict) -> dict:
    (machine,) = _resources(template_json, "AWS::StepFunctions::StateMachine").values()
    parts = machine["Properties"]["DefinitionString"]["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else f"<{ref_id(p)}>" for p in parts))


def _functions(template_json: dict) -> dict[str, dict]:
    out = {}
    for lid, f in _resources(template_json, "AWS::Lambda::Function").items():
        match = re.fullmatch(r"GeneratePack(\w+?)[0-9A-F]{8}", lid)
        assert match, lid
        out[match[1]] = {"id": lid, **f["Properties"]}
    return out


def test_clips_poll_through_wait_states_and_each_clips_errors_are_caught_in_its_item(template_json: dict) -> None:
    d = _definition(template_json)
    clips = d["States"]["Clips"]
    assert clips["Type"] == "Map" and clips["MaxConcurrency"] == GenerateOptions().clip_concurrency
    inner = clips["ItemProcessor"]["States"]
    assert inner["ClipWait"] == {"Type": "Wait", "SecondsPath": "$.clip.wait_s", "Next": "AfterWait"}
    for name in ("Submit", "SubmitLocal", "Poll", "Download"):
        [catch] = inner[name]["Catch"]
        assert catch["ErrorEquals"] == ["States.ALL"] and inner[catch["Next"]]["Next"] == "ClipFailed", name
        [retry] = inner[name]["Retry"]
        assert (retry["IntervalSeconds"], retry["MaxAttempts"], retry["BackoffRate"]) == (2, 3, 2), name
        assert "RetryableError" in retry["ErrorEquals"] and "NonRetryableError" not in retry["ErrorEquals"]
    choices = {c["StringEquals"]: c["Next"] for c in inner["ClipRoute"]["Choices"]}
    assert choices == {"completed": "ClipDone", "ready": "Download"} and inner["ClipRoute"]["Default"] == "ClipWait"
    tasks = [s for s in inner.values() if s["Type"] == "Task"]
    assert all(s.get("Resource", "").endswith(":lambda:invoke") for s in tasks), "only Lambda tasks, none sleeps"


def test_the_job_is_finished_by_complete_or_fail_and_publishing_polls_the_video_pipeline(template_json: dict) -> None:
    d = _definition(template_json)
    s = d["States"]
    assert d["StartAt"] == "Start" and s["Start"]["Parameters"]["execution_arn.$"] == "$$.Execution.Id"
    assert [s["Script"]["Next"], s["Images"]["Next"], s["Clips"]["Next"], s["Merge"]["Next"]] == [
        "Images",
        "Clips",
        "Merge",
        "PublishWait",
    ]
    assert s["PublishWait"]["SecondsPath"] == "$.publish.wait_s" and s["PublishWait"]["Next"] == "PublishPoll"
    assert s["PublishRoute"]["Choices"][0]["Next"] == "Complete" and s["PublishRoute"]["Default"] == "PublishWait"
    for name in ("Script", "Images", "Clips", "Merge", "PublishPoll", "Complete"):
        [catch] = s[name]["Catch"]
        assert s[catch["Next"]]["Next"] == "Fail", name


def test_steps_has_the_generate_layer_and_media_the_ffmpeg_layer_and_both_finish_jobs(template_json: dict) -> None:
    fns = _functions(template_json)
    assert set(fns) == {"Steps", "Media"}
    assert fns["Media"]["MemorySize"] == 3008 and fns["Steps"]["MemorySize"] == 1024
    layers = {name: [ref_id(layer) for layer in f["Layers"]] for name, f in fns.items()}
    assert any("FfmpegLayer" in lid for lid in layers["Media"]) and not any("Ffmpeg" in lid for lid in layers["Steps"])
    assert any("GenerateLayer" in lid for lid in layers["Steps"])
    for name, f in fns.items():
        env = f["Environment"]["Variables"]
        assert "OFFLOAD_TABLE" in env and "OFFLOAD_EVENT_BUS" in env, name
        packs = json.dumps(env["OFFLOAD_PACKS"])
        assert "generations_table" in packs and "videos_table" in packs, f"{name} starts the video pipeline"
