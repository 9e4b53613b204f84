"""What a deployment costs per month with no jobs at all: the core-only stack against the full one.

Synthesizes this repository's app twice, once with a catalog of the core and maintenance packs and
once with every pack, and prices what each template holds that bills by the hour or month, whatever
the traffic. Prices: us-east-1 on-demand as published (2026-11); **check before quoting**.

    .venv/bin/python bench/idle_cost.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

HOURS = 730  # a month
PRICES_USD = {
    "nat_gateway_h": 0.045,
    "public_ipv4_h": 0.005,
    "cache_t4g_micro_h": 0.0128,  # ElastiCache Valkey node
    "secret_month": 0.40,
    "kms_key_month": 1.00,
    "alarm_month": 0.10,  # standard resolution, one metric
    "dashboard_month": 3.00,  # beyond an account's first three
    "interface_endpoint_az_h": 0.01,
    "sqs_per_1m": 0.40,
}
# Lambda's SQS event source long-polls an idle queue with 5 pollers, 20 s per poll; empty receives bill.
IDLE_POLLERS, LONG_POLL_S = 5, 20
CATALOGS = {
    "core only (core + maintenance packs)": "tests.support.catalogs:core_only",
    "full (every built-in pack)": "offload.packs:everything",
}


def idle_items(template: dict) -> list[tuple[str, int, float]]:
    """(what, how many, dollars a month) for each fixed-cost resource type in a template."""
    resources = template["Resources"].values()
    kinds = Counter(r["Type"] for r in resources)
    nodes = sum(
        int(r["Properties"].get("NumCacheClusters", 1))
        for r in resources
        if r["Type"] == "AWS::ElastiCache::ReplicationGroup"
    )
    interface = sum(
        len(r["Properties"].get("SubnetIds", [])) or 1
        for r in resources
        if r["Type"] == "AWS::EC2::VPCEndpoint" and r["Properties"].get("VpcEndpointType") == "Interface"
    )
    polls = kinds["AWS::Lambda::EventSourceMapping"] * IDLE_POLLERS * HOURS * 3600 / LONG_POLL_S
    p = PRICES_USD
    return [
        ("NAT gateway", kinds["AWS::EC2::NatGateway"], kinds["AWS::EC2::NatGateway"] * p["nat_gateway_h"] * HOURS),
        ("public IPv4 address (NAT)", kinds["AWS::EC2::EIP"], kinds["AWS::EC2::EIP"] * p["public_ipv4_h"] * HOURS),
        ("cache node (cache.t4g.micro)", nodes, nodes * p["cache_t4g_micro_h"] * HOURS),
        ("interface endpoint AZs", interface, interface * p["interface_endpoint_az_h"] * HOURS),
        (
            "Secrets Manager secret",
            kinds["AWS::SecretsManager::Secret"],
            kinds["AWS::SecretsManager::Secret"] * p["secret_month"],
        ),
        ("KMS customer key", kinds["AWS::KMS::Key"], kinds["AWS::KMS::Key"] * p["kms_key_month"]),
        ("CloudWatch alarm", kinds["AWS::CloudWatch::Alarm"], kinds["AWS::CloudWatch::Alarm"] * p["alarm_month"]),
        (
            "CloudWatch dashboard (past the free 3)",
            kinds["AWS::CloudWatch::Dashboard"],
            kinds["AWS::CloudWatch::Dashboard"] * p["dashboard_month"],
        ),
        (
            "SQS event source (idle long polls)",
            kinds["AWS::Lambda::EventSourceMapping"],
            polls / 1e6 * p["sqs_per_1m"],
        ),
    ]


def synthesize(catalog: str, outdir: Path) -> dict:
    from offload.cdk.app import build_app

    app, stack = build_app(outdir=outdir, context={"offload:catalog": catalog, "offload:codePackages": []})
    app.synth()
    return json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())


def main() -> int:
    totals = {}
    for label, catalog in CATALOGS.items():
        with tempfile.TemporaryDirectory() as tmp:
            template = synthesize(catalog, Path(tmp))
        rows = idle_items(template)
        totals[label] = sum(cost for _, _, cost in rows)
        print(f"\n{label}: {catalog}, {len(template['Resources'])} resources")
        for what, count, cost in rows:
            if count:
                print(f"  {what:<38} x{count:<3} ${cost:8.2f}")
        print(f"  {'idle total per month':<42} ${totals[label]:8.2f}")
    core, full = totals.values()
    print(f"\nfull / core-only idle cost: {full / core:.1f}x (${full - core:.2f} a month for the shared rate limits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
