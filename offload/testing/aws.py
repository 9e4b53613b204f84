"""Provision a stack's shared resources and queues in moto, the way the synthesized template declares them."""

from __future__ import annotations

import json
from typing import Any

import boto3

from offload.catalog import Catalog
from offload.jobs.table import create_table_request
from offload.settings import QueueUrls, Settings

REGION = "us-east-1"
WEBHOOK_SECRET = "test-signing-secret"
LOOPBACK_HOSTS = "localhost,127.0.0.0/8,::1"


def create_jobs_table(ddb: Any, name: str) -> None:
    """A jobs table with the stack's key schema and index."""
    ddb.create_table(**create_table_request(name))


def create_records_table(ddb: Any, name: str) -> None:
    """A media pack's records table (partition key `key`), as offload.cdk.constructs.pipeline.records_table makes it."""
    ddb.create_table(
        TableName=name,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )


def provision(catalog: Catalog, prefix: str = "offload-test") -> Settings:
    """Create table, queues + DLQs, bus, topic, bucket and secret; return their Settings."""
    ddb = boto3.client("dynamodb", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    table = f"{prefix}-jobs"
    create_jobs_table(ddb, table)
    queues: dict[str, QueueUrls] = {}
    for spec in catalog.queues:
        dlq_url = sqs.create_queue(QueueName=f"{prefix}-{spec.name}-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": spec.max_receive_count})
        url = sqs.create_queue(
            QueueName=f"{prefix}-{spec.name}",
            Attributes={
                "VisibilityTimeout": str(spec.visibility_timeout_s),
                "RedrivePolicy": redrive,
            },
        )["QueueUrl"]
        lanes = {
            lane.name: sqs.create_queue(
                QueueName=f"{prefix}-{spec.name}-{lane.name}",
                Attributes={
                    "VisibilityTimeout": str(spec.visibility_timeout_s),
                    "RedrivePolicy": redrive,
                },
            )["QueueUrl"]
            for lane in spec.extra_lanes
        }
        queues[spec.name] = QueueUrls(url=url, dlq_url=dlq_url, lanes=lanes)
    bus = boto3.client("events", region_name=REGION).create_event_bus(Name=f"{prefix}-bus")["EventBusArn"]
    topic = boto3.client("sns", region_name=REGION).create_topic(Name=f"{prefix}-alerts")["TopicArn"]
    bucket = f"{prefix}-payloads"
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=bucket)
    secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name=f"{prefix}-webhook", SecretString=WEBHOOK_SECRET
    )["ARN"]
    return Settings(
        table=table,
        queues=queues,
        event_bus=bus.rsplit("/", 1)[-1],
        alert_topic_arn=topic,
        payload_bucket=bucket,
        webhook_secret_arn=secret,
        # Tests' receivers listen on loopback, which deployed workers refuse (offload.packs.core.http_util).
        http_allow_hosts=LOOPBACK_HOSTS,
    )


def catch_events(settings: Settings) -> str:
    """An SQS queue that receives every offload.jobs event from the bus (to assert on events)."""
    sqs = boto3.client("sqs", region_name=REGION)
    events = boto3.client("events", region_name=REGION)
    url = sqs.create_queue(QueueName="events-catcher")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(
        Name="all-jobs", EventBusName=settings.event_bus, EventPattern=json.dumps({"source": ["offload.jobs"]})
    )
    events.put_targets(Rule="all-jobs", EventBusName=settings.event_bus, Targets=[{"Id": "catcher", "Arn": arn}])
    return url


def catch_alerts(settings: Settings) -> str:
    """An SQS queue subscribed to the alert topic."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="alerts-catcher")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("sns", region_name=REGION).subscribe(TopicArn=settings.alert_topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def drain_bodies(url: str) -> list[dict[str, Any]]:
    """Every message body waiting on a queue, parsed (SNS/EventBridge envelopes included)."""
    sqs = boto3.client("sqs", region_name=REGION)
    out: list[dict[str, Any]] = []
    while True:
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
