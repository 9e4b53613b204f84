"""The moderation pack's options (`moderation_pack(...)`): per-category thresholds and what "unchecked" means."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from offload.ai.moderation import CATEGORIES


class ModerationOptions(BaseModel):
    """How the catalog's moderation pack decides; every field has a default."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, float] = Field(
        default_factory=dict,
        description="category -> score (0 < t <= 1) at or over which an input is flagged; a parent category "
        "(e.g. 'violence') also covers its children ('violence/graphic') unless they have their own",
    )
    default: float = Field(default=0.5, gt=0, le=1, description="the threshold of every category not in `thresholds`")
    unchecked: Literal["hold", "pass"] = Field(
        default="hold",
        description="an input the moderator could not check (the local moderator and images): 'hold' keeps it "
        "flagged for a reviewer, 'pass' approves it with its verdict still saying 'unchecked'",
    )
    report_threshold: int = Field(default=3, ge=1, le=1000, description="distinct reporters that escalate an item")
    video_frames: int = Field(default=6, ge=1, le=50, description="frames sampled across a video for moderate.video")

    @field_validator("thresholds")
    @classmethod
    def _known_categories(cls, thresholds: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(thresholds) - set(CATEGORIES))
        if unknown:
            raise ValueError(f"unknown moderation categories {unknown}; categories are: {', '.join(CATEGORIES)}")
        bad = {c: t for c, t in thresholds.items() if not 0 < t <= 1}
        if bad:
            raise ValueError(f"thresholds must be in (0, 1], got {bad}")
        return thresholds
