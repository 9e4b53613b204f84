"""The notifications pack's pure rules: templates, E.164, the delivery lifecycle, Discord's 429s, push shapes,
SES event summaries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from offload.errors import NonRetryableError
from offload.packs.core.http_util import Answer
from offload.packs.notifications.discord import DiscordData, deferral, redacted
from offload.packs.notifications.events import reason_of, summary
from offload.packs.notifications.push import PushData, message
from offload.packs.notifications.sms import SmsData
from offload.packs.notifications.store import DELIVERY_LIFECYCLE
from offload.packs.notifications.templates import available, render


def test_built_in_templates_render_html_escaped_and_text_plain() -> None:
    email = render("welcome", {"name": "<b>Ann</b>", "product": "Shop", "url": "https://x.test/?a=1&b=2"})
    assert email.subject == "Welcome to Shop, <b>Ann</b>"
    assert "Welcome, &lt;b&gt;Ann&lt;/b&gt;!" in email.html
    assert 'href="https://x.test/?a=1&amp;b=2"' in email.html
    assert "Welcome, <b>Ann</b>!" in email.text  # the text part is not HTML: nothing escaped
    assert "Open it: https://x.test/?a=1&b=2" in email.text


def test_a_missing_variable_names_itself_and_what_was_given() -> None:
    with pytest.raises(NonRetryableError, match=r"'product' is undefined; pass it in the job's vars \(given: name\)"):
        render("welcome", {"name": "Ann"})


def test_an_unknown_template_lists_the_ones_there_are(tmp_path: Path) -> None:
    with pytest.raises(NonRetryableError, match=r"no nope\.subject\.txt .* templates there: alert, digest, welcome"):
        render("nope", {}, str(tmp_path))


def test_an_app_template_needs_all_three_parts_to_be_offered(tmp_path: Path) -> None:
    (tmp_path / "receipt.html").write_text("<p>{{ total }}</p>")
    (tmp_path / "receipt.subject.txt").write_text("Receipt")
    assert "receipt" not in available(str(tmp_path))
    (tmp_path / "receipt.txt").write_text("{{ total }}")
    assert "receipt" in available(str(tmp_path))


def test_a_multi_line_subject_becomes_one_line() -> None:
    email = render("alert", {"title": "Disk\n full", "message": "m", "severity": "high"})
    assert email.subject == "[HIGH] Disk full"


@pytest.mark.parametrize(
    ("given", "stored"), [("+447700900123", "+447700900123"), ("+1 (415) 555-0100", "+14155550100")]
)
def test_e164_numbers_are_kept_without_spacing(given: str, stored: str) -> None:
    assert SmsData(to=given, message="hi").to == stored


@pytest.mark.parametrize("bad", ["07700900123", "+0447700900123", "+44", "+4477009001234567", "call me"])
def test_numbers_that_are_not_e164_are_refused_with_the_form_to_use(bad: str) -> None:
    with pytest.raises(ValidationError, match=r"is not an E\.164 phone number.*\+447700900123"):
        SmsData(to=bad, message="hi")


def test_delivery_records_never_move_backwards() -> None:
    assert DELIVERY_LIFECYCLE.sources_of("sent") == ["queued"]
    assert DELIVERY_LIFECYCLE.sources_of("delivered") == ["sent"]
    assert set(DELIVERY_LIFECYCLE.sources_of("failed")) == {"queued", "sent"}
    assert DELIVERY_LIFECYCLE.final == {"delivered", "bounced", "failed"}
    assert not DELIVERY_LIFECYCLE.allows("bounced", "delivered")


def test_a_discord_429_waits_for_the_bodys_retry_after_then_the_headers() -> None:
    body = json.dumps({"message": "You are being rate limited.", "retry_after": 1.25, "global": True}).encode()
    wait = deferral(Answer(429, {}, body), "u")
    assert wait.retry_after_s == 1.25 and "globally" in str(wait)
    assert deferral(Answer(429, {"x-ratelimit-reset-after": "0.7"}, b"oops"), "u").retry_after_s == 0.7
    assert deferral(Answer(429, {"retry-after": "3"}, b""), "u").retry_after_s == 3.0


def test_the_webhook_token_never_shows_in_records() -> None:
    shown = redacted("https://discord.com/api/webhooks/123/s3cr3t-token")
    assert shown == "https://discord.com/api/webhooks/123/***"


def test_a_discord_message_needs_content_or_embeds() -> None:
    with pytest.raises(ValidationError, match="content or at least one embed"):
        DiscordData(url="https://discord.com/api/webhooks/1/t")


def test_push_messages_carry_fcm_and_apns_shapes() -> None:
    doc = json.loads(
        message(
            PushData(
                endpoint_arn="arn:aws:sns:us-east-1:1:endpoint/GCM/a/b", title="T", body="B", badge=2, data={"order": 7}
            )
        )
    )
    assert json.loads(doc["GCM"]) == {"notification": {"title": "T", "body": "B"}, "data": {"order": "7"}}
    assert json.loads(doc["APNS"]) == {"aps": {"alert": {"title": "T", "body": "B"}, "badge": 2}, "order": 7}
    assert doc["default"] == "B"


def test_push_needs_an_endpoint_or_an_application_and_token() -> None:
    with pytest.raises(ValidationError, match="give endpoint_arn, or application_arn"):
        PushData(title="T", token="abc")


def test_a_bounce_summary_keeps_type_and_diagnostic() -> None:
    event = summary(
        {
            "eventType": "Bounce",
            "mail": {"messageId": "m1"},
            "bounce": {
                "bounceType": "Transient",
                "bounceSubType": "MailboxFull",
                "bouncedRecipients": [{"emailAddress": "a@b.c", "diagnosticCode": "552 mailbox full"}],
            },
        }
    )
    assert event["recipients"] == [{"email": "a@b.c", "diagnostic": "552 mailbox full"}]
    assert reason_of(event) == "Transient bounce (MailboxFull): 552 mailbox full"
