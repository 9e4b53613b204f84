"""Where the deployed resources are: read once from the environment (or stack outputs).

The CDK stack gives every function these variables, the stack's `ClientConfig` output
holds the same JSON for clients, and the CLI builds Settings from either. Deeper code
receives a Settings object and never reads os.environ itself.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, Field, ValidationError, model_validator

ENV_PREFIX = "OFFLOAD_"
# Variables that hold JSON rather than a plain string.
_JSON_FIELDS = ("queues", "packs")


class QueueUrls(BaseModel):
    """A catalog queue's SQS URL and its dead-letter queue's URL."""

    url: str
    dlq_url: str
    lanes: dict[str, str] = Field(default_factory=dict, description="priority lane name -> its own queue URL")


class Settings(BaseModel):
    """The resources one deployment of offload uses."""

    table: str = Field(description="DynamoDB jobs table name")
    queues: dict[str, QueueUrls] = Field(description="catalog queue name -> URLs")
    event_bus: str = Field(description="EventBridge bus for Job Completed / Job Failed")
    alert_topic_arn: str = Field(description="SNS topic for admin alerts")
    payload_bucket: str = Field(description="S3 bucket for large job data and fetched files")
    webhook_secret_arn: str | None = Field(default=None, description="Secrets Manager secret that signs webhooks")
    webhook_secret: str | None = Field(default=None, description="Signing secret given directly (local use)")
    redis_url: str | None = Field(
        default=None, description="shared rate-limit cache: redis:// or rediss:// (TLS) URL; None = no limits"
    )
    redis_auth_secret_arn: str | None = Field(default=None, description="Secrets Manager secret holding the AUTH token")
    catalog: str | None = Field(
        default=None, description="the app's catalog, 'module:attribute' (default: every built-in pack)"
    )
    packs: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="pack name -> the resources its construct made (bucket, table, ...)"
    )
    dashboard_url: str | None = Field(default=None, description="the stack's CloudWatch dashboard, console URL")
    api_url: str | None = Field(default=None, description="the stack's HTTP API (SigV4), for offload.client")
    retain_completed_s: int = Field(default=3600, ge=60)
    retain_failed_s: int = Field(default=86_400, ge=60)
    large_data_bytes: int = Field(default=64 * 1024, ge=1024, description="job data above this goes to S3")
    queue_base_url: str | None = Field(
        default=None,
        description="the account's SQS URL prefix (https://sqs.REGION.amazonaws.com/ACCOUNT/): the functions' "
        "OFFLOAD_QUEUES then holds queue names, which keeps Lambda's 4 KB environment for many queues",
    )
    http_allow_hosts: str | None = Field(
        default=None,
        description="hosts outbound requests may reach although not public (comma-separated names, addresses, "
        "CIDRs): the local cloud's and tests' loopback receivers; see offload.packs.core.http_util",
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Build from OFFLOAD_* variables; the error names every missing or bad one."""
        env = os.environ if env is None else env
        raw: dict[str, object] = {}
        for name in cls.model_fields:
            value = env.get(ENV_PREFIX + name.upper())
            if value is None:
                continue
            raw[name] = json.loads(value) if name in _JSON_FIELDS else value
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            missing = [ENV_PREFIX + str(e["loc"][0]).upper() for e in exc.errors() if e["type"] == "missing"]
            hint = (
                f"missing {', '.join(missing)}: set every OFFLOAD_* variable (the stack gives its functions "
                "all of them), or unset OFFLOAD_TABLE so the stack's ClientConfig output is read instead "
                "(OFFLOAD_STACK or --stack names the stack)"
                if missing
                else str(exc)
            )
            raise SettingsError(hint) from exc

    def to_env(self) -> dict[str, str]:
        """The OFFLOAD_* variables that rebuild these settings."""
        out: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None or value == {}:
                continue
            out[ENV_PREFIX + name.upper()] = json.dumps(value) if name in _JSON_FIELDS else str(value)
        return out

    @model_validator(mode="after")
    def _full_queue_urls(self) -> Settings:
        """Queue names given against `queue_base_url` become the URLs everything else uses."""
        base = self.queue_base_url
        if base:

            def full(value: str) -> str:
                return value if "://" in value else base + value

            self.queues = {
                name: QueueUrls(
                    url=full(q.url), dlq_url=full(q.dlq_url), lanes={k: full(v) for k, v in q.lanes.items()}
                )
                for name, q in self.queues.items()
            }
        return self

    def queue_urls(self, queue: str) -> QueueUrls:
        """The URLs of a catalog queue, or an error that lists the deployed ones."""
        try:
            return self.queues[queue]
        except KeyError:
            raise SettingsError(
                f"queue {queue!r} is not deployed in this stack; deployed: {', '.join(sorted(self.queues))}"
            ) from None

    def pack(self, name: str, model: type[_M]) -> _M:
        """A pack's own settings (what its construct provisioned), or an error saying the pack isn't deployed."""
        raw = self.packs.get(name)
        if raw is None:
            deployed = ", ".join(sorted(self.packs)) or "none"
            raise SettingsError(
                f"the {name!r} pack is not deployed in this stack (packs with resources: {deployed}): add it to "
                "the app's Catalog.compose(...) and deploy again"
            )
        try:
            return model.model_validate(raw)
        except ValidationError as exc:
            raise SettingsError(f"settings of pack {name!r} don't match this version of offload: {exc}") from None


_M = TypeVar("_M", bound=BaseModel)


class SettingsError(RuntimeError):
    """The environment does not describe a deployment."""
