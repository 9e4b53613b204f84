"""The console's vendored scripts are the pinned releases NOTICE names, byte for byte."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "offload" / "console" / "static"


def test_each_vendored_script_matches_the_sha256_notice_pins():
    notice = " ".join((ROOT / "NOTICE").read_text().split())
    pins = dict(re.findall(r"- (\w+\.min\.js): .*?SHA-256 ([0-9a-f]{64})", notice))

    assert set(pins) == {p.name for p in STATIC.glob("*.min.js")}, pins
    for name, digest in pins.items():
        assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == digest, f"{name} is not the pinned release"


def test_every_page_loads_scripts_only_from_the_console_itself():
    templates = " ".join(p.read_text() for p in (STATIC.parent / "templates").glob("*.html"))

    sources = re.findall(r'<script[^>]* src="([^"]+)"', templates)

    assert sources and all(s.startswith("/static/") for s in sources), sources
