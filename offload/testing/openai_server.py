"""A fake OpenAI-compatible HTTP server on 127.0.0.1 with scripted replies, for the real SDK code path.

Usage: `with FakeOpenAIServer() as server: server.script(Reply(...), ...)`, then point a client
at `server.base_url`. Each request takes the next scripted reply, in order, and is recorded
in `server.requests`. A request with nothing scripted gets a 599 whose message says so, which
no test expects, so a missing script fails loudly instead of passing by accident.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer: a JSON body (dict/list) or raw text, with optional headers and delay."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


@dataclass(frozen=True)
class RecordedRequest:
    """What the client sent: method, path, headers (lowercased names) and the JSON body."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any


def chat_completion(content: str | None, *, model: str = "gpt-4o-mini", refusal: str | None = None) -> Reply:
    """A 200 chat.completions answer whose only choice says `content`."""
    return Reply(
        body={
            "id": "chatcmpl-fake",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content, "refusal": refusal},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
        }
    )


def embeddings(
    vectors: list[list[float]], *, model: str = "text-embedding-3-small", order: list[int] | None = None
) -> Reply:
    """A 200 embeddings answer; `order` lists the indexes in the order the items are sent."""
    indexes = order if order is not None else list(range(len(vectors)))
    return Reply(
        body={
            "object": "list",
            "model": model,
            "data": [{"object": "embedding", "index": i, "embedding": vectors[i]} for i in indexes],
            "usage": {"prompt_tokens": 10, "total_tokens": 10},
        }
    )


def image_generation(
    image: bytes | str | None = None, *, url: str | None = None, model: str = "gpt-image-1", size: str = "1024x1024"
) -> Reply:
    """A 200 images.generate answer with one image: `image` as PNG bytes or base64 text (`b64_json`), or a `url`.

    Shaped like `model` answers: GPT image models add output_format, size, quality and token usage;
    DALL-E models add a revised_prompt.
    """
    if (image is None) == (url is None):
        raise ValueError("give the image (bytes or base64 text) or a url, not both or neither")
    item: dict[str, Any] = {"url": url} if url is not None else {}
    if image is not None:
        item["b64_json"] = base64.b64encode(image).decode("ascii") if isinstance(image, bytes) else image
    body: dict[str, Any] = {"created": 1_700_000_000, "data": [item]}
    if model.startswith("dall-e"):
        item["revised_prompt"] = "a revised prompt"
    else:
        body |= {
            "output_format": "png",
            "size": size,
            "quality": "medium",
            "usage": {
                "input_tokens": 20,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 20},
                "output_tokens": 1056,
                "total_tokens": 1076,
            },
        }
    return Reply(body=body)


def api_error(
    status: int, message: str, *, code: str | None = None, error_type: str = "invalid_request_error", **headers: str
) -> Reply:
    """An error answer shaped like OpenAI's (`{"error": {...}}`); header names use _ for -."""
    return Reply(
        status=status,
        body={"error": {"message": message, "type": error_type, "param": None, "code": code}},
        headers={name.replace("_", "-"): value for name, value in headers.items()},
    )


class FakeOpenAIServer:
    """A loopback HTTP server on a free port answering with scripted replies."""

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown (and so each test's teardown) quick.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-openai", daemon=True
        )

    @property
    def base_url(self) -> str:
        """The URL to give the client as base_url."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def __enter__(self) -> FakeOpenAIServer:
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
        return api_error(599, f"fake server: no scripted reply for {request.method} {request.path}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

            def do_GET(self) -> None:
                self._answer()

            def do_POST(self) -> None:
                self._answer()

            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = raw.decode("utf-8", "replace")
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = server._next(RecordedRequest(self.command, self.path, headers, body))
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                is_text = isinstance(reply.body, str)
                payload = (reply.body if is_text else json.dumps(reply.body)).encode("utf-8")
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "text/plain" if is_text else "application/json")
                    self.send_header("content-length", str(len(payload)))
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test); nothing to answer

            def log_message(self, format: str, *args: Any) -> None:
                return None  # keep test output clean

        return Handler
