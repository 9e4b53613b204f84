"""Audio outputs: AAC (.m4a), Opus (.opus) and MP3, optionally loudness-normalised (EBU R128), and
the waveform picture. Video sources use `encode_audio` for their audio track (encoded once, whole)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

AudioFormat = Literal["aac", "opus", "mp3"]


def encode_audio(
    source: str,
    out_dir: Path,
    *,
    formats: Sequence[AudioFormat] = ("aac", "opus"),
    loudness_normalise: bool = False,
    kbps: int = 128,
) -> dict[str, Path]:
    """The source's first audio track in each format: {"aac": out_dir/"audio.m4a", "opus": out_dir/"audio.opus",
    "mp3": out_dir/"audio.mp3"}; {} when the source has no audio."""
    raise NotImplementedError("encode_audio: built by the media helper")


def waveform_png(source: str, out: Path, *, width: int = 1800, height: int = 280) -> Path:
    """A PNG of the audio's waveform (peak envelope), `width` x `height`."""
    raise NotImplementedError("waveform_png: built by the media helper")
