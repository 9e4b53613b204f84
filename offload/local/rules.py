"""Fire an EventBridge rule's targets now, as its schedule would, through any endpoint."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from offload.local.template import ACCOUNT, REGION


def find_rule(events: Any, name: str) -> tuple[str, str]:
    """(bus, full rule name) for a rule given by full name or by its catalog suffix."""
    buses = ["default"] + [b["Name"] for b in events.list_event_buses()["EventBuses"] if b["Name"] != "default"]
    known = []
    for bus in buses:
        for rule in events.list_rules(EventBusName=bus)["Rules"]:
            known.append(rule["Name"])
            if name in (rule["Name"],) or rule["Name"].endswith(f"-{name}"):
                return bus, rule["Name"]
    raise KeyError(f"no rule {name!r}; rules: {', '.join(sorted(known)) or 'none'}")


def scheduled_event(rule: str) -> dict[str, Any]:
    """The event EventBridge sends for a schedule when a target has no Input."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule}"],
        "detail": {},
    }


def fire_rule(
    client: Callable[[str], Any], name: str, *, invoke_lambda: Callable[[str, Any], Any] | None = None
) -> list[str]:
    """Deliver the rule's targets; returns the target ARNs delivered to."""
    events = client("events")
    bus, rule = find_rule(events, name)
    delivered = []
    for target in events.list_targets_by_rule(Rule=rule, EventBusName=bus)["Targets"]:
        body = target.get("Input") or json.dumps(scheduled_event(rule))
        arn = target["Arn"]
        service = arn.split(":")[2]
        if service == "sqs":
            sqs = client("sqs")
            url = sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]
            sqs.send_message(QueueUrl=url, MessageBody=body)
        elif service == "sns":
            client("sns").publish(TopicArn=arn, Message=body)
        elif service == "states":
            client("stepfunctions").start_execution(stateMachineArn=arn, input=body)
        elif service == "lambda" and invoke_lambda is not None:
            invoke_lambda(arn.rsplit(":", 1)[-1], json.loads(body))
        else:
            raise RuntimeError(f"rule {rule}: target {arn} can't be delivered from here (run it inside `local up`)")
        delivered.append(arn)
    return delivered
