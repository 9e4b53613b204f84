"""The one way this project acknowledges a cdk-nag finding: on one construct, with a reason."""

from __future__ import annotations

import jsii
from aws_cdk import Acknowledgment, IAspect, Validations
from aws_cdk import aws_iam as iam
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


@jsii.implements(IAspect)
class OverflowAcknowledgements:
    """A role's DefaultPolicy acknowledgements, carried to the `OverflowPolicyN` managed policies.

    When a role's inline policy passes IAM's size limit, CDK moves statements into managed policies at
    synth time (so no construct code can reach them); they hold the same grants, so they carry the
    same acknowledged findings, each with its reason."""

    def visit(self, node: IConstruct) -> None:
        policy = node.node.scope
        if not isinstance(node, iam.CfnManagedPolicy) or policy is None or not policy.node.id.startswith("Overflow"):
            return
        role = policy.node.scope
        default = role.node.try_find_child("DefaultPolicy") if role is not None else None
        source = default.node.default_child if default is not None else None
        if source is None:
            return
        for entry in source.node.metadata:
            if entry.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for finding, reason in entry.data.items():
                    acknowledge(node, finding, reason)
