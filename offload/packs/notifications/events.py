"""SES delivery events -> delivery records: Delivery marks a record delivered, Bounce bounced, Reject and
Rendering Failure failed; Complaint, DeliveryDelay, Open and Click are noted on the record.

SES publishes the events of the pack's configuration set to EventBridge (the default bus, the only one
SES sends to); a rule hands them to the pack's events function. Each event names its record by the
`offload-delivery` message tag set at send time. A late or repeated event changes nothing: the
writes are conditional on DELIVERY_LIFECYCLE.
"""

from __future__ import annotations

from typing import Any

from offload.observability import logger
from offload.packs.notifications.email import DELIVERY_TAG
from offload.packs.notifications.store import DeliveryStatus, DeliveryStore

# SES eventType -> the status it moves a record to (None: noted, the status stays).
MOVES: dict[str, DeliveryStatus | None] = {
    "Delivery": "delivered",
    "Bounce": "bounced",
    "Reject": "failed",
    "Rendering Failure": "failed",
    "Complaint": None,
    "DeliveryDelay": None,
    "Open": None,
    "Click": None,
    "Send": None,
}
EVENT_SOURCE = "aws.ses"


def summary(detail: dict[str, Any]) -> dict[str, Any]:
    """The part of an SES event worth keeping on the record."""
    kind = detail.get("eventType") or detail.get("notificationType") or "unknown"
    out: dict[str, Any] = {"type": kind, "message_id": detail.get("mail", {}).get("messageId")}
    if kind == "Bounce":
        bounce = detail.get("bounce", {})
        out |= {
            "at": bounce.get("timestamp"),
            "bounce_type": bounce.get("bounceType"),
            "bounce_subtype": bounce.get("bounceSubType"),
            "recipients": [
                {"email": r.get("emailAddress"), "diagnostic": r.get("diagnosticCode")}
                for r in bounce.get("bouncedRecipients", [])
            ],
        }
    elif kind == "Delivery":
        delivery = detail.get("delivery", {})
        out |= {"at": delivery.get("timestamp"), "smtp": delivery.get("smtpResponse")}
    elif kind == "Complaint":
        complaint = detail.get("complaint", {})
        out |= {"at": complaint.get("timestamp"), "feedback": complaint.get("complaintFeedbackType")}
    elif kind == "Reject":
        out["reason"] = detail.get("reject", {}).get("reason")
    elif kind == "Rendering Failure":
        out["reason"] = detail.get("failure", {}).get("errorMessage")
    return out


def reason_of(event: dict[str, Any]) -> str | None:
    """A one-line reason for a bounce or failure."""
    if event["type"] == "Bounce":
        first = (event.get("recipients") or [{}])[0]
        return f"{event.get('bounce_type')} bounce ({event.get('bounce_subtype')}): {first.get('diagnostic') or ''}"
    if event["type"] in ("Reject", "Rendering Failure"):
        return f"SES {event['type'].lower()}: {event.get('reason')}"
    return None


def apply(store: DeliveryStore, detail: dict[str, Any]) -> str:
    """Apply one SES event (the EventBridge event's `detail`); what happened, for the log."""
    tags = detail.get("mail", {}).get("tags", {})
    keys = tags.get(DELIVERY_TAG) or []
    if not keys:
        return "ignored: no offload-delivery tag (not sent by offload)"
    key = keys[0]
    event = summary(detail)
    target = MOVES.get(event["type"])
    if target is None:
        return "noted" if store.note(key, event) is not None else "unknown record"
    moved = store.move(key, target, reason=reason_of(event), event=event)
    if moved is not None:
        return target
    current = store.get(key)
    if current is None:
        return "unknown record"
    # Already final (e.g. a repeated event): keep the event on the record, leave the status.
    store.note(key, event)
    return f"kept {current.status}"


def handle(store: DeliveryStore, event: dict[str, Any]) -> dict[str, Any]:
    """One EventBridge event from SES: its outcome."""
    detail = event.get("detail") or {}
    outcome = apply(store, detail)
    logger.info("ses event", event_type=detail.get("eventType"), outcome=outcome)
    return {"outcome": outcome}
