"""notify.sms: an SMS through SNS Publish to a phone number (E.164), transactional or promotional."""

from __future__ import annotations

import re
from typing import Any, Literal

from botocore.exceptions import ClientError
from pydantic import BaseModel, Field, field_validator

from offload.errors import NonRetryableError, RetryableError
from offload.jobs.context import JobContext
from offload.packs.notifications.delivery import send_tracked

E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
# SNS errors about the request itself (the number, the opt-out list, the account's SMS setup).
_PERMANENT = {"InvalidParameter", "InvalidParameterValue", "OptedOut", "AuthorizationError", "NotFound"}


def client_error(exc: ClientError, what: str, permanent: set[str]) -> NonRetryableError | RetryableError:
    """A job error for an AWS client error: permanent for the codes named, retryable otherwise."""
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    text = f"{what}: {code}: {error.get('Message', '')}"
    return NonRetryableError(text) if code in permanent else RetryableError(text)


class SmsData(BaseModel):
    to: str = Field(description="the phone number in E.164 form, e.g. +447700900123")
    message: str = Field(min_length=1, max_length=1600, description="the text (SNS splits it into parts)")
    kind: Literal["transactional", "promotional"] = Field(
        default="transactional", description="transactional: one-time codes, alerts; promotional: marketing"
    )
    sender_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9]{1,11}$")

    @field_validator("to")
    @classmethod
    def _e164(cls, value: str) -> str:
        compact = re.sub(r"[\s().-]", "", value)
        if not E164.match(compact):
            raise ValueError(
                f"{value!r} is not an E.164 phone number: write it as + then the country code and number, "
                "digits only (e.g. +447700900123)"
            )
        return compact


def send_sms(data: SmsData, ctx: JobContext) -> dict[str, Any]:
    """Publish the SMS; the delivery record's id and status."""
    attributes: dict[str, Any] = {
        "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": data.kind.capitalize()},
    }
    if data.sender_id:
        attributes["AWS.SNS.SMS.SenderID"] = {"DataType": "String", "StringValue": data.sender_id}

    def send() -> str:
        try:
            resp = ctx.runtime.clients.sns.publish(
                PhoneNumber=data.to, Message=data.message, MessageAttributes=attributes
            )
        except ClientError as exc:
            raise client_error(exc, f"SNS refused the SMS to {data.to}", _PERMANENT) from None
        return str(resp["MessageId"])

    record = send_tracked(ctx, "sms", data.to, send)
    return {"delivery": record.key, "status": record.status, "to": data.to, "kind": data.kind}
