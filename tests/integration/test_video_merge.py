"""Merging generated clips: mixed sizes, rates and audio become one video of the summed duration."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.media.video import samples
from offload.media.video.facts import MediaInputError
from offload.media.video.merge import merge_clips


def test_mixed_clips_merge_to_one_size_rate_and_the_summed_duration(tmp_path: Path) -> None:
    clips = [
        samples.landscape(tmp_path / "a.mp4", width=320, height=180, fps=30, duration_s=1.5),
        samples.no_audio(tmp_path / "b.mp4", width=240, height=240, fps=25, duration_s=1.0),
        samples.portrait(tmp_path / "c.mp4", duration_s=1.2),
    ]
    merged = merge_clips(clips, tmp_path / "out.mp4", width=640, height=360)
    facts = merged.facts
    assert merged.clip_durations_s == pytest.approx([1.5, 1.0, 1.2], abs=0.05)
    assert facts.video is not None and facts.audio is not None
    assert (facts.video.display_width, facts.video.display_height) == (640, 360)
    assert facts.video.fps == pytest.approx(30, abs=0.01)
    assert facts.duration_s == pytest.approx(1.5 + 1.0 + 1.2, abs=0.1)
    assert facts.audio.sample_rate == 48_000 and facts.audio.channels == 2


def test_an_audio_only_clip_is_refused_by_name(tmp_path: Path) -> None:
    good = samples.landscape(tmp_path / "a.mp4", duration_s=1.0)
    bad = samples.audio_only(tmp_path / "voice.m4a", duration_s=1.0)
    with pytest.raises(MediaInputError, match=r"voice\.m4a has no video"):
        merge_clips([good, bad], tmp_path / "out.mp4", width=320, height=180)
