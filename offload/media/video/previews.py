"""Previews of a processed video: the poster and the scrubbing sprite sheet with its WebVTT.

Both read the joined top rendition (upright, SDR, constant frame rate), not the source.

Frames are taken with PyAV, not one ffmpeg run with fps+scale+tile: that run decodes every frame of
the video (minutes for two hours of 1080p), while seeking to each wanted time decodes at most one
GOP per frame (the renditions have a keyframe every `gop_s`, at the sprite times when the interval is
a multiple of it: one frame decoded per tile), at most 100 GOPs for a whole sprite sheet. When the
next wanted time is close ahead (less than `SEEK_AHEAD_S`), decoding simply carries on instead of
seeking back to a keyframe. Measured on a 60 s 720p clip with a 2 s GOP: 30 tiles in 0.4 s against
1.5 s for ffmpeg's fps+scale+tile run (which decodes all 1,500 frames).
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterator, Sequence
from pathlib import Path

import av
from PIL import Image, ImageStat
from pydantic import BaseModel

POSTER_SAMPLES = 10
POSTER_SKIP_S = 0.5  # the opening instant is often black, a fade or a title card
POSTER_JPEG_QUALITY = 85
DETAIL_SIDE = 320  # frames are scored on a copy this large
# A frame this dark, this bright or this flat is "uniform": any other frame beats it.
FLAT_STDDEV = 10.0
DARK_MEAN = 16.0
BRIGHT_MEAN = 240.0
SPRITE_TILE_WIDTH = 160
SPRITE_COLUMNS = 10
SPRITE_MAX_TILES = 100
SPRITE_JPEG_QUALITY = 75
# Decode on (rather than seek) to a time less than this ahead: half the renditions' 2 s GOP, where
# decoding on and seeking back to the keyframe before the time cost the same on average.
SEEK_AHEAD_S = 1.0


class Sprite(BaseModel):
    """The sprite sheet and its WebVTT: cue i shows tile i for [i * interval, (i + 1) * interval)."""

    columns: int
    rows: int
    tile_width: int
    tile_height: int
    interval_s: float  # the interval used: widened from the one asked so there are at most 100 tiles
    tiles: int


def poster(video: Path, out: Path, *, duration_s: float) -> Path:
    """A JPEG of a representative frame: the most detailed of frames sampled across the video
    (never a black or uniform opening frame when a better one exists).

    Ten frames are sampled evenly over [0.5 s, end) (over the whole video when it is shorter than
    a second); the score is the standard deviation of the luminance of a small copy, and frames
    that are dark, bright or flat lose to any that is not; ties go to the earlier frame."""
    skip = POSTER_SKIP_S if duration_s > 2 * POSTER_SKIP_S else 0.0
    span = max(duration_s - skip, 0.0)
    times = [skip + (i + 0.5) * span / POSTER_SAMPLES for i in range(POSTER_SAMPLES)]
    best: av.VideoFrame | None = None
    best_score: tuple[bool, float] | None = None
    for frame in _frames_at(video, times):
        score = _detail(frame)
        if best_score is None or score > best_score:
            best, best_score = frame, score
    if best is None:
        raise ValueError(f"poster: no frame could be decoded from {video}")
    out.parent.mkdir(parents=True, exist_ok=True)
    best.to_image().save(out, format="JPEG", quality=POSTER_JPEG_QUALITY, optimize=True, progressive=True)
    return out


def sprite_sheet(
    video: Path, out_image: Path, out_vtt: Path, *, duration_s: float, interval_s: float, image_uri: str
) -> Sprite:
    """Tiles every `interval_s` seconds in one JPEG, and a WebVTT whose cues point at `image_uri#xywh=...`.

    Tiles are 160 px wide (the frame's aspect kept, even height), 10 to a row, at most 100 of them:
    for a long video the interval is widened (to whole milliseconds) and `Sprite.interval_s` says
    which one was used. Tile i is the frame at i * interval (to the nearest frame); its cue runs to the next
    tile's time, the last one to `duration_s`."""
    if duration_s <= 0 or interval_s <= 0:
        raise ValueError(f"sprite sheet: duration_s={duration_s} and interval_s={interval_s} must both be > 0")
    duration_ms = max(1, round(duration_s * 1000))
    interval_ms = max(round(interval_s * 1000), math.ceil(duration_ms / SPRITE_MAX_TILES), 1)
    tiles = math.ceil(duration_ms / interval_ms)
    tile_w, tile_h = _tile_size(video)
    columns = min(SPRITE_COLUMNS, tiles)
    rows = math.ceil(tiles / columns)
    sheet = Image.new("RGB", (columns * tile_w, rows * tile_h))
    times = [i * interval_ms / 1000 for i in range(tiles)]
    placed = 0
    last: Image.Image | None = None
    for i, frame in enumerate(_frames_at(video, times)):
        last = frame.to_image(width=tile_w, height=tile_h, interpolation="AREA")
        sheet.paste(last, ((i % columns) * tile_w, (i // columns) * tile_h))
        placed = i + 1
    if last is None:
        raise ValueError(f"sprite sheet: no frame could be decoded from {video}")
    for i in range(placed, tiles):  # a video shorter than `duration_s` said: repeat its last frame
        sheet.paste(last, ((i % columns) * tile_w, (i // columns) * tile_h))
    out_image.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out_image, format="JPEG", quality=SPRITE_JPEG_QUALITY, optimize=True)
    cues = ["WEBVTT", ""]
    for i in range(tiles):
        start, end = i * interval_ms, min((i + 1) * interval_ms, duration_ms)
        x, y = (i % columns) * tile_w, (i // columns) * tile_h
        cues += [f"{_vtt_time(start)} --> {_vtt_time(end)}", f"{image_uri}#xywh={x},{y},{tile_w},{tile_h}", ""]
    out_vtt.parent.mkdir(parents=True, exist_ok=True)
    out_vtt.write_text("\n".join(cues), encoding="utf-8")
    return Sprite(
        columns=columns, rows=rows, tile_width=tile_w, tile_height=tile_h, interval_s=interval_ms / 1000, tiles=tiles
    )


def sample_frames(
    video: Path | str, count: int, *, duration_s: float, max_side: int = 1024
) -> list[tuple[float, bytes]]:
    """`count` frames evenly spread over the video (the middle of each of `count` equal spans), as
    (time in seconds, JPEG bytes at most `max_side` px): what moderation looks at."""
    if count < 1:
        raise ValueError(f"sample at least one frame, not {count}")
    times = [duration_s * (i + 0.5) / count for i in range(count)]
    out = []
    for t, frame in zip(times, _frames_at(video, times), strict=False):
        image = frame.to_image()
        image.thumbnail((max_side, max_side))
        buf = io.BytesIO()
        image.convert("RGB").save(buf, "JPEG", quality=POSTER_JPEG_QUALITY)
        out.append((t, buf.getvalue()))
    return out


def _detail(frame: av.VideoFrame) -> tuple[bool, float]:
    """(not uniform, luminance standard deviation) of a small greyscale copy: higher is better."""
    scale = min(1.0, DETAIL_SIDE / max(frame.width, frame.height))
    small = frame.to_image(
        width=max(2, round(frame.width * scale)), height=max(2, round(frame.height * scale)), interpolation="AREA"
    ).convert("L")
    stat = ImageStat.Stat(small)
    mean, stddev = stat.mean[0], stat.stddev[0]
    return (stddev >= FLAT_STDDEV and DARK_MEAN <= mean <= BRIGHT_MEAN, stddev)


def _tile_size(video: Path) -> tuple[int, int]:
    """160 px wide and the displayed aspect (sample aspect ratio applied), the height even."""
    with av.open(str(video)) as container:
        if not container.streams.video:
            raise ValueError(f"sprite sheet: {video} has no video stream")
        ctx = container.streams.video[0].codec_context
        sar = ctx.sample_aspect_ratio
        display_w = ctx.width * (float(sar) if sar else 1.0)
        height = max(2, round(SPRITE_TILE_WIDTH * ctx.height / display_w / 2) * 2)
    return SPRITE_TILE_WIDTH, height


def _vtt_time(ms: int) -> str:
    """HH:MM:SS.mmm, as WebVTT cue timings are written."""
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def _frames_at(video: Path | str, times: Sequence[float]) -> Iterator[av.VideoFrame]:
    """For each time (ascending, from the video's start), the first frame at or after it less half a
    frame (so the frame whose timestamp rounds to it), or the last frame when past the end.

    Seeks to the keyframe at or before the time plus half a frame (so a keyframe exactly at the time,
    as the renditions have every `gop_s`, is decoded alone), unless the time is less than SEEK_AHEAD_S
    past the last decoded frame: then decoding carries on, cheaper than going back to a keyframe."""
    with av.open(str(video)) as container:
        if not container.streams.video:
            raise ValueError(f"{video} has no video stream")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base
        start = float(stream.start_time * time_base) if stream.start_time and time_base else 0.0
        half_frame = 0.5 / float(stream.average_rate) if stream.average_rate else 0.0
        frames: Iterator[av.VideoFrame] | None = None
        current: av.VideoFrame | None = None
        ended = False
        for t in times:
            target = start + t - half_frame
            if current is not None and current.time is not None and current.time >= target:
                yield current
                continue
            ahead = current is not None and current.time is not None and target - current.time < SEEK_AHEAD_S
            if frames is None or not (ahead or ended):
                seek_to = target + 2 * half_frame
                container.seek(int(seek_to / time_base) if time_base and seek_to > 0 else 0, stream=stream)
                frames = container.decode(stream)
                ended = False
            for frame in frames:
                current = frame
                if frame.time is None or frame.time >= target:
                    break
            else:
                ended = True  # past the end: `current` is the last frame
            if current is not None:
                yield current
