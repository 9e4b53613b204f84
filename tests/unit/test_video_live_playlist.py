"""A live stream's objects and playlists, without AWS: which objects are segments, which segments
a rolling playlist lists, where its timeline jumps, and that it only ever grows."""

from __future__ import annotations

import m3u8
import pytest

from offload.errors import NonRetryableError
from offload.packs.video.live import Ignored, LiveObject, classify
from offload.packs.video.live_playlist import (
    LiveSegment,
    Timing,
    contiguous_run,
    grown,
    media_playlist,
    parse_playlist,
    timeline,
)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("uploads/live/show/000123.ts", LiveObject("show", "000123.ts", "live_segment", 123)),
        ("uploads/live/show/seg-42.mp4", LiveObject("show", "seg-42.mp4", "live_segment", 42)),
        ("uploads/live/Émission du soir/7.TS", LiveObject("Émission du soir", "7.TS", "live_segment", 7)),
        ("uploads/live/show/END", LiveObject("show", "END", "live_end")),
        ("uploads/live/show/end.txt", LiveObject("show", "end.txt", "live_end")),
        ("uploads/live/show/playlist.m3u8", Ignored("a playlist")),
        ("uploads/live/show/recording-ended.json", Ignored("recorder metadata")),
        ("uploads/live/show/", Ignored("a folder marker")),
    ],
)
def test_objects_under_a_streams_folder_are_segments_end_or_ignored(key: str, expected: object) -> None:
    assert classify(key) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("uploads/live/000001.ts", "not in a stream's folder"),
        ("uploads/live/show/720p30/1.ts", "subfolder"),
        ("uploads/live/show/intro.ts", "no sequence number"),
        ("uploads/live/show/notes.txt", "neither a media segment"),
        ("uploads/live/show/seg-1.m4s", "neither a media segment"),
    ],
)
def test_other_objects_are_refused_saying_what_to_upload(key: str, message: str) -> None:
    with pytest.raises(NonRetryableError, match=message):
        classify(key)


@pytest.mark.parametrize(
    ("done", "failed", "run"),
    [
        ({0, 1, 2}, set(), [0, 1, 2]),
        ({0, 2, 3}, set(), [0]),  # 2 and 3 wait for 1
        ({1, 2}, set(), []),  # nothing until the first
        ({0, 2, 3}, {1}, [0, 2, 3]),  # a failed segment is skipped
        ({1}, {0}, [1]),
        (set(), set(), []),
    ],
)
def test_a_rolling_playlist_lists_the_contiguous_run_from_the_first_segment(
    done: set[int], failed: set[int], run: list[int]
) -> None:
    assert contiguous_run(0, done, failed) == run


def test_the_timeline_jumps_where_a_segment_does_not_start_where_the_last_one_ended() -> None:
    timings = {
        0: Timing(11.4213, 2.0),
        1: Timing(13.4213, 2.0),  # runs on
        2: Timing(11.4, 2.0),  # timestamps started again
        4: Timing(17.4, 2.0),  # after 3 failed
    }
    segments = timeline([0, 1, 2, 4], {3}, timings, fps=24)
    assert [(s.seq, s.discontinuity) for s in segments] == [(0, False), (1, False), (2, True), (4, True)]


def test_segments_the_playlist_lists_already_are_kept_as_they_are() -> None:
    known = [LiveSegment(0, 2.0), LiveSegment(1, 1.5, discontinuity=True)]
    timings = {1: Timing(20.0, 1.5), 2: Timing(21.5, 2.0)}
    assert timeline([0, 1, 2], set(), timings, fps=30, known=known) == [*known, LiveSegment(2, 2.0)]


def test_an_event_playlist_parses_with_m3u8_and_reads_back() -> None:
    segments = [LiveSegment(5, 2.002), LiveSegment(6, 2.5, discontinuity=True), LiveSegment(7, 1.0)]
    text = media_playlist(segments, media_sequence=5, final=False)
    pl = m3u8.loads(text)
    assert (pl.playlist_type, pl.is_endlist, pl.media_sequence, pl.target_duration) == ("event", False, 5, 3)
    assert [(s.uri, s.duration, s.discontinuity) for s in pl.segments] == [
        ("000005.ts", 2.002, False),
        ("000006.ts", 2.5, True),
        ("000007.ts", 1.0, False),
    ]
    parsed = parse_playlist(text)
    assert (parsed.segments, parsed.target, parsed.ended) == (segments, 3, False)
    final = m3u8.loads(media_playlist(segments, media_sequence=5, final=True))
    assert (final.playlist_type, final.is_endlist) == ("vod", True)


def test_a_rolling_playlist_only_grows() -> None:
    three = [LiveSegment(0, 2.0), LiveSegment(1, 2.0), LiveSegment(2, 3.4)]
    current = media_playlist(three, media_sequence=0, final=False)
    # A slower task with an older listing doesn't put back a shorter playlist.
    assert grown(current, three[:2], 0) is None
    assert grown(current, three, 0) is None
    # New segments are appended; the target duration never shrinks.
    longer = grown(current, [*three[:2], LiveSegment(3, 2.0)], 0)
    assert longer is not None
    assert [s.seq for s in parse_playlist(longer).segments] == [0, 1, 2, 3]
    assert parse_playlist(longer).target == 4
    assert parse_playlist(media_playlist(three[:1], media_sequence=0, final=False, target=4)).target == 4
    # One that turns up before the last listed segment is not inserted.
    assert grown(longer, [LiveSegment(0, 2.0), LiveSegment(1, 2.0)], 0) is None
    # An ended playlist is never touched.
    assert grown(media_playlist(three, media_sequence=0, final=True), [*three, LiveSegment(3, 2.0)], 0) is None
    # Nothing to list: no playlist yet.
    assert grown(None, [], 0) is None
