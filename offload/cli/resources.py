"""Find the deployment the CLI talks to: OFFLOAD_* variables, or the stack's ClientConfig output."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import typer
from botocore.exceptions import ClientError, EndpointConnectionError
from pydantic import ValidationError

from offload.aws import Clients
from offload.catalog import Catalog, load_catalog
from offload.project import catalog_path
from offload.runtime import Runtime
from offload.settings import ENV_PREFIX, Settings, SettingsError

CLIENT_CONFIG_OUTPUT = "ClientConfig"
LOCAL_HINT = "start the local cloud with `offload local up`"


_catalog: Catalog | None = None


def cli_catalog() -> Catalog:
    """The app's catalog (loaded once), with the current directory importable, as `cdk synth` has it."""
    global _catalog
    if _catalog is None:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        _catalog = load_catalog(catalog_path())
    return _catalog


@dataclass(frozen=True)
class Target:
    """Where to look for the deployment: the CLI's global options."""

    endpoint_url: str | None
    stack: str
    region: str

    def where(self) -> str:
        """The endpoint or AWS region, for error messages."""
        return f"endpoint {self.endpoint_url}" if self.endpoint_url else f"AWS region {self.region}"


def load_settings(target: Target, clients: Clients, env: Mapping[str, str] | None = None) -> Settings:
    """Settings from OFFLOAD_* variables when OFFLOAD_TABLE is set, else from the stack's outputs."""
    env = os.environ if env is None else env
    if f"{ENV_PREFIX}TABLE" in env:
        return Settings.from_env(env)
    return settings_from_stack(target, clients.client("cloudformation"))


def settings_from_stack(target: Target, cloudformation: Any) -> Settings:
    """Parse the stack's ClientConfig output; the error names the stack, the endpoint and the fix."""
    try:
        stacks = cloudformation.describe_stacks(StackName=target.stack)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ValidationError":
            raise
        raise SettingsError(
            f"stack {target.stack!r} not found at {target.where()}: pass --stack NAME (or set OFFLOAD_STACK) "
            f"for a deployed stack, --endpoint-url URL for a local cloud, or {LOCAL_HINT}"
        ) from None
    except EndpointConnectionError:
        raise SettingsError(
            f"cannot reach {target.where()} to read stack {target.stack!r}: {LOCAL_HINT}, or fix --endpoint-url"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    raw = outputs.get(CLIENT_CONFIG_OUTPUT)
    if raw is None:
        found = ", ".join(sorted(outputs)) or "none"
        raise SettingsError(
            f"stack {target.stack!r} at {target.where()} has no {CLIENT_CONFIG_OUTPUT} output (outputs: {found}): "
            "is it an offload stack? deploy the current version, or pass --stack for the right one"
        )
    try:
        return Settings.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        raise SettingsError(
            f"stack {target.stack!r} output {CLIENT_CONFIG_OUTPUT} is not valid offload settings ({problems}): "
            "redeploy the stack with this version of offload"
        ) from None


@dataclass
class CliState:
    """The global options, and the runtime built from them on first use (commands that need AWS)."""

    target: Target
    _runtime: Runtime | None = field(default=None, repr=False)

    @property
    def runtime(self) -> Runtime:
        """The deployment's runtime; the first call finds the resources."""
        if self._runtime is None:
            clients = Clients(endpoint_url=self.target.endpoint_url, region=self.target.region)
            self._runtime = Runtime(load_settings(self.target, clients), clients, catalog=cli_catalog())
        return self._runtime


def runtime_of(ctx: typer.Context) -> Runtime:
    """The runtime of the CLI state that the root callback put on the context."""
    state = ctx.find_object(CliState)
    if state is None:
        raise RuntimeError("the offload CLI's root callback did not run")
    return state.runtime
