"""An upload that is a playlist or a list of other inputs is refused, and libav never opens what it names.

libav picks its demuxer from the content: an HLS playlist, a DASH manifest or an ffconcat list uploaded under
uploads/videos/ would be read as one, and every URL or path inside fetched from the function (SSRF into the
VPC, local files). A loopback server stands in for S3 and for what such a file points at, and records the requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from offload.media.video import samples
from offload.media.video.audio import first_audio_track, measure_loudness
from offload.media.video.facts import MediaInputError, probe
from offload.media.video.ffmpeg import FfmpegError, run_ffmpeg, source_args
from tests.support.http_files import serve_files

av = pytest.importorskip("av")


class _Server:
    """Files under `root` served with Range support (as S3 serves presigned GETs); `reached` lists every path
    requested that is not one of them: what a playlist named."""

    def __init__(self, root: Path, base: str, seen: list[str]) -> None:
        self.root, self.base, self._seen = root, base, seen

    def put(self, name: str, body: bytes) -> str:
        (self.root / name).write_bytes(body)
        return f"{self.base}/{name}?X-Amz-Signature=abc"  # shaped like a presigned GET

    @property
    def reached(self) -> list[str]:
        return [path for path in self._seen if not (self.root / path.lstrip("/")).is_file()]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    root = tmp_path / "served"
    root.mkdir()
    seen: list[str] = []
    with serve_files(root, seen) as base:
        yield _Server(root, base, seen)


def _hls(target: str) -> bytes:
    return f"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{target}\n#EXT-X-ENDLIST\n".encode()


def _dash(target: str) -> bytes:
    return (
        '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static" '
        'mediaPresentationDuration="PT2S"><Period><AdaptationSet mimeType="video/mp2t"><Representation id="1" '
        f'bandwidth="1000"><BaseURL>{target}</BaseURL></Representation></AdaptationSet></Period></MPD>'
    ).encode()


def _concat(target: str) -> bytes:
    return f"ffconcat version 1.0\nfile '{target}'\n".encode()


PLAYLISTS = {"hls": ("evil.m3u8", _hls), "dash": ("evil.mpd", _dash), "concat": ("evil.ffconcat", _concat)}


@pytest.mark.parametrize("kind", sorted(PLAYLISTS))
def test_a_playlist_upload_read_by_its_url_fails_the_probe_and_fetches_nothing_it_names(
    server: _Server, kind: str
) -> None:
    name, make = PLAYLISTS[kind]
    url = server.put(name, make(f"{server.base}/inside/seg.ts"))

    with pytest.raises(MediaInputError) as refused:
        probe(url)

    assert refused.value.code == "not_media", refused.value
    assert server.reached == []


def test_a_playlist_file_naming_local_paths_and_urls_is_refused_without_opening_them(
    server: _Server, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.ts"
    samples.landscape(tmp_path / "real.mp4")
    secret.write_bytes((tmp_path / "real.mp4").read_bytes())
    playlist = tmp_path / "upload.m3u8"
    playlist.write_bytes(_hls(f"file://{secret}") + _hls(f"{server.base}/inside/seg.ts"))

    with pytest.raises(MediaInputError):
        probe(str(playlist))

    assert server.reached == []


def test_the_ffmpeg_steps_open_a_playlist_url_with_the_same_limits(server: _Server) -> None:
    url = server.put("evil.m3u8", _hls(f"{server.base}/inside/seg.ts"))

    with pytest.raises(FfmpegError):
        run_ffmpeg([*source_args(url), "-i", url, "-f", "null", "-"], what="a step's read")
    with pytest.raises(FfmpegError):
        measure_loudness(url)
    with pytest.raises(av.error.FFmpegError):
        first_audio_track(url)

    assert server.reached == []


def test_real_media_still_opens_by_url_and_by_path(server: _Server, tmp_path: Path) -> None:
    clip = samples.landscape(tmp_path / "clip.mp4")
    webm = samples.browser_recording(tmp_path / "rec.webm")
    clip_url = server.put("clip.mp4", clip.read_bytes())
    webm_url = server.put("rec.webm", webm.read_bytes())

    for source in (clip_url, str(clip), webm_url, str(webm)):
        facts = probe(source)
        assert facts.video is not None and facts.duration_s > 1, source
    assert first_audio_track(clip_url) is not None
    assert server.reached == []
