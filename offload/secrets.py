"""Reading a key kept in Secrets Manager: the secret's plain string, or one field of a JSON secret.

The AI providers' key (`offload.ai.factory.read_api_key`) and the payments pack's Stripe key read through
here, so a missing, empty or mis-shaped secret gets the same clear error wherever it is used.
"""

from __future__ import annotations

import json
from typing import Any

from offload.settings import SettingsError


def read_secret_key(secrets: Any, secret_arn: str, *, what: str, json_field: str) -> str:
    """The key stored in `secret_arn`: its plain string, or the `json_field` field of a JSON object.

    `what` names the key in the errors ("the AI API key", "the Stripe secret key")."""
    try:
        value = secrets.get_secret_value(SecretId=secret_arn)["SecretString"]
    except Exception as exc:  # botocore errors vary by cause; the message names the fix either way
        raise SettingsError(
            f"could not read {what} from {secret_arn}: {exc}; check the ARN and that the function's "
            "role has secretsmanager:GetSecretValue on it"
        ) from exc
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        key = parsed.get(json_field)
        if not isinstance(key, str) or not key:
            raise SettingsError(f'secret {secret_arn} is JSON without an "{json_field}" string field: add one')
        return key
    if not value.strip():
        raise SettingsError(f"secret {secret_arn} is empty: store {what} in it")
    return str(value).strip()
