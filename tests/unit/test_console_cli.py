"""`offload console` refuses to serve beyond loopback unless told to (before touching AWS)."""

from __future__ import annotations

from typer.testing import CliRunner

from offload.cli.main import app


def test_console_on_a_non_loopback_address_is_refused_with_the_fix():
    done = CliRunner().invoke(app, ["console", "--host", "0.0.0.0"], env={"COLUMNS": "200"})

    assert done.exit_code == 2
    message = " ".join(done.output.split())
    assert "refusing to serve the console on 0.0.0.0" in message and "--allow-remote" in message
