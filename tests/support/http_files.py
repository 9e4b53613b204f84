"""A loopback HTTP server for files with Range support, standing in for presigned S3 GETs (ffmpeg
seeks with Range requests, e.g. to an MP4's moov at the end)."""

from __future__ import annotations

import contextlib
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class _RangeHandler(BaseHTTPRequestHandler):
    root: Path
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(urllib.parse.unquote(self.path.split("?", 1)[0]))
        path = self.root / urllib.parse.unquote(self.path.lstrip("/").split("?", 1)[0])
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start, end = 0, len(data) - 1
        spec = self.headers.get("Range")
        if spec and spec.startswith("bytes="):
            first, _, last = spec[len("bytes=") :].partition("-")
            start = int(first or 0)
            end = min(int(last), end) if last else end
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(data[start : end + 1])

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serve_files(root: Path, seen: list[str] | None = None) -> Iterator[str]:
    """Serve `root` on 127.0.0.1; yields the base URL ("http://127.0.0.1:PORT"). Every path requested, found
    or not, is appended to `seen` when given."""
    handler = type("Handler", (_RangeHandler,), {"root": root, "seen": [] if seen is None else seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
