"""Build an offload CDK app from an app's cdk.json: its catalog, its code, its requirements.

An app's `app.py` is two lines (`from offload.cdk.app import main; main()`); this repository's
own app.py is the same. cdk-nag (AwsSolutions, v3) validates every synth: a finding that is not
acknowledged makes synthesis fail.

cdk.json context read here:
- `offload:catalog`: "module:attribute" of the app's catalog (default: every built-in pack);
- `offload:codePackages`: the app's packages shipped as the functions' code (default: the catalog's
  top-level package, unless that is offload itself);
- `offload:appRequirements`: a requirements file for the app's own dependencies, built into a layer;
- the stack settings in CONTEXT_KEYS.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import cdk_nag
from aws_cdk import App, AspectPriority, Aspects, Validations
from aws_cdk import aws_lambda as lambda_

from offload.catalog import CATALOG_CONTEXT, DEFAULT_CATALOG, Catalog, CatalogError, load_catalog
from offload.cdk.constructs.job_queue import CODE_EXCLUDES
from offload.cdk.nag import OverflowAcknowledgements
from offload.cdk.stack import OffloadConfig, OffloadStack
from offload.project import cdk_context

CONTEXT_KEYS = {
    "stack_name": "offload:stackName",
    "completed_retention_hours": "offload:completedRetentionHours",
    "failed_retention_hours": "offload:failedRetentionHours",
    "log_level": "offload:logLevel",
    "ai_key_secret_arn": "offload:aiApiKeySecretArn",
    "api_rate_limit": "offload:apiRateLimit",
    "api_burst_limit": "offload:apiBurstLimit",
}
CODE_PACKAGES_CONTEXT = "offload:codePackages"
APP_REQUIREMENTS_CONTEXT = "offload:appRequirements"
# Where the app's packages are staged for the functions' code asset (git-ignored).
STAGED_CODE = Path(".offload") / "code"


def config_from_context(app: App) -> OffloadConfig:
    """The stack's settings from context (cdk.json, or `-c key=value` on the CLI)."""
    values = {field: app.node.try_get_context(key) for field, key in CONTEXT_KEYS.items()}
    return OffloadConfig(**{k: v for k, v in values.items() if v is not None})


def cdk_json_context(root: Path | None = None) -> dict:
    """cdk.json's context, so `python app.py` (without the CDK CLI) synthesizes the same stack."""
    return cdk_context(root)


def app_catalog(path: str, root: Path) -> Catalog:
    """The app's catalog, with the app's root importable and every processor and hook checked."""
    from offload.jobs.registry import verify_catalog

    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    catalog = load_catalog(path)
    verify_catalog(catalog, path)
    return catalog


def code_packages(catalog_path: str, configured: list[str] | None) -> list[str]:
    """The app's packages that go into the functions' code asset."""
    if configured is not None:
        return list(configured)
    top = catalog_path.partition(":")[0].split(".")[0]
    return [] if top == "offload" else [top]


def stage_code(packages: list[str], root: Path) -> lambda_.Code | None:
    """Copy the app's packages into one directory for the code asset (None when there are none)."""
    if not packages:
        return None
    staged = root / STAGED_CODE
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for name in packages:
        source = root / name
        if source.is_dir():
            shutil.copytree(source, staged / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif source.with_suffix(".py").is_file():
            shutil.copy2(source.with_suffix(".py"), staged / f"{name}.py")
        else:
            raise CatalogError(
                f"code package {name!r} is not a folder or module in {root}: fix {CODE_PACKAGES_CONTEXT!r} in cdk.json"
            )
    return lambda_.Code.from_asset(str(staged), exclude=CODE_EXCLUDES)


def build_app(
    outdir: str | Path | None = None, context: dict | None = None, root: Path | None = None
) -> tuple[App, OffloadStack]:
    """The app and its stack, not yet synthesized; call `app.synth()` to validate and write.

    `context` overrides cdk.json; context from the CDK CLI (`-c key=value`) overrides both.
    """
    root = (root or Path.cwd()).resolve()
    app = App(outdir=str(outdir or root / "cdk.out"), context={**cdk_json_context(root), **(context or {})})
    config = config_from_context(app)
    catalog_path = app.node.try_get_context(CATALOG_CONTEXT) or DEFAULT_CATALOG
    catalog = app_catalog(catalog_path, root)
    requirements = app.node.try_get_context(APP_REQUIREMENTS_CONTEXT)
    stack = OffloadStack(
        app,
        config.stack_name,
        config=config,
        catalog=catalog,
        catalog_path=catalog_path,
        code=stage_code(code_packages(catalog_path, app.node.try_get_context(CODE_PACKAGES_CONTEXT)), root),
        app_requirements=root / requirements if requirements else None,
        description="offload: serverless background jobs (SQS, Lambda, DynamoDB, EventBridge)",
    )
    attach_cdk_nag(app)
    return app, stack


def attach_cdk_nag(app: App) -> None:
    """AwsSolutions checks on every synth: an unacknowledged finding fails synthesis.

    Acknowledgements (offload/cdk/nag.py) are also written into each resource's CloudFormation Metadata,
    so the template itself records what was accepted and why.
    """
    Validations.of(app).add_plugins(
        cdk_nag.AwsSolutionsChecks(app, verbose=True, write_suppressions_to_cloud_formation=True)
    )
    # After CDK's own aspects (which split oversized role policies), before the checks run.
    Aspects.of(app).add(OverflowAcknowledgements(), priority=AspectPriority.READONLY)


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


def main() -> None:
    """Synthesize the app in the current directory; a bad catalog is one line on stderr and exit 1."""
    try:
        application, _ = build_app()
    except CatalogError as exc:
        print(f"offload: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    assembly = application.synth()
    prune_stale_assets(Path(assembly.directory))
