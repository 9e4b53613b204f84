"""Image variants: offload.media.images.make_variants against sharp (libvips), time, bytes and quality.

Three images generated here (no downloads): a 12 MP photo-like JPEG (gradients, shapes, blur,
noise; q90), a 2 MP PNG with alpha, a small 800x600 JPEG. Each library makes the same set:
widths 640/1024/1920 (never enlarging) in WebP and AVIF at quality 80, 4:2:0 chroma, plus a
256 px square WebP thumbnail.

Matched settings. Pillow's AVIF `speed` and sharp's AVIF `effort` both end up as libaom's
cpu-used in all-intra mode: libavif passes min(speed, 9), libvips passes speed = 9 - effort to
libheif, which passes it on. So Pillow speed S == sharp effort 9 - S (speed 8 == effort 1).
WebP: Pillow `method` == sharp `effort` (both libwebp's method; 4 is both defaults).
sharp is also run with its defaults (no options: WebP q80 effort 4, AVIF q50 effort 4, 4:4:4).

Timing: each side in its own warm process (one warm-up run, then RUNS runs, median), input
bytes in memory, outputs kept in memory; process start-up is not counted on either side.
Quality: PSNR (dB) of each library's 1024 px (or largest, for small images) WebP and AVIF,
decoded by Pillow, against one float LANCZOS resize of the original by Pillow (premultiplied
by alpha where there is alpha), the same reference for both.
Memory: peak RSS (VmHWM) of a fresh Python process that imports offload.media and makes
the 12 MP set; the interpreter + Pillow baseline is printed too.

Run from the repo root: `.venv/bin/python bench/variants.py` (installs sharp into
bench/node_modules with `npm ci` if missing). Exits 1 when a target is missed.
"""

from __future__ import annotations

import io
import json
import math
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter, ImageMath, ImageOps

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from offload.media.images import AVIF_SPEED, WEBP_METHOD, VariantSet, make_variants  # noqa: E402

SHARP_AVIF_EFFORT = 9 - min(AVIF_SPEED, 9)  # see the module docstring

WIDTHS = (640, 1024, 1920)
FORMATS = ("webp", "avif")
QUALITY = 80
THUMBNAIL = 256
RUNS = 5
PSNR_WIDTH = 1024

TARGET_TIME_RATIO = 0.6
TARGET_BYTES_RATIO = 1.10
TARGET_PSNR_SLACK_DB = 0.5
TARGET_PEAK_MB = 300


# --- test images ------------------------------------------------------------------------------


def photo_like(width: int, height: int, seed: int) -> Image.Image:
    """Smooth gradients, a few hundred soft-edged shapes, fine texture and sensor-like noise."""
    rnd = random.Random(seed)
    lin = Image.linear_gradient("L").resize((width, height))
    rad = Image.radial_gradient("L").resize((width, height))
    im = Image.merge("RGB", [lin, rad, lin.transpose(Image.Transpose.FLIP_LEFT_RIGHT)])
    draw = ImageDraw.Draw(im)
    for _ in range(400):
        x, y = rnd.randrange(width), rnd.randrange(height)
        size = rnd.randrange(width // 100, width // 6)
        colour = tuple(rnd.randrange(256) for _ in range(3))
        box = [x, y, x + size, y + int(size * (0.3 + rnd.random()))]
        (draw.ellipse if rnd.random() < 0.5 else draw.rectangle)(box, fill=colour)
    for _ in range(150):  # thin lines: high-frequency detail that shows resampling quality
        x, y = rnd.randrange(width), rnd.randrange(height)
        draw.line([x, y, x + rnd.randrange(-width // 4, width // 4), y + rnd.randrange(-50, 50)], fill=(20, 20, 20))
    im = im.filter(ImageFilter.GaussianBlur(1.5))
    noise = Image.effect_noise((width, height), 30)
    texture = Image.merge("RGB", [noise, noise.transpose(Image.Transpose.ROTATE_180), noise])
    return Image.blend(im, texture, 0.10)


def alpha_graphic(width: int, height: int, seed: int) -> Image.Image:
    """A logo-like RGBA image: flat shapes and text-like bars on a transparent, soft-edged field."""
    rnd = random.Random(seed)
    im = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    draw = ImageDraw.Draw(im)
    for _ in range(120):
        x, y = rnd.randrange(width), rnd.randrange(height)
        size = rnd.randrange(width // 40, width // 5)
        colour = (*(rnd.randrange(256) for _ in range(3)), rnd.randrange(120, 256))
        (draw.ellipse if rnd.random() < 0.5 else draw.rounded_rectangle)([x, y, x + size, y + size // 2], fill=colour)
    gradient = Image.radial_gradient("L").resize((width, height))
    alpha = ImageOps.invert(gradient).point(lambda v: min(255, v * 2))
    im.putalpha(Image.composite(im.getchannel("A"), Image.new("L", im.size, 0), alpha))
    return im


@dataclass(frozen=True)
class Sample:
    name: str
    path: Path

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def make_samples(workdir: Path) -> list[Sample]:
    samples = []
    for name, im, fmt, options in (
        ("photo-12mp.jpg", photo_like(4000, 3000, seed=1), "JPEG", {"quality": 90}),
        ("alpha-2mp.png", alpha_graphic(1632, 1224, seed=2), "PNG", {}),
        ("small-800x600.jpg", photo_like(800, 600, seed=3), "JPEG", {"quality": 90}),
    ):
        path = workdir / name
        im.save(path, fmt, **options)
        samples.append(Sample(name, path))
    return samples


# --- running each side ------------------------------------------------------------------------


def ensure_sharp() -> None:
    if (BENCH / "node_modules" / "sharp" / "package.json").exists():
        return
    print("installing sharp into bench/node_modules (npm ci) ...", flush=True)
    subprocess.run(["npm", "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"], check=True)


class SharpProcess:
    """bench/sharp_variants.mjs kept running, one request per line, so runs can interleave with ours."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            ["node", str(BENCH / "sharp_variants.mjs")], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.versions = self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"sharp_variants.mjs exited with {self.proc.wait()}")
        return json.loads(line)

    def run(self, sample: Sample, *, defaults: bool, outdir: Path | None = None) -> dict:
        request = {
            "path": str(sample.path),
            "widths": list(WIDTHS),
            "formats": list(FORMATS),
            "quality": QUALITY,
            "thumbnail": THUMBNAIL,
            "webpEffort": WEBP_METHOD,
            "avifEffort": SHARP_AVIF_EFFORT,
            "chroma": "4:2:0",
            "defaults": defaults,
            "outdir": str(outdir) if outdir else None,
        }
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)


def ours(data: bytes) -> VariantSet:
    return make_variants(data, widths=WIDTHS, formats=FORMATS, quality=QUALITY, thumbnail=THUMBNAIL)


@dataclass
class Timings:
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.wall)

    @property
    def median_cpu(self) -> float:
        return statistics.median(self.cpu)


def timed_pair(sample: Sample, sharp: SharpProcess, outdir: Path) -> tuple[Timings, VariantSet, Timings, dict]:
    """RUNS runs of each side, alternating, after one warm-up run each; the last sharp run saves its files."""
    data = sample.data
    ours(data)
    sharp.run(sample, defaults=False)
    ours_t, sharp_t = Timings(), Timings()
    result, answer = None, {}
    for i in range(RUNS):
        cpu, start = time.process_time(), time.perf_counter()
        result = ours(data)
        ours_t.wall.append(time.perf_counter() - start)
        ours_t.cpu.append(time.process_time() - cpu)
        answer = sharp.run(sample, defaults=False, outdir=outdir if i == RUNS - 1 else None)
        sharp_t.wall.append(answer["seconds"])
        sharp_t.cpu.append(answer["cpuSeconds"])
    assert result is not None
    return ours_t, result, sharp_t, answer


def peak_memory_mb(sample: Sample) -> tuple[float, float]:
    """(baseline after imports, peak) RSS in MB of a fresh process making the variants of `sample`.

    VmHWM (the process's peak RSS) rather than ru_maxrss: Linux copies the parent's high-water mark
    into ru_maxrss across fork/exec, and this bench process is bigger than the one it measures.
    """
    code = f"""
import re, sys
sys.path.insert(0, {str(ROOT)!r})
from offload.media.images import make_variants
def hwm():
    return int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1))
data = open({str(sample.path)!r}, "rb").read()
base = hwm()
make_variants(data, widths={WIDTHS!r}, formats={FORMATS!r}, quality={QUALITY}, thumbnail={THUMBNAIL})
print(base, hwm())
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout.split()
    return int(out[0]) / 1024, int(out[1]) / 1024


# --- quality ----------------------------------------------------------------------------------


def _float_channels(im: Image.Image) -> list[Image.Image]:
    """Channels as float images, RGB premultiplied by alpha (then alpha) when there is alpha."""
    if "A" not in im.getbands():
        return [c.convert("F") for c in im.convert("RGB").split()]
    r, g, b, a = (c.convert("F") for c in im.convert("RGBA").split())
    return [ImageMath.lambda_eval(lambda e: e["c"] * e["a"] / 255.0, c=c, a=a) for c in (r, g, b)] + [a]


class Reference:
    """The original, oriented and in sRGB, resized in float with LANCZOS: what a variant should be."""

    def __init__(self, data: bytes) -> None:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            im = im.convert("RGBA" if "A" in im.getbands() else "RGB")
        self.channels = _float_channels(im)
        self.cache: dict[tuple[int, int], list[Image.Image]] = {}

    def at(self, size: tuple[int, int]) -> list[Image.Image]:
        if size not in self.cache:
            self.cache[size] = [
                ImageMath.lambda_eval(lambda e: e["max"](e["min"](e["c"], 255.0), 0.0), c=c.resize(size, Image.LANCZOS))
                for c in self.channels
            ]
        return self.cache[size]


def psnr(reference: Reference, encoded: bytes) -> float:
    with Image.open(io.BytesIO(encoded)) as im:
        im.load()
        decoded = _float_channels(im)
        size = im.size
    ref = reference.at(size)
    total = 0.0
    for r, d in zip(ref, decoded, strict=True):
        sq = ImageMath.lambda_eval(lambda e: (e["r"] - e["d"]) * (e["r"] - e["d"]), r=r, d=d)
        total += sum(array("f", sq.tobytes()))
    mse = total / (size[0] * size[1] * len(ref))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


# --- report -----------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    ensure_sharp()
    workdir = Path(tempfile.mkdtemp(prefix="offload-variants-"))
    try:
        return report(workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def report(workdir: Path) -> int:
    samples = make_samples(workdir)
    sharp = SharpProcess()
    try:
        return compare(samples, sharp, workdir)
    finally:
        sharp.close()


def compare(samples: list[Sample], sharp: SharpProcess, workdir: Path) -> int:
    v = sharp.versions
    print(
        f"sharp {v['sharp']['sharp']} (libvips {v['sharp']['vips']}, aom {v['sharp']['aom']}, "
        f"libvips concurrency {v['concurrency']}) vs Pillow {Image.__version__}; {_cpu_count()} CPUs\n"
        f"matched: AVIF Pillow speed {AVIF_SPEED} == sharp effort {SHARP_AVIF_EFFORT}, 4:2:0; WebP method == effort "
        f"{WEBP_METHOD}; q{QUALITY}; widths {'/'.join(map(str, WIDTHS))} + {THUMBNAIL}px thumb\n"
        f"time: median of {RUNS} warm runs, ours and sharp alternating; sharp defaults: 1 warm run"
    )
    failures = 0
    for sample in samples:
        ours_t, result, sharp_t, matched = timed_pair(sample, sharp, workdir / "sharp-matched")
        sharp.run(sample, defaults=True)  # warm-up
        defaults = sharp.run(sample, defaults=True, outdir=workdir / "sharp-defaults")
        ref = Reference(sample.data)
        src = result.source
        print(f"\n== {sample.name}: {src.width}x{src.height} {src.format} {src.mode}, {src.byte_size / 1e6:.2f} MB")
        widths = {v.width for v in result.variants}
        psnr_width = PSNR_WIDTH if PSNR_WIDTH in widths else max(widths)
        ours_psnr = {f: psnr(ref, result.get(psnr_width, f).data) for f in FORMATS}
        rows = [("ours (Pillow)", ours_t.median, ours_t.median_cpu, result.total_bytes, ours_psnr, len(result.all))]
        for label, seconds, cpu, answer in (
            ("sharp matched", sharp_t.median, sharp_t.median_cpu, matched),
            ("sharp defaults", defaults["seconds"], defaults["cpuSeconds"], defaults),
        ):
            files = {(v["width"], v["format"]): v["file"] for v in answer["variants"] if v["kind"] == "variant"}
            quality = {f: psnr(ref, Path(files[(psnr_width, f)]).read_bytes()) for f in FORMATS}
            total = sum(v["bytes"] for v in answer["variants"])
            rows.append((label, seconds, cpu, total, quality, len(answer["variants"])))
        print(
            f"   {'':16}{'wall s':>8}{'CPU s':>8}{'bytes':>10}  "
            + "  ".join(f"PSNR {f} {psnr_width}w" for f in FORMATS)
        )
        for label, seconds, cpu, total, quality, count in rows:
            dbs = "  ".join(f"{quality[f]:>9.2f} dB  " for f in FORMATS)
            print(f"   {label:16}{seconds:>8.3f}{cpu:>8.3f}{total:>10,}  {dbs}  ({count} images)")
        print(f"   wall runs: ours {_seconds(ours_t.wall)}; sharp {_seconds(sharp_t.wall)}")
        ours_s, sharp_s, sharp_bytes, sharp_psnr = rows[0][1], rows[1][1], rows[1][3], rows[1][4]
        time_ratio = ours_s / sharp_s
        bytes_ratio = result.total_bytes / sharp_bytes
        checks = [
            (
                f"time ratio ours/sharp {time_ratio:.2f} <= {TARGET_TIME_RATIO} "
                f"(CPU-time ratio {rows[0][2] / rows[1][2]:.2f})",
                time_ratio <= TARGET_TIME_RATIO,
            ),
            (f"bytes ratio ours/sharp {bytes_ratio:.3f} <= {TARGET_BYTES_RATIO}", bytes_ratio <= TARGET_BYTES_RATIO),
        ]
        for f in FORMATS:
            delta = ours_psnr[f] - sharp_psnr[f]
            checks.append(
                (f"PSNR {f} ours-sharp {delta:+.2f} dB >= -{TARGET_PSNR_SLACK_DB}", delta >= -TARGET_PSNR_SLACK_DB)
            )
        if src.width * src.height >= 10_000_000:
            base_mb, peak_mb = peak_memory_mb(sample)
            checks.append(
                (
                    f"peak RSS {peak_mb:.0f} MB (of which interpreter + Pillow {base_mb:.0f} MB) < {TARGET_PEAK_MB}",
                    peak_mb < TARGET_PEAK_MB,
                )
            )
        for text, ok in checks:
            print(f"   {verdict(ok)}  {text}")
            failures += not ok
        print(f"   (vs sharp defaults: time {ours_s / rows[2][1]:.2f}x, bytes {result.total_bytes / rows[2][3]:.2f}x)")
    print(f"\n{'all targets met' if failures == 0 else f'{failures} target(s) missed'}")
    return 1 if failures else 0


def _seconds(values: list[float]) -> str:
    return " ".join(f"{v:.3f}" for v in values)


def _cpu_count() -> int:
    return len(os.sched_getaffinity(0))


if __name__ == "__main__":
    sys.exit(main())
