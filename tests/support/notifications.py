"""The notifications pack on the moto stack: its deliveries table, the verified sender, its settings."""

from __future__ import annotations

from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID

from offload.aws import Clients
from offload.runtime import Runtime, set_default_runtime
from offload.testing.aws import REGION

DELIVERIES_TABLE = "offload-test-deliveries"
SENDER = "alerts@offload.test"
CONFIGURATION_SET = "offload-test-events"


def wire_notifications(rt: Runtime, *, templates: str | None = None) -> Runtime:
    """Create what the pack's construct would (table with the stack's key, verified sender, configuration
    set) in moto and return a runtime whose settings name them, set as the default."""
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=DELIVERIES_TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "key", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "key", "KeyType": "HASH"}],
    )
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_email_identity(EmailIdentity=SENDER)
    ses.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    pack: dict[str, Any] = {
        "deliveries_table": DELIVERIES_TABLE,
        "sender": SENDER,
        "configuration_set": CONFIGURATION_SET,
    }
    if templates:
        pack["templates"] = templates
    settings = rt.settings.model_copy(update={"packs": {**rt.settings.packs, "notifications": pack}})
    wired = Runtime(settings, Clients(region=REGION), catalog=rt.catalog)
    set_default_runtime(wired)
    return wired


def sent_emails() -> list[Any]:
    """What SES accepted, read back from moto's backend (source, destinations, subject, body)."""
    from moto.ses.models import ses_backends

    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def sent_sms() -> list[tuple[str, str]]:
    """(phone number, message) of every SMS SNS accepted, from moto's backend."""
    from moto.sns.models import sns_backends

    return list(sns_backends[DEFAULT_ACCOUNT_ID][REGION].sms_messages.values())


def ses_event(event_type: str, key: str, message_id: str = "0100018c-test", **section: Any) -> dict[str, Any]:
    """An EventBridge event from SES for a configuration set, in the shape SES publishes
    (source aws.ses, detail = the SES event object with mail.tags)."""
    detail_types = {
        "Delivery": "Email Delivered",
        "Bounce": "Email Bounced",
        "Complaint": "Email Complaint Received",
        "Reject": "Email Rejected",
        "Send": "Email Sent",
    }
    detail: dict[str, Any] = {
        "eventType": event_type,
        "mail": {
            "timestamp": "2026-12-02T17:00:00.000Z",
            "source": SENDER,
            "messageId": message_id,
            "destination": ["ann@example.com"],
            "tags": {
                "ses:configuration-set": [CONFIGURATION_SET],
                "ses:source-ip": ["192.0.2.10"],
                "offload-delivery": [key],
            },
        },
        **section,
    }
    return {
        "version": "0",
        "id": "8e5b2d8e-1f2a-4c55-9d3b-0d5f0e0f1a2b",
        "detail-type": detail_types.get(event_type, f"Email {event_type}"),
        "source": "aws.ses",
        "account": DEFAULT_ACCOUNT_ID,
        "time": "2026-12-02T17:00:01Z",
        "region": REGION,
        "resources": [f"arn:aws:ses:{REGION}:{DEFAULT_ACCOUNT_ID}:configuration-set/{CONFIGURATION_SET}"],
        "detail": detail,
    }


BOUNCE = {
    "bounce": {
        "bounceType": "Permanent",
        "bounceSubType": "General",
        "bouncedRecipients": [
            {
                "emailAddress": "ann@example.com",
                "action": "failed",
                "status": "5.1.1",
                "diagnosticCode": "smtp; 550 5.1.1 user unknown",
            }
        ],
        "timestamp": "2026-12-02T17:00:01.000Z",
        "feedbackId": "0100018c-feedback",
    }
}
DELIVERY = {
    "delivery": {
        "timestamp": "2026-12-02T17:00:01.000Z",
        "processingTimeMillis": 812,
        "recipients": ["ann@example.com"],
        "smtpResponse": "250 2.0.0 OK",
        "reportingMTA": "a8-50.smtp-out.amazonses.com",
    }
}
