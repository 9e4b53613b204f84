"""The one way this project acknowledges a cdk-nag finding: on one construct, with a reason."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct | None, finding: str, reason: str) -> None:
    """Acknowledge `finding` (`AwsSolutions-S1`, or `AwsSolutions-IAM5[Resource::...]`) on `scope` only.

    Pass the CloudFormation resource (`l2.node.default_child`), not a parent: cdk-nag honours an
    acknowledgement on every resource below the construct it is attached to.
    """
    if scope is None:
        raise ValueError(f"acknowledging {finding}: no resource given (an L2 without a default_child?)")
    if not reason.strip():
        raise ValueError(f"acknowledging {finding} on {scope.node.path} needs a reason that says why it is safe")
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))
