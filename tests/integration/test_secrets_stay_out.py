"""No secret reaches a log line, a job record or a dead letter, including when deliveries fail.

Webhooks are signed with the deployment's secret; a receiver that fails, refuses or is gone makes the
worker log reasons and write them into records. Everything it printed and stored is scanned for the
secret in each form it takes (as configured, and the Standard Webhooks `whsec_` form).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from offload.jobs import admin
from offload.jobs.enqueue import enqueue
from offload.jobs.model import JobStatus
from offload.jobs.notify import standard_secret
from offload.testing.aws import WEBHOOK_SECRET
from offload.testing.worker import Pump


def _receiver(status: int) -> ThreadingHTTPServer:
    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"receiver says no")

        def log_message(self, *args):
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_failed_and_refused_webhooks_leave_no_secret_in_logs_records_or_dead_letters(runtime, capfd):
    servers = {status: _receiver(status) for status in (200, 400, 410)}
    try:
        jobs = [
            enqueue(
                "webhook.deliver",
                {"url": f"http://127.0.0.1:{server.server_address[1]}/hook", "event": "e", "payload": {"n": status}},
            )
            for status, server in servers.items()
        ]
        pump = Pump(runtime, "notifications", lane="high")  # webhook.deliver: priority 8
        pump.until(lambda: all(runtime.store.get(j).status.terminal for j in jobs))
    finally:
        for server in servers.values():
            server.shutdown()

    finished = [runtime.store.get(j) for j in jobs]
    assert sorted(j.status for j in finished) == sorted([JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.FAILED])
    printed = "".join(capfd.readouterr())
    stored = "".join(j.model_dump_json() for j in admin.list_jobs(runtime, JobStatus.FAILED))
    stored += "".join(j.model_dump_json() for j in finished)
    dead = "".join(m.body + str(m.attributes) for m in runtime.queues.receive_dead("notifications"))
    assert "receiver says no" in printed + stored or "400" in stored, "the failures were recorded (the scan saw them)"
    for form in (WEBHOOK_SECRET, standard_secret(WEBHOOK_SECRET)):
        for where, text in (("logs", printed), ("job records", stored), ("dead letters", dead)):
            assert form not in text, f"the webhook secret appears in the {where}"
