"""CDK app: cdk.json context -> OffloadStack, with cdk-nag (AwsSolutions, v3) validating every synth.

`python app.py` writes `cdk.out/`; a finding that is not acknowledged makes synthesis fail.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cdk_nag
from aws_cdk import App, Validations

from stacks.offload_stack import OffloadConfig, OffloadStack

ROOT = Path(__file__).resolve().parent
CONTEXT_KEYS = {
    "stack_name": "offload:stackName",
    "completed_retention_hours": "offload:completedRetentionHours",
    "failed_retention_hours": "offload:failedRetentionHours",
    "log_level": "offload:logLevel",
    "ai_key_secret_arn": "offload:aiApiKeySecretArn",
}


def config_from_context(app: App) -> OffloadConfig:
    """The stack's settings from context (cdk.json, or `-c key=value` on the CLI)."""
    values = {field: app.node.try_get_context(key) for field, key in CONTEXT_KEYS.items()}
    return OffloadConfig(**{k: v for k, v in values.items() if v is not None})


def cdk_json_context() -> dict:
    """cdk.json's context, so `python app.py` (without the CDK CLI) synthesizes the same stack."""
    return json.loads((ROOT / "cdk.json").read_text()).get("context", {})


def build_app(outdir: str | Path = ROOT / "cdk.out", context: dict | None = None) -> tuple[App, OffloadStack]:
    """The app and its stack, not yet synthesized; call `app.synth()` to validate and write.

    `context` overrides cdk.json; context from the CDK CLI (`-c key=value`) overrides both.
    """
    app = App(outdir=str(outdir), context={**cdk_json_context(), **(context or {})})
    config = config_from_context(app)
    stack = OffloadStack(
        app,
        config.stack_name,
        config=config,
        description="offload: serverless background jobs (SQS, Lambda, DynamoDB, EventBridge)",
    )
    attach_cdk_nag(app)
    return app, stack


def attach_cdk_nag(app: App) -> None:
    """AwsSolutions checks on every synth: an unacknowledged finding fails synthesis.

    Acknowledgements (stacks/nag.py) are also written into each resource's CloudFormation Metadata,
    so the template itself records what was accepted and why.
    """
    Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )


def prune_stale_assets(outdir: Path) -> None:
    """Remove `asset.*` copies no stack references any more (each layer rebuild stages ~60 MB)."""
    referenced = {
        entry["source"]["path"]
        for manifest in outdir.glob("*.assets.json")
        for entry in json.loads(manifest.read_text()).get("files", {}).values()
    }
    for staged in outdir.glob("asset.*"):
        if staged.name not in referenced:
            shutil.rmtree(staged) if staged.is_dir() else staged.unlink()


if __name__ == "__main__":
    application, _ = build_app()
    assembly = application.synth()
    prune_stale_assets(Path(assembly.directory))
