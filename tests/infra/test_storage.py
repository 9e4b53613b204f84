"""The jobs table, the payload bucket, the alert topic, the event bus and the webhook secret."""

from __future__ import annotations

from aws_cdk.assertions import Match, Template
from conftest import ref_id, resources_of


def test_jobs_table_is_on_demand_with_point_in_time_recovery(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "BillingMode": "PAY_PER_REQUEST",
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
            "KeySchema": [{"AttributeName": "job_id", "KeyType": "HASH"}],
        },
    )


def test_jobs_table_is_encrypted_with_kms(template: Template) -> None:
    template.has_resource_properties("AWS::DynamoDB::Table", {"SSESpecification": {"SSEEnabled": True}})


def test_jobs_table_expires_items_on_expires_at(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TimeToLiveSpecification": {"AttributeName": "expires_at", "Enabled": True}}
    )


def test_jobs_table_lists_jobs_by_queue_and_status_through_a_gsi(template: Template) -> None:
    template.has_resource_properties(
        "AWS::DynamoDB::Table",
        {
            "GlobalSecondaryIndexes": [
                {
                    "IndexName": "by-queue-status",
                    "KeySchema": [
                        {"AttributeName": "queue_status", "KeyType": "HASH"},
                        {"AttributeName": "created_at", "KeyType": "RANGE"},
                    ],
                    "Projection": {"ProjectionType": "ALL"},
                }
            ],
            "AttributeDefinitions": Match.array_with(
                [
                    {"AttributeName": "queue_status", "AttributeType": "S"},
                    {"AttributeName": "created_at", "AttributeType": "S"},
                ]
            ),
        },
    )


def test_every_bucket_is_encrypted_private_and_ssl_only(template_json: dict) -> None:
    buckets = resources_of(template_json, "AWS::S3::Bucket")
    assert buckets
    for bid, b in buckets.items():
        props = b["Properties"]
        assert props["BucketEncryption"]["ServerSideEncryptionConfiguration"], bid
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, bid
    ssl_only = {
        ref_id(p["Properties"]["Bucket"])
        for p in resources_of(template_json, "AWS::S3::BucketPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    }
    assert ssl_only == set(buckets)


def test_every_data_bucket_writes_server_access_logs_to_the_log_bucket(template_json: dict) -> None:
    buckets = resources_of(template_json, "AWS::S3::Bucket")
    logged = {lid: b for lid, b in buckets.items() if "LoggingConfiguration" in b["Properties"]}
    targets = {b["Properties"]["LoggingConfiguration"]["DestinationBucketName"]["Ref"] for b in logged.values()}
    assert len(targets) == 1, "one access-log bucket for all"
    assert set(buckets) - set(logged) == targets, "every bucket but the log bucket itself is logged"
    prefixes = {b["Properties"]["LoggingConfiguration"]["LogFilePrefix"] for b in logged.values()}
    assert prefixes == {"payload/", "media/"}


def test_alert_topic_is_encrypted_with_a_rotating_key_that_cloudwatch_alarms_may_use(template_json: dict) -> None:
    topics = resources_of(template_json, "AWS::SNS::Topic")
    keys = resources_of(template_json, "AWS::KMS::Key")
    assert len(topics) == 1
    (topic,) = topics.values()
    key = keys[ref_id(topic["Properties"]["KmsMasterKeyId"])]
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        s
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Effect"] == "Allow" and s["Principal"].get("Service") == "cloudwatch.amazonaws.com"
    ]
    assert cloudwatch and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(cloudwatch[0]["Action"])


def test_alert_topic_refuses_plain_http(template_json: dict) -> None:
    statements = [
        s
        for p in resources_of(template_json, "AWS::SNS::TopicPolicy").values()
        for s in p["Properties"]["PolicyDocument"]["Statement"]
    ]
    assert any(
        s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
        for s in statements
    )


def test_event_bus_is_named_after_the_stack(template: Template, synthesis) -> None:
    template.has_resource_properties("AWS::Events::EventBus", {"Name": f"{synthesis.stack.stack_name}-jobs"})


def test_webhook_secret_value_is_generated(template: Template) -> None:
    template.has_resource_properties(
        "AWS::SecretsManager::Secret",
        {"GenerateSecretString": Match.object_like({"PasswordLength": Match.any_value()})},
    )
