"""Every Lambda function's role is granted exactly the actions docs/iam.md lists for it, no more, no fewer.

docs/iam.md is the one list (shared sets, then one section per role with the code that calls each action);
this test reads it and compares it with the synthesized template: the role's inline policies, the
AWS::IAM::Policy resources attached to it (DefaultPolicy and CDK's overflow policies) and the managed
policies it names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ref_id, resources_of

DOC = Path(__file__).resolve().parents[2] / "docs" / "iam.md"
# What CDK's Bucket.grant_read/grant_put/grant_read_write, Queue.grant_send_messages/grant_consume_messages and
# Secret.grant_read add beyond the actions offload calls (offload/cdk/constructs/grants.py writes those out).
BUNDLED = {
    "s3:PutObjectLegalHold",
    "s3:PutObjectRetention",
    "s3:PutObjectTagging",
    "s3:PutObjectVersionTagging",
    "sqs:GetQueueUrl",
    "secretsmanager:DescribeSecret",
}
EXACT_SERVICES = ("s3", "sqs", "secretsmanager")  # no wildcard action of theirs: s3:GetBucket*, s3:List*, ...
_MARKER = re.compile(r"<!--\s*iam-(set|role):\s*(\S+)(?:\s+uses=(\S*))?\s*-->")
_ROW = re.compile(r"^\|\s*`([a-z0-9-]+:[A-Za-z0-9*]+)`\s*\|")
_HASH = re.compile(r"[0-9A-F]{8}$")


def documented(text: str) -> dict[str, set[str]]:
    """Role key -> actions, from docs/iam.md's markers and the action tables after them."""
    sets: dict[str, set[str]] = {}
    roles: dict[str, tuple[list[str], set[str]]] = {}
    current: set[str] | None = None
    for line in text.splitlines():
        marker = _MARKER.match(line)  # at the start of a line: the page also quotes the syntax in prose
        if marker:
            kind, name, uses = marker.groups()
            current = set()
            if kind == "set":
                assert name not in sets, f"docs/iam.md: set {name!r} is defined twice"
                sets[name] = current
            else:
                assert name not in roles, f"docs/iam.md: role {name!r} is documented twice"
                roles[name] = ([u for u in (uses or "").split(",") if u], current)
            continue
        if line.startswith("#"):
            current = None
        row = _ROW.match(line)
        if row and current is not None:
            assert row.group(1) not in current, f"docs/iam.md: {row.group(1)} is listed twice in one table"
            current.add(row.group(1))
    out: dict[str, set[str]] = {}
    for key, (uses, own) in roles.items():
        unknown = [u for u in uses if u not in sets]
        assert not unknown, f"docs/iam.md: role {key!r} uses undefined sets {unknown}"
        out[key] = own.union(*(sets[u] for u in uses))
    return out


def _role_key(function_id: str, function: dict) -> str:
    queue = function["Properties"].get("Environment", {}).get("Variables", {}).get("OFFLOAD_QUEUE")
    return f"queue={queue}" if queue else "function=" + _HASH.sub("", function_id)


def _documents(template_json: dict, role_id: str) -> Iterator[dict]:
    """Every policy document that applies to the role."""
    resources = template_json["Resources"]
    role = resources[role_id]["Properties"]
    for inline in role.get("Policies", []):
        yield inline["PolicyDocument"]
    for arn in role.get("ManagedPolicyArns", []):
        if isinstance(arn, dict) and "Ref" in arn and arn["Ref"] in resources:
            yield resources[arn["Ref"]]["Properties"]["PolicyDocument"]
        else:  # an AWS managed policy would grant actions this test can't see: none is used
            raise AssertionError(f"role {role_id} has a managed policy the template doesn't define: {arn!r}")
    for type_ in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for policy in resources_of(template_json, type_).values():
            if role_id in {ref_id(r) for r in policy["Properties"].get("Roles", [])}:
                yield policy["Properties"]["PolicyDocument"]


def granted(template_json: dict, role_id: str) -> set[str]:
    """The actions all of the role's policies allow."""
    actions: set[str] = set()
    for document in _documents(template_json, role_id):
        for statement in document["Statement"]:
            assert "NotAction" not in statement, f"{role_id}: NotAction grants everything else"
            if statement.get("Effect", "Allow") != "Allow":
                continue
            action = statement["Action"]
            actions.update([action] if isinstance(action, str) else action)
    return actions


@pytest.fixture(scope="module")
def roles(template_json: dict) -> dict[str, tuple[str, set[str]]]:
    """Role key -> (role logical id, granted actions), for every role a Lambda function runs with."""
    out: dict[str, tuple[str, set[str]]] = {}
    for fid, function in resources_of(template_json, "AWS::Lambda::Function").items():
        key = _role_key(fid, function)
        role_id = ref_id(function["Properties"]["Role"])
        assert key not in out, f"two functions share the key {key!r}: tell them apart in _role_key"
        out[key] = (role_id, granted(template_json, role_id))
    return out


def test_every_function_role_is_documented_and_every_documented_role_exists(roles) -> None:
    doc = documented(DOC.read_text())
    assert sorted(set(roles) - set(doc)) == [], "roles without a section in docs/iam.md"
    assert sorted(set(doc) - set(roles)) == [], "docs/iam.md documents roles the stack no longer has"


def test_every_role_is_granted_exactly_the_actions_docs_iam_lists(roles) -> None:
    doc = documented(DOC.read_text())
    problems = []
    for key, (role_id, actions) in sorted(roles.items()):
        expected = doc.get(key, set())
        if extra := sorted(actions - expected):
            problems.append(
                f"{key} ({role_id}) is granted {extra}, which docs/iam.md doesn't list: document the "
                "code that calls each, or remove the grant"
            )
        if missing := sorted(expected - actions):
            problems.append(f"{key} ({role_id}): docs/iam.md lists {missing}, which the role is no longer granted")
    assert not problems, "\n".join(problems)


def test_no_role_is_granted_what_cdks_bundled_grants_add(roles) -> None:
    found = {
        key: sorted(a for a in actions if a in BUNDLED or (a.split(":")[0] in EXACT_SERVICES and "*" in a))
        for key, (_, actions) in roles.items()
    }
    assert {key: actions for key, actions in found.items() if actions} == {}, (
        "grant the actions the code calls (offload/cdk/constructs/grants.py), not CDK's bundles"
    )


def test_every_documented_action_names_the_code_that_calls_it() -> None:
    rows = [line for line in DOC.read_text().splitlines() if _ROW.match(line)]
    assert rows
    assert [row for row in rows if "none:" in row or "**open**" in row] == []


def test_the_doc_parser_sees_a_new_grant_and_a_dropped_one() -> None:
    """The comparison can fail: a set and a role parsed from a page like docs/iam.md."""
    page = "\n".join(
        [
            "<!-- iam-set: base -->",
            "| action | called by |",
            "| `logs:PutLogEvents` | Lambda |",
            "### role",
            "<!-- iam-role: queue=q uses=base -->",
            "| `sqs:SendMessage` | `offload/jobs/queues.py` |",
            "| not an action | ignored |",
        ]
    )
    assert documented(page) == {"queue=q": {"logs:PutLogEvents", "sqs:SendMessage"}}
    with pytest.raises(AssertionError, match="undefined sets"):
        documented("<!-- iam-role: queue=q uses=nope -->")
