"""Audio outputs: AAC (.m4a), Opus (.opus) and MP3, optionally loudness-normalised (EBU R128), and
the waveform picture. Video sources use `encode_audio` for their audio track (encoded once, whole).

- One ffmpeg run makes every format: the first audio track is decoded (and normalised) once, then
  `asplit` feeds one encoder per format. More than two channels are downmixed to stereo (ffmpeg's
  matrix, centre and surrounds at -3 dB); mono stays mono. Metadata and chapters are not copied
  (tags can carry names and places; the image pack strips EXIF the same way).
- Sample rate: Opus is always 48 kHz (its native rate). AAC and MP3 keep the source's rate up to
  48 kHz; above that, or when normalising (loudnorm resamples to 192 kHz internally), 48 kHz.
- Loudness normalisation is EBU R128 with ffmpeg's `loudnorm` to I=-23 LUFS, TP=-1 dBTP, LRA=7 LU,
  in two passes: the first measures the source (`print_format=json`), the second applies one gain
  (`linear=true` with the measured values), so the programme's dynamics are kept and the result lands
  within a fraction of a LU of the target. loudnorm itself falls back to its dynamic (single-pass
  style) mode when one gain would push the true peak over -1 dBTP or the range exceeds 7 LU. Silence
  (an integrated loudness of -inf) is left as it is. The source is read twice (a presigned URL too).
- The waveform is drawn here, not by ffmpeg's showwavespic (which holds the whole decoded track in
  memory until the end): PyAV decodes the track once as interleaved 16-bit samples and the peak
  envelope (the minimum and maximum of every channel) is kept in at most 2 x width bins, merged
  pairwise as the track goes on, so memory stays constant for a two-hour file.
"""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Literal

import av
from PIL import Image, ImageDraw

from offload.media.video.ffmpeg import open_source, run_ffmpeg, source_args

AudioFormat = Literal["aac", "opus", "mp3"]

AUDIO_FORMATS: tuple[AudioFormat, ...] = ("aac", "opus", "mp3")
OUTPUT_NAMES: dict[AudioFormat, str] = {"aac": "audio.m4a", "opus": "audio.opus", "mp3": "audio.mp3"}
CONTENT_TYPES: dict[AudioFormat, str] = {"aac": "audio/mp4", "opus": "audio/ogg", "mp3": "audio/mpeg"}
# EBU R128 (broadcast) targets; the limits of loudnorm's own options.
LOUDNESS_I = -23.0
LOUDNESS_TP = -1.0
LOUDNESS_LRA = 7.0
MAX_RATE = 48_000
OPUS_RATE = 48_000
WAVEFORM_COLOUR = (37, 99, 235, 255)  # opaque blue on a transparent background

_ENCODERS: dict[AudioFormat, list[str]] = {
    "aac": ["-c:a", "aac", "-profile:a", "aac_low", "-movflags", "+faststart", "-f", "mp4"],
    "opus": ["-c:a", "libopus", "-ar", str(OPUS_RATE), "-f", "opus"],
    "mp3": ["-c:a", "libmp3lame", "-f", "mp3"],
}
_LOUDNORM_JSON = re.compile(r"\{[^{}]*\"input_i\"[^{}]*\}", re.S)


@dataclass(frozen=True, slots=True)
class AudioTrack:
    """The facts of a source's first audio track this module needs (channels, rate, duration)."""

    channels: int
    sample_rate: int
    duration_s: float | None


def first_audio_track(source: str) -> AudioTrack | None:
    """The first audio track of `source` (a path or an http(s) URL), or None when it has none.

    Headers only (PyAV); the pipeline's full checks are `facts.probe`'s, which ran before."""
    with open_source(source) as container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        duration = None
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        return AudioTrack(stream.codec_context.channels, stream.codec_context.sample_rate, duration)


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
    wanted = list(dict.fromkeys(formats))
    unknown = [f for f in wanted if f not in AUDIO_FORMATS]
    if unknown or not wanted:
        raise ValueError(f"audio formats {list(formats)!r}: give one or more of {', '.join(AUDIO_FORMATS)}")
    if not 16 <= kbps <= 320:
        raise ValueError(f"audio kbps={kbps}: give a bitrate from 16 to 320")
    track = first_audio_track(source)
    if track is None:
        return {}
    chain = []
    if loudness_normalise:
        chain.append(_loudnorm_apply(source))
    rate = track.sample_rate if 0 < track.sample_rate <= MAX_RATE and not loudness_normalise else MAX_RATE
    chain.append(f"aresample={rate}")
    if track.channels > 2:
        chain.append("aformat=channel_layouts=stereo")
    labels = [f"[a{i}]" for i in range(len(wanted))]
    graph = f"[0:a:0]{','.join(chain)},asplit={len(wanted)}{''.join(labels)}"
    out_dir.mkdir(parents=True, exist_ok=True)
    args: list[str] = [*source_args(source), "-i", source, "-filter_complex", graph]
    outputs: dict[str, Path] = {}
    for label, fmt in zip(labels, wanted, strict=True):
        out = out_dir / OUTPUT_NAMES[fmt]
        args += ["-map", label, "-map_metadata", "-1", "-map_chapters", "-1", *_ENCODERS[fmt], "-b:a", f"{kbps}k"]
        args.append(str(out))
        outputs[fmt] = out
    run_ffmpeg(args, what=f"audio encode ({', '.join(wanted)})")
    return outputs


def measure_loudness(source: str) -> dict[str, float]:
    """EBU R128 measurement of the first audio track by loudnorm's analysis pass: input_i (LUFS),
    input_tp (dBTP), input_lra (LU), input_thresh and target_offset; -inf for silence."""
    target = f"I={LOUDNESS_I}:TP={LOUDNESS_TP}:LRA={LOUDNESS_LRA}"
    stderr = run_ffmpeg(
        [
            *source_args(source),
            *("-i", source, "-map", "0:a:0", "-af", f"loudnorm={target}:print_format=json", "-f", "null", "-"),
        ],
        what="loudness measurement",
    )
    found = _LOUDNORM_JSON.findall(stderr)
    if not found:
        raise ValueError(f"loudness measurement: no loudnorm JSON in ffmpeg's output: {stderr[-400:]}")
    stats = json.loads(found[-1])
    return {k: float(v) for k, v in stats.items() if k.startswith("input_") or k == "target_offset"}


def _loudnorm_apply(source: str) -> str:
    """The second pass's filter: one measured gain (linear) to -23 LUFS; `anull` for silence."""
    m = measure_loudness(source)
    if not all(math.isfinite(m[k]) for k in ("input_i", "input_tp", "input_lra", "input_thresh")):
        return "anull"  # silence: no gain reaches -23 LUFS, and loudnorm refuses -inf
    return (
        f"loudnorm=I={LOUDNESS_I}:TP={LOUDNESS_TP}:LRA={LOUDNESS_LRA}"
        f":measured_I={m['input_i']}:measured_TP={m['input_tp']}:measured_LRA={m['input_lra']}"
        f":measured_thresh={m['input_thresh']}:offset={m['target_offset']}:linear=true"
    )


def waveform_png(source: str, out: Path, *, width: int = 1800, height: int = 280) -> Path:
    """A PNG of the audio's waveform (peak envelope), `width` x `height`: opaque blue on transparent,
    linear amplitude with full scale (0 dBFS) at the top and bottom edges, every channel together."""
    if width < 1 or height < 2:
        raise ValueError(f"waveform size {width}x{height}: give a width >= 1 and a height >= 2")
    lows, highs = _peak_bins(source, width)
    image = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    mid = (height - 1) / 2
    n = len(lows)
    for x in range(width):
        first = x * n // width
        last = max(first + 1, (x + 1) * n // width)
        low, high = min(lows[first:last]), max(highs[first:last])
        top = round(mid - high / 32768 * mid)
        bottom = round(mid - low / 32768 * mid)
        draw.line([(x, min(top, bottom)), (x, max(top, bottom))], fill=WAVEFORM_COLOUR)
    out.parent.mkdir(parents=True, exist_ok=True)
    image.save(out, format="PNG", optimize=True)
    return out


def _peak_bins(source: str, width: int) -> tuple[array[int], array[int]]:
    """Per-bin minimum and maximum sample (s16, all channels) of the first audio track, in
    between `width` and 2 x `width` bins of equal length (the last may be partial); ([0], [0]) if silent/empty."""
    lows: array[int] = array("h")
    highs: array[int] = array("h")
    bin_frames = 1  # sample frames (one sample of every channel) per bin
    with open_source(source) as container:
        if not container.streams.audio:
            raise ValueError(f"waveform: {source} has no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16")  # packed (interleaved), same layout and rate
        pending: array[int] = array("h")
        channels = 1
        for frame in chain(container.decode(stream), [None]):  # None flushes the resampler
            for converted in resampler.resample(frame):
                channels = converted.layout.nb_channels
                pending.frombytes(bytes(converted.planes[0])[: converted.samples * channels * 2])
                step = bin_frames * channels
                pos = 0
                while len(pending) - pos >= step:
                    chunk = pending[pos : pos + step]
                    pos += step
                    lows.append(min(chunk))
                    highs.append(max(chunk))
                    if len(lows) == 2 * width:  # always even here, so every merged bin has the same length
                        lows, highs = _halve(lows, highs)
                        bin_frames *= 2
                        step = bin_frames * channels
                del pending[:pos]
        if pending:
            lows.append(min(pending))
            highs.append(max(pending))
    if not lows:
        return array("h", [0]), array("h", [0])
    return lows, highs


def _halve(lows: array[int], highs: array[int]) -> tuple[array[int], array[int]]:
    """Merge neighbouring bins pairwise (an even number of them)."""
    return array("h", map(min, lows[0::2], lows[1::2])), array("h", map(max, highs[0::2], highs[1::2]))
