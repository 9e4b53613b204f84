"""The rate-limit cache and its VPC: locked down, never evicting, and reached only by the rate-limited workers."""

from __future__ import annotations

import dataclasses
import re

from aws_cdk import App
from aws_cdk.assertions import Template
from conftest import QueueWiring, ref_id, render, resources_of

from offload.catalog import Catalog, RateLimit
from offload.cdk.app import build_app, cdk_json_context
from offload.cdk.stack import OffloadConfig, OffloadStack, shared_limit_queues
from offload.packs import everything as CATALOG

REPLICATION_GROUP = "AWS::ElastiCache::ReplicationGroup"
DYNAMIC_SECRET = re.compile(r"^\{\{resolve:secretsmanager:<([A-Za-z0-9]+)>:SecretString:::\}\}$")


def _synthesize(catalog: Catalog, name: str) -> Template:
    """The stack for another catalog, as cdk.json configures it (without cdk-nag: the session synth covers that)."""
    app = App(context=cdk_json_context())
    return Template.from_stack(OffloadStack(app, name, config=OffloadConfig(stack_name=name), catalog=catalog))


def _cache(template_json: dict) -> tuple[str, dict]:
    groups = resources_of(template_json, REPLICATION_GROUP)
    assert len(groups) == 1, f"expected one rate-limit cache, found {sorted(groups)}"
    ((gid, group),) = groups.items()
    return gid, group["Properties"]


def _auth_secret(template_json: dict) -> str:
    """The logical id of the secret that the cache's AuthToken resolves from."""
    _, cache = _cache(template_json)
    match = DYNAMIC_SECRET.match(str(render(cache["AuthToken"])))
    assert match, f"AuthToken is not a Secrets Manager dynamic reference: {cache['AuthToken']!r}"
    return match.group(1)


def _rate_limited(wiring: dict[str, QueueWiring]) -> dict[str, QueueWiring]:
    shared = shared_limit_queues(CATALOG)  # queues running a pack's job types that take its shared limits
    limited = {name: w for name, w in wiring.items() if w.spec.rate_limit is not None or name in shared}
    assert limited, "the catalog has no rate-limited queue: nothing here would be checked"
    return limited


def _unlimited(wiring: dict[str, QueueWiring]) -> dict[str, QueueWiring]:
    shared = shared_limit_queues(CATALOG)
    unlimited = {name: w for name, w in wiring.items() if w.spec.rate_limit is None and name not in shared}
    assert unlimited, "every catalog queue is rate-limited: nothing here would be checked"
    return unlimited


def _workers_security_groups(wiring: dict[str, QueueWiring]) -> set[str]:
    return {
        ref_id(sg)
        for w in _rate_limited(wiring).values()
        for sg in w.function["Properties"]["VpcConfig"]["SecurityGroupIds"]
    }


def _ingress_rules(template_json: dict, sg_id: str) -> list[dict]:
    """Inline rules of the group and the separate AWS::EC2::SecurityGroupIngress resources that target it."""
    inline = template_json["Resources"][sg_id]["Properties"].get("SecurityGroupIngress", [])
    separate = [
        r["Properties"]
        for r in resources_of(template_json, "AWS::EC2::SecurityGroupIngress").values()
        if ref_id(r["Properties"]["GroupId"]) == sg_id
    ]
    return inline + separate


def _routes_of_subnet(template_json: dict, subnet_id: str) -> list[dict]:
    tables = {
        ref_id(a["Properties"]["RouteTableId"])
        for a in resources_of(template_json, "AWS::EC2::SubnetRouteTableAssociation").values()
        if ref_id(a["Properties"]["SubnetId"]) == subnet_id
    }
    assert len(tables) == 1, f"subnet {subnet_id}: expected one route table, found {tables}"
    return [
        r["Properties"]
        for r in resources_of(template_json, "AWS::EC2::Route").values()
        if ref_id(r["Properties"]["RouteTableId"]) in tables
    ]


def _allowed(template_json: dict, w: QueueWiring, action: str) -> set[str]:
    role_id = ref_id(w.function["Properties"]["Role"])
    out: set[str] = set()
    for policy in resources_of(template_json, "AWS::IAM::Policy").values():
        if role_id not in {ref_id(r) for r in policy["Properties"]["Roles"]}:
            continue
        for s in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = s["Action"] if isinstance(s["Action"], list) else [s["Action"]]
            if s["Effect"] == "Allow" and action in actions:
                resources = s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]]
                out.update(ref_id(r) for r in resources if isinstance(r, dict))
    return out


def test_cache_encrypts_in_transit_and_at_rest(template_json: dict) -> None:
    _, cache = _cache(template_json)
    assert cache["TransitEncryptionEnabled"] is True
    # "preferred" would still accept plaintext clients
    assert cache.get("TransitEncryptionMode", "required") == "required"
    assert cache["AtRestEncryptionEnabled"] is True


def test_cache_requires_an_auth_token_generated_in_secrets_manager(template_json: dict) -> None:
    # The token is a dynamic reference resolved at deploy time, never a literal in the template.
    secret = template_json["Resources"][_auth_secret(template_json)]
    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert "GenerateSecretString" in secret["Properties"]


def test_cache_never_evicts_counters(template_json: dict) -> None:
    _, cache = _cache(template_json)
    params = template_json["Resources"][ref_id(cache["CacheParameterGroupName"])]
    assert params["Type"] == "AWS::ElastiCache::ParameterGroup"
    assert params["Properties"]["Properties"]["maxmemory-policy"] == "noeviction"
    # the parameter group only applies to the engine it was made for
    assert params["Properties"]["CacheParameterGroupFamily"].startswith(cache["Engine"])


def test_cache_has_a_replica_in_another_az_with_automatic_failover(template_json: dict) -> None:
    _, cache = _cache(template_json)
    assert cache["NumCacheClusters"] >= 2
    assert cache["MultiAZEnabled"] is True
    assert cache["AutomaticFailoverEnabled"] is True


def test_cache_admits_its_port_only_from_the_rate_limited_workers_security_group(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    _, cache = _cache(template_json)
    workers_sg = _workers_security_groups(wiring)
    assert len(workers_sg) == 1, workers_sg
    cache_sgs = [ref_id(sg) for sg in cache["SecurityGroupIds"]]
    assert cache_sgs and not set(cache_sgs) & workers_sg
    for sg in cache_sgs:
        rules = _ingress_rules(template_json, sg)
        assert rules, f"{sg}: no ingress at all, the workers could not connect"
        for rule in rules:
            assert "CidrIp" not in rule and "CidrIpv6" not in rule, rule
            assert rule["IpProtocol"] == "tcp", rule
            assert rule["FromPort"] == rule["ToPort"] == cache["Port"], rule
            assert {ref_id(rule["SourceSecurityGroupId"])} == workers_sg, rule


def test_no_security_group_admits_the_whole_internet(template_json: dict) -> None:
    for sg_id in resources_of(template_json, "AWS::EC2::SecurityGroup"):
        for rule in _ingress_rules(template_json, sg_id):
            assert rule.get("CidrIp") != "0.0.0.0/0" and rule.get("CidrIpv6") != "::/0", (sg_id, rule)


def test_cache_subnets_are_private(template_json: dict) -> None:
    _, cache = _cache(template_json)
    group = template_json["Resources"][ref_id(cache["CacheSubnetGroupName"])]
    assert group["Type"] == "AWS::ElastiCache::SubnetGroup"
    gateways = resources_of(template_json, "AWS::EC2::InternetGateway")
    subnets = [ref_id(s) for s in group["Properties"]["SubnetIds"]]
    assert len(subnets) >= 2, subnets
    for subnet in subnets:
        assert template_json["Resources"][subnet]["Properties"].get("MapPublicIpOnLaunch") is not True, subnet
        to_igw = [
            r
            for r in _routes_of_subnet(template_json, subnet)
            if "GatewayId" in r and ref_id(r["GatewayId"]) in gateways
        ]
        assert to_igw == [], f"cache subnet {subnet} routes to an internet gateway: it is public"


def test_rate_limited_workers_run_in_the_vpc_with_the_cache_url_and_token(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    gid, _ = _cache(template_json)
    token = _auth_secret(template_json)
    for name, w in _rate_limited(wiring).items():
        props = w.function["Properties"]
        assert props["VpcConfig"]["SubnetIds"], name
        env = render(props["Environment"]["Variables"])
        assert env["OFFLOAD_REDIS_URL"] == f"rediss://<{gid}.PrimaryEndPoint.Address>:<{gid}.PrimaryEndPoint.Port>/0"
        assert env["OFFLOAD_REDIS_AUTH_SECRET_ARN"] == f"<{token}>", name
        assert token in _allowed(template_json, w, "secretsmanager:GetSecretValue"), name


def test_other_workers_stay_out_of_the_vpc_without_the_cache(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    token = _auth_secret(template_json)
    for name, w in _unlimited(wiring).items():
        props = w.function["Properties"]
        assert "VpcConfig" not in props, name
        env = props["Environment"]["Variables"]
        assert "OFFLOAD_REDIS_URL" not in env and "OFFLOAD_REDIS_AUTH_SECRET_ARN" not in env, name
        assert token not in _allowed(template_json, w, "secretsmanager:GetSecretValue"), name


def test_rate_limited_workers_reach_the_internet_through_a_nat_gateway(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    nats = resources_of(template_json, "AWS::EC2::NatGateway")
    assert nats
    subnets = {
        ref_id(s) for w in _rate_limited(wiring).values() for s in w.function["Properties"]["VpcConfig"]["SubnetIds"]
    }
    assert len(subnets) == 2, subnets
    for subnet in subnets:
        defaults = [r for r in _routes_of_subnet(template_json, subnet) if r.get("DestinationCidrBlock") == "0.0.0.0/0"]
        assert len(defaults) == 1 and ref_id(defaults[0]["NatGatewayId"]) in nats, (subnet, defaults)


def test_workers_reach_s3_and_dynamodb_through_gateway_endpoints(
    template_json: dict, wiring: dict[str, QueueWiring]
) -> None:
    subnets = {
        ref_id(s) for w in _rate_limited(wiring).values() for s in w.function["Properties"]["VpcConfig"]["SubnetIds"]
    }
    tables = {
        ref_id(a["Properties"]["RouteTableId"])
        for a in resources_of(template_json, "AWS::EC2::SubnetRouteTableAssociation").values()
        if ref_id(a["Properties"]["SubnetId"]) in subnets
    }
    services = set()
    for endpoint in resources_of(template_json, "AWS::EC2::VPCEndpoint").values():
        props = endpoint["Properties"]
        if props.get("VpcEndpointType", "Gateway") == "Gateway" and tables <= {
            ref_id(t) for t in props["RouteTableIds"]
        }:
            services.add(str(render(props["ServiceName"])).rsplit(".", 1)[-1])
    assert {"s3", "dynamodb"} <= services


def test_vpc_sends_flow_logs_to_a_log_group_with_retention(template_json: dict) -> None:
    vpcs = resources_of(template_json, "AWS::EC2::VPC")
    assert len(vpcs) == 1
    logged = [
        f["Properties"]
        for f in resources_of(template_json, "AWS::EC2::FlowLog").values()
        if f["Properties"]["ResourceType"] == "VPC" and ref_id(f["Properties"]["ResourceId"]) in vpcs
    ]
    assert len(logged) == 1
    assert logged[0]["LogDestinationType"] == "cloud-watch-logs"
    group = template_json["Resources"][ref_id(logged[0]["LogGroupName"])]
    assert group["Properties"]["RetentionInDays"] > 0


def test_which_workers_join_the_vpc_follows_the_catalog() -> None:
    # Given the catalog with its rate limits moved to `notifications` only
    catalog = dataclasses.replace(
        CATALOG,
        queues=tuple(
            dataclasses.replace(q, rate_limit=RateLimit(5, 60) if q.name == "notifications" else None)
            for q in CATALOG.queues
        ),
    )
    # when the stack is synthesized
    template = _synthesize(catalog, "Moved").to_json()
    # then that queue's worker, and no other, runs in the VPC with the cache URL
    functions = [
        f
        for f in resources_of(template, "AWS::Lambda::Function").values()
        if "OFFLOAD_QUEUE" in f["Properties"]["Environment"]["Variables"]
    ]
    in_vpc = {
        f["Properties"]["Environment"]["Variables"]["OFFLOAD_QUEUE"]
        for f in functions
        if "VpcConfig" in f["Properties"]
    }
    with_url = {
        f["Properties"]["Environment"]["Variables"]["OFFLOAD_QUEUE"]
        for f in functions
        if "OFFLOAD_REDIS_URL" in f["Properties"]["Environment"]["Variables"]
    }
    # (the images and generate queues stay in: their packs take the shared `openai` / `video-provider` limits)
    assert in_vpc == with_url == {"notifications", "images", "images-reindex", "generate"}


def test_a_core_only_catalog_deploys_no_vpc_cache_media_bucket_or_state_machine(tmp_path) -> None:
    # Given an app whose cdk.json names a catalog of only the core and maintenance packs
    app, stack = build_app(
        outdir=tmp_path,
        context={"offload:catalog": "tests.support.catalogs:core_only", "offload:codePackages": []},
    )
    # when it is synthesized with cdk-nag attached (an unacknowledged finding raises here)
    app.synth()
    template = Template.from_stack(stack)
    # then nothing with a fixed monthly cost, and nothing the images pack would bring, is in it
    for resource_type in (
        "AWS::EC2::VPC",
        "AWS::EC2::NatGateway",
        "AWS::EC2::VPCEndpoint",
        REPLICATION_GROUP,
        "AWS::StepFunctions::StateMachine",
    ):
        template.resource_count_is(resource_type, 0)
    assert len(template.find_resources("AWS::S3::Bucket")) == 2  # payloads and their access logs only
    assert set(template.find_outputs("*")) >= {"ClientConfig", "QueueDefaultUrl", "QueueMaintenanceUrl"}
    assert "MediaBucketName" not in template.find_outputs("*")


def test_the_full_catalog_deploys_the_vpc_cache_media_bucket_and_state_machine(template: Template) -> None:
    for resource_type in (
        "AWS::EC2::VPC",
        "AWS::EC2::NatGateway",
        REPLICATION_GROUP,
        "AWS::StepFunctions::StateMachine",
    ):
        assert template.find_resources(resource_type), resource_type
    assert "MediaBucketName" in template.find_outputs("*")


def test_every_rate_limited_queue_alarms_when_its_limiter_is_unreachable(template_json: dict) -> None:
    alarms = [
        a["Properties"]
        for a in resources_of(template_json, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == "RateLimiterUnavailable"
    ]
    limited = {q.name for q in CATALOG.queues if q.rate_limit is not None} | shared_limit_queues(CATALOG)
    assert {a["Dimensions"][0]["Value"] for a in alarms} == limited
    assert all(a["Namespace"] == "Offload" and a["AlarmActions"] for a in alarms)


def test_a_pack_with_a_shared_limit_puts_its_queues_workers_in_the_vpc() -> None:
    # Given an app pack that declares a shared limit on an outside service, on a queue of its own
    from offload.catalog import JobType, Pack, QueueSpec
    from offload.packs import core

    mine = Pack(
        "mine",
        queues=(QueueSpec("calls", concurrency=2),),
        job_types=(JobType("mine.call", queue="calls", processor="tests.support.processors:count"),),
        resource_limits={"partner-api": RateLimit(5, 60)},
    )
    # when its stack is synthesized
    template = _synthesize(Catalog.compose(core, mine), "Shared").to_json()
    # then that queue's worker (and no other) runs in the VPC with the cache URL, so ctx.rate_limit reaches Redis
    workers = {
        f["Properties"]["Environment"]["Variables"]["OFFLOAD_QUEUE"]: f["Properties"]
        for f in resources_of(template, "AWS::Lambda::Function").values()
        if "OFFLOAD_QUEUE" in f["Properties"]["Environment"]["Variables"]
    }
    in_vpc = {name for name, props in workers.items() if "VpcConfig" in props}
    with_url = {name for name, props in workers.items() if "OFFLOAD_REDIS_URL" in props["Environment"]["Variables"]}
    assert in_vpc == with_url == {"calls"}
