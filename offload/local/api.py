"""The stack's HTTP APIs on loopback: an HTTP request -> the route API Gateway would pick -> SigV4 checked
against the local credentials for `AWS_IAM` routes -> an API Gateway v2 (payload 2.0) event -> the real
function in-process -> its response. An access log line per request, in the stage's JSON fields.

What API Gateway does and this does too: route matching (static segments before `{param}`, then
`{proxy+}`, then `$default`), `{"message": "Not Found"}` / `"Forbidden"` / signature errors as API Gateway
words them, the 10 MB payload limit, 500 `Internal Server Error` when the function raises, and the caller's
IAM identity under `requestContext.authorizer.iam`. What it doesn't: stage throttling, custom domains,
JWT or Lambda authorizers, query-string (presigned) SigV4.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from offload.local.template import ACCOUNT, REGION

# API Gateway's own limit on an HTTP API request's payload.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024
# SigV4 allows a request's X-Amz-Date this far from the server's clock.
MAX_CLOCK_SKEW_S = 5 * 60
SERVICE = "execute-api"
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
_TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded|javascript))|\+json|\+xml")

Invoke = Callable[[str, dict[str, Any]], Any]


@dataclass
class RouteSpec:
    """One `AWS::ApiGatewayV2::Route`: its key (`GET /jobs/{job_id}` or `$default`), auth and integration."""

    route_key: str
    authorization: str
    integration_id: str

    @property
    def method(self) -> str:
        return "ANY" if self.route_key == "$default" else self.route_key.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return "" if self.route_key == "$default" else self.route_key.split(" ", 1)[1]


@dataclass
class HttpApiSpec:
    """One `AWS::ApiGatewayV2::Api` (protocol HTTP) with its routes and Lambda integrations."""

    logical_id: str
    api_id: str
    name: str
    routes: list[RouteSpec] = field(default_factory=list)
    integrations: dict[str, str] = field(default_factory=dict)  # integration id -> function name
    access_log: bool = False


@dataclass(frozen=True)
class Denied(Exception):
    """A request API Gateway refuses before any function runs: its status and message."""

    status: int
    message: str


@dataclass(frozen=True)
class Matched:
    route: RouteSpec
    path_parameters: dict[str, str]


def match_route(routes: list[RouteSpec], method: str, path: str) -> Matched | None:
    """The route API Gateway would choose: the most specific path (static segments, then `{param}`,
    then a greedy `{proxy+}`) with this method or ANY, else `$default`."""
    parts = [p for p in path.split("/") if p] if path != "/" else []
    best: tuple[tuple[int, ...], Matched] | None = None
    for route in routes:
        if route.route_key == "$default" or route.method not in (method, "ANY"):
            continue
        found = _match(route.path, parts)
        if found is None:
            continue
        # More static segments win, then more single parameters; an exact method beats ANY.
        rank = (*found[1], 1 if route.method == method else 0)
        if best is None or rank > best[0]:
            best = (rank, Matched(route, found[0]))
    if best is not None:
        return best[1]
    default = next((r for r in routes if r.route_key == "$default"), None)
    return Matched(default, {}) if default else None


def _match(template: str, parts: list[str]) -> tuple[dict[str, str], tuple[int, int, int]] | None:
    pattern = [p for p in template.split("/") if p]
    params: dict[str, str] = {}
    static = single = 0
    for i, seg in enumerate(pattern):
        if seg.startswith("{") and seg.endswith("+}"):
            if i >= len(parts):
                return None
            params[seg[1:-2]] = "/".join(parts[i:])
            return params, (static, single, 0)
        if i >= len(parts):
            return None
        if seg.startswith("{") and seg.endswith("}"):
            params[seg[1:-1]] = parts[i]
            single += 1
        elif seg != parts[i]:
            return None
        else:
            static += 1
    if len(parts) != len(pattern):
        return None
    return params, (static, single, 1)


# -- SigV4 -----------------------------------------------------------------------------------


def verify_sigv4(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    *,
    now: float | None = None,
) -> dict[str, Any]:
    """The caller's identity when the request carries a valid SigV4 signature (service execute-api, this
    region) by a known access key; else Denied with API Gateway's words for it."""
    lowered = {k.lower(): v for k, v in headers.items()}
    auth = lowered.get("authorization")
    if not auth:
        raise Denied(403, "Forbidden")
    found = _AUTH.match(auth.strip())
    if found is None:
        raise Denied(403, "Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters.")
    try:
        key_id, day, region, service, terminal = found["credential"].split("/")
    except ValueError:
        raise Denied(403, "Credential should be scoped to a valid region.") from None
    if service != SERVICE or terminal != "aws4_request":
        raise Denied(403, f"Credential should be scoped to correct service: '{SERVICE}'.")
    if region != REGION:
        raise Denied(403, f"Credential should be scoped to a valid region, not '{region}'.")
    secret = credentials.get(key_id)
    if secret is None:
        raise Denied(403, "The security token included in the request is invalid.")
    amz_date = lowered.get("x-amz-date", "")
    try:
        signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise Denied(403, "Signature expired or X-Amz-Date missing: sign the request with a current time.") from None
    if abs(signed_at.timestamp() - (time.time() if now is None else now)) > MAX_CLOCK_SKEW_S or day != amz_date[:8]:
        raise Denied(403, f"Signature expired: {amz_date} is now earlier or later than 5 minutes from the server time.")
    signed = found["signed"].split(";")
    if "host" not in signed or any(name not in lowered for name in signed):
        raise Denied(403, "The request signature we calculated does not match the signature you provided.")
    canonical = "\n".join(
        [
            method,
            _canonical_path(raw_path),
            _canonical_query(raw_query),
            "".join(f"{name}:{_trim(lowered[name])}\n" for name in signed),
            ";".join(signed),
            lowered.get("x-amz-content-sha256") or hashlib.sha256(body).hexdigest(),
        ]
    )
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, found["signature"]):
        raise Denied(
            403,
            "The request signature we calculated does not match the signature you provided. Check your AWS "
            "Secret Access Key and signing method. Consult the service documentation for details.",
        )
    return {
        "accessKey": key_id,
        "accountId": ACCOUNT,
        "callerId": f"AIDA{hashlib.sha256(key_id.encode()).hexdigest()[:16].upper()}",
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": f"arn:aws:iam::{ACCOUNT}:user/{key_id}",
        "userId": f"AIDA{hashlib.sha256(key_id.encode()).hexdigest()[:16].upper()}",
    }


def _canonical_path(raw: str) -> str:
    """SigV4's canonical URI for execute-api: the path as sent (dot segments resolved), URI-encoded once more."""
    import posixpath
    from urllib.parse import quote

    path = posixpath.normpath(raw or "/") if raw not in ("", "/") else "/"
    if raw.endswith("/") and path != "/":
        path += "/"
    return quote(path, safe="/~")


def _canonical_query(raw: str) -> str:
    from urllib.parse import quote

    pairs = parse_qsl(raw, keep_blank_values=True)
    return "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}" for k, v in sorted(pairs))


def _trim(value: str) -> str:
    return " ".join(value.strip().split())


# -- the server ------------------------------------------------------------------------------


class LocalHttpApi:
    """One HTTP API served on host:port until `stop()`."""

    def __init__(
        self,
        spec: HttpApiSpec,
        invoke: Invoke,
        *,
        host: str,
        port: int,
        credentials: Mapping[str, str],
        access_log: Path | None = None,
    ) -> None:
        self.spec = spec
        self.invoke = invoke
        self.credentials = dict(credentials)
        self.access_log = access_log
        self.host = host
        self.port = port
        self._log_lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> LocalHttpApi:
        """Listen on host:port (a port of 0 takes a free one) and serve in a thread."""
        api = self

        class Handler(_Handler):
            owner = api

        self.server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, name=f"api-{self.spec.name}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def answer(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes, source_ip: str
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        """(status, headers, body, access-log fields) for one request."""
        began = time.perf_counter()
        request_id = str(uuid.uuid4())
        split = urlsplit(target)
        raw_path, raw_query = split.path or "/", split.query
        log: dict[str, Any] = {
            "requestId": request_id,
            "ip": source_ip,
            "time": datetime.now(UTC).strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "method": method,
            "path": raw_path,
        }
        matched = match_route(self.spec.routes, method, raw_path)
        if matched is None:
            return self._refused(Denied(404, "Not Found"), log, began)
        log["route"] = matched.route.route_key
        if len(body) > MAX_PAYLOAD_BYTES:
            return self._refused(Denied(413, "Request Entity Too Large"), log, began)
        identity: dict[str, Any] | None = None
        if matched.route.authorization == "AWS_IAM":
            try:
                identity = verify_sigv4(method, raw_path, raw_query, headers, body, self.credentials)
            except Denied as denied:
                log["authorizerError"] = denied.message
                return self._refused(denied, log, began)
            log["user"] = identity["userArn"]
        function = self.spec.integrations.get(matched.route.integration_id)
        if function is None:
            return self._refused(Denied(500, "Internal Server Error"), log, began)
        event = self._event(method, raw_path, raw_query, headers, body, matched, identity, request_id, source_ip)
        integration_began = time.perf_counter()
        try:
            response = self.invoke(function, event)
        except Exception as exc:  # the function raised: API Gateway answers 500 without details
            log["error"] = f"the function raised {type(exc).__name__}"
            return self._refused(Denied(500, "Internal Server Error"), log, began)
        log["integrationLatencyMs"] = round((time.perf_counter() - integration_began) * 1000)
        status, out_headers, out_body = _proxy_response(response)
        log["integrationStatus"] = status
        return self._done(status, out_headers, out_body, log, began)

    def _event(
        self,
        method: str,
        raw_path: str,
        raw_query: str,
        headers: Mapping[str, str],
        body: bytes,
        matched: Matched,
        identity: dict[str, Any] | None,
        request_id: str,
        source_ip: str,
    ) -> dict[str, Any]:
        lowered: dict[str, str] = {}
        for name, value in headers.items():
            key = name.lower()
            lowered[key] = f"{lowered[key]},{value}" if key in lowered else value
        query: dict[str, str] = {}
        for name, value in parse_qsl(raw_query, keep_blank_values=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        cookies = [c.strip() for c in lowered.pop("cookie", "").split(";") if c.strip()]
        now = datetime.now(UTC)
        content_type = lowered.get("content-type", "")
        text = not body or bool(_TEXT_TYPES.search(content_type)) or not content_type
        encoded = False
        payload: str | None = None
        if body:
            try:
                payload = body.decode() if text else None
            except UnicodeDecodeError:
                payload = None
            if payload is None:
                payload, encoded = base64.b64encode(body).decode(), True
        host = lowered.get("host", "localhost")
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": matched.route.route_key,
            "rawPath": raw_path,
            "rawQueryString": raw_query,
            "headers": lowered,
            "requestContext": {
                "accountId": ACCOUNT,
                "apiId": self.spec.api_id,
                "domainName": host,
                "domainPrefix": host.split(".", 1)[0],
                "http": {
                    "method": method,
                    "path": raw_path,
                    "protocol": "HTTP/1.1",
                    "sourceIp": source_ip,
                    "userAgent": lowered.get("user-agent", ""),
                },
                "requestId": request_id,
                "routeKey": matched.route.route_key,
                "stage": "$default",
                "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "timeEpoch": int(now.timestamp() * 1000),
            },
            "isBase64Encoded": encoded,
        }
        if cookies:
            event["cookies"] = cookies
        if query:
            event["queryStringParameters"] = query
        if matched.path_parameters:
            event["pathParameters"] = matched.path_parameters
        if payload is not None:
            event["body"] = payload
        if identity is not None:
            event["requestContext"]["authorizer"] = {"iam": identity}
        return event

    def _refused(
        self, denied: Denied, log: dict[str, Any], began: float
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        body = json.dumps({"message": denied.message}).encode()
        log["error"] = log.get("error") or denied.message
        return self._done(denied.status, {"content-type": "application/json"}, body, log, began)

    def _done(
        self, status: int, headers: dict[str, str], body: bytes, log: dict[str, Any], began: float
    ) -> tuple[int, dict[str, str], bytes, dict[str, Any]]:
        log.update(status=status, bytes=len(body), latencyMs=round((time.perf_counter() - began) * 1000))
        if self.access_log is not None:
            with self._log_lock, self.access_log.open("a") as f:
                f.write(json.dumps(log) + "\n")
        return status, headers, body, log


def _proxy_response(response: Any) -> tuple[int, dict[str, str], bytes]:
    """A payload 2.0 response as API Gateway reads it: a dict with statusCode, or any value as a JSON 200."""
    if not (isinstance(response, dict) and "statusCode" in response):
        return 200, {"content-type": "application/json"}, json.dumps(response).encode()
    headers = {str(k).lower(): str(v) for k, v in (response.get("headers") or {}).items()}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        headers[str(name).lower()] = ",".join(str(v) for v in values)
    raw = response.get("body") or ""
    body = base64.b64decode(raw) if response.get("isBase64Encoded") else str(raw).encode()
    if response.get("cookies"):
        headers["set-cookie"] = "\n".join(response["cookies"])
    return int(response["statusCode"]), headers, body


class _Handler(BaseHTTPRequestHandler):
    owner: LocalHttpApi
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_PAYLOAD_BYTES:
            status, headers, body = 413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}'
            self.close_connection = True
        else:
            data = self.rfile.read(length) if length else b""
            headers_in = {k: v for k, v in self.headers.items()}
            status, headers, body, _ = self.owner.answer(
                self.command, self.path, headers_in, data, self.client_address[0]
            )
        self.send_response(status)
        for name, value in headers.items():
            if name == "set-cookie":
                for cookie in value.split("\n"):
                    self.send_header("Set-Cookie", cookie)
            elif name not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("apigw-requestid", str(uuid.uuid4()))
        self.end_headers()
        if self.command != "HEAD":
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the access log has every request
        return
