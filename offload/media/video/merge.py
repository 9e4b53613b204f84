"""Merge generated clips into one video: each normalised to one size, frame rate and audio format, then
concatenated, in one ffmpeg run.

Providers hand back clips of different sizes, rates and audio (or none). Each clip is scaled to fit
`width` x `height` and padded (letterboxed, never stretched), resampled to `fps` and cut to exactly its own
duration in frames; its audio is resampled to 48 kHz stereo and padded or cut to the same length, or is
silence when the clip has none. So the merged duration is the sum of the clips' (to a frame), and audio
stays in sync across the joins. The output is an intermediate (x264 CRF 18, AAC 192 kbps): the video
pipeline transcodes it for delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from offload.media.video.facts import MediaFacts, MediaInputError, probe
from offload.media.video.ffmpeg import run_ffmpeg, source_args

MERGE_FPS = 30
SAMPLE_RATE = 48_000


@dataclass(frozen=True)
class Merged:
    """The merged video's facts, and each clip's duration as probed."""

    facts: MediaFacts
    clip_durations_s: list[float]


def merge_clips(clips: list[Path], out: Path, *, width: int, height: int, fps: int = MERGE_FPS) -> Merged:
    """Write the clips, in order, as one MP4 at `out`."""
    if not clips:
        raise ValueError("merge_clips needs at least one clip")
    facts = [probe(str(clip)) for clip in clips]
    for clip, fact in zip(clips, facts, strict=True):
        if fact.video is None:
            raise MediaInputError("no_streams", f"clip {clip.name} has no video stream: the provider sent audio only")
    args: list[str] = []
    for clip in clips:
        args += [*source_args(str(clip)), "-i", str(clip)]
    graph: list[str] = []
    joined = ""
    for i, fact in enumerate(facts):
        frames = max(1, round(fact.duration_s * fps))
        seconds = frames / fps
        graph.append(
            f"[{i}:v:0]scale={width}:{height}:force_original_aspect_ratio=decrease,"
            f"pad={width}:{height}:(ow-iw)/2:(oh-ih)/2,setsar=1,fps={fps},format=yuv420p,"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS[v{i}]"
        )
        if fact.audio is not None:
            source = f"[{i}:a:0]aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo,apad"
        else:
            source = f"anullsrc=r={SAMPLE_RATE}:cl=stereo"
        graph.append(f"{source},atrim=end={seconds:.6f},asetpts=PTS-STARTPTS[a{i}]")
        joined += f"[v{i}][a{i}]"
    graph.append(f"{joined}concat=n={len(clips)}:v=1:a=1[v][a]")
    out.parent.mkdir(parents=True, exist_ok=True)
    args += [
        "-filter_complex", ";".join(graph), "-map", "[v]", "-map", "[a]",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "192k", "-movflags", "+faststart", "-y", str(out),
    ]  # fmt: skip
    run_ffmpeg(["-loglevel", "error", *args], what=f"merge {len(clips)} clips")
    return Merged(probe(str(out)), [f.duration_s for f in facts])
