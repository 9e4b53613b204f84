"""The social pack's options (`social_pack(...)`): trending's decay and weights, feed fan-out sizes."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class SocialOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    half_life_hours: float = Field(default=24.0, gt=0, description="an event counts half as much after this long")
    window_days: int = Field(default=7, ge=1, le=90, description="events older than this are not read")
    top_n: int = Field(default=20, ge=1, le=1000, description="how many items the trending list keeps")
    weights: dict[str, float] = Field(
        default_factory=lambda: {"view": 1.0, "like": 3.0, "comment": 5.0, "share": 8.0},
        description="score per engagement kind; kinds not listed count 0",
    )
    fanout_page: int = Field(default=100, ge=1, le=1000, description="followers read per page while fanning out")
    fanout_child_size: int = Field(
        default=1000, ge=25, description="a post with more followers than this is split into child jobs of this many"
    )
    vector_prefix: str = Field(default="vectors/social/", description="the search index's prefix in the bucket")
