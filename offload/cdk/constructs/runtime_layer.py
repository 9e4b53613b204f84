"""The runtime layer: offload + its dependencies as Lambda-platform wheels, built without Docker.

Every layer of the stack is a `BuiltLayer`: it knows its directory's unzipped size, so
`offload_function` can check a function's code plus layers against Lambda's 250 MB at synth.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from offload.cdk.layers import (
    PLATFORMS,
    PYTHON_VERSION,
    STAMP_NAME,
    LayerBuild,
    build_layer,
    layers_dir,
    read_requirements,
    unzipped_bytes,
)

RUNTIME = lambda_.Runtime.PYTHON_3_14
ARCHITECTURE = lambda_.Architecture.ARM_64
ASSET_EXCLUDES = ["**/__pycache__", "**/*.pyc", STAMP_NAME]

# The layer's wheels are built for one Python and one CPU: the functions that use it must match.
if RUNTIME.name != f"python{PYTHON_VERSION}" or not all(p.endswith("aarch64") for p in PLATFORMS):
    raise RuntimeError(
        f"offload/cdk/layers.py targets {PLATFORMS}/{PYTHON_VERSION}; the functions use {RUNTIME.name}/arm64"
    )


class BuiltLayer(lambda_.LayerVersion):
    """A layer version from a directory built here, with the size it takes unzipped on Lambda."""

    def __init__(self, scope: Construct, construct_id: str, *, built: LayerBuild, description: str) -> None:
        super().__init__(
            scope,
            construct_id,
            code=lambda_.Code.from_asset(str(built.path), exclude=ASSET_EXCLUDES),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            description=description,
        )
        self.directory = built.path
        self.unzipped_bytes = unzipped_bytes(built.path)


_C = TypeVar("_C", bound=Construct)


def one_per_stack(scope: Construct, cls: type[_C], construct_id: str) -> _C:
    """The stack's `cls` construct named `construct_id`, made (with no arguments) on first use."""
    stack = Stack.of(scope)
    found = stack.node.try_find_child(construct_id)
    return found if isinstance(found, cls) else cls(stack, construct_id)


def layer_version(scope: Construct, built: LayerBuild, description: str) -> BuiltLayer:
    """A built layer directory as a layer version for the functions' runtime and architecture."""
    return BuiltLayer(scope, "Layer", built=built, description=description)


class RuntimeLayer(Construct):
    """Builds (or reuses) `layers/runtime/build` and publishes it as a layer version."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.layer = layer_version(self, build_layer(), "offload runtime: the offload package and its dependencies")


class AppLayer(Construct):
    """The app's own dependencies (its requirements file), built the same Docker-free, cached way."""

    def __init__(self, scope: Construct, construct_id: str, *, requirements: Path) -> None:
        super().__init__(scope, construct_id)
        built = build_layer(layers_dir() / "app" / "build", requirements=read_requirements(requirements), package=None)
        self.layer = layer_version(self, built, f"the app's dependencies ({requirements.name})")
