"""cdk-nag (AwsSolutions, v3) and cfn-lint on the synthesized template."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from aws_cdk import App, CfnResource, Stack, Validations
from aws_cdk import aws_sqs as sqs
from constructs import IConstruct

from offload.cdk.app import attach_cdk_nag
from offload.cdk.nag import acknowledge

GRANULAR_RULES = ("AwsSolutions-IAM4", "AwsSolutions-IAM5")


def _acknowledgements(app: App) -> list[tuple[IConstruct, str, str]]:
    """(construct, rule id, reason) for every acknowledgement in the app."""
    return [
        (c, rule, reason)
        for c in app.node.find_all()
        for m in c.node.metadata
        if m.type == Validations.ACKNOWLEDGED_RULES_METADATA_KEY
        for rule, reason in m.data.items()
    ]


def test_synthesis_has_no_unacknowledged_cdk_nag_findings(synthesis) -> None:
    assert synthesis.error is None, f"cdk-nag (or synthesis) failed:\n{synthesis.error}"


def test_an_unacknowledged_cdk_nag_finding_fails_synthesis(tmp_path: Path) -> None:
    # Given a queue with neither a DLQ nor SSL enforcement, when synthesized with the same checks
    app = App(outdir=str(tmp_path))
    sqs.Queue(Stack(app, "Bad"), "Queue")
    attach_cdk_nag(app)
    # then synthesis stops and names the finding
    with pytest.raises(Exception, match="AwsSolutions-SQS4"):
        app.synth()


def test_a_finding_acknowledged_on_its_resource_lets_synthesis_pass(tmp_path: Path) -> None:
    # Given the same queue, with both findings acknowledged on its CloudFormation resource
    app = App(outdir=str(tmp_path))
    queue = sqs.Queue(Stack(app, "Accepted"), "Queue")
    acknowledge(queue.node.default_child, "AwsSolutions-SQS3", "A fixture queue: nothing consumes it at all.")
    acknowledge(queue.node.default_child, "AwsSolutions-SQS4", "A fixture queue: nothing ever calls it at all.")
    attach_cdk_nag(app)
    # when synthesized, then no finding is left
    app.synth()


def test_every_acknowledgement_is_on_one_resource_with_a_reason(synthesis) -> None:
    acks = _acknowledgements(synthesis.app)
    assert acks, "expected the stack's known acknowledgements (S1, SMG4, IAM5 findings)"
    for construct, rule, reason in acks:
        where = f"{rule} on {construct.node.path}"
        assert CfnResource.is_cfn_resource(construct), f"{where}: acknowledge on the resource, not a parent"
        assert len(reason.split()) >= 5, f"{where}: the reason must say why ({reason!r})"


def test_every_granular_acknowledgement_names_the_finding(synthesis) -> None:
    for construct, rule, _ in _acknowledgements(synthesis.app):
        if any(g in rule for g in GRANULAR_RULES):
            assert rule.endswith("]") and "[" in rule, f"{rule} on {construct.node.path} must name its finding"


def test_template_is_cfn_lint_clean(synthesis) -> None:
    if synthesis.error is not None:
        pytest.fail(f"synthesis failed: {synthesis.error}")
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    # W3005: the redundant DependsOn that CDK adds next to a Ref.
    result = subprocess.run(
        [str(cfn_lint), str(synthesis.template_path), "--ignore-checks", "W3005"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
