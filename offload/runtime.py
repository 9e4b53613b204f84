"""Everything a running piece of offload needs, built once: settings, clients, store, queues."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from offload.aws import Clients
from offload.catalog import Catalog, load_catalog
from offload.jobs.queues import JobQueues
from offload.jobs.store import JobStore
from offload.settings import Settings

if TYPE_CHECKING:
    from offload.ratelimit.limiter import _Limiter as Limiter


@dataclass
class Runtime:
    """The wiring of one deployment: which table, which queues, which clients."""

    settings: Settings
    clients: Clients = field(default_factory=Clients)
    # None: the catalog the settings name (OFFLOAD_CATALOG inside Lambda, ClientConfig for clients).
    catalog: Catalog = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.catalog is None:
            self.catalog = load_catalog(self.settings.catalog)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(
            self.clients.dynamodb,
            self.settings.table,
            retain_completed_s=self.settings.retain_completed_s,
            retain_failed_s=self.settings.retain_failed_s,
        )

    @cached_property
    def queues(self) -> JobQueues:
        return JobQueues(self.clients.sqs, self.settings, self.catalog)

    @cached_property
    def rate_limiter(self) -> Limiter | None:
        """The shared Redis limiter, or None when this deployment has no cache (no limits apply)."""
        if not self.settings.redis_url:
            return None
        from offload.ratelimit.connection import redis_client
        from offload.ratelimit.limiter import RateLimiter

        password = None
        if self.settings.redis_auth_secret_arn:
            password = self.clients.secrets.get_secret_value(SecretId=self.settings.redis_auth_secret_arn)[
                "SecretString"
            ]
        return RateLimiter(redis_client(self.settings.redis_url, password=password))


_default: Runtime | None = None


def default_runtime() -> Runtime:
    """The runtime described by this process's environment, found once per process: inside Lambda
    the stack's OFFLOAD_* variables; elsewhere the ClientConfig output of the stack OFFLOAD_STACK
    names (default "Offload"), at AWS_ENDPOINT_URL when set. A missing deployment is a SettingsError
    that names the stack, the endpoint and the fix."""
    global _default
    if _default is None:
        if "OFFLOAD_TABLE" in os.environ:
            _default = Runtime(Settings.from_env(), Clients(endpoint_url=os.environ.get("AWS_ENDPOINT_URL")))
        else:
            from offload.discovery import Target, load_settings

            target = Target.from_env()
            clients = Clients(endpoint_url=target.endpoint_url, region=target.region)
            _default = Runtime(load_settings(target, clients), clients)
    return _default


def set_default_runtime(runtime: Runtime | None) -> None:
    """Use this runtime for calls that are not given one (the CLI and tests set it)."""
    global _default
    _default = runtime
