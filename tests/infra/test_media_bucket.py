"""The media bucket: one for every pack's uploads, each catalog S3 trigger wired to its job type's queue."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk import App
from conftest import QueueWiring, ref_id, render, resources_of

from offload.catalog import Catalog, CatalogError
from offload.cdk.app import cdk_json_context
from offload.cdk.constructs.media_bucket import MAX_STACK_NAME
from offload.cdk.stack import OffloadConfig, OffloadStack
from offload.packs import core, images
from offload.packs import everything as CATALOG


def _media(template_json: dict) -> tuple[str, dict]:
    buckets = {
        lid: b
        for lid, b in resources_of(template_json, "AWS::S3::Bucket").items()
        if "NotificationConfiguration" in b["Properties"]
    }
    assert len(buckets) == 1, f"expected one media bucket, found {list(buckets)}"
    return next(iter(buckets.items()))


def test_every_trigger_prefix_of_the_catalog_notifies_its_job_types_queue(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    _, bucket = _media(template_json)
    configs = bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]
    assert {t.prefix for t in CATALOG.s3_triggers} >= {"uploads/images/", "uploads/videos/", "uploads/audio/"}
    assert [(c["Filter"]["S3Key"]["Rules"], ref_id(c["Queue"])) for c in configs] == [
        ([{"Name": "prefix", "Value": t.prefix}], wiring[CATALOG.job_type(t.job_type).queue].queue_id)
        for t in CATALOG.s3_triggers
    ]
    assert all(c["Event"] == "s3:ObjectCreated:*" for c in configs)


def test_the_media_bucket_is_versioned_retained_and_named_after_the_stack(template_json: dict, synthesis) -> None:
    lid, bucket = _media(template_json)
    assert bucket["Properties"]["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["DeletionPolicy"] == "Retain"
    name = render(bucket["Properties"]["BucketName"])
    assert name == f"{synthesis.stack.stack_name.lower()}-media-<AWS::AccountId>-<AWS::Region>"
    output = template_json["Outputs"]["MediaBucketName"]
    assert ref_id(output["Value"]) == lid
    assert all(t.prefix in output["Description"] for t in CATALOG.s3_triggers)


def test_each_fed_queue_lets_s3_send_from_this_bucket_only_and_the_bucket_waits_for_that(
    template_json: dict, synthesis
) -> None:
    _, bucket = _media(template_json)
    fed = {ref_id(c["Queue"]) for c in bucket["Properties"]["NotificationConfiguration"]["QueueConfigurations"]}
    s3_statements = {
        ref_id(queue): [
            s
            for s in p["Properties"]["PolicyDocument"]["Statement"]
            if s.get("Principal") == {"Service": "s3.amazonaws.com"}
        ]
        for pid, p in resources_of(template_json, "AWS::SQS::QueuePolicy").items()
        for queue in p["Properties"]["Queues"]
    }
    assert {q for q, statements in s3_statements.items() if statements} == fed
    for queue in fed:
        (statement,) = s3_statements[queue]  # one statement however many prefixes feed the queue
        assert render(statement["Condition"]["ArnLike"]["aws:SourceArn"]) == (
            f"arn:aws:s3:::{synthesis.stack.stack_name.lower()}-media-<AWS::AccountId>-<AWS::Region>"
        )
    policies = {
        pid for pid, p in resources_of(template_json, "AWS::SQS::QueuePolicy").items()
        if any(ref_id(q) in fed for q in p["Properties"]["Queues"])
    }  # fmt: skip
    assert policies <= set(bucket.get("DependsOn", []))


def _stack(tmp_path: Path, catalog: Catalog, name: str = "Offload") -> OffloadStack:
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    return OffloadStack(app, name, config=OffloadConfig(stack_name=name), catalog=catalog)


def test_a_stack_name_too_long_for_the_bucket_name_is_refused_before_anything_is_made(tmp_path: Path) -> None:
    name = "S" * (MAX_STACK_NAME + 1)
    with pytest.raises(CatalogError, match=rf"stack name '{name}' is {len(name)} characters; .*offload:stackName"):
        _stack(tmp_path, Catalog.compose(core, images), name)
    # the longest name that fits still synthesizes
    _stack(tmp_path / "ok", Catalog.compose(core, images), "S" * MAX_STACK_NAME)
