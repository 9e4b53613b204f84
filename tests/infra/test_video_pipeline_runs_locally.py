"""The synthesized video state machine, run by the local cloud's executor (moto's Step Functions, Lambda tasks
in-process): the Kind routes, the Maps' items and concurrency, and the catch into the fail step.

The functions here are stand-ins that record what each step was sent and answer with the state shape
the real steps return (offload.packs.video.steps; they are exercised end to end in tests/e2e).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from offload.local.cloud import free_port
from offload.local.provision import register_functions
from offload.local.sfn import enable_execution, route_lambda_tasks
from offload.local.template import ACCOUNT, REGION
from offload.media.video.plan import VideoOptions
from tests.infra.conftest import resources_of

STEP_SECONDS = 0.3  # long enough for the Map's tasks to overlap


@dataclass
class Steps:
    """Stand-in Media and Transcode functions: every call recorded, how many ran at once, failures on demand."""

    calls: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    fail_segment: int | None = None
    running: int = 0
    peak: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, function: str, event: dict[str, Any]) -> dict[str, Any]:
        step, state = event["step"], event["state"]
        with self.lock:
            self.calls.append((function, step, state))
            self.running += 1
            self.peak = max(self.peak, self.running)
        try:
            return self._answer(step, state)
        finally:
            with self.lock:
                self.running -= 1

    def _answer(self, step: str, state: dict[str, Any]) -> dict[str, Any]:
        if step == "probe":
            return {**state, "kind": state["upload_kind"]}
        if step == "plan":
            tasks = [{"segment": i} for i in range(state["segments"])] + [{"audio": True}]
            return {**state, "plan": {"segments": state["segments"]}, "tasks": tasks, "outputs": ["720p", "360p"]}
        if step == "transcode":
            time.sleep(STEP_SECONDS)
            if self.fail_segment is not None and state["task"].get("segment") == self.fail_segment:
                raise RuntimeError(f"segment {self.fail_segment} could not be encoded")
            return {"part": state["task"]}  # discarded by the Map
        if step == "join":
            time.sleep(STEP_SECONDS)
            return {"output": state["output"], "key": f"videos/x/{state['output']}.mp4"}
        return {**state, f"{step}_done": True}

    def steps(self) -> list[tuple[str, str]]:
        return [(function, step) for function, step, _ in self.calls]


@pytest.fixture
def machine(template_json: dict, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, str, Steps]]:
    """The template's video state machine on a moto server in this process, its Lambda tasks routed to Steps."""
    from moto.server import ThreadedMotoServer

    for key, value in {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}.items():
        monkeypatch.setenv(key, value)
    port = free_port()
    monkeypatch.setenv("MOTO_PORT", str(port))  # moto's executor calls Lambda back through its own endpoint
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its state per process: each test starts from an empty one, as the local cloud does
    urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)

    def client(service: str) -> Any:
        return boto3.client(service, endpoint_url=endpoint, region_name=REGION)

    functions = {
        lid: ("media" if lid.startswith("VideoPackMedia") else "transcode")
        for lid in resources_of(template_json, "AWS::Lambda::Function")
        if lid.startswith(("VideoPackMedia", "VideoPackTranscode"))
    }
    (resource,) = (
        m for lid, m in resources_of(template_json, "AWS::StepFunctions::StateMachine").items() if "Video" in lid
    )
    parts = resource["Properties"]["DefinitionString"]["Fn::Join"][1]

    def resolve(part: Any) -> str:
        if isinstance(part, str):
            return part
        if part == {"Ref": "AWS::Partition"}:
            return "aws"
        return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{functions[part['Fn::GetAtt'][0]]}"

    steps = Steps()
    undo = None
    try:
        enable_execution(endpoint)
        register_functions(client, ["media", "transcode"])
        undo = route_lambda_tasks(steps)
        sfn = client("stepfunctions")
        arn = sfn.create_state_machine(
            name="video", definition="".join(resolve(p) for p in parts), roleArn=f"arn:aws:iam::{ACCOUNT}:role/x"
        )["stateMachineArn"]
        yield sfn, arn, steps
    finally:
        if undo is not None:
            undo()
        enable_execution(endpoint, enabled=False)
        server.stop()


def _run(sfn: Any, arn: str, name: str, state: dict[str, Any]) -> dict[str, Any]:
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(state))["executionArn"]
    deadline = time.time() + 60
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.time() < deadline, "the execution did not finish in 60 s"
        time.sleep(0.05)
    return described


def test_a_video_runs_plan_then_every_task_in_parallel_then_every_join_then_package(machine) -> None:
    sfn, arn, steps = machine
    concurrency = VideoOptions().map_concurrency
    segments = concurrency + 3  # more tasks than the Map may run at once
    done = _run(
        sfn, arn, "video", {"video": {"key": "uploads/videos/a.mp4"}, "upload_kind": "video", "segments": segments}
    )
    assert done["status"] == "SUCCEEDED", done
    order = steps.steps()
    # (the catalog has the moderation pack: its `moderate` step runs between probe and plan)
    assert order[:3] == [("media", "probe"), ("media", "moderate"), ("media", "plan")]
    assert order[3 : 4 + segments] == [("transcode", "transcode")] * (segments + 1)
    assert order[4 + segments :] == [("transcode", "join")] * 2 + [("media", "package"), ("media", "complete")]
    # each Map task got {video, plan, its item}, and the Maps ran at most `map_concurrency` at once, in parallel
    transcodes = [state for _, step, state in steps.calls if step == "transcode"]
    assert sorted(json.dumps(s["task"], sort_keys=True) for s in transcodes) == sorted(
        json.dumps(t, sort_keys=True) for t in [{"segment": i} for i in range(segments)] + [{"audio": True}]
    )
    assert all(set(s) == {"video", "plan", "task"} and s["plan"] == {"segments": segments} for s in transcodes)
    assert 2 <= steps.peak <= concurrency
    # the transcode results were discarded, the joins' results kept for package
    (package,) = [state for _, step, state in steps.calls if step == "package"]
    assert [j["output"] for j in package["joined"]] == ["720p", "360p"]
    assert "part" not in json.dumps(package)
    assert json.loads(done["output"])["complete_done"] is True


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("audio", [("media", "probe"), ("transcode", "audio"), ("media", "complete")]),
        ("live_segment", [("media", "probe"), ("transcode", "live_segment")]),
        ("live_end", [("media", "probe"), ("media", "live_end")]),
    ],
)
def test_audio_and_live_objects_take_their_own_branch(machine, kind: str, expected: list[tuple[str, str]]) -> None:
    sfn, arn, steps = machine
    done = _run(sfn, arn, kind, {"video": {"key": f"uploads/x/{kind}"}, "upload_kind": kind})
    assert done["status"] == "SUCCEEDED", done
    assert steps.steps() == expected


def test_a_failing_map_task_ends_in_the_fail_step_with_the_failed_step_and_the_error(machine) -> None:
    sfn, arn, steps = machine
    steps.fail_segment = 2
    done = _run(sfn, arn, "broken", {"video": {"key": "uploads/videos/b.mp4"}, "upload_kind": "video", "segments": 4})
    assert done["status"] == "FAILED" and done["error"] == "VideoFailed"
    assert ("transcode", "join") not in steps.steps() and ("media", "package") not in steps.steps()
    (failed,) = [state for _, step, state in steps.calls if step == "fail"]
    assert failed["failed_step"] == "transcode"
    assert failed["error"]["Error"] == "RuntimeError"
    assert "segment 2 could not be encoded" in json.loads(failed["error"]["Cause"])["errorMessage"]
    assert failed["video"] == {"key": "uploads/videos/b.mp4"}, "the fail step gets the execution's state"
