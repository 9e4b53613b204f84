"""A fake of the parts of Stripe's HTTP API the payments pack uses, on 127.0.0.1, for the real `stripe` SDK.

`with FakeStripeServer() as stripe_api:` then `make_client("sk_test_x", stripe_api.base_url)`. It answers
POST /v1/transfers, /v1/refunds and /v1/payment_intents, and GET /v1/transfers?transfer_group=..., and it
keeps Stripe's idempotency rules:
- the first answer to an `Idempotency-Key` is saved (errors too, except 409 and 429, which Stripe does not
  save) and replayed to a repeat with `Idempotent-Replayed: true`, creating nothing;
- the same key with other parameters is a 400 `idempotency_error`.
A scripted reply (`stripe_api.script(card_declined())`) answers the next POST instead of the default
behaviour; `forget_keys()` is Stripe's 24 h expiry. `created["transfer"]` lists what was really made.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from offload.testing.scripted_http import RecordedRequest, Reply, ScriptedServer

_OBJECTS = {
    "/v1/transfers": ("transfer", "tr"),
    "/v1/refunds": ("refund", "re"),
    "/v1/payment_intents": ("payment_intent", "pi"),
}


def stripe_error(status: int, error_type: str, message: str, *, code: str | None = None, **extra: Any) -> Reply:
    """An error in Stripe's shape: {"error": {"type", "message", "code", ...}}."""
    body = {"error": {"type": error_type, "message": message, **({"code": code} if code else {}), **extra}}
    return Reply(status=status, body=body, headers={"request-id": "req_fake"})


def card_declined() -> Reply:
    return stripe_error(
        402, "card_error", "Your card was declined.", code="card_declined", decline_code="generic_decline"
    )


def rate_limited() -> Reply:
    return stripe_error(429, "invalid_request_error", "Too many requests", code="rate_limit")


def api_error() -> Reply:
    return stripe_error(500, "api_error", "Something went wrong on Stripe's end.")


class FakeStripeServer(ScriptedServer):
    thread_name = "fake-stripe"

    def __init__(self) -> None:
        super().__init__()
        self.created: dict[str, list[dict[str, Any]]] = {"transfer": [], "refund": [], "payment_intent": []}
        self._keys: dict[str, tuple[dict[str, str], Reply]] = {}
        self._ids = itertools.count(1)
        self._state = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.root_url  # the SDK adds /v1/... itself

    def forget_keys(self) -> None:
        """Forget every idempotency key, as Stripe does after 24 hours."""
        with self._state:
            self._keys.clear()

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
        url = urlsplit(request.path)
        if request.method == "GET" and url.path == "/v1/transfers":
            group = dict(parse_qsl(url.query)).get("transfer_group")
            with self._state:
                found = [t for t in self.created["transfer"] if group is None or t["transfer_group"] == group]
            return Reply(body={"object": "list", "data": found, "has_more": False, "url": "/v1/transfers"})
        if request.method != "POST" or url.path not in _OBJECTS:
            return stripe_error(404, "invalid_request_error", f"Unrecognized request URL ({request.method} {url.path})")
        params = dict(parse_qsl(request.body if isinstance(request.body, str) else ""))
        key = request.headers.get("idempotency-key")
        with self._state:
            if key and key in self._keys:
                first_params, first = self._keys[key]
                if first_params != params:
                    return stripe_error(
                        400,
                        "idempotency_error",
                        "This idempotency key was first used with other parameters.",
                    )
                return Reply(first.status, first.body, {**first.headers, "idempotent-replayed": "true"})
            with self._lock:
                scripted = self._replies.popleft() if self._replies else None
            reply = scripted or self._create(url.path, params)
            if key and reply.status not in (409, 429):
                self._keys[key] = (params, reply)
            return reply

    def _create(self, path: str, params: dict[str, str]) -> Reply:
        kind, prefix = _OBJECTS[path]
        obj: dict[str, Any] = {"id": f"{prefix}_fake_{next(self._ids)}", "object": kind, "livemode": False}
        obj.update({k: int(v) if k == "amount" else v for k, v in params.items()})
        if kind == "payment_intent":
            if "declined" in params.get("payment_method", "").lower():
                return card_declined()
            obj["status"] = "succeeded"
        if kind == "refund":
            obj["status"] = "succeeded"
        self.created[kind].append(obj)
        return Reply(body=obj, headers={"request-id": f"req_{obj['id']}"})
