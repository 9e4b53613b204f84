"""The app a command runs in: its cdk.json context (catalog, stack name), read the same way by the CLI,
`offload.testing` and the local cloud as `cdk synth` reads it."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from offload.catalog import CATALOG_CONTEXT, CATALOG_ENV

STACK_CONTEXT = "offload:stackName"
DEFAULT_STACK = "Offload"


def cdk_context(cwd: Path | None = None) -> dict[str, Any]:
    """The `context` of ./cdk.json, or {} when there is none (or it isn't JSON)."""
    path = (cwd or Path.cwd()) / "cdk.json"
    if not path.is_file():
        return {}
    try:
        context = json.loads(path.read_text()).get("context", {})
    except ValueError:
        return {}
    return context if isinstance(context, dict) else {}


def catalog_path(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> str | None:
    """The catalog the app names: OFFLOAD_CATALOG, else `offload:catalog` in its cdk.json (None: the default)."""
    env = os.environ if env is None else env
    if env.get(CATALOG_ENV):
        return env[CATALOG_ENV]
    value = cdk_context(cwd).get(CATALOG_CONTEXT)
    return str(value) if value else None


def stack_name(cwd: Path | None = None) -> str:
    """The stack the app deploys: `offload:stackName` in its cdk.json, else "Offload"."""
    return str(cdk_context(cwd).get(STACK_CONTEXT) or DEFAULT_STACK)
