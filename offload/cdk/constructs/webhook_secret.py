"""The Secrets Manager secret that signs outgoing webhooks (HMAC-SHA256)."""

from __future__ import annotations

from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from offload.cdk.nag import acknowledge

SECRET_LENGTH = 64


class WebhookSecret(Construct):
    """A generated random signing key; receivers verify signatures with the same value."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.secret = secretsmanager.Secret(
            self,
            "Secret",
            description="offload webhook signing key (HMAC-SHA256)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=SECRET_LENGTH, exclude_punctuation=True
            ),
        )
        acknowledge(
            self.secret.node.default_child,
            "AwsSolutions-SMG4",
            "A webhook signing key is shared with every receiver; automatic rotation would break "
            "their signature checks until they re-fetch it, so it is rotated by hand when receivers are told.",
        )
