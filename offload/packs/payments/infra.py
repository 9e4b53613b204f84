"""The payments pack's resources: the payments table (balances, ledger, payouts, subscriptions) and grants.

The pack's jobs run on the generic `payments` queue's worker; this construct gives that worker the table
and, with the Stripe provider, read access to exactly the Stripe key's secret and a layer with the `stripe`
SDK (the `payments` extra; the runtime layer stays without it, so the other functions keep their size).
"""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from offload.cdk.constructs.grants import grant_secret_value
from offload.cdk.constructs.pipeline import records_table
from offload.cdk.constructs.runtime_layer import layer_version
from offload.cdk.constructs.table_grants import grant_read_write_items
from offload.cdk.layers import build_layer, layers_dir, runtime_requirements
from offload.cdk.pack_context import PackContext
from offload.packs.payments.options import PaymentsOptions


class PaymentsResources(Construct):
    """The payments table (pk/sk, on demand, encrypted, PITR) and the Stripe key's secret when chosen."""

    def __init__(self, scope: Construct, construct_id: str, *, ctx: PackContext) -> None:
        super().__init__(scope, construct_id)
        self.options = ctx.options_as(PaymentsOptions, "payments_pack")
        self.table = records_table(self, "Payments", partition_key="pk", sort_key="sk")
        self.stripe_secret = (
            secretsmanager.Secret.from_secret_complete_arn(self, "StripeKey", self.options.stripe_secret_arn)
            if self.options.stripe_secret_arn
            else None
        )
        # The Stripe SDK (17 MB) ships only where it runs: the payments workers, with the Stripe provider.
        self.worker_layers = (
            {
                "payments": [
                    layer_version(
                        Construct(self, "PaymentsLayer"),
                        build_layer(
                            layers_dir() / "payments" / "build",
                            requirements=runtime_requirements(extra="payments"),
                            package=None,
                        ),
                        "offload payments: the stripe SDK (the Stripe provider)",
                    )
                ]
            }
            if self.options.provider == "stripe"
            else {}
        )
        self.settings = {
            "payments_table": self.table.table_name,
            "options": self.options.model_dump(mode="json", exclude_unset=True),
        }
        CfnOutput(Stack.of(self), "PaymentsTableName", value=self.table.table_name)

    def grant_worker(self, role: iam.IGrantable, queue: str) -> None:
        """The payments jobs read and write the ledger (transactions included) and read the Stripe key."""
        grant_read_write_items(self.table, role)
        if self.stripe_secret is not None:
            grant_secret_value(self.stripe_secret, role)
