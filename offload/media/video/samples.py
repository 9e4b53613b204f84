"""Generated clips for the tests, the demo and the bench: what phones and cameras send, and broken files.

Every generator renders ffmpeg's `testsrc2` pattern (moving, detailed, never uniform) and, where
the clip has audio, a `sine` tone, at small sizes so they are quick to make and to transcode.
Each takes the output path and its parameters and returns the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from offload.media.video.ffmpeg import run_ffmpeg

# Quick to encode: the clips are inputs, their quality is beside the point.
_X264 = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
_AAC = ["-c:a", "aac", "-b:a", "96k"]


def _pattern(width: int, height: int, fps: float, duration_s: float) -> list[str]:
    return ["-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={fps:g}:duration={duration_s:g}"]


def _tone(duration_s: float, frequency: int = 440) -> list[str]:
    return ["-f", "lavfi", "-i", f"sine=frequency={frequency}:sample_rate=48000:duration={duration_s:g}"]


def _run(args: list[str], out: Path, what: str) -> Path:
    out.parent.mkdir(parents=True, exist_ok=True)
    run_ffmpeg(["-loglevel", "error", *args, str(out)], what=f"sample {what}")
    return out


def landscape(out: Path, *, width: int = 320, height: int = 180, fps: float = 30, duration_s: float = 2.0) -> Path:
    """An H.264 + AAC MP4 with a tone: the ordinary upload."""
    return _run(
        [
            *_pattern(width, height, fps, duration_s),
            *_tone(duration_s),
            *_X264,
            "-g",
            str(round(fps)),
            *_AAC,
            "-shortest",
        ],
        out,
        "landscape",
    )


def no_audio(out: Path, *, width: int = 320, height: int = 180, fps: float = 30, duration_s: float = 2.0) -> Path:
    """An H.264 MP4 without an audio track (screen recordings, some cameras)."""
    return _run([*_pattern(width, height, fps, duration_s), *_X264], out, "no audio")


def portrait(
    out: Path, *, width: int = 320, height: int = 180, fps: float = 30, duration_s: float = 2.0, rotation: int = 90
) -> Path:
    """A phone's portrait clip: a landscape-coded frame with a display matrix turning it `rotation`
    degrees clockwise (90: the usual phone held upright), no audio. Displayed `height` x `width`."""
    coded = out.with_name(f"{out.stem}.coded{out.suffix}")
    no_audio(coded, width=width, height=height, fps=fps, duration_s=duration_s)
    try:
        # -display_rotation is counter-clockwise; a stream copy keeps the pixels and sets the matrix.
        return _run(["-display_rotation", f"{-rotation}", "-i", str(coded), "-c", "copy"], out, "portrait")
    finally:
        coded.unlink(missing_ok=True)


def odd_dimensions(out: Path, *, width: int = 641, height: int = 361, duration_s: float = 1.0) -> Path:
    """An odd-sized frame (641x361 by default) in yuv444p, which H.264 allows and yuv420p outputs don't.

    testsrc2 makes even sizes only, so the pattern is scaled to the odd size."""
    return _run(
        [
            *_pattern(width + 1, height + 1, 25, duration_s),
            *_tone(duration_s),
            "-vf",
            f"format=yuv444p,scale={width}:{height}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-pix_fmt",
            "yuv444p",
            *_AAC,
            "-shortest",
        ],
        out,
        "odd dimensions",
    )


def anamorphic(out: Path, *, width: int = 480, height: int = 360, sar: str = "4/3", duration_s: float = 1.0) -> Path:
    """Non-square pixels (DV, HDV, some broadcast files): a 480x360 frame with SAR 4:3, shown 640x360."""
    return _run(
        [*_pattern(width, height, 25, duration_s), "-vf", f"setsar={sar}", *_X264],
        out,
        "anamorphic",
    )


def variable_frame_rate(out: Path, *, width: int = 320, height: int = 180, duration_s: float = 4.0) -> Path:
    """A variable frame rate clip: 30 fps for the first second, 30/7 fps after (a phone in low light),
    with no frame on the whole seconds after the first."""
    return _run(
        [
            *_pattern(width, height, 30, duration_s),
            *_tone(duration_s),
            "-vf",
            "select='lt(n\\,30)+not(mod(n\\,7))'",
            "-fps_mode",
            "vfr",
            *_X264,
            *_AAC,
            "-shortest",
        ],
        out,
        "variable frame rate",
    )


def hdr10(
    out: Path,
    *,
    width: int = 320,
    height: int = 180,
    fps: float = 30,
    duration_s: float = 2.0,
    transfer: str = "smpte2084",
) -> Path:
    """A 10-bit HDR clip: HEVC Main 10, yuv420p10le, BT.2020 primaries, with audio. `transfer` is
    "smpte2084" (PQ: HDR10) or "arib-std-b67" (HLG: phones' HDR)."""
    colour = ["-color_primaries", "bt2020", "-color_trc", transfer, "-colorspace", "bt2020nc"]
    return _run(
        [
            *_pattern(width, height, fps, duration_s),
            *_tone(duration_s),
            "-vf",
            "format=yuv420p10le",
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-x265-params",
            f"log-level=error:colorprim=bt2020:transfer={transfer}:colormatrix=bt2020nc",
            *colour,
            "-tag:v",
            "hvc1",
            *_AAC,
            "-shortest",
        ],
        out,
        "hdr",
    )


def interlaced(out: Path, *, width: int = 320, height: int = 180, duration_s: float = 2.0) -> Path:
    """A top-field-first interlaced 25i H.264 clip (a broadcast camera): 50 fields/s woven into 25 frames."""
    return _run(
        [
            *_pattern(width, height, 50, duration_s),
            *_tone(duration_s),
            "-vf",
            "tinterlace=mode=interleave_top,fieldorder=tff",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-flags",
            "+ildct+ilme",
            "-x264-params",
            "tff=1",
            "-pix_fmt",
            "yuv420p",
            *_AAC,
            "-shortest",
        ],
        out,
        "interlaced",
    )


def short(out: Path, *, duration_s: float = 0.5, width: int = 320, height: int = 180) -> Path:
    """A clip under one second, with audio."""
    return landscape(out, width=width, height=height, duration_s=duration_s)


def browser_recording(out: Path, *, width: int = 320, height: int = 180, duration_s: float = 2.0) -> Path:
    """A VP8 + Opus WebM written as a live stream, as a browser's MediaRecorder does: no duration, no cues."""
    return _run(
        [
            *_pattern(width, height, 30, duration_s),
            *_tone(duration_s),
            "-c:v",
            "libvpx",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "500k",
            "-c:a",
            "libopus",
            "-b:a",
            "64k",
            "-shortest",
            "-f",
            "webm",
            "-live",
            "1",
        ],
        out,
        "browser recording",
    )


def audio_only(out: Path, *, duration_s: float = 2.0) -> Path:
    """An AAC .m4a with no video stream (a voice memo)."""
    return _run([*_tone(duration_s), *_AAC], out, "audio only")


def empty(out: Path) -> Path:
    """A zero-byte file (a failed upload)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(b"")
    return out


def truncated(out: Path, *, duration_s: float = 2.0, keep: float = 0.5) -> Path:
    """An MP4 cut short before its moov (the index, written last unless +faststart): `keep` of its bytes."""
    whole = out.with_name(f"{out.stem}.whole{out.suffix}")
    landscape(whole, duration_s=duration_s)
    data = whole.read_bytes()
    whole.unlink()
    out.write_bytes(data[: int(len(data) * keep)])
    return out


def not_video(out: Path) -> Path:
    """A text file with a video's name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("This is not a video. It is a shopping list: eggs, milk, bread.\n" * 20)
    return out


def random_bytes(out: Path, *, n: int = 64 * 1024) -> Path:
    """Random bytes with a video's name."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(os.urandom(n))
    return out


def unsupported_codec(out: Path, *, duration_s: float = 1.0) -> Path:
    """An AVI of MS-MPEG-4 v2 video (`msmpeg4v2`, a 1990s codec outside INPUT_VIDEO_CODECS)."""
    return _run([*_pattern(160, 90, 25, duration_s), "-c:v", "msmpeg4v2"], out, "unsupported codec")
