"""Build the runtime Lambda layer without Docker: pip wheels for the Lambda platform + the offload package.

`python -m layers.build` (or `make layers`) builds `layers/runtime/build/`; the CDK construct calls
`build_layer()` before it zips the directory. A stamp file holds a hash of everything that goes in, so
a second build with nothing changed only hashes the inputs and returns.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "layers" / "runtime" / "requirements.txt"
CONSTRAINTS = ROOT / "constraints.txt"
PACKAGE = ROOT / "offload"
BUILD_DIR = ROOT / "layers" / "runtime" / "build"
STAMP_NAME = ".stamp"

# The Lambda runtime the layer targets: keep in step with the worker functions (stacks/constructs).
# Lambda's python3.14 runtime is Amazon Linux 2023 (glibc 2.34): wheels up to manylinux_2_28 run
# there (Pillow 13 ships only manylinux_2_28 for aarch64).
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.14"
# The Lambda Python runtime ships these; a second copy only adds megabytes and version skew.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
# Parts of the package that never run on Lambda.
PACKAGE_EXCLUDES = ("local", "cli")


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
    out_dir: Path = BUILD_DIR,
    *,
    requirements: Path = REQUIREMENTS,
    constraints: Path = CONSTRAINTS,
    package: Path = PACKAGE,
) -> LayerBuild:
    """Build the layer into `out_dir` (`out_dir/python/...`) unless the stamp says it is current."""
    out_dir = Path(out_dir)
    digest = _inputs_digest(requirements, constraints, package)
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
            site = staging / "python"
            _pip_install(site, requirements, constraints)
            _prune(site)
            shutil.copytree(package, site / package.name, ignore=_shipped_only(package))
            (staging / STAMP_NAME).write_text(digest + "\n")
            shutil.rmtree(out_dir, ignore_errors=True)
            staging.rename(out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return LayerBuild(out_dir, digest, rebuilt=True)


def _inputs_digest(requirements: Path, constraints: Path, package: Path) -> str:
    """Hash of this builder, the requirement files and every shipped source file."""
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())  # how the layer is built is an input too
    for f in (requirements, constraints):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    for f in sorted(package.rglob("*")):
        rel = f.relative_to(package)
        if not f.is_file() or rel.parts[0] in PACKAGE_EXCLUDES:
            continue
        if "__pycache__" in rel.parts or f.suffix == ".pyc":
            continue
        h.update(rel.as_posix().encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def _shipped_only(package: Path):
    """copytree ignore: bytecode anywhere, and the never-shipped subpackages at the package's top level."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        ignored = {n for n in names if n == "__pycache__" or n.endswith(".pyc")}
        if Path(directory) == package:
            ignored |= set(PACKAGE_EXCLUDES) & set(names)
        return ignored

    return ignore


def _pip_install(site: Path, requirements: Path, constraints: Path) -> None:
    """Install Lambda-platform wheels (never sdists: nothing compiles for the wrong machine)."""
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--only-binary=:all:", "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--target", str(site),
        "-r", str(requirements), "-c", str(constraints),
    ]  # fmt: skip
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"building the runtime layer failed (pip exit {result.returncode}); a requirement in "
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
    """Command line: build the layer and say whether it was rebuilt."""
    parser = argparse.ArgumentParser(prog="python -m layers.build", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=BUILD_DIR, help=f"output directory (default {BUILD_DIR})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = build_layer(args.out)
    state = "built" if result.rebuilt else "up to date"
    print(f"runtime layer {state}: {result.path} ({time.perf_counter() - started:.2f} s, {result.digest[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
