"""Read a synthesized CloudFormation template and resolve its intrinsic functions locally.

The local cloud creates exactly what the template declares; this module answers
"what is the value of this property" once the resources it refers to exist.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ACCOUNT = "123456789012"
REGION = "us-east-1"


class TemplateError(RuntimeError):
    """The template uses something the local cloud cannot resolve."""


@dataclass
class Template:
    """A stack's template plus where its assets were staged."""

    stack_name: str
    body: dict[str, Any]
    assets_dir: Path

    @classmethod
    def load(cls, cdk_out: Path, stack_name: str) -> Template:
        path = cdk_out / f"{stack_name}.template.json"
        if not path.exists():
            raise TemplateError(f"{path} does not exist: synthesize first (`make synth`)")
        return cls(stack_name=stack_name, body=json.loads(path.read_text()), assets_dir=cdk_out)

    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Resources", {}))

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return dict(self.body.get("Outputs", {}))

    def asset_path(self, logical_id: str) -> Path | None:
        """The staged directory of a resource's asset (CDK records it in the resource metadata)."""
        meta = self.resources[logical_id].get("Metadata", {})
        rel = meta.get("aws:asset:path")
        return self.assets_dir / rel if rel else None

    def creation_order(self) -> list[str]:
        """Logical ids with every resource after the ones it refers to."""
        deps = {lid: _references(res) for lid, res in self.resources.items()}
        order: list[str] = []
        state: dict[str, int] = {}

        def visit(lid: str) -> None:
            if state.get(lid) == 2:
                return
            if state.get(lid) == 1:
                raise TemplateError(f"circular reference through {lid}")
            state[lid] = 1
            for dep in sorted(deps.get(lid, set())):
                if dep in deps:
                    visit(dep)
            state[lid] = 2
            order.append(lid)

        for lid in deps:
            visit(lid)
        return order


def _references(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                if isinstance(value, list):
                    found |= _references(value[1])
            elif key == "DependsOn":
                found.update([value] if isinstance(value, str) else value)
            else:
                found |= _references(value)
    elif isinstance(node, list):
        for item in node:
            found |= _references(item)
    return found


@dataclass
class Resolver:
    """Values of Ref and Fn::GetAtt for created resources, and the pseudo parameters."""

    stack_name: str
    refs: dict[str, str] = field(default_factory=dict)
    attrs: dict[str, dict[str, str]] = field(default_factory=dict)
    # Resources not created locally: any attribute resolves to a visible placeholder.
    placeholders: set[str] = field(default_factory=set)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{self.stack_name}/local",
            "AWS::NoValue": None,
        }.get(name, "")

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            return self.pseudo(name) or ""
        if name not in self.refs:
            raise TemplateError(f"Ref to {name}, which the local cloud has not created")
        return self.refs[name]

    def get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id in self.placeholders:
            return self.attrs.get(logical_id, {}).get(attribute, f"{logical_id}.{attribute}.not-emulated")
        try:
            return self.attrs[logical_id][attribute]
        except KeyError:
            raise TemplateError(f"Fn::GetAtt {logical_id}.{attribute} is not known locally") from None

    def resolve(self, node: Any) -> Any:
        """The value of a template fragment with every intrinsic function evaluated."""
        if isinstance(node, list):
            return [v for v in (self.resolve(i) for i in node) if v is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, value),) = node.items()
            if key == "Ref":
                return _NO_VALUE if value == "AWS::NoValue" else self.ref(value)
            if key == "Fn::GetAtt":
                lid, attr = value if isinstance(value, list) else value.split(".", 1)
                return self.get_att(lid, attr)
            if key == "Fn::Join":
                sep, parts = value
                return sep.join(str(p) for p in self.resolve(parts))
            if key == "Fn::Sub":
                return self._sub(value)
            if key == "Fn::Select":
                index, items = value
                return self.resolve(items)[int(self.resolve(index))]
            if key == "Fn::Split":
                sep, text = value
                return str(self.resolve(text)).split(sep)
            if key == "Fn::GetAZs":
                return [f"{REGION}a", f"{REGION}b"]
            if key == "Fn::Base64":
                import base64

                return base64.b64encode(str(self.resolve(value)).encode()).decode()
            if key.startswith("Fn::"):
                raise TemplateError(f"{key} is not supported by the local cloud")
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in node.items()) if v is not _NO_VALUE}

    def _sub(self, value: Any) -> str:
        text, extra = (value[0], self.resolve(value[1])) if isinstance(value, list) else (value, {})

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in extra:
                return str(extra[name])
            if "." in name:
                lid, attr = name.split(".", 1)
                return self.get_att(lid, attr)
            return self.ref(name)

        return re.sub(r"\$\{([^}]+)\}", replace, text)


class _NoValue:
    def __repr__(self) -> str:
        return "AWS::NoValue"


_NO_VALUE = _NoValue()
