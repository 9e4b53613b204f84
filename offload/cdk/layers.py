"""Build Lambda layers without Docker: pip wheels for the Lambda platform, plus (for the runtime
layer) the offload package itself.

Two layers use this one builder:
- the runtime layer: offload's own runtime dependencies (`[project].dependencies` in offload's
  pyproject.toml, or the installed package's metadata) and the offload package, minus what never
  runs on Lambda;
- the app layer: the requirements file the app names (`offload:appRequirements` in cdk.json).

`python -m offload.cdk.layers` builds the runtime layer; the CDK constructs call `build_layer()`
before they zip the directory. A stamp file holds a hash of everything that goes in, so a second
build with nothing changed only hashes the inputs and returns.
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
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]  # the offload package, wherever it is installed
STAMP_NAME = ".stamp"

# The Lambda runtime the layers target: keep in step with the functions (offload/cdk/constructs).
# Lambda's python3.14 runtime is Amazon Linux 2023 (glibc 2.34): wheels up to manylinux_2_28 run
# there (Pillow 13 ships only manylinux_2_28 for aarch64).
PLATFORMS = ("manylinux2014_aarch64", "manylinux_2_28_aarch64")
PYTHON_VERSION = "3.14"
# The Lambda Python runtime ships these; a second copy only adds megabytes and version skew.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")
# Parts of the package that never run on Lambda: the CLI, the local cloud, the CDK code, and each
# pack's construct and commands.
PACKAGE_EXCLUDES = ("local", "cli", "cdk", "testing", "init_template")
PACK_EXCLUDES = ("infra.py", "cli.py")


def layers_dir(app_root: Path | None = None) -> Path:
    """Where an app's layers are built: `<app root>/layers/<name>/build` (git-ignored output)."""
    return (app_root or Path.cwd()) / "layers"


def runtime_requirements(package: Path = PACKAGE) -> list[str]:
    """offload's runtime dependencies: from pyproject.toml in a source checkout, else the installed metadata.

    Extras (cdk, cli, local) never ship to Lambda.
    """
    pyproject = package.parent / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text()).get("project", {})
        if project.get("name") == "offload":
            return [str(r) for r in project.get("dependencies", [])]
    declared = importlib.metadata.requires("offload") or []
    return [r for r in declared if "extra ==" not in r]


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
            site.mkdir()
            if requirements:
                _pip_install(site, requirements, constraints)
            _prune(site)
            if package is not None:
                shutil.copytree(package, site / package.name, ignore=_shipped_only(package))
            (staging / STAMP_NAME).write_text(digest + "\n")
            shutil.rmtree(out_dir, ignore_errors=True)
            staging.rename(out_dir)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return LayerBuild(out_dir, digest, rebuilt=True)


def read_requirements(path: Path) -> list[str]:
    """The requirement lines of a requirements file (comments, blanks and options dropped)."""
    if not path.is_file():
        raise FileNotFoundError(f"app requirements {path} not found: fix offload:appRequirements in cdk.json")
    lines = [re.sub(r"\s+#.*$", "", line).strip() for line in path.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith(("#", "-"))]


def _inputs_digest(requirements: list[str], constraints: Path | None, package: Path | None) -> str:
    """Hash of this builder, the requirements, the constraints and every shipped source file."""
    h = hashlib.sha256()
    h.update(Path(__file__).read_bytes())  # how the layer is built is an input too
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
    cmd = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        *(arg for platform in PLATFORMS for arg in ("--platform", platform)),
        "--only-binary=:all:", "--python-version", PYTHON_VERSION,
        "--implementation", "cp", "--target", str(site),
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
    """Command line: build the layer and say whether it was rebuilt."""
    parser = argparse.ArgumentParser(prog="python -m offload.cdk.layers", description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None, help="output directory (default layers/runtime/build)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = build_layer(args.out)
    state = "built" if result.rebuilt else "up to date"
    print(f"runtime layer {state}: {result.path} ({time.perf_counter() - started:.2f} s, {result.digest[:12]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
