"""The console's HTTP server: the standard library's threading server, a route table, and the guards
that keep a loopback console from being driven by other sites (Host check, a form token on every POST).

Why no web framework: the console serves one operator a few requests a second, rendered by Jinja2
(already pinned for the local cloud); Starlette/uvicorn or Flask would add dependencies to the CLI
for routing that fits in a table here.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

STATIC_DIR = Path(__file__).with_name("static")
_STATIC_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
DEFAULT_PORT = 8765


class ConsoleBindError(ValueError):
    """A bind address the console refuses; the message says why and the fix."""


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 and `localhost`."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, allow_remote: bool) -> str | None:
    """None for a loopback host; a warning for another host when allowed; else ConsoleBindError."""
    if is_loopback(host):
        return None
    if not allow_remote:
        raise ConsoleBindError(
            f"refusing to serve the console on {host}: it acts with your AWS credentials, and anyone who can reach "
            f"{host} could use them; keep the default 127.0.0.1 (use an SSH tunnel to reach it from elsewhere), or "
            "pass --allow-remote if this network is yours alone"
        )
    return f"the console is served on {host}: anyone who can reach it acts on the deployment with your AWS credentials"


@dataclass
class Request:
    """What a page handler gets."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)  # from the route's {names}

    def arg(self, name: str, default: str = "") -> str:
        """A query parameter, stripped; `default` when absent or empty."""
        return self.query.get(name, "").strip() or default


@dataclass
class Response:
    """What a page handler returns."""

    body: bytes | str = b""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def redirect(cls, location: str) -> Response:
        """303 See Other: a POST's answer, so a reload does not repeat the action."""
        return cls(status=303, headers={"Location": location})


Handler = Callable[[Request], Response]


class Router:
    """Routes like `/jobs/{job_id}`: a parameter is one path segment, percent-decoded."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        """Serve `method pattern` with `handler`; `{name:path}` takes the rest of the path, slashes included."""
        regex = re.sub(r"\{(\w+):path\}", r"(?P<\1>.+)", pattern)
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", regex)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | bool | None:
        """(handler, params); False when the path exists for another method; None when it does not exist."""
        other_method = False
        for route_method, regex, handler in self._routes:
            found = regex.match(path)
            if found is None:
                continue
            if route_method != method:
                other_method = True
                continue
            return handler, {k: unquote(v) for k, v in found.groupdict().items()}
        return False if other_method else None


@dataclass
class ConsoleServer:
    """Serves a router on host:port in a thread, with the Host and form-token checks."""

    router: Router
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    on_error: Callable[[BaseException], Response] | None = None
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    def allowed_hosts(self) -> set[str]:
        """The Host headers a request may carry: this server's own names (a DNS-rebinding page has another)."""
        names = {self.host, f"[{self.host}]"}
        if is_loopback(self.host):
            names |= {"127.0.0.1", "localhost", "[::1]"}
        return {f"{name}:{self.port}" for name in names}

    def start(self) -> ConsoleServer:
        """Listen (a port of 0 takes a free one) and serve in a daemon thread."""
        owner = self

        class _Bound(_RequestHandler):
            server_owner = owner

        self._server = ThreadingHTTPServer((self.host, self.port), _Bound)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="offload-console", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def handle(self, request: Request) -> Response:
        """Route one request through the guards."""
        if request.headers.get("host", "") not in self.allowed_hosts():
            return Response("this console answers only to its own address", status=421, content_type="text/plain")
        if request.path.startswith("/static/"):
            return _static(request.path.removeprefix("/static/"))
        if request.path == "/favicon.ico":  # pages say `rel=icon href=data:,`; plain-text answers don't
            return Response(status=204, content_type="image/x-icon")
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin and urlsplit(origin).netloc not in self.allowed_hosts():
                return Response("cross-site request refused", status=403, content_type="text/plain")
            if not secrets.compare_digest(request.form.get("token", ""), self.token):
                return Response(
                    "this form is out of date (the console was restarted): go back, reload the page and try again",
                    status=403,
                    content_type="text/plain",
                )
        matched = self.router.match(request.method, request.path)
        if matched is None:
            return Response(f"no page {request.path}", status=404, content_type="text/plain")
        if matched is False:
            return Response("method not allowed", status=405, content_type="text/plain")
        handler, params = matched  # type: ignore[misc]
        request.params = params
        try:
            return handler(request)
        except Exception as exc:
            if self.on_error is None:
                raise
            return self.on_error(exc)


def _static(name: str) -> Response:
    path = (STATIC_DIR / name).resolve()
    if path.parent != STATIC_DIR.resolve() or not path.is_file():
        return Response(f"no file {name}", status=404, content_type="text/plain")
    return Response(
        path.read_bytes(),
        content_type=_STATIC_TYPES.get(path.suffix, "application/octet-stream"),
        headers={"Cache-Control": "max-age=3600"},
    )


class _RequestHandler(BaseHTTPRequestHandler):
    server_owner: ConsoleServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        split = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        request = Request(
            method=method,
            path=split.path,  # still percent-encoded: the router decodes each parameter
            query=_flat(parse_qs(split.query)),
            form=_flat(parse_qs(body)) if method == "POST" else {},
            headers={k.lower(): v for k, v in self.headers.items()},
        )
        response = self.server_owner.handle(request)
        body_bytes = response.body.encode() if isinstance(response.body, str) else response.body
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(body_bytes)))
        self.send_header("X-Content-Type-Options", "nosniff")
        # same-origin, not no-referrer: with no-referrer a form POST says `Origin: null`, which the guard refuses.
        self.send_header("Referrer-Policy", "same-origin")
        self.send_header("X-Frame-Options", "DENY")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body_bytes)

    def log_message(self, format: str, *args: Any) -> None:  # the terminal is the operator's, not a log
        return


def _flat(values: dict[str, list[str]]) -> dict[str, str]:
    return {k: v[-1] for k, v in values.items()}
