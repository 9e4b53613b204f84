"""The worker functions: runtime, observability, environment contract and least-privilege IAM."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

from conftest import QueueWiring, ref_id, render, resources_of

from offload.packs import everything as CATALOG
from offload.settings import Settings

SERVICE_WIDE = re.compile(r"^[A-Za-z0-9-]+:\*$")


def _statements(node: object) -> Iterator[dict]:
    """Every policy statement anywhere in the template (IAM policies, key, topic, queue, bucket policies)."""
    if isinstance(node, dict):
        if isinstance(node.get("Statement"), list):
            yield from node["Statement"]
        for value in node.values():
            yield from _statements(value)
    elif isinstance(node, list):
        for value in node:
            yield from _statements(value)


def _worker_statements(template_json: dict, w: QueueWiring) -> list[dict]:
    role_id = ref_id(w.function["Properties"]["Role"])
    return [
        s
        for p in resources_of(template_json, "AWS::IAM::Policy").values()
        if role_id in {ref_id(r) for r in p["Properties"]["Roles"]}
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]


def _resources_allowed(statements: list[dict], action: str) -> set[str]:
    """Logical ids of the resources that the statements allow `action` on."""
    out: set[str] = set()
    for s in statements:
        actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
        if s["Effect"] == "Allow" and action in actions:
            resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
            # "<Table.Arn>" and "<Table.Arn>/index/*" both name the table; "*" stays "*"
            out.update(r if r == "*" else re.match(r"<([A-Za-z0-9]+)", str(render(r))).group(1) for r in resources)
    return out


def test_every_function_is_arm64_on_python_3_14(template_json: dict) -> None:
    functions = resources_of(template_json, "AWS::Lambda::Function")
    assert functions
    for fid, f in functions.items():
        assert f["Properties"]["Architectures"] == ["arm64"], fid
        assert f["Properties"]["Runtime"] == "python3.14", fid


def test_every_function_has_active_tracing(template_json: dict) -> None:
    for fid, f in resources_of(template_json, "AWS::Lambda::Function").items():
        assert f["Properties"]["TracingConfig"] == {"Mode": "Active"}, fid


def test_every_function_logs_json_at_the_context_log_level(template_json: dict, synthesis) -> None:
    level = synthesis.app.node.try_get_context("offload:logLevel")
    for fid, f in resources_of(template_json, "AWS::Lambda::Function").items():
        logging = f["Properties"]["LoggingConfig"]
        assert logging["LogFormat"] == "JSON", fid
        assert logging["ApplicationLogLevel"] == level, fid
        assert f["Properties"]["Environment"]["Variables"]["LOG_LEVEL"] == level, fid


def test_every_worker_runs_the_worker_handler_with_the_runtime_layer(wiring: dict[str, QueueWiring]) -> None:
    for name, w in wiring.items():
        assert w.function["Properties"]["Handler"] == "offload.handlers.worker.handler", name
        # Workers with a layer of their own after the runtime layer: the images re-index worker embeds
        # (the embed layer); the moderation worker samples video frames with PyAV (the ffmpeg layer).
        assert len(w.function["Properties"]["Layers"]) == (2 if name in ("images-reindex", "moderation") else 1), name


def test_every_worker_environment_builds_offload_settings_with_every_catalog_queue(
    wiring: dict[str, QueueWiring], synthesis
) -> None:
    for name, w in wiring.items():
        env = render(w.function["Properties"]["Environment"]["Variables"])
        settings = Settings.from_env(env)
        assert sorted(settings.queues) == sorted(q.name for q in CATALOG.queues), name
        # names against one base URL (Lambda's 4 KB environment), full URLs once read
        base = "https://sqs.<AWS::Region>.<AWS::URLSuffix>/<AWS::AccountId>/"
        assert settings.queue_urls(name).url == f"{base}<{w.queue_id}.QueueName>"
        assert settings.queue_urls(name).dlq_url == f"{base}<{w.dlq_id}.QueueName>"
        assert settings.webhook_secret_arn
        assert env["OFFLOAD_QUEUE"] == name
        assert env["POWERTOOLS_SERVICE_NAME"] == "offload"
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Offload"
        hours = synthesis.app.node.try_get_context("offload:completedRetentionHours")
        assert settings.retain_completed_s == round(hours * 3600)


def test_no_allow_statement_grants_every_action_or_every_action_of_a_service(template_json: dict) -> None:
    broad = []
    for s in _statements(template_json["Resources"]):
        actions = s.get("Action", [])
        for action in actions if isinstance(actions, list) else [actions]:
            if s["Effect"] == "Allow" and (action == "*" or SERVICE_WIDE.match(action)):
                broad.append(json.dumps(s)[:200])
    assert broad == []


def _lanes_of(template_json: dict, w: QueueWiring) -> set[str]:
    """The queue and its priority lanes: every queue that dead-letters into its DLQ."""
    return {
        qid
        for qid, q in resources_of(template_json, "AWS::SQS::Queue").items()
        if "RedrivePolicy" in q["Properties"]
        and ref_id(q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]) == w.dlq_id
    }


def test_every_worker_may_send_to_every_catalog_queue_lane_and_dlq(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    every_queue = {q for w in wiring.values() for q in _lanes_of(template_json, w)} | {
        w.dlq_id for w in wiring.values()
    }
    for name, w in wiring.items():
        assert _resources_allowed(_worker_statements(template_json, w), "sqs:SendMessage") == every_queue, name


def test_every_worker_consumes_only_its_own_queue_and_lanes(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    for name, w in wiring.items():
        statements = _worker_statements(template_json, w)
        own = _lanes_of(template_json, w)
        assert len(own) == 1 + len(w.spec.extra_lanes), name
        assert _resources_allowed(statements, "sqs:ReceiveMessage") == own, name
        assert _resources_allowed(statements, "sqs:DeleteMessage") == own, name


def test_every_worker_may_use_the_table_bus_topic_secret_and_bucket(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    (bus,) = resources_of(template_json, "AWS::Events::EventBus")
    (topic,) = resources_of(template_json, "AWS::SNS::Topic")
    for name, w in wiring.items():
        env = w.function["Properties"]["Environment"]["Variables"]
        table = ref_id(env["OFFLOAD_TABLE"])
        bucket = ref_id(env["OFFLOAD_PAYLOAD_BUCKET"])
        secrets = {ref_id(env[k]) for k in ("OFFLOAD_WEBHOOK_SECRET_ARN", "OFFLOAD_REDIS_AUTH_SECRET_ARN") if k in env}
        statements = _worker_statements(template_json, w)
        assert table in _resources_allowed(statements, "dynamodb:UpdateItem"), name
        assert table in _resources_allowed(statements, "dynamodb:Query"), name
        assert _resources_allowed(statements, "events:PutEvents") == {bus}, name
        # The notifications worker also publishes SMS to phone numbers (no ARN) and to per-device endpoints.
        assert _resources_allowed(statements, "sns:Publish") == (
            {topic, "*"} if name == "notifications" else {topic}
        ), name
        assert _resources_allowed(statements, "secretsmanager:GetSecretValue") == secrets, name
        # The re-index worker also writes its state and the active-index pointer under index/ of the media bucket,
        # and the video worker a live stream's playlists under videos/ (an empty segment's job republishes them).
        media = {lid for lid in resources_of(template_json, "AWS::S3::Bucket") if lid.startswith("MediaBucket")}
        expected = {bucket} | (media if name in ("images-reindex", "video") else set())
        assert _resources_allowed(statements, "s3:PutObject") == expected, name


def test_every_workers_estimated_environment_fits_lambdas_4_kb(synthesis) -> None:
    from offload.cdk.constructs.job_queue import LAMBDA_ENV_LIMIT

    sizes = {q.spec.name: q.environment_bytes for q in synthesis.stack.queues}
    assert all(1000 < size < LAMBDA_ENV_LIMIT for size in sizes.values()), sizes


def test_a_catalog_whose_environment_would_pass_4_kb_fails_synth_naming_the_fix() -> None:
    import pytest
    from aws_cdk import App

    from offload.catalog import Catalog, CatalogError, Lane, Pack, QueueSpec
    from offload.cdk.app import cdk_json_context
    from offload.cdk.stack import OffloadConfig, OffloadStack
    from offload.packs import core

    # Given an app with many queues, each with lanes: every worker carries every queue's URLs
    many = Pack(
        "many",
        queues=tuple(
            QueueSpec(f"q{i}", concurrency=4, lanes=(Lane("normal", 0, 2), Lane("high", 7, 2))) for i in range(30)
        ),
    )
    # when it is synthesized, then one CatalogError names the worker, the size and the fix
    with pytest.raises(CatalogError, match=r"environment would be about \d+ bytes, over Lambda's 4096.*fewer queues"):
        OffloadStack(
            App(context=cdk_json_context()), "Many", config=OffloadConfig(), catalog=Catalog.compose(core, many)
        )
