"""Transcoding: one segment of every video output, and joining a rendition's segments.

A segment task decodes [start, start + duration) of the source once, applies the plan's filters
(deinterlace, tone map, 8-bit yuv420p, constant frame rate, watermark) and encodes every
rendition from that one decode: H.264 parts (`<name>.mp4`) and the VP9 part (`webm.webm`), video
only. Keyframes are forced at multiples of `plan.gop_s` from the start of the source, so the
parts of all renditions switch at the same instants and join by stream copy. Audio is encoded
once for the whole source (`offload.media.video.audio.encode_audio`), not per segment, so the
joins have no audio gaps.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from offload.media.video.ffmpeg import is_url, run_ffmpeg, source_args
from offload.media.video.plan import Plan, Rendition, Segment

# libx264 -preset medium: the bench's 720p rung reaches VMAF 93 at CRF 21 (veryfast scored 90.5 for
# 12% fewer bytes at 2.3x less x264 CPU; see docs/cost.md#video). Capped CRF: quality first,
# maxrate/bufsize cap the peaks.
X264_PRESET = "medium"
X264_CRF = 21
# libvpx-vp9 realtime at cpu-used 6 costs about what x264 veryfast does per pixel, half of medium ("good" at
# cpu-used 5 took 5x longer); constrained quality: -crf with -b:v as the ceiling.
VP9_DEADLINE = "realtime"
VP9_CPU_USED = 6
VP9_CRF = 32
# HDR (PQ or HLG, BT.2020) to SDR BT.709: linear light, Hable tone curve, then BT.709 primaries,
# transfer and matrix, limited range.
TONEMAP = (
    "zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=bt709,tonemap=tonemap=hable:desat=0,zscale=t=bt709:m=bt709:r=tv"
)
# bwdif: one output frame per input frame (the output rate stays the frame rate), auto field order.
DEINTERLACE = "bwdif=mode=send_frame:parity=auto:deint=all"
END_PAD_S = 1.0
# Reading the source over HTTP(S): retry dropped connections instead of failing the task.
HTTP_INPUT = ["-reconnect", "1", "-reconnect_on_network_error", "1", "-reconnect_delay_max", "5"]


def encode_segment(
    source: str, plan: Plan, segment: Segment, out_dir: Path, *, watermark_png: Path | None = None
) -> dict[str, Path]:
    """Encode one segment; {rendition name: part} with "webm" for the VP9 part when the plan has one.

    One ffmpeg run decodes the segment once (input seek to `segment.start_s`, exactly
    `segment.frames` output frames) and encodes every rendition from it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    outputs: list[Rendition] = [*plan.renditions, *([plan.webm] if plan.webm else [])]
    args: list[str] = [*(HTTP_INPUT if is_url(source) else []), "-ss", f"{segment.start_s:.6f}"]
    args += [*source_args(source), "-i", source]
    if watermark_png is not None:
        args += ["-i", str(watermark_png)]
    args += ["-filter_complex", filter_graph(plan, outputs, watermark=watermark_png is not None)]
    parts: dict[str, Path] = {}
    for i, rendition in enumerate(outputs):
        part = out_dir / ("webm.webm" if rendition.codec == "vp9" else f"{rendition.name}.mp4")
        args += ["-map", f"[v{i}]", "-frames:v", str(segment.frames), "-an", "-sn", "-dn", "-map_metadata", "-1"]
        args += _vp9_args(rendition, plan) if rendition.codec == "vp9" else _x264_args(rendition, plan)
        args.append(str(part))
        parts[rendition.name] = part
    run_ffmpeg(["-loglevel", "error", *args], what=f"transcode segment {segment.index} ({segment.start_s:g} s)")
    return parts


def filter_graph(plan: Plan, outputs: list[Rendition], *, watermark: bool) -> str:
    """The filtergraph: [0:V:0] -> deinterlace? -> tone map? -> constant fps -> split -> per output
    scale (-> watermark) -> yuv420p as [v0], [v1], ... (input 1 is the watermark PNG)."""
    chain = []
    if plan.deinterlace:
        chain.append(DEINTERLACE)
    if plan.tonemap:
        chain.append(TONEMAP)
    # start_time=0: a part starts at its segment's instant even when the source has no frame there (VFR).
    chain.append(f"fps=fps={fps_fraction(plan.fps)}:start_time=0")
    # The container's duration (often the audio's) can run a frame or two past the last video frame:
    # clones of the last frame (at most END_PAD_S) make the planned frame count, so video meets audio.
    chain.append(f"tpad=stop_mode=clone:stop_duration={END_PAD_S:g}")
    n = len(outputs)
    # 0:V:0 is the first video stream that is not cover art, the one `probe` describes.
    graph = [f"[0:V:0]{','.join(chain)},split={n}{''.join(f'[s{i}]' for i in range(n))}"]
    if watermark:
        graph.append(f"[1:v]split={n}{''.join(f'[m{i}]' for i in range(n))}")
    for i, r in enumerate(outputs):
        scaled = f"[s{i}]scale={r.width}:{r.height}:flags=bicubic,setsar=1"
        if watermark:
            from offload.media.video.watermark import overlay_filter

            assert plan.watermark is not None, "a watermark PNG needs plan.watermark"
            graph.append(f"{scaled}[w{i}]")
            graph.append(overlay_filter(plan.watermark, r.width, r.height, video=f"w{i}", mark=f"m{i}", out=f"o{i}"))
            graph.append(f"[o{i}]format=yuv420p[v{i}]")
        else:
            graph.append(f"{scaled},format=yuv420p[v{i}]")
    return ";".join(graph)


def fps_fraction(fps: float) -> str:
    """The rate as ffmpeg's exact fraction: 29.97003 -> "30000/1001"."""
    f = Fraction(fps).limit_denominator(1001)
    return f"{f.numerator}/{f.denominator}"


def keyframe_interval(plan: Plan) -> int:
    """Frames between forced keyframes (gop_s at the output rate)."""
    return max(1, round(plan.gop_s * plan.fps))


def _keyframes(plan: Plan) -> list[str]:
    # The segment starts at a multiple of gop_s, so t (from 0 at the segment's start) hits the same
    # instants in source time in every part and every rendition.
    return ["-force_key_frames", f"expr:gte(t,n_forced*{plan.gop_s:g})"]


def _x264_args(r: Rendition, plan: Plan) -> list[str]:
    # keyint a frame above the forced interval: the forced keyframes always come first.
    keyint = keyframe_interval(plan) + 1
    return [
        "-c:v", "libx264", "-profile:v", "high", "-preset", X264_PRESET, "-crf", str(X264_CRF),
        "-maxrate", f"{r.maxrate_kbps}k", "-bufsize", f"{r.bufsize_kbps}k",
        "-x264-params", f"keyint={keyint}:min-keyint={keyint // 2 + 1}:scenecut=0",
        *_keyframes(plan), "-pix_fmt", "yuv420p", "-color_primaries", "bt709", "-color_trc", "bt709",
        "-colorspace", "bt709", "-f", "mp4",
    ]  # fmt: skip


def _vp9_args(r: Rendition, plan: Plan) -> list[str]:
    keyint = keyframe_interval(plan) + 1
    return [
        "-c:v", "libvpx-vp9", "-deadline", VP9_DEADLINE, "-cpu-used", str(VP9_CPU_USED), "-row-mt", "1",
        "-crf", str(VP9_CRF), "-b:v", f"{r.maxrate_kbps}k", "-maxrate", f"{r.maxrate_kbps}k",
        "-bufsize", f"{r.bufsize_kbps}k", "-g", str(keyint), *_keyframes(plan), "-pix_fmt", "yuv420p",
        "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709", "-f", "webm",
    ]  # fmt: skip


def join_rendition(parts: list[Path], out: Path, *, audio: Path | None = None) -> Path:
    """Concatenate a rendition's parts in order (stream copy) and mux `audio` (copy) into `out`.

    `.mp4` outputs get `+faststart` (the moov first, so playback starts before the download ends).
    The concat demuxer offsets each part by the durations before it, so timestamps run on."""
    if not parts:
        raise ValueError("join_rendition needs at least one part")
    out.parent.mkdir(parents=True, exist_ok=True)
    listing = out.with_name(f"{out.name}.parts.txt")
    listing.write_text("".join(f"file '{_concat_quote(p)}'\n" for p in parts), encoding="utf-8")
    args: list[str] = ["-f", "concat", "-safe", "0", "-i", str(listing)]
    if audio is not None:
        args += ["-i", str(audio)]
    args += ["-map", "0:v:0", *(["-map", "1:a:0"] if audio is not None else []), "-c", "copy", "-map_metadata", "-1"]
    if out.suffix == ".mp4":
        args += ["-movflags", "+faststart", "-f", "mp4"]
    elif out.suffix == ".webm":
        args += ["-f", "webm"]
    try:
        run_ffmpeg(["-loglevel", "error", *args, str(out)], what=f"join {out.name}")
    finally:
        listing.unlink(missing_ok=True)
    return out


def _concat_quote(path: Path) -> str:
    # The concat demuxer's quoting: inside '...', a quote is written '\''.
    return str(path.resolve()).replace("'", "'\\''")
