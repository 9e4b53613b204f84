"""Specification of offload.media.video.audio: the audio outputs, EBU R128 normalisation and the waveform.

Every input is generated with ffmpeg's lavfi sources; every output is decoded back with PyAV or
measured with ffmpeg's own ebur128 filter.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import av
import pytest
from PIL import Image

from offload.media.video.audio import encode_audio, waveform_png
from offload.media.video.ffmpeg import run_ffmpeg


def tone(out: Path, *, amplitude: float, seconds: float = 2.0, channels: int = 2, rate: int = 48000) -> Path:
    """A 440 Hz sine of `amplitude` (1.0 = 0 dBFS) in every channel, as 16-bit WAV."""
    expr = "|".join([f"{amplitude}*sin(2*PI*440*t)"] * channels)
    run_ffmpeg(["-f", "lavfi", "-i", f"aevalsrc={expr}:s={rate}:d={seconds}", str(out)], what="test tone")
    return out


def integrated_loudness(path: Path) -> float:
    """The integrated loudness (LUFS) ffmpeg's ebur128 filter measures."""
    stderr = run_ffmpeg(["-i", str(path), "-af", "ebur128", "-f", "null", "-"], what="ebur128")
    summary = stderr[stderr.rindex("Summary:") :]
    match = re.search(r"I:\s+(-?[\d.]+) LUFS", summary)
    assert match, summary
    return float(match.group(1))


def decoded(path: Path) -> tuple[str, int, int, float, str]:
    """(codec, channels, sample rate, duration s, container) of the first audio stream, decoded through."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        ctx = stream.codec_context
        return ctx.name, ctx.channels, ctx.sample_rate, samples / ctx.sample_rate, container.format.name


def test_every_format_decodes_back_with_the_source_duration_and_channels(tmp_path: Path) -> None:
    source = tone(tmp_path / "tone.wav", amplitude=0.25, seconds=2.0, rate=44100)

    outputs = encode_audio(str(source), tmp_path / "out", formats=("aac", "opus", "mp3"))

    assert outputs == {
        "aac": tmp_path / "out" / "audio.m4a",
        "opus": tmp_path / "out" / "audio.opus",
        "mp3": tmp_path / "out" / "audio.mp3",
    }
    codec, channels, rate, seconds, container = decoded(outputs["aac"])
    assert (codec, channels, rate, "mp4" in container) == ("aac", 2, 44100, True)
    assert seconds == pytest.approx(2.0, abs=0.1)
    codec, channels, rate, seconds, container = decoded(outputs["opus"])
    assert (codec, channels, rate, container) == ("opus", 2, 48000, "ogg")
    assert seconds == pytest.approx(2.0, abs=0.1)
    codec, channels, rate, seconds, container = decoded(outputs["mp3"])
    assert (codec.startswith("mp3"), channels, rate, container) == (True, 2, 44100, "mp3")
    assert seconds == pytest.approx(2.0, abs=0.1)


def test_aac_is_faststart_so_playback_starts_before_the_download_ends(tmp_path: Path) -> None:
    source = tone(tmp_path / "tone.wav", amplitude=0.25)

    data = encode_audio(str(source), tmp_path, formats=("aac",))["aac"].read_bytes()

    assert 0 <= data.index(b"moov") < data.index(b"mdat")


def test_surround_is_downmixed_to_stereo_and_mono_stays_mono(tmp_path: Path) -> None:
    surround = tone(tmp_path / "surround.wav", amplitude=0.25, channels=6)
    mono = tone(tmp_path / "mono.wav", amplitude=0.25, channels=1)

    from_surround = encode_audio(str(surround), tmp_path / "s", formats=("aac", "opus"))
    from_mono = encode_audio(str(mono), tmp_path / "m", formats=("opus",))

    assert decoded(from_surround["aac"])[1] == 2
    assert decoded(from_surround["opus"])[1] == 2
    assert decoded(from_mono["opus"])[1] == 1


def test_a_source_without_audio_gives_no_outputs(tmp_path: Path) -> None:
    silent_video = tmp_path / "video.mp4"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=1", "-c:v", "libx264", str(silent_video)],
        what="test clip",
    )

    assert encode_audio(str(silent_video), tmp_path / "out") == {}
    assert not (tmp_path / "out").exists()


def test_the_audio_track_of_a_video_is_encoded(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    run_ffmpeg(
        [
            *("-f", "lavfi", "-i", "testsrc2=size=160x90:rate=10:duration=1.5"),
            *("-f", "lavfi", "-i", "sine=frequency=440:duration=1.5"),
            *("-c:v", "libx264", "-c:a", "aac", "-shortest", str(clip)),
        ],
        what="test clip",
    )

    outputs = encode_audio(str(clip), tmp_path / "out", formats=("opus",))

    codec, channels, _, seconds, _ = decoded(outputs["opus"])
    assert (codec, channels) == ("opus", 1)
    assert seconds == pytest.approx(1.5, abs=0.1)


@pytest.mark.parametrize(("name", "amplitude"), [("quiet, -40 dBFS", 0.01), ("loud, -1 dBFS", 0.89)])
def test_loudness_normalisation_brings_quiet_and_loud_tones_to_minus_23_lufs(
    tmp_path: Path, name: str, amplitude: float
) -> None:
    source = tone(tmp_path / "tone.wav", amplitude=amplitude, seconds=3.0)
    assert abs(integrated_loudness(source) + 23) > 10, f"the {name} source is far from the target to start with"

    outputs = encode_audio(str(source), tmp_path / "out", formats=("aac", "opus", "mp3"), loudness_normalise=True)

    for fmt, path in outputs.items():
        assert integrated_loudness(path) == pytest.approx(-23.0, abs=1.0), fmt
        assert decoded(path)[3] == pytest.approx(3.0, abs=0.1), fmt


def test_without_normalisation_the_loudness_is_kept(tmp_path: Path) -> None:
    source = tone(tmp_path / "tone.wav", amplitude=0.01, seconds=3.0)

    outputs = encode_audio(str(source), tmp_path / "out", formats=("aac",))

    assert integrated_loudness(outputs["aac"]) == pytest.approx(integrated_loudness(source), abs=1.0)


def test_normalising_silence_leaves_it_silent(tmp_path: Path) -> None:
    source = tone(tmp_path / "silence.wav", amplitude=0.0, seconds=1.0)

    outputs = encode_audio(str(source), tmp_path / "out", formats=("opus",), loudness_normalise=True)

    assert decoded(outputs["opus"])[3] == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize(
    ("formats", "kbps", "fix"),
    [(("flac",), 128, "one or more of"), ((), 128, "one or more of"), (("aac",), 4, "16 to 320")],
)
def test_bad_arguments_are_refused_with_the_fix(tmp_path: Path, formats: Any, kbps: int, fix: str) -> None:
    with pytest.raises(ValueError, match=fix):
        encode_audio("unused.wav", tmp_path, formats=formats, kbps=kbps)


def opaque_rows(image: Image.Image, x: int) -> list[int]:
    """The rows of column x that are drawn (alpha > 0)."""
    alpha = image.getchannel("A")
    return [y for y in range(image.height) if alpha.getpixel((x, y))]


def test_waveform_is_the_peak_envelope_on_transparent_at_the_size_asked(tmp_path: Path) -> None:
    # silent first second, then a half-scale tone for one second
    source = tmp_path / "half.wav"
    run_ffmpeg(
        ["-f", "lavfi", "-i", "aevalsrc=if(gte(t\\,1)\\,0.5*sin(2*PI*440*t)\\,0)|0:s=48000:d=2", str(source)],
        what="test tone",
    )

    path = waveform_png(str(source), tmp_path / "wave.png", width=400, height=101)

    image = Image.open(path)
    assert (image.format, image.size, image.mode) == ("PNG", (400, 101), "RGBA")
    assert image.getchannel("A").getextrema() == (0, 255), "drawn on a transparent background"
    quiet, loud = opaque_rows(image, 100), opaque_rows(image, 300)
    assert len(quiet) == 1, "silence is a one-pixel line"
    assert quiet == [50]
    assert min(loud) == pytest.approx(25, abs=1)  # +0.5 of full scale, half-way up from the middle
    assert max(loud) == pytest.approx(75, abs=1)
    assert loud == list(range(min(loud), max(loud) + 1)), "each column is filled from the minimum to the maximum"


def test_waveform_of_a_long_track_stays_within_its_width(tmp_path: Path) -> None:
    source = tmp_path / "tone.mp3"
    run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=200:duration=20", "-c:a", "libmp3lame", str(source)], what="tone")

    image = Image.open(waveform_png(str(source), tmp_path / "wave.png", width=50, height=40))

    assert image.size == (50, 40)
    assert all(opaque_rows(image, x) for x in range(50)), "every column is drawn"
