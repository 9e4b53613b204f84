"""A live stream's media playlists as text: which segments they list, with what durations and
discontinuities, and reading back what offload wrote (offload/packs/video/live.py publishes them).

RFC 8216 lets an EVENT playlist only grow: segments are appended, never inserted or removed, and
its target duration doesn't shrink; `grown` keeps to that.
"""

from __future__ import annotations

import math
import posixpath
from dataclasses import dataclass


@dataclass(frozen=True)
class LiveSegment:
    """One published segment: its number, duration, and whether the timeline jumps before it."""

    seq: int
    duration_s: float
    discontinuity: bool = False


@dataclass(frozen=True)
class Timing:
    """A processed segment's start on the output timeline and its duration (object metadata)."""

    start_s: float
    duration_s: float


def segment_name(seq: int) -> str:
    """A processed segment's file name (and its URI in the media playlist)."""
    return f"{seq:06d}.ts"


def contiguous_run(first: int, done: set[int], failed: set[int]) -> list[int]:
    """The segments a rolling playlist lists: from `first` on while each is processed; a failed
    segment is skipped (the stream goes on), the first one neither processed nor failed ends the run."""
    run: list[int] = []
    seq = first
    last = max(done | failed, default=first - 1)
    while seq <= last:
        if seq in done:
            run.append(seq)
        elif seq not in failed:
            break
        seq += 1
    return run


def timeline(
    seqs: list[int],
    failed: set[int],
    timings: dict[int, Timing],
    *,
    fps: float,
    known: list[LiveSegment] | None = None,
) -> list[LiveSegment]:
    """The segments with their durations, and a discontinuity before each one whose start doesn't
    follow the end of the one before (within half a frame) or that comes after a failed one.
    Segments in `known` (what the playlist says already) stay as they are."""
    listed = {s.seq: s for s in known or []}
    out: list[LiveSegment] = []
    previous: int | None = None
    for seq in seqs:
        if seq in listed:
            out.append(listed[seq])
        else:
            t = timings[seq]
            before = timings.get(previous) if previous is not None else None
            jump = previous is not None and (
                before is None
                or any(s in failed for s in range(previous + 1, seq))
                or abs(before.start_s + before.duration_s - t.start_s) > 0.5 / fps
            )
            out.append(LiveSegment(seq, t.duration_s, jump))
        previous = seq
    return out


def media_playlist(segments: list[LiveSegment], *, media_sequence: int, final: bool, target: int = 0) -> str:
    """A media playlist: EVENT while the stream runs, VOD with ENDLIST once it ended.

    TARGETDURATION is the longest segment rounded up (never lower than `target`, what the playlist
    said before: an EVENT playlist's target must not shrink)."""
    target = max(target, max((math.ceil(s.duration_s - 1e-6) for s in segments), default=1), 1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-PLAYLIST-TYPE:{'VOD' if final else 'EVENT'}",
        f"#EXT-X-TARGETDURATION:{target}",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for i, segment in enumerate(segments):
        if segment.discontinuity and i > 0:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXTINF:{segment.duration_s:.3f},", segment_name(segment.seq)]
    if final:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ParsedPlaylist:
    """What offload's own media playlist says: its segments, target duration, and whether it ended."""

    segments: list[LiveSegment]
    target: int
    ended: bool


def parse_playlist(text: str) -> ParsedPlaylist:
    """Read back a media playlist `media_playlist` wrote."""
    segments: list[LiveSegment] = []
    target = 0
    ended = False
    duration: float | None = None
    jump = False
    for line in text.splitlines():
        if line.startswith("#EXT-X-TARGETDURATION:"):
            target = int(line.split(":", 1)[1])
        elif line.startswith("#EXTINF:"):
            duration = float(line.split(":", 1)[1].split(",", 1)[0])
        elif line == "#EXT-X-DISCONTINUITY":
            jump = True
        elif line == "#EXT-X-ENDLIST":
            ended = True
        elif line and not line.startswith("#") and duration is not None:
            segments.append(LiveSegment(int(posixpath.splitext(line)[0]), duration, jump))
            duration, jump = None, False
    return ParsedPlaylist(segments, target, ended)


def grown(current: str | None, segments: list[LiveSegment], first: int) -> str | None:
    """The rolling playlist with `segments`, or None when it would not grow (it lists them all
    already, or it ended). Only segments after the last one it lists are appended: one that turns
    up later before it (a failed segment uploaded again) waits for the final playlist."""
    target = 0
    if current is not None:
        parsed = parse_playlist(current)
        if parsed.ended:
            return None
        if parsed.segments:
            last = parsed.segments[-1].seq
            segments = [*parsed.segments, *(s for s in segments if s.seq > last)]
            if len(segments) == len(parsed.segments):
                return None
        target = parsed.target
    if not segments:
        return None
    return media_playlist(segments, media_sequence=first, final=False, target=target)
