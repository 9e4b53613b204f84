"""AWS calls from inside the local cloud's process, answered by moto without HTTP.

When moto runs in the cloud's own process (thread mode: the template has state machines), the functions,
pollers and schedules call the endpoint over loopback HTTP: each call serializes, crosses a socket into a
server thread of this same process, is parsed back, and sheds the GIL twice on the way; about 3 ms a call
before moto does any work. `InProcessEndpoint` is a botocore `before-send` handler that hands a request
addressed to the endpoint straight to moto's WSGI application (the one the endpoint serves, with the same
backends) and returns its answer as the HTTP response would have been. The request is the one botocore
signed; routing, validation and errors are moto's, exactly as over HTTP. Other processes (the AWS CLI,
boto3 in a shell, the console) still reach the endpoint over HTTP.

It is registered for botocore sessions created after `install()` (botocore's BUILTIN_HANDLERS, as moto's
own in-process mock is): every session the functions create. The undo removes it.
"""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

from botocore.awsrequest import AWSPreparedRequest, AWSResponse

from offload.local.dynamodb_process import DynamoDBProcess, is_dynamodb
from offload.local.timeouts import Invocations


class Body(io.BytesIO):
    """A response body as botocore reads one: `read(amt)` for streams, `stream()` for the whole content."""

    def stream(self, **_: Any) -> Iterator[bytes]:
        while chunk := self.read(65536):
            yield chunk


def _latin1(raw: str) -> str:
    """WSGI's encoding of a decoded URL part: its bytes as latin-1 (PEP 3333)."""
    return unquote_to_bytes(raw).decode("latin-1")


class InProcessEndpoint:
    """Answers botocore requests for `endpoint` (scheme://host:port) by calling moto in this process."""

    def __init__(
        self, endpoint: str, invocations: Invocations | None = None, dynamodb: DynamoDBProcess | None = None
    ) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

        parts = urlsplit(endpoint)
        self.scheme, self.netloc = parts.scheme, parts.netloc
        self.host, self.port = parts.hostname or "127.0.0.1", str(parts.port or 80)
        self.app = DomainDispatcherApplication(create_backend_app)
        self.calls = 0
        # A fault injector (bench/chaos.py) wraps each call: around(request, answer) returns the response,
        # from answer() (moto's) or its own (a throttle, say, which moto never sees).
        self.around: Callable[[AWSPreparedRequest, Callable[[], AWSResponse]], AWSResponse] | None = None
        self.enabled = True  # off after the undo: a client kept past the cloud's stop fails as over HTTP
        # A stopped invocation's calls (offload.local.timeouts) are refused, or end unanswered.
        self.invocations = invocations
        # DynamoDB's tables live in a process of their own (offload.local.dynamodb_process): its requests go there.
        self.dynamodb = dynamodb

    def handles(self, url: str) -> bool:
        parts = urlsplit(url)
        return parts.scheme == self.scheme and parts.netloc == self.netloc

    def __call__(self, request: AWSPreparedRequest, **_: Any) -> AWSResponse | None:
        if not self.enabled or not self.handles(request.url):
            return None  # not ours: botocore sends it over HTTP as usual
        self.calls += 1
        if self.invocations is None:
            return self._around(request)
        with self.invocations.call():
            return self._around(request)

    def _around(self, request: AWSPreparedRequest) -> AWSResponse:
        if self.around is not None:
            return self.around(request, lambda: self._answer(request))
        return self._answer(request)

    def _answer(self, request: AWSPreparedRequest) -> AWSResponse:
        """moto's response to the request, through the endpoint's WSGI application."""
        from werkzeug.test import run_wsgi_app

        body = request.body
        if body is None:
            data = b""
        elif isinstance(body, bytes | bytearray):
            data = bytes(body)
        elif isinstance(body, str):
            data = body.encode()
        else:  # a file or a botocore stream wrapper: what urllib3 would have read and sent
            data = body.read()
            data = data.encode() if isinstance(data, str) else data
        parts = urlsplit(request.url)
        raw_uri = parts.path + (f"?{parts.query}" if parts.query else "")
        if self.dynamodb is not None and is_dynamodb(_header(request, "X-Amz-Target")):
            sent = [(name, _text(value)) for name, value in request.headers.items()]
            code, answer_headers, answer = self.dynamodb.forward(request.method, raw_uri, sent, data)
            return AWSResponse(request.url, code, dict(answer_headers), Body(answer))
        environ: dict[str, Any] = {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": self.scheme,
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            "PATH_INFO": _latin1(parts.path),
            "QUERY_STRING": parts.query,
            "REQUEST_URI": raw_uri,
            "RAW_URI": raw_uri,
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_NAME": self.host,
            "SERVER_PORT": self.port,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "HTTP_HOST": self.netloc,
        }
        for name, value in request.headers.items():
            value = _text(value)
            key = name.upper().replace("-", "_")
            if key == "TRANSFER_ENCODING":
                continue  # the body is whole here; its length says where it ends
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = f"HTTP_{key}"
            environ[key] = value
        environ["CONTENT_LENGTH"] = str(len(data))
        try:
            app_iter, status, headers = run_wsgi_app(self.app, environ, buffered=True)
            try:
                content = b"".join(app_iter)
            finally:
                close = getattr(app_iter, "close", None)
                if close is not None:
                    close()
        except Exception:
            # What the endpoint's server answers when moto raises (moto isn't thread-safe everywhere: a query
            # can copy an item another thread is updating): a 500, which botocore retries.
            logging.getLogger("offload.local").exception("moto raised answering %s %s", request.method, request.url)
            return AWSResponse(request.url, 500, {"Content-Type": "text/plain"}, Body(b"Internal Server Error"))
        return AWSResponse(request.url, int(status.split(" ", 1)[0]), dict(headers.items()), Body(content))


def _text(value: Any) -> str:
    """A header's value as text (botocore keeps some as latin-1 bytes)."""
    return value.decode("latin-1") if isinstance(value, bytes) else str(value)


def _header(request: AWSPreparedRequest, name: str) -> str | None:
    value = request.headers.get(name)
    return None if value is None else _text(value)


def install(
    endpoint: str, invocations: Invocations | None = None, *, dynamodb: DynamoDBProcess | None = None
) -> tuple[InProcessEndpoint, Callable[[], None]]:
    """Answer this process's calls to `endpoint` in-process from now on (DynamoDB's by `dynamodb`, when given);
    returns the handler and the undo."""
    from botocore import handlers

    handler = InProcessEndpoint(endpoint, invocations, dynamodb)
    entry = ("before-send", handler)
    handlers.BUILTIN_HANDLERS.append(entry)

    def undo() -> None:
        handler.enabled = False
        if entry in handlers.BUILTIN_HANDLERS:
            handlers.BUILTIN_HANDLERS.remove(entry)

    return handler, undo
