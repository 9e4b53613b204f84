"""A loopback HTTP server with scripted replies, the base of the provider fakes (OpenAI, google-genai).

Each request takes the next scripted reply, in order, and is recorded in `server.requests`. A
request with nothing scripted gets the subclass's "unscripted" answer (a 599 that no test expects),
so a missing script fails loudly instead of passing by accident. Multipart bodies (file uploads)
are parsed: the text fields become the recorded body, the file parts `RecordedRequest.files`.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: a JSON body (dict/list), text (str) or bytes, with optional headers and delay.

    `content_type` overrides the type the body implies (application/json, text/plain,
    application/octet-stream). `cut_after` sends only that many bytes of the body, under a
    Content-Length for all of it, then drops the connection (a download cut off mid-way)."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    content_type: str | None = None
    cut_after: int | None = None

    def payload(self) -> tuple[bytes, str]:
        """The body's bytes and its content type."""
        if isinstance(self.body, bytes):
            return self.body, self.content_type or "application/octet-stream"
        if isinstance(self.body, str):
            return self.body.encode("utf-8"), self.content_type or "text/plain"
        return json.dumps(self.body).encode("utf-8"), self.content_type or "application/json"


@dataclass(frozen=True)
class RecordedFile:
    """One file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class RecordedRequest:
    """What the client sent: method, path, headers (lowercased names), the body (JSON, text, or a
    multipart request's text fields as a dict) and a multipart request's files by field name."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    files: dict[str, RecordedFile] = field(default_factory=dict)
    raw: bytes = b""  # the body's bytes as sent (what a signature covers)


class ScriptedServer:
    """A loopback HTTP server on a free port answering with scripted replies; subclasses say what
    an unscripted request gets and which URL to give the client."""

    thread_name = "fake-http"
    base_path = "/"  # what base_url adds to the root: the API prefix the SDK expects in its base URL

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=self.thread_name, daemon=True
        )

    @property
    def root_url(self) -> str:
        """http://127.0.0.1:<port>, without a trailing slash."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def base_url(self) -> str:
        """The URL to give the client as its base URL."""
        return f"{self.root_url}{self.base_path}"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def unscripted(self, request: RecordedRequest) -> Reply:
        """The answer to a request with nothing scripted: a 599 naming the request."""
        return Reply(status=599, body=f"fake server: no scripted reply for {request.method} {request.path}")

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _next(self, request: RecordedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if self._replies:
                return self._replies.popleft()
        return self.unscripted(request)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDKs' connection pools expect

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def do_DELETE(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                body, files = _parse_body(raw, headers.get("content-type", ""))
                reply = server._next(RecordedRequest(self.command, self.path, headers, body, files, raw))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                payload, content_type = reply.payload()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", content_type)
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    if reply.cut_after is None:
                        self.wfile.write(payload)
                    else:
                        self.wfile.write(payload[: reply.cut_after])
                        self.wfile.flush()
                        self.close_connection = True
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                return None  # keep test output clean

        return Handler


def _parse_body(raw: bytes, content_type: str) -> tuple[Any, dict[str, RecordedFile]]:
    """JSON when it parses, a multipart request's fields and files, else the text."""
    if not raw:
        return None, {}
    if content_type.startswith("multipart/form-data"):
        return _parse_multipart(raw, content_type)
    try:
        return json.loads(raw), {}
    except (json.JSONDecodeError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace"), {}


def _parse_multipart(raw: bytes, content_type: str) -> tuple[dict[str, str], dict[str, RecordedFile]]:
    # The email parser reads MIME multipart bodies; it needs the Content-Type header in front.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
    )
    fields: dict[str, str] = {}
    files: dict[str, RecordedFile] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        data = part.get_payload(decode=True)
        data = data if isinstance(data, bytes) else b""
        filename = part.get_filename()
        if filename is None:
            fields[name] = data.decode("utf-8", "replace")
        else:
            files[name] = RecordedFile(filename, part.get_content_type(), data)
    return fields, files
