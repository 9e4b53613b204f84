"""Build Lambda layers without Docker: pip wheels for the Lambda platform, plus (for the runtime
layer) the offload package itself.

Three layers use this one builder:
- the runtime layer: offload's own runtime dependencies (`[project].dependencies` in offload's
  pyproject.toml, or the installed package's metadata) and the offload package, minus what never
  runs on Lambda;
- the app layer: the requirements file the app names (`offload:appRequirements` in cdk.json);
- the ffmpeg layer (the video pack's functions only): the static ffmpeg from the imageio-ffmpeg
  wheel as `bin/ffmpeg` (/opt/bin/ffmpeg on Lambda), PyAV for probing under `python/`, and a
  NOTICE for the GPL, from the pins of offload's `video` extra.

`python -m offload.cdk.layers [--layer ffmpeg]` builds one; the CDK constructs call `build_layer()`
or `build_ffmpeg_layer()` before they zip the directory. A stamp file holds a hash of everything
that goes in, so a second build with nothing changed only hashes the inputs and returns.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from offload.cdk import elf

PACKAGE = Path(__file__).resolve().parents[1]  # the offload package, wherever it is installed
STAMP_NAME = ".stamp"
# How a layer is built is an input of every layer: this module and the ELF rewriter it uses.
BUILDER_SOURCES = (Path(__file__), Path(elf.__file__))

# The Lambda runtime the layers target: keep in step with the functions (offload/cdk/constructs).
# Lambda's python3.14 runtime is Amazon Linux 2023 (glibc 2.34): wheels up to manylinux_2_28 run
# there (Pillow 13 ships only manylinux_2_28 for aarch64).
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.14"
# The Lambda Python runtime ships these; a second copy only adds megabytes and version skew.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
# Parts of the package that never run on Lambda: the CLI, the local cloud, the CDK code, and each
# pack's construct and commands.
PACKAGE_EXCLUDES = ("local", "cli", "cdk", "console", "testing", "init_template")
PACK_EXCLUDES = ("infra.py", "cli.py")
# The ffmpeg layer: the binary comes out of this wheel, under bin/ of the layer; the rest of the video
# extra (PyAV) is installed under python/.
VIDEO_EXTRA = "video"
FFMPEG_WHEEL = "imageio-ffmpeg"
FFMPEG_IN_WHEEL = re.compile(r"^imageio_ffmpeg/binaries/ffmpeg-linux-aarch64-v(?P<version>[0-9][0-9.]*)$")
LAYER_FFMPEG = Path("bin") / "ffmpeg"
NOTICE_NAME = "NOTICE"


def layers_dir(app_root: Path | None = None) -> Path:
    """Where an app's layers are built: `<app root>/layers/<name>/build` (git-ignored output)."""
    return (app_root or Path.cwd()) / "layers"


def runtime_requirements(package: Path = PACKAGE, *, extra: str | None = None) -> list[str]:
    """offload's runtime dependencies (or one extra's): from pyproject.toml in a source checkout, else the
    installed metadata.

    Of the extras only `video` ships to Lambda, in its own layer; cdk, cli and local never do.
    """
    pyproject = package.parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "offload":
            if extra is None:
                return [str(r) for r in project.get("dependencies", [])]
            return [str(r) for r in project.get("optional-dependencies", {}).get(extra, [])]
    declared = importlib.metadata.requires("offload") or []
    if extra is None:
        return [r for r in declared if "extra ==" not in r]
    marker = re.compile(rf"""\s*;\s*extra\s*==\s*["']{re.escape(extra)}["']\s*$""")
    return [marker.sub("", r) for r in declared if marker.search(r)]


def default_constraints(app_root: Path | None = None) -> Path | None:
    """The pins for layer builds: the app's constraints.txt, else offload's own in a source checkout."""
    for candidate in ((app_root or Path.cwd()) / "constraints.txt", PACKAGE.parent / "constraints.txt"):
        if candidate.is_file():
            return candidate
    return None


@dataclass(frozen=True)
class LayerBuild:
    """Where the layer is, the hash of its inputs, and whether this call rebuilt it."""

    path: Path
    digest: str
    rebuilt: bool

    @property
    def stamp(self) -> Path:
        """The file holding the digest of the last successful build."""
        return self.path / STAMP_NAME


def build_layer(
    out_dir: Path | None = None,
    *,
    requirements: list[str] | None = None,
    constraints: Path | None = None,
    package: Path | None = PACKAGE,
) -> LayerBuild:
    """Build a layer into `out_dir` (`out_dir/python/...`) unless the stamp says it is current.

    Defaults build the runtime layer: offload's runtime requirements and the offload package, into
    `layers/runtime/build` under the current directory (the app's root when the CDK runs app.py).
    Pass `package=None` and the app's requirements for a dependencies-only layer.
    """
    out_dir = Path(out_dir or layers_dir() / "runtime" / "build")
    requirements = runtime_requirements() if requirements is None else requirements
    constraints = constraints if constraints is not None else default_constraints()

    def fill(staging: Path) -> None:
        site = staging / "python"
        if requirements:
            _pip_install(site, requirements, constraints)
        _prune(site)
        if package is not None:
            shutil.copytree(package, site / package.name, ignore=_shipped_only(package))

    return _build_once(out_dir, _inputs_digest(requirements, constraints, package), fill)


def _build_once(out_dir: Path, digest: str, fill: Callable[[Path], None]) -> LayerBuild:
    """`fill(staging)` builds the layer into an empty directory (with `python/` made), unless `out_dir`'s
    stamp already says `digest`; the staging directory then replaces `out_dir` whole."""
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    # Two synths at once (tests, a watch) must not interleave pip runs into one directory.
    lock_path = Path(tempfile.gettempdir()) / f"offload-layer-{hashlib.sha1(bytes(out_dir.resolve())).hexdigest()}.lock"
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = out_dir / STAMP_NAME
        if stamp.is_file() and stamp.read_text().strip() == digest and (out_dir / "python").is_dir():
            return LayerBuild(out_dir, digest, rebuilt=False)
        # Build next to the target and swap it in, so a failed pip run never leaves a half layer behind.
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))
        try:
            (staging / "python").mkdir()
            fill(staging)
            (staging / STAMP_NAME).write_text(digest + "\n")
            shutil.rmtree(out_dir, ignore_errors=True)
            staging.rename(out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return LayerBuild(out_dir, digest, rebuilt=True)


def build_ffmpeg_layer(
    out_dir: Path | None = None, *, requirements: list[str] | None = None, constraints: Path | None = None
) -> LayerBuild:
    """Build the ffmpeg layer into `out_dir` (default `layers/ffmpeg/build`) unless its stamp says it is current.

    `requirements` default to offload's `video` extra: the imageio-ffmpeg pin gives `bin/ffmpeg`, the
    others (PyAV) are installed under `python/` with their debug info dropped (elf.strip_debug): with it,
    PyAV alone would leave the video functions no room under Lambda's 250 MB.
    """
    out_dir = Path(out_dir or layers_dir() / "ffmpeg" / "build")
    requirements = runtime_requirements(extra=VIDEO_EXTRA) if requirements is None else requirements
    constraints = constraints if constraints is not None else default_constraints()
    wheel_pins = [r for r in requirements if _requirement_name(r) == FFMPEG_WHEEL]
    if len(wheel_pins) != 1:
        raise RuntimeError(
            f"the ffmpeg layer takes its binary from one {FFMPEG_WHEEL} requirement, got {wheel_pins or 'none'} "
            f"in {requirements}: pin {FFMPEG_WHEEL} in offload's [project.optional-dependencies].{VIDEO_EXTRA}"
        )
    others = [r for r in requirements if r not in wheel_pins]

    def fill(staging: Path) -> None:
        downloads = staging / ".download"
        _pip("download", "--no-deps", "--dest", str(downloads), requirements=wheel_pins, constraints=constraints)
        (wheel,) = downloads.glob("*.whl")
        binary = staging / LAYER_FFMPEG
        build = read_ffmpeg_build(binary, _extract_ffmpeg(wheel, binary))
        notice = ffmpeg_notice(build, wheel.name, _sha256(wheel), others)
        shutil.rmtree(downloads)
        site = staging / "python"
        if others:
            _pip_install(site, others, constraints)
        _prune(site)
        shutil.rmtree(site / "bin", ignore_errors=True)  # PyAV's `pyav` command: nothing on Lambda runs it
        for library in sorted(site.rglob("*.so*")):
            if library.is_file() and elf.is_elf64_le(library):
                elf.strip_debug(library)
        (staging / NOTICE_NAME).write_text(notice)

    return _build_once(out_dir, _inputs_digest(requirements, constraints, None), fill)


@dataclass(frozen=True)
class FfmpegBuild:
    """What the layer's ffmpeg says about itself: its version string and configure line (read from the binary,
    which can't run on this machine)."""

    version: str  # from the wheel's file name: 9.0.2
    revision: str  # the version string the binary prints: n9.0.2-17-g2a571b6068-20260930
    configuration: str  # its ./configure arguments

    @property
    def licence(self) -> str:
        """GPL version 3 or later, GPL version 2 or later, or LGPL: what FFmpeg's configure makes of its flags."""
        flags = self.configuration.split()
        if "--enable-gpl" in flags:
            return f"GNU General Public License, version {'3' if '--enable-version3' in flags else '2'} or later"
        return f"GNU Lesser General Public License, version {'3' if '--enable-version3' in flags else '2.1'} or later"


def read_ffmpeg_build(binary: Path, version: str) -> FfmpegBuild:
    """The version string and configure line embedded in an ffmpeg binary (as `ffmpeg -version` prints them)."""
    data = binary.read_bytes()

    def string_around(index: int) -> str:
        if index < 0:
            return ""
        return data[data.rfind(b"\0", 0, index) + 1 : data.find(b"\0", index)].decode("ascii", "replace")

    revision = string_around(data.find(f"n{version}".encode())) or version
    return FfmpegBuild(version, revision, string_around(data.find(b"--prefix=")))


def ffmpeg_notice(build: FfmpegBuild, wheel: str, wheel_sha256: str, python_requirements: list[str]) -> str:
    """The layer's NOTICE: what the binaries are, where they come from, and their licence (GPL)."""
    gpl = [f for f in build.configuration.split() if f in ("--enable-gpl", "--enable-version3", "--enable-nonfree")]
    return f"""This layer (built by offload, offload/cdk/layers.py) holds third-party binaries.

bin/ffmpeg: FFmpeg {build.version} ({build.revision}), a static build for Linux aarch64 (glibc),
taken unmodified from the wheel {wheel} on PyPI
(sha256 {wheel_sha256}), published by the imageio-ffmpeg project
(https://github.com/imageio/imageio-ffmpeg; its own Python code is BSD-2-Clause). The binary was
configured with {" ".join(gpl) or "no GPL flags"} and links the libraries its configuration names:
it is licensed under the {build.licence} (https://www.gnu.org/licenses/).
Its source: FFmpeg at {build.revision} (https://git.ffmpeg.org/ffmpeg.git) and the libraries
this configuration names:
{build.configuration}

python/: {", ".join(python_requirements) or "nothing"}, wheels for Linux aarch64 from PyPI. PyAV (av)
is BSD-3-Clause; its wheel bundles FFmpeg shared libraries (LGPL version 3 or later) with libx264 and
libx265 (GPL version 2 or later) in av.libs/, so treat those as GPL too. Their licence files are in
the *.dist-info directories. Only debug information was removed from the extension modules.

Running these binaries in your own AWS account is use, not distribution. If you give the layer (or a
function package or image with these binaries) to anyone else, the GPL requires that you pass this
licence on and give them, or offer them, the corresponding source code of the binaries.
"""


def _extract_ffmpeg(wheel: Path, binary: Path) -> str:
    """Write the wheel's aarch64 ffmpeg to `binary` (mode 755); returns its version from the file name."""
    with zipfile.ZipFile(wheel) as archive:
        found = [(info, m) for info in archive.infolist() if (m := FFMPEG_IN_WHEEL.match(info.filename))]
        if len(found) != 1:
            raise RuntimeError(
                f"{wheel.name} holds {len(found)} files like imageio_ffmpeg/binaries/ffmpeg-linux-aarch64-v*, "
                "expected one: pin an imageio-ffmpeg version whose aarch64 wheel carries the binary"
            )
        ((info, match),) = found
        binary.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(binary, "wb") as target:
            shutil.copyfileobj(source, target, length=1 << 20)
    binary.chmod(0o755)
    return match["version"]


def _requirement_name(requirement: str) -> str:
    """`imageio_ffmpeg==0.8.1` -> `imageio-ffmpeg` (the normalised project name)."""
    name = re.split(r"[\s<>=!~;\[@]", requirement.strip(), maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def unzipped_bytes(path: Path) -> int:
    """What a directory asset (a layer, a function's code) takes unzipped on Lambda: its files' sizes,
    without what the assets exclude (bytecode, the layer stamp). A .zip asset: its members' sizes."""
    path = Path(path)
    if path.is_file():
        if not zipfile.is_zipfile(path):
            return path.stat().st_size
        with zipfile.ZipFile(path) as archive:
            return sum(info.file_size for info in archive.infolist())
    total = 0
    for f in path.rglob("*"):
        rel = f.relative_to(path)
        if "__pycache__" in rel.parts or f.suffix == ".pyc" or rel == Path(STAMP_NAME) or not f.is_file():
            continue
        total += f.lstat().st_size
    return total


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments, blanks and options dropped)."""
    if not path.is_file():
        raise FileNotFoundError(f"app requirements {path} not found: fix offload:appRequirements in cdk.json")
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def _inputs_digest(requirements: list[str], constraints: Path | None, package: Path | None) -> str:
    """Hash of this builder, the requirements, the constraints and every shipped source file."""
    h = hashlib.sha256()
    for source in BUILDER_SOURCES:  # how the layer is built is an input too
        h.update(source.read_bytes())
    h.update("\n".join(requirements).encode() + b"\0")
    if constraints is not None:
        h.update(constraints.read_bytes() + b"\0")
    if package is None:
        return h.hexdigest()
    for f in sorted(package.rglob("*")):
        rel = f.relative_to(package)
        if not f.is_file() or not _ships(rel):
            continue
        h.update(rel.as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _ships(rel: Path) -> bool:
    """Whether a file of the package (relative path) goes into the runtime layer."""
    if rel.parts[0] in PACKAGE_EXCLUDES or "__pycache__" in rel.parts or rel.suffix == ".pyc":
        return False
    return not (len(rel.parts) >= 3 and rel.parts[0] == "packs" and rel.name in PACK_EXCLUDES)


def _shipped_only(package: Path):
    """copytree ignore: bytecode anywhere, and the never-shipped subpackages at the package's top level."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        here = Path(directory).relative_to(package)
        return {n for n in names if (package / here / n).is_file() and not _ships(here / n)} | {
            n for n in names if n == "__pycache__" or (here == Path(".") and n in PACKAGE_EXCLUDES)
        }

    return ignore


def _pip_install(site: Path, requirements: list[str], constraints: Path | None) -> None:
    """Install Lambda-platform wheels (never sdists: nothing compiles for the wrong machine)."""
    _pip("install", "--no-compile", "--target", str(site), requirements=requirements, constraints=constraints)


def _pip(command: str, *args: str, requirements: list[str], constraints: Path | None) -> None:
    """`pip install` or `pip download` of Lambda-platform wheels, with one error for both when pip fails."""
    cmd = [
        sys.executable, "-m", "pip", command, "--quiet", "--disable-pip-version-check", *args,
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--only-binary=:all:", "--python-version", PYTHON_VERSION, "--implementation", "cp",
        *requirements, *(("-c", str(constraints)) if constraints else ()),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"building a layer failed (pip exit {result.returncode}); a requirement of "
            f"{requirements} has no {'/'.join(PLATFORMS)} wheel for Python {PYTHON_VERSION}, or PyPI is unreachable:\n"
            f"{result.stderr.strip()}"
        )


def _prune(site: Path) -> None:
    """Drop what the Lambda runtime provides and bytecode compiled for this machine's Python."""
    for name in PROVIDED_BY_RUNTIME:
        shutil.rmtree(site / name, ignore_errors=True)
        for info in site.glob(f"{name}-*.dist-info"):
            shutil.rmtree(info, ignore_errors=True)
    for cache in list(site.rglob("__pycache__")):
        shutil.rmtree(cache, ignore_errors=True)
    for pyc in site.rglob("*.pyc"):
        pyc.unlink()


def main(argv: list[str] | None = None) -> int:
    """Command line: build a layer and say whether it was rebuilt, and how big it is."""
    parser = argparse.ArgumentParser(prog="python -m offload.cdk.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--layer", choices=("runtime", "ffmpeg"), default="runtime", help="which layer")
    parser.add_argument("--out", type=Path, default=None, help="output directory (default layers/<layer>/build)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = build_ffmpeg_layer(args.out) if args.layer == "ffmpeg" else build_layer(args.out)
    state = "built" if result.rebuilt else "up to date"
    print(
        f"{args.layer} layer {state}: {result.path}, {unzipped_bytes(result.path) / 1e6:.1f} MB unzipped "
        f"({time.perf_counter() - started:.2f} s, {result.digest[:12]})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
