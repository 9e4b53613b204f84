"""Synthesize the stack once per test session and read the template the way CloudFormation would."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Before aws_cdk starts its Node process: offline synth, no end-of-life banner.
for _key, _value in {
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "AWS_EC2_METADATA_DISABLED": "true",
}.items():
    os.environ.setdefault(_key, _value)

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # app.py, stacks/ and layers/ live at the repo root, not in the installed package
    sys.path.insert(0, str(ROOT))

import pytest  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from offload.catalog import QueueSpec  # noqa: E402
from offload.packs import everything as CATALOG  # noqa: E402


@dataclass
class Synthesis:
    """The app after `synth()`: the written template, or the error that stopped synthesis."""

    app: Any
    stack: Any
    outdir: Path
    error: Exception | None

    @property
    def template_path(self) -> Path:
        return self.outdir / f"{self.stack.artifact_id}.template.json"


@dataclass(frozen=True)
class QueueWiring:
    """One catalog queue as the template wires it: worker -> event source mapping -> queue -> DLQ."""

    spec: QueueSpec
    function_id: str
    function: dict
    mapping: dict
    queue_id: str
    queue: dict
    dlq_id: str
    dlq: dict


@pytest.fixture(scope="session")
def synthesis(tmp_path_factory: pytest.TempPathFactory) -> Synthesis:
    """Given the app as `python app.py` builds it, when it is synthesized (cdk-nag included)."""
    from offload.cdk.app import build_app

    outdir = tmp_path_factory.mktemp("cdk.out")
    app, stack = build_app(outdir=outdir)
    error: Exception | None = None
    try:
        app.synth()
    except Exception as exc:  # cdk-nag findings surface as a jsii RuntimeError
        error = exc
    return Synthesis(app, stack, outdir, error)


@pytest.fixture(scope="session")
def template_json(synthesis: Synthesis) -> dict:
    """The synthesized CloudFormation template as written to disk."""
    if synthesis.error is not None:
        pytest.fail(f"synthesis failed, so the template can't be checked: {synthesis.error}")
    return json.loads(synthesis.template_path.read_text())


@pytest.fixture(scope="session")
def template(template_json: dict) -> Template:
    """The same template for aws_cdk.assertions."""
    return Template.from_json(template_json)


def resources_of(template_json: dict, type_: str) -> dict[str, dict]:
    """Logical id -> resource, for every resource of one CloudFormation type."""
    return {k: v for k, v in template_json["Resources"].items() if v["Type"] == type_}


def ref_id(value: Any) -> str:
    """The logical id in `{"Ref": id}` or `{"Fn::GetAtt": [id, attr]}`."""
    if isinstance(value, dict) and "Ref" in value:
        return value["Ref"]
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0]
    raise AssertionError(f"expected a Ref or Fn::GetAtt, got {value!r}")


def render(value: Any) -> Any:
    """Intrinsics -> placeholder strings (`<LogicalId>`, `<LogicalId.Attr>`), as if the stack were deployed."""
    if isinstance(value, dict) and len(value) == 1:
        ((key, arg),) = value.items()
        if key == "Ref":
            return f"<{arg}>"
        if key == "Fn::GetAtt":
            return f"<{arg[0]}.{arg[1]}>"
        if key == "Fn::Join":
            sep, parts = arg
            return sep.join(str(render(p)) for p in parts)
    if isinstance(value, dict):
        return {k: render(v) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v) for v in value]
    return value


@pytest.fixture(scope="session")
def wiring(template_json: dict) -> dict[str, QueueWiring]:
    """Catalog queue name -> its resources, found through the worker's OFFLOAD_QUEUE variable."""
    functions = resources_of(template_json, "AWS::Lambda::Function")
    mappings = resources_of(template_json, "AWS::Lambda::EventSourceMapping")
    out: dict[str, QueueWiring] = {}
    for spec in CATALOG.queues:
        workers = [
            fid
            for fid, f in functions.items()
            if f["Properties"].get("Environment", {}).get("Variables", {}).get("OFFLOAD_QUEUE") == spec.name
        ]
        assert len(workers) == 1, f"queue {spec.name!r}: expected one worker, found {workers}"
        fid = workers[0]
        consumers = [m for m in mappings.values() if ref_id(m["Properties"]["FunctionName"]) == fid]
        assert len(consumers) == 1 + len(spec.extra_lanes), (
            f"worker of {spec.name!r}: expected one event source mapping per lane, found {consumers}"
        )
        # The queue's own mapping; priority lanes' queues are named ...Lane<Name>Queue.
        consumers = [m for m in consumers if "Lane" not in ref_id(m["Properties"]["EventSourceArn"])]
        queue_id = ref_id(consumers[0]["Properties"]["EventSourceArn"])
        queue = template_json["Resources"][queue_id]
        dlq_id = ref_id(queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"])
        out[spec.name] = QueueWiring(
            spec, fid, functions[fid], consumers[0], queue_id, queue, dlq_id, template_json["Resources"][dlq_id]
        )
    return out
