"""AWS clients, created once per process and only when first used.

Built on botocore directly: importing boto3 costs ~110 ms more at cold start (it loads
s3transfer), and nothing here needs boto3's resource or transfer layers.
"""

from __future__ import annotations

from functools import cached_property
from typing import Any

import botocore.session
from botocore.config import Config

# Standard retry mode with a few attempts: throttling is retried by the SDK, not by us.
_CONFIG = Config(retries={"max_attempts": 4, "mode": "standard"}, connect_timeout=5, read_timeout=30)


class Clients:
    """The AWS clients offload uses. `endpoint_url` points them all at a local endpoint."""

    def __init__(self, endpoint_url: str | None = None, region: str | None = None) -> None:
        self.endpoint_url = endpoint_url
        self.region = region
        self._session = botocore.session.get_session()
        if region:
            self._session.set_config_variable("region", region)

    def client(self, service: str) -> Any:
        """A client for `service`, honouring the endpoint override (AWS_ENDPOINT_URL also works)."""
        kwargs: dict[str, Any] = {"config": _CONFIG}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        return self._session.create_client(service, **kwargs)

    @property
    def session_events(self) -> Any:
        """The event emitter every client of this session shares (for request hooks)."""
        return self._session.get_component("event_emitter")

    @cached_property
    def dynamodb(self) -> Any:
        return self.client("dynamodb")

    @cached_property
    def sqs(self) -> Any:
        return self.client("sqs")

    @cached_property
    def s3(self) -> Any:
        return self.client("s3")

    @cached_property
    def events(self) -> Any:
        return self.client("events")

    @cached_property
    def sns(self) -> Any:
        return self.client("sns")

    @cached_property
    def sesv2(self) -> Any:
        return self.client("sesv2")

    @cached_property
    def secrets(self) -> Any:
        return self.client("secretsmanager")
