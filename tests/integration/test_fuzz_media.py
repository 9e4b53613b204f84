"""Fuzzing the image and video probes with mutated files: an answer or a clear refusal, quickly.

Each example takes a real file made here (JPEG, PNG, WebP, GIF; an MP4 with sound), damages it
(bytes overwritten, a slice cut out or repeated, the tail lost) and probes it. The probe must
return the file's facts or raise the pipeline's own input error (ImageInputError, MediaInputError:
what the step turns into a `failed` record with a reason), within seconds: never another
exception, never a hang.
"""

from __future__ import annotations

import io
import time
from functools import cache
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from offload.media import facts
from offload.media.video import facts as video_facts
from offload.media.video import samples

# A probe of a small file answers in well under a second; this bound only catches a hang.
MAX_PROBE_S = 10.0


@cache
def _image_seed(fmt: str) -> bytes:
    im = Image.new("RGB", (48, 32))
    im.putdata([(x * 5 % 256, y * 8 % 256, (x * y) % 256) for y in range(32) for x in range(48)])
    out = io.BytesIO()
    im.save(out, format=fmt)
    return out.getvalue()


@cache
def _video_seed(folder: str) -> bytes:
    return samples.landscape(Path(folder) / "seed.mp4", width=160, height=90, duration_s=1.0).read_bytes()


@st.composite
def mutated(draw: st.DrawFn, seed: bytes) -> bytes:
    """`seed` with a few of: bytes overwritten, a slice removed, a slice repeated, the tail cut."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["overwrite", "remove", "repeat", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        span = draw(st.integers(1, 64))
        if kind == "overwrite":
            data[at : at + span] = draw(st.binary(min_size=span, max_size=span))
        elif kind == "remove":
            del data[at : at + span]
        elif kind == "repeat":
            data[at:at] = data[at : at + span] * draw(st.integers(1, 8))
        else:
            del data[at:]
    return bytes(data)


@given(data=st.data(), fmt=st.sampled_from(["JPEG", "PNG", "WEBP", "GIF"]))
def test_a_damaged_image_is_probed_or_refused_with_a_reason(data, fmt):
    damaged = data.draw(mutated(_image_seed(fmt)))
    began = time.monotonic()
    try:
        info = facts.probe(damaged)
    except facts.ImageInputError as exc:
        assert exc.reason and str(exc).strip(), "a refusal says why"
    else:
        assert info.width > 0 and info.height > 0
    assert time.monotonic() - began < MAX_PROBE_S


@pytest.fixture(scope="module")
def video_seed_folder(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fuzz-video"))


@given(data=st.data())
def test_a_damaged_video_is_probed_or_refused_with_a_reason(data, video_seed_folder, tmp_path_factory):
    damaged = data.draw(mutated(_video_seed(video_seed_folder)))
    path = tmp_path_factory.mktemp("case") / "upload.mp4"
    path.write_bytes(damaged)
    began = time.monotonic()
    try:
        found = video_facts.probe(str(path))
    except video_facts.MediaInputError as exc:
        assert exc.code and str(exc).strip(), "a refusal says why"
    else:
        assert found.duration_s >= 0 and (found.video or found.audio)
    assert time.monotonic() - began < MAX_PROBE_S


def test_a_video_whose_tags_are_not_utf8_is_refused_as_not_media(video_seed_folder, tmp_path):
    """Found by the fuzzer above: PyAV raised UnicodeDecodeError from av.open (a crash, not a reason)."""
    seed = _video_seed(video_seed_folder)
    brand = seed.index(b"ftyp") + 4
    path = tmp_path / "upload.mp4"
    path.write_bytes(seed[:brand] + b"\x80" + seed[brand + 1 :])

    with pytest.raises(video_facts.MediaInputError) as refused:
        video_facts.probe(str(path))

    assert refused.value.code == "not_media" and "not UTF-8" in str(refused.value)
