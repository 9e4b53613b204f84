"""Find the deployment the CLI talks to: OFFLOAD_* variables, or the stack's ClientConfig output
(`offload.discovery`, which `default_runtime()` uses too)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field

import typer

from offload.aws import Clients
from offload.catalog import Catalog, load_catalog
from offload.discovery import CLIENT_CONFIG_OUTPUT, LOCAL_HINT, Target, load_settings, settings_from_stack
from offload.project import catalog_path
from offload.runtime import Runtime

__all__ = [
    "CLIENT_CONFIG_OUTPUT",
    "CLI_FIXES",
    "LOCAL_HINT",
    "CliState",
    "Target",
    "cli_catalog",
    "local_catalog",
    "runtime_of",
    "settings_from_stack",
]

# How the CLI's errors name the stack and the endpoint: its own options.
CLI_FIXES = {"stack_fix": "pass --stack NAME (or set OFFLOAD_STACK)", "endpoint_fix": "--endpoint-url URL"}

_catalog: Catalog | None = None


def local_catalog() -> Catalog | None:
    """The catalog the app in this directory names (cdk.json or OFFLOAD_CATALOG), or None outside an app."""
    return cli_catalog() if catalog_path() is not None else None


def cli_catalog() -> Catalog:
    """The app's catalog (loaded once), with the current directory importable, as `cdk synth` has it."""
    global _catalog
    if _catalog is None:
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())
        _catalog = load_catalog(catalog_path())
    return _catalog


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
            # In an app's directory, its catalog; elsewhere, the one the deployed stack names (ClientConfig).
            local = local_catalog()
            settings = load_settings(self.target, clients)
            self._runtime = Runtime(settings, clients, catalog=local) if local else Runtime(settings, clients)
        return self._runtime


def runtime_of(ctx: typer.Context) -> Runtime:
    """The runtime of the CLI state that the root callback put on the context."""
    state = ctx.find_object(CliState)
    if state is None:
        raise RuntimeError("the offload CLI's root callback did not run")
    return state.runtime
