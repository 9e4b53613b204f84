"""Find a deployment: OFFLOAD_* variables when OFFLOAD_TABLE is set (inside the stack's functions),
else the stack's `ClientConfig` CloudFormation output. The CLI and `default_runtime()` both use it.

A client outside Lambda names the stack with OFFLOAD_STACK (default "Offload") and a local cloud
with AWS_ENDPOINT_URL; the CLI's --stack and --endpoint-url do the same.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, EndpointConnectionError, NoCredentialsError
from pydantic import ValidationError

from offload.aws import Clients
from offload.project import stack_name
from offload.settings import ENV_PREFIX, Settings, SettingsError

CLIENT_CONFIG_OUTPUT = "ClientConfig"
DEFAULT_REGION = "us-east-1"
LOCAL_HINT = "start the local cloud with `offload local up`"


@dataclass(frozen=True)
class Target:
    """Where to look for the deployment, and how the caller names the stack and the endpoint
    (variables for code, options for the CLI), so an error can say the fix in the caller's terms."""

    endpoint_url: str | None
    stack: str
    region: str
    stack_fix: str = "set OFFLOAD_STACK=NAME"
    endpoint_fix: str = "AWS_ENDPOINT_URL=URL"

    def where(self) -> str:
        """The endpoint or AWS region, for error messages."""
        return f"endpoint {self.endpoint_url}" if self.endpoint_url else f"AWS region {self.region}"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Target:
        """OFFLOAD_STACK (else cdk.json's offload:stackName, else "Offload"), AWS_ENDPOINT_URL and the region."""
        env = os.environ if env is None else env
        return cls(
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            stack=env.get("OFFLOAD_STACK") or stack_name(),
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or DEFAULT_REGION,
        )


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
            f"stack {target.stack!r} not found at {target.where()}: {target.stack_fix} "
            f"for a deployed stack, {target.endpoint_fix} for a local cloud, or {LOCAL_HINT}"
        ) from None
    except EndpointConnectionError:
        raise SettingsError(
            f"cannot reach {target.where()} to read stack {target.stack!r}: {LOCAL_HINT}, "
            f"or fix {target.endpoint_fix.split('=')[0].split()[0]}"
        ) from None
    except NoCredentialsError:
        raise SettingsError(
            f"no AWS credentials found to read stack {target.stack!r} at {target.where()}: set AWS_PROFILE or "
            "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (any values work against a local endpoint)"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    raw = outputs.get(CLIENT_CONFIG_OUTPUT)
    if raw is None:
        found = ", ".join(sorted(outputs)) or "none"
        raise SettingsError(
            f"stack {target.stack!r} at {target.where()} has no {CLIENT_CONFIG_OUTPUT} output (outputs: {found}): "
            f"is it an offload stack? deploy the current version, or {target.stack_fix} for the right one"
        )
    try:
        return Settings.model_validate_json(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'value'}: {e['msg']}" for e in exc.errors())
        raise SettingsError(
            f"stack {target.stack!r} output {CLIENT_CONFIG_OUTPUT} is not valid offload settings ({problems}): "
            "redeploy the stack with this version of offload"
        ) from None
