"""DynamoDB in a process of its own, behind the local cloud's one endpoint.

When the template has state machines, moto runs inside the cloud's process (its Lambda tasks are routed to the
local functions there), and every service then shares that process's one GIL: the job store's conditional
UpdateItems, moto's most expensive requests (two per job), ran on the same core as the functions making them
while the machine's second core sat idle. Here a second moto server (`python -m offload.local.moto_server`,
with the same patches) holds the DynamoDB tables, and the cloud's process forwards every DynamoDB request to it:

- the functions' and pollers' own calls, answered in-process (offload.local.inprocess), go to it over a kept-alive
  loopback connection per thread instead of into this process's moto;
- a request that reaches the endpoint over HTTP (the AWS CLI, boto3 in a shell, the console) is forwarded by the
  endpoint's WSGI application, so users keep one endpoint and see the same tables.

DynamoDB's requests are told apart by their X-Amz-Target header (`DynamoDB_20120810.*`, and the streams API that
reads the same tables), which every SDK sends for that JSON protocol. Nothing else in the cloud reads moto's
DynamoDB backend directly: state machines call Lambda tasks only, and the TTL sweeper uses the API.
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from offload.local.moto_server import server_command

DYNAMODB_TARGETS = ("DynamoDB_", "DynamoDBStreams_")
FORWARD_TIMEOUT_S = 120.0  # a long Scan of a big table answers well inside this
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}

log = logging.getLogger("offload.local")


def is_dynamodb(target: str | None) -> bool:
    """Whether a request's X-Amz-Target names a DynamoDB (or DynamoDB Streams) action."""
    return bool(target) and str(target).startswith(DYNAMODB_TARGETS)


class DynamoDBProcess:
    """The moto server that holds the tables, on `port`, and the connections this process keeps to it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.proc: subprocess.Popen[bytes] | None = None
        self._local = threading.local()
        self.forwarded = 0

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> DynamoDBProcess:
        self.proc = subprocess.Popen(
            server_command(self.host, self.port),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.time() + timeout_s
        while True:
            with socket.socket() as sock:
                if sock.connect_ex((self.host, self.port)) == 0:
                    return self
            if self.proc.poll() is not None or time.time() > deadline:
                self.stop()
                raise OSError(f"the local cloud's DynamoDB process did not start on {self.endpoint}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def _connection(self, fresh: bool = False) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection | None = getattr(self._local, "conn", None)
        if conn is None or fresh:
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=FORWARD_TIMEOUT_S)
            self._local.conn = conn
            self._local.used = False
        return conn

    def forward(
        self, method: str, uri: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send one request to the DynamoDB process and return its status, headers and body. A kept-alive
        connection the server has closed is noticed before any answer and the request sent once more on a new
        one; any other failure is answered 502 (botocore retries that) with an error naming the process."""
        self.forwarded += 1
        sent = [(k, v) for k, v in headers if k.lower() not in _HOP_BY_HOP and k.lower() != "content-length"]
        for attempt in (1, 2):
            conn = self._connection(fresh=attempt == 2)
            reused = bool(getattr(self._local, "used", False))
            try:
                conn.putrequest(method, uri, skip_host=True, skip_accept_encoding=True)
                for name, value in sent:
                    conn.putheader(name, value)
                conn.putheader("Content-Length", str(len(body)))
                conn.endheaders(body)
                resp = conn.getresponse()
                data = resp.read()
                self._local.used = True
                if resp.will_close:
                    self._local.conn = None
                    conn.close()
                return resp.status, [(k, v) for k, v in resp.getheaders() if k.lower() not in _HOP_BY_HOP], data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._local.conn = None
                conn.close()
                if attempt == 1 and reused:
                    continue  # the server closed an idle connection: nothing was answered, send it again
                return self._unanswered(method, exc)
            except OSError as exc:
                self._local.conn = None
                conn.close()
                return self._unanswered(method, exc)
        raise AssertionError("unreachable")

    def _unanswered(self, method: str, exc: BaseException) -> tuple[int, list[tuple[str, str]], bytes]:
        running = self.proc is not None and self.proc.poll() is None
        why = "is running but did not answer" if running else "has stopped"
        log.error("the local cloud's DynamoDB process (%s) %s a %s: %s", self.endpoint, why, method, exc)
        text = f"the local cloud's DynamoDB process ({self.endpoint}) {why}: {type(exc).__name__}: {exc}"
        # DynamoDB's own error shape, so SDKs show the text (as InternalServerError) after their retries
        body = {"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": text}
        return 502, [("Content-Type", "application/x-amz-json-1.0")], json.dumps(body).encode()

    def wsgi(self, app: Callable[..., Any]) -> Callable[..., Any]:
        """`app` (the endpoint's moto application) with DynamoDB requests sent to this process instead."""
        forwarder = self

        def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if not is_dynamodb(environ.get("HTTP_X_AMZ_TARGET")):
                return app(environ, start_response)
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            uri = environ.get("REQUEST_URI") or environ.get("RAW_URI") or environ.get("PATH_INFO") or "/"
            status, headers, data = forwarder.forward(environ["REQUEST_METHOD"], uri, _wsgi_headers(environ), body)
            reason = http.client.responses.get(status, "")
            kept = [(k, v) for k, v in headers if k.lower() != "content-length"]
            start_response(f"{status} {reason}", [*kept, ("Content-Length", str(len(data)))])
            return [data]

        return application


class EndpointServer:
    """moto's threaded server for the cloud's endpoint (moto.server.ThreadedMotoServer's parts), its application
    wrapped by `wrap` (DynamoDBProcess.wsgi) when one is given."""

    def __init__(self, host: str, port: int, wrap: Callable[[Any], Any] | None = None) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
        from werkzeug.serving import make_server

        app: Any = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(host, port, wrap(app) if wrap else app, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="moto-endpoint", daemon=True)

    def start(self) -> EndpointServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join()


def _wsgi_headers(environ: dict[str, Any]) -> list[tuple[str, str]]:
    """A WSGI request's headers, by their HTTP names (the signature covers them: they go on unchanged)."""
    headers = [(k[5:].replace("_", "-").title(), str(v)) for k, v in environ.items() if k.startswith("HTTP_")]
    if environ.get("CONTENT_TYPE"):
        headers.append(("Content-Type", environ["CONTENT_TYPE"]))
    return headers
