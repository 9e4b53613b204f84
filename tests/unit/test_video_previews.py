"""Specification of offload.media.video.previews: the poster and the sprite sheet with its WebVTT.

Clips are generated with ffmpeg's lavfi sources (320x180, 25 fps, a few seconds).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
from PIL import Image, ImageStat

from offload.media.video.ffmpeg import run_ffmpeg
from offload.media.video.previews import Sprite, poster, sprite_sheet

SIZE = "320x180"
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 128, 0)  # ffmpeg colour names, as HTML


def clip(out: Path, *sources: str, gop: int = 25) -> Path:
    """The lavfi `sources` (each `name=...:duration=...`) one after another, as H.264 in MP4."""
    args: list[str] = []
    for source in sources:
        args += ["-f", "lavfi", "-i", f"{source}:size={SIZE}:rate=25"]
    joined = "".join(f"[{i}:v]" for i in range(len(sources)))
    args += ["-filter_complex", f"{joined}concat=n={len(sources)}:v=1:a=0,format=yuv420p"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "18", "-g", str(gop), str(out)]
    run_ffmpeg(args, what="test clip")
    return out


def luminance(image: Image.Image) -> tuple[float, float]:
    stat = ImageStat.Stat(image.convert("L"))
    return stat.mean[0], stat.stddev[0]


def near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, colour, strict=False))


# --- poster -----------------------------------------------------------------------------------


def test_poster_skips_a_black_opening_for_a_detailed_frame(tmp_path: Path) -> None:
    video = clip(tmp_path / "v.mp4", "color=black:duration=1", "testsrc2=duration=2")

    path = poster(video, tmp_path / "poster.jpg", duration_s=3.0)

    image = Image.open(path)
    assert (image.format, image.size) == ("JPEG", (320, 180))
    mean, stddev = luminance(image)
    assert mean > 40, "not the black opening"
    assert stddev > 30, "a detailed frame, not a uniform one"


def test_poster_prefers_detail_over_a_flat_bright_frame(tmp_path: Path) -> None:
    video = clip(tmp_path / "v.mp4", "color=gray:duration=2", "testsrc2=duration=0.6", "color=gray:duration=2")

    _, stddev = luminance(Image.open(poster(video, tmp_path / "poster.jpg", duration_s=4.6)))

    assert stddev > 30, "the short detailed stretch wins over the grey ones"


def test_poster_of_a_wholly_black_video_is_still_made(tmp_path: Path) -> None:
    video = clip(tmp_path / "v.mp4", "color=black:duration=1")

    image = Image.open(poster(video, tmp_path / "poster.jpg", duration_s=1.0))

    assert image.size == (320, 180)
    assert luminance(image)[0] < 20


# --- sprite sheet -----------------------------------------------------------------------------

CUE = re.compile(r"^(\d\d):(\d\d):(\d\d)\.(\d\d\d) --> (\d\d):(\d\d):(\d\d)\.(\d\d\d)$")


def parse_vtt(text: str) -> list[tuple[float, float, str, tuple[int, int, int, int]]]:
    """(start s, end s, uri, (x, y, w, h)) of each cue; asserts the WebVTT structure."""
    blocks = text.strip("\n").split("\n\n")
    assert blocks[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        timing, payload = block.split("\n")
        match = CUE.match(timing)
        assert match, timing
        h1, m1, s1, ms1, h2, m2, s2, ms2 = map(int, match.groups())
        uri, _, fragment = payload.partition("#xywh=")
        x, y, w, h = map(int, fragment.split(","))
        cues.append((h1 * 3600 + m1 * 60 + s1 + ms1 / 1000, h2 * 3600 + m2 * 60 + s2 + ms2 / 1000, uri, (x, y, w, h)))
    return cues


def assert_cues_cover(cues: list[tuple[float, float, str, tuple[int, int, int, int]]], duration: float) -> None:
    assert cues[0][0] == 0.0
    assert cues[-1][1] == pytest.approx(duration, abs=0.001)
    for (_, end, _, _), (start, _, _, _) in itertools.pairwise(cues):
        assert start == end, "cues are contiguous"


def test_sprite_tiles_show_the_frame_at_each_interval_and_the_vtt_points_at_them(tmp_path: Path) -> None:
    video = clip(tmp_path / "v.mp4", "color=red:duration=1", "color=blue:duration=1", "color=green:duration=1", gop=50)

    sprite = sprite_sheet(
        video, tmp_path / "s.jpg", tmp_path / "s.vtt", duration_s=3.0, interval_s=1.0, image_uri="sprite.jpg"
    )

    assert sprite == Sprite(columns=3, rows=1, tile_width=160, tile_height=90, interval_s=1.0, tiles=3)
    sheet = Image.open(tmp_path / "s.jpg")
    assert (sheet.format, sheet.size) == ("JPEG", (480, 90))
    cues = parse_vtt((tmp_path / "s.vtt").read_text())
    assert [c[:2] for c in cues] == [(0.0, 1.0), (1.0, 2.0), (2.0, 3.0)]
    for (_, _, uri, (x, y, w, h)), colour in zip(cues, (RED, BLUE, GREEN), strict=True):
        assert uri == "sprite.jpg"
        assert (w, h) == (160, 90)
        assert near(sheet.getpixel((x + w // 2, y + h // 2)), colour)


def test_sprite_wraps_rows_of_ten_and_the_last_cue_ends_at_the_duration(tmp_path: Path) -> None:
    video = clip(tmp_path / "v.mp4", "testsrc2=duration=2.9")

    sprite = sprite_sheet(
        video, tmp_path / "s.jpg", tmp_path / "s.vtt", duration_s=2.9, interval_s=0.25, image_uri="https://cdn/x.jpg"
    )

    assert (sprite.tiles, sprite.columns, sprite.rows, sprite.interval_s) == (12, 10, 2, 0.25)
    sheet = Image.open(tmp_path / "s.jpg")
    assert sheet.size == (1600, 180)
    cues = parse_vtt((tmp_path / "s.vtt").read_text())
    assert len(cues) == 12
    assert_cues_cover(cues, 2.9)
    for _, _, uri, (x, y, w, h) in cues:
        assert uri == "https://cdn/x.jpg"
        assert 0 <= x and x + w <= sheet.width and 0 <= y and y + h <= sheet.height
    assert cues[10][3][:2] == (0, 90), "the eleventh tile starts the second row"
    first, second = sheet.crop((0, 0, 160, 90)), sheet.crop((160, 0, 320, 90))
    assert luminance(first) != luminance(second), "tiles are frames from different times"


def test_a_long_video_gets_at_most_100_tiles_with_a_widened_interval(tmp_path: Path) -> None:
    video = clip(tmp_path / "v.mp4", "color=red:duration=1", "color=blue:duration=1", "color=green:duration=1")

    sprite = sprite_sheet(
        video, tmp_path / "s.jpg", tmp_path / "s.vtt", duration_s=3.0, interval_s=0.01, image_uri="s.jpg"
    )

    assert (sprite.tiles, sprite.interval_s, sprite.columns, sprite.rows) == (100, 0.03, 10, 10)
    cues = parse_vtt((tmp_path / "s.vtt").read_text())
    assert len(cues) == 100
    assert_cues_cover(cues, 3.0)
    assert cues[1][:2] == (0.03, 0.06)
    sheet = Image.open(tmp_path / "s.jpg")
    for index, colour in ((0, RED), (20, RED), (40, BLUE), (60, BLUE), (80, GREEN), (99, GREEN)):
        x, y, w, h = cues[index][3]
        assert near(sheet.getpixel((x + w // 2, y + h // 2)), colour), index


def test_portrait_tiles_keep_the_aspect_with_an_even_height(tmp_path: Path) -> None:
    video = tmp_path / "portrait.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=180x320:rate=25:duration=1", "-c:v", "libx264", str(video)],
        what="test clip",
    )

    sprite = sprite_sheet(video, tmp_path / "s.jpg", tmp_path / "s.vtt", duration_s=1.0, interval_s=0.5, image_uri="s")

    assert (sprite.tile_width, sprite.tile_height) == (160, 284)
    assert Image.open(tmp_path / "s.jpg").size == (320, 284)


def test_sprite_refuses_a_non_positive_interval(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="interval_s=0"):
        sprite_sheet(
            tmp_path / "v.mp4", tmp_path / "s.jpg", tmp_path / "s.vtt", duration_s=1, interval_s=0, image_uri="s"
        )
