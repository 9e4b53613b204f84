"""Stack outputs: what a client (the CLI, a dashboard, another stack) needs to find the deployment."""

from __future__ import annotations

import json

from conftest import QueueWiring, ref_id, render

from offload.cdk.constructs.job_queue import pascal
from offload.settings import Settings


def test_client_config_output_parses_into_offload_settings(template_json: dict, wiring: dict[str, QueueWiring]) -> None:
    raw = json.loads(render(template_json["Outputs"]["ClientConfig"]["Value"]))
    assert set(raw) <= set(Settings.model_fields), set(raw) - set(Settings.model_fields)
    settings = Settings.model_validate(raw)
    assert {name: (u.url, u.dlq_url) for name, u in settings.queues.items()} == {
        name: (f"<{w.queue_id}>", f"<{w.dlq_id}>") for name, w in wiring.items()
    }
    assert settings.webhook_secret_arn


def test_client_config_names_every_deployed_resource(template_json: dict) -> None:
    raw = json.loads(render(template_json["Outputs"]["ClientConfig"]["Value"]))
    assert set(raw) == {
        "table",
        "queues",
        "event_bus",
        "alert_topic_arn",
        "payload_bucket",
        "webhook_secret_arn",
        "retain_completed_s",
        "retain_failed_s",
        "dashboard_url",
        "api_url",
        "catalog",
        "packs",
    }
    assert raw["catalog"] == "offload.packs:everything"
    # The images pack's construct reports what it made; its settings model reads it back.
    from offload.packs.images.settings import ImagesSettings

    images = ImagesSettings.model_validate(raw["packs"]["images"])
    assert images.media_bucket and images.images_table and images.pipeline_arn


def test_stack_has_a_readable_output_for_each_shared_resource(template_json: dict) -> None:
    outputs = template_json["Outputs"]
    for key in ("TableName", "EventBusName", "AlertTopicArn", "PayloadBucketName", "WebhookSecretArn", "DashboardUrl"):
        assert key in outputs, key


def test_stack_outputs_each_queue_url_dlq_url_and_worker_name(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    outputs = template_json["Outputs"]
    for name, w in wiring.items():
        prefix = f"Queue{pascal(name)}"
        assert ref_id(outputs[f"{prefix}Url"]["Value"]) == w.queue_id
        assert ref_id(outputs[f"{prefix}DlqUrl"]["Value"]) == w.dlq_id
        assert ref_id(outputs[f"{prefix}WorkerFunctionName"]["Value"]) == w.function_id
