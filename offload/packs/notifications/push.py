"""notify.push: a push notification to an SNS platform endpoint (FCM or APNs).

Give the endpoint's ARN, or the platform application's ARN and the device token (the endpoint is
created, or found: CreatePlatformEndpoint is idempotent for the same token). A disabled endpoint
(the device unregistered, SNS sets Enabled=false) is recorded and the job fails at once: retrying
would never reach it, and later pushes to it fail fast until the app registers the device again.
"""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, model_validator

from offload.errors import NonRetryableError
from offload.jobs.context import JobContext
from offload.packs.notifications.delivery import delivery_store, send_tracked
from offload.packs.notifications.sms import client_error

_PERMANENT = {"InvalidParameter", "InvalidParameterValue", "NotFound", "AuthorizationError"}


class PushData(BaseModel):
    endpoint_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:")
    application_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:sns:.*:app/(GCM|APNS|APNS_SANDBOX)/")
    token: str | None = Field(default=None, min_length=1, max_length=4096)
    title: str = Field(min_length=1, max_length=200)
    body: str = Field(default="", max_length=2000)
    data: dict[str, Any] = Field(default_factory=dict, description="custom keys the app receives")
    badge: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _target(self) -> PushData:
        if not self.endpoint_arn and not (self.application_arn and self.token):
            raise ValueError(
                "give endpoint_arn, or application_arn (arn:aws:sns:...:app/GCM|APNS/...) with the device token"
            )
        return self


def message(data: PushData) -> str:
    """SNS's per-platform JSON message: FCM (GCM) and APNs shapes, and a default."""
    fcm = {"notification": {"title": data.title, "body": data.body}, "data": {k: str(v) for k, v in data.data.items()}}
    aps: dict[str, Any] = {"alert": {"title": data.title, "body": data.body}}
    if data.badge is not None:
        aps["badge"] = data.badge
    apns = json.dumps({"aps": aps, **data.data})
    return json.dumps({"default": data.body or data.title, "GCM": json.dumps(fcm), "APNS": apns, "APNS_SANDBOX": apns})


def send_push(data: PushData, ctx: JobContext) -> dict[str, Any]:
    """Publish to the endpoint; a disabled one is recorded and fails the job without retries."""
    sns = ctx.runtime.clients.sns
    store = delivery_store(ctx.runtime)
    arn = data.endpoint_arn
    if arn is None:
        try:
            arn = sns.create_platform_endpoint(PlatformApplicationArn=data.application_arn, Token=data.token)[
                "EndpointArn"
            ]
        except ClientError as exc:
            raise client_error(exc, "SNS could not register the device token", _PERMANENT) from None
    target = str(arn)

    def send() -> str:
        try:
            enabled = sns.get_endpoint_attributes(EndpointArn=target)["Attributes"].get("Enabled", "true")
            if enabled.lower() == "false":
                raise _disabled(store, target, "SNS reports the endpoint disabled (Enabled=false)")
            return str(sns.publish(TargetArn=target, Message=message(data), MessageStructure="json")["MessageId"])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "EndpointDisabled":
                raise _disabled(store, target, "SNS refused the publish: EndpointDisabled") from None
            raise client_error(exc, f"SNS refused the push to {target}", _PERMANENT) from None

    record = send_tracked(ctx, "push", target, send, endpoint=target, store=store)
    return {"delivery": record.key, "status": record.status, "endpoint_arn": target}


def _disabled(store: Any, target: str, why: str) -> NonRetryableError:
    reason = f"{why}: the device unregistered or its token expired; register it again to get a new endpoint"
    store.disable_endpoint("push", target, reason)
    return NonRetryableError(f"push endpoint {target} is disabled: {reason}")
