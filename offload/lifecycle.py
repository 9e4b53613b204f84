"""A record's lifecycle: the status moves it may make, and the condition each DynamoDB write carries.

One mechanism for every kind of record: the job lifecycle (`offload.jobs.model.JOB_LIFECYCLE`),
image records (`offload.packs.images.store.IMAGE_LIFECYCLE`), and any pack's records next.
Declare the table once; each store write that moves a record to `target` is one conditional write
whose condition, `status_condition(lifecycle.sources_of(target))`, comes from the table. So a late or
duplicate write can never move a record backwards or touch a finished one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Generic, TypeVar

S = TypeVar("S", bound=str)


class Lifecycle(Generic[S]):
    """A transition table: for each status, the statuses a record in it may move to."""

    def __init__(self, transitions: Mapping[S, Iterable[S]]) -> None:
        self.transitions: dict[S, frozenset[S]] = {source: frozenset(t) for source, t in transitions.items()}
        unknown = sorted({t for targets in self.transitions.values() for t in targets} - set(self.transitions))
        if unknown:
            raise ValueError(f"transitions lead to undeclared statuses {unknown}: give each its own row")

    @property
    def states(self) -> tuple[S, ...]:
        return tuple(self.transitions)

    @property
    def final(self) -> frozenset[S]:
        """The statuses nothing leaves."""
        return frozenset(s for s, targets in self.transitions.items() if not targets)

    def sources_of(self, target: S) -> list[S]:
        """The statuses a record may be in for a write that moves it to `target`, in table order."""
        if target not in self.transitions:
            raise ValueError(f"unknown status {target!r}; statuses: {', '.join(self.transitions)}")
        return [s for s, targets in self.transitions.items() if target in targets]

    def allows(self, source: S, target: S) -> bool:
        return target in self.transitions.get(source, frozenset())


def status_condition(statuses: Sequence[str], *, name: str = "#s", prefix: str = ":s") -> tuple[str, dict[str, Any]]:
    """A ConditionExpression part, `(#s = :s0 OR #s = :s1 ...)`, and its values, for a status among `statuses`.

    `name` must be mapped to the status attribute in ExpressionAttributeNames (`status` is reserved).
    """
    if not statuses:
        raise ValueError("no status may make this move: a write conditional on none of them can never succeed")
    values = {f"{prefix}{i}": {"S": str(s)} for i, s in enumerate(statuses)}
    return "(" + " OR ".join(f"{name} = {placeholder}" for placeholder in values) + ")", values


def is_condition_failure(exc: Exception) -> bool:
    """True when a DynamoDB write was refused because its condition did not hold."""
    response = getattr(exc, "response", None) or {}
    return bool(response.get("Error", {}).get("Code") == "ConditionalCheckFailedException")


def conditional_update(db: Any, **request: Any) -> dict[str, Any] | None:
    """Run one DynamoDB UpdateItem (`request` holds its parameters, a ConditionExpression among them)
    and return the item as it now is, or None when the condition did not hold."""
    try:
        return dict(db.update_item(ReturnValues="ALL_NEW", **request)["Attributes"])
    except Exception as exc:
        if is_condition_failure(exc):
            return None
        raise
