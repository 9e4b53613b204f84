"""Previews of a processed video: the poster and the scrubbing sprite sheet with its WebVTT.

Both read the joined top rendition (upright, SDR, constant frame rate), not the source."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel


class Sprite(BaseModel):
    """The sprite sheet and its WebVTT: cue i shows tile i for [i * interval, (i + 1) * interval)."""

    columns: int
    rows: int
    tile_width: int
    tile_height: int
    interval_s: float
    tiles: int


def poster(video: Path, out: Path, *, duration_s: float) -> Path:
    """A JPEG of a representative frame: the most detailed of frames sampled across the video
    (never a black or uniform opening frame when a better one exists)."""
    raise NotImplementedError("poster: built by the media helper")


def sprite_sheet(video: Path, out_image: Path, out_vtt: Path, *, duration_s: float, interval_s: float, image_uri: str) -> Sprite:
    """Tiles every `interval_s` seconds in one JPEG, and a WebVTT whose cues point at `image_uri#xywh=...`."""
    raise NotImplementedError("sprite_sheet: built by the media helper")
