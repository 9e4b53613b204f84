"""The shared rate-limit cache: node-based ElastiCache (Valkey) with TLS, encryption at rest, AUTH and noeviction.

Rate-limit counters are the only data. Losing one lets a burst through, so the cache must never evict
(`maxmemory-policy noeviction`: a full cache refuses writes, the limiter fails open or closed per queue,
and an operator sees it) and is reachable only from the rate-limited workers' security group.

Why node-based and not ElastiCache Serverless: a serverless cache has no parameter group, so
`maxmemory-policy` can't be set (AWS::ElastiCache::ServerlessCache has no such property). It scales
storage instead of evicting, unless a DataStorage maximum is set (CacheUsageLimits): then, at that maximum,
it evicts keys that have a TTL, least recently used first, and only answers OOM once no key with a TTL is
left. Every rate-limit counter has a TTL (its window), so on a capped serverless cache the counters are
exactly what goes first. Uncapped serverless never evicts in practice but has no cost ceiling.
Costs of both are in docs/cost.md ("Rate-limit cache and VPC").
"""

from __future__ import annotations

from aws_cdk import Fn
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_iam as iam
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from offload.cdk.constructs.grants import grant_secret_value
from offload.cdk.constructs.network import CACHE_SUBNETS
from offload.cdk.nag import acknowledge

ENGINE = "valkey"
ENGINE_VERSION = "8.1"
PARAMETER_GROUP_FAMILY = "valkey8"
# Graviton burstable node, 0.5 GiB: counters are a few hundred bytes each, one per rate-limited queue and window.
NODE_TYPE = "cache.t4g.micro"
# One primary and one replica in the other AZ: automatic failover keeps the limiter up through an AZ or
# node failure (counters written in the last moments before a failover may be lost; acceptable for limits).
NODES = 2
# The engine's default port. cdk-nag's AEC5 (non-default port) applies to engine "redis" only; the security
# group below, not port obscurity, is what keeps everyone but the workers out.
PORT = 6379
DATABASE = 0
# ElastiCache AUTH tokens: 16-128 printable characters without @, " or /; alphanumeric avoids all escaping.
AUTH_TOKEN_LENGTH = 64


class RateLimitCache(Construct):
    """A Valkey replication group in the VPC's isolated subnets, its AUTH token secret and security groups.

    `client_security_group` is the one group allowed to connect: give it to every function that uses the cache,
    with `environment` and `grant_connect`.
    """

    def __init__(self, scope: Construct, construct_id: str, *, vpc: ec2.IVpc) -> None:
        super().__init__(scope, construct_id)
        self.vpc = vpc
        # Workers start every connection (AWS APIs, the AI provider at a configurable base URL and port, the
        # cache), so their egress stays open; the cache's ingress rule is what restricts access.
        self.client_security_group = ec2.SecurityGroup(
            self,
            "ClientSecurityGroup",
            vpc=vpc,
            description="offload rate-limited workers: the only clients of the rate-limit cache",
            allow_all_outbound=True,
        )
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=vpc,
            description="offload rate-limit cache: TLS on the cache port from the workers security group only",
            allow_all_outbound=False,  # the cache starts no connections
        )
        self.security_group.add_ingress_rule(
            self.client_security_group, ec2.Port.tcp(PORT), "offload rate-limited workers to the cache"
        )

        self.auth_secret = secretsmanager.Secret(
            self,
            "AuthToken",
            description="offload rate-limit cache AUTH token (the secret string is the token itself)",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=AUTH_TOKEN_LENGTH, exclude_punctuation=True
            ),
        )
        acknowledge(
            self.auth_secret.node.default_child,
            "AwsSolutions-SMG4",
            "Secrets Manager has no managed rotation for ElastiCache AUTH tokens: rotating takes "
            "ModifyReplicationGroup with the ROTATE then SET strategy while workers pick up the new token; "
            "until that Lambda exists the token is rotated by hand. The cache is reachable only from the "
            "workers' security group, in isolated subnets.",
        )

        self.subnet_group = elasticache.CfnSubnetGroup(
            self,
            "SubnetGroup",
            description="offload rate-limit cache: isolated subnets, no route to or from the internet",
            subnet_ids=vpc.select_subnets(subnet_type=CACHE_SUBNETS.subnet_type).subnet_ids,
        )
        self.parameter_group = elasticache.CfnParameterGroup(
            self,
            "Parameters",
            cache_parameter_group_family=PARAMETER_GROUP_FAMILY,
            description="offload rate-limit counters: never evict (a full cache refuses writes instead)",
            properties={"maxmemory-policy": "noeviction"},
        )
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description="offload shared rate-limit counters",
            engine=ENGINE,
            engine_version=ENGINE_VERSION,
            cache_node_type=NODE_TYPE,
            num_cache_clusters=NODES,
            automatic_failover_enabled=NODES > 1,
            multi_az_enabled=NODES > 1,
            port=PORT,
            cache_parameter_group_name=self.parameter_group.ref,
            cache_subnet_group_name=self.subnet_group.ref,
            security_group_ids=[self.security_group.security_group_id],
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            # A CloudFormation dynamic reference ({{resolve:secretsmanager:...}}): the token is resolved at
            # deploy time and never written into the template.
            auth_token=self.auth_secret.secret_value.unsafe_unwrap(),
            auto_minor_version_upgrade=True,
        )
        # rediss:// = TLS, which the group requires (transit encryption mode "required").
        self.url = Fn.join(
            "",
            [
                "rediss://",
                self.replication_group.attr_primary_end_point_address,
                ":",
                self.replication_group.attr_primary_end_point_port,
                f"/{DATABASE}",
            ],
        )

    @property
    def environment(self) -> dict[str, str]:
        """What a client needs to connect, as offload.settings reads it (OFFLOAD_REDIS_*)."""
        return {"OFFLOAD_REDIS_URL": self.url, "OFFLOAD_REDIS_AUTH_SECRET_ARN": self.auth_secret.secret_arn}

    def grant_connect(self, grantee: iam.IGrantable) -> None:
        """Let `grantee` read the AUTH token (network access comes from `client_security_group`)."""
        grant_secret_value(self.auth_secret, grantee)
