"""The moderation port: what a processor asks of a content classifier, and how offload decides on its answer.

A `Moderator` scores text and images per category (OpenAI's omni-moderation names: `sexual`,
`violence/graphic`, `harassment`, ...). It reports which categories it actually checked for that input
(`checked`); a category it did not check has no score, and an input it could not look at at all is
`unchecked` with the reason. offload, not the provider, decides: `decide` applies the catalog's
per-category thresholds to the scores (a score at or over its threshold flags the input), so the
provider's own `flagged` bit is kept for reference only.

Adapters: `offload.ai.openai_moderation` (omni-moderation-latest through the openai SDK) and
`LocalModerator` below (a word list for a few text categories; it cannot see images and says so).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

# omni-moderation-latest's categories; the ones it scores for images are IMAGE_CATEGORIES.
CATEGORIES = (
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/intent",
    "self-harm/instructions",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
)
IMAGE_CATEGORIES = frozenset(
    {"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "violence", "violence/graphic"}
)
InputKind = Literal["text", "image"]


class ModerationResult(BaseModel):
    """What a moderator says about one input: scores of the categories it checked, or why it checked none."""

    model_config = ConfigDict(frozen=True)

    provider: str = Field(description='"openai" (any OpenAI-compatible API) or "local"')
    model: str
    input: InputKind
    scores: dict[str, float] = Field(default_factory=dict, description="0..1 per checked category")
    checked: list[str] = Field(default_factory=list, description="the categories scored for this input")
    provider_flagged: bool | None = Field(default=None, description="the provider's own verdict, for reference")
    unchecked_reason: str | None = Field(default=None, description="why nothing was checked (then `checked` is [])")

    @property
    def unchecked(self) -> bool:
        return not self.checked


@runtime_checkable
class Moderator(Protocol):
    """Scores text and images per category."""

    @property
    def model(self) -> str: ...

    def text(self, text: str) -> ModerationResult:
        """Score `text`; raises offload.errors on failure."""
        ...

    def image(self, image: bytes) -> ModerationResult:
        """Score one image (any upload `media.probe` accepts); raises offload.errors on failure."""
        ...


Verdict = Literal["approved", "flagged", "unchecked"]


class Decision(BaseModel):
    """offload's verdict on one or more results: the categories at or over their thresholds, and why."""

    verdict: Verdict
    over: dict[str, float] = Field(default_factory=dict, description="category -> the highest score at or over")
    reason: str


def threshold_of(category: str, thresholds: Mapping[str, float], default: float) -> float:
    """A category's threshold: its own, else its parent's (`violence` for `violence/graphic`), else `default`."""
    if category in thresholds:
        return thresholds[category]
    parent = category.split("/", 1)[0]
    return thresholds.get(parent, default)


def decide(results: list[ModerationResult], thresholds: Mapping[str, float], default: float) -> Decision:
    """Flagged when any checked score reaches its threshold; unchecked when nothing was checked at all;
    approved otherwise, naming what was checked, so "approved" never covers what nobody looked at."""
    over: dict[str, float] = {}
    for result in results:
        for category, score in result.scores.items():
            if category in result.checked and score >= threshold_of(category, thresholds, default):
                over[category] = max(score, over.get(category, 0.0))
    if over:
        listed = ", ".join(f"{c} {s:.2f} >= {threshold_of(c, thresholds, default):g}" for c, s in sorted(over.items()))
        return Decision(verdict="flagged", over=over, reason=f"over the threshold: {listed}")
    checked = sorted({c for r in results for c in r.checked})
    if not checked:
        reasons = sorted({r.unchecked_reason or "no category checked" for r in results}) or ["nothing to check"]
        return Decision(verdict="unchecked", reason="; ".join(reasons))
    return Decision(verdict="approved", reason=f"under every threshold (checked: {', '.join(checked)})")


# -- the local moderator -------------------------------------------------------------------------

LOCAL_MODEL = "local-wordlist-v1"
LOCAL_IMAGE_REASON = (
    "the local moderator cannot see images (no model runs offline): configure an AI key "
    "(OFFLOAD_AI_API_KEY or the stack's AI key secret) for OpenAI omni-moderation"
)
# A short, deliberately plain list per category: enough to exercise the flow offline, not a real classifier.
# Whole words only; a match scores 1.0, no match 0.0, for these categories and no others.
LOCAL_WORDS: dict[str, tuple[str, ...]] = {
    "violence": ("kill", "killing", "murder", "stab", "shoot", "behead", "massacre"),
    "harassment": ("idiot", "moron", "loser", "worthless", "pathetic"),
    "self-harm": ("suicide", "self-harm", "cut myself", "kill myself"),
    "sexual": ("porn", "nude", "nudes", "explicit sex"),
}


class LocalModerator:
    """A word list for `LOCAL_WORDS`' text categories; images are `unchecked`, never called safe."""

    model = LOCAL_MODEL

    def __init__(self, words: Mapping[str, tuple[str, ...]] = LOCAL_WORDS) -> None:
        self._patterns = {
            category: re.compile(r"\b(" + "|".join(re.escape(w) for w in listed) + r")\b", re.IGNORECASE)
            for category, listed in words.items()
        }

    def text(self, text: str) -> ModerationResult:
        """1.0 for a category one of whose words appears in `text`, else 0.0; other categories unchecked."""
        scores = {c: 1.0 if p.search(text) else 0.0 for c, p in self._patterns.items()}
        return ModerationResult(provider="local", model=self.model, input="text", scores=scores, checked=list(scores))

    def image(self, image: bytes) -> ModerationResult:
        """Always unchecked, with the reason and the fix."""
        return ModerationResult(provider="local", model=self.model, input="image", unchecked_reason=LOCAL_IMAGE_REASON)
