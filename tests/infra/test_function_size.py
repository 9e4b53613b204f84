"""Lambda's 250 MB for code plus all layers, unzipped, checked for every function at synth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from aws_cdk import App, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from conftest import resources_of

from offload.catalog import Catalog, CatalogError, Pack
from offload.cdk.app import cdk_json_context
from offload.cdk.constructs.job_queue import (
    LAMBDA_UNZIPPED_LIMIT,
    OffloadFunction,
    check_package_size,
    empty_code,
)
from offload.cdk.constructs.runtime_layer import BuiltLayer
from offload.cdk.layers import LayerBuild, unzipped_bytes
from offload.cdk.stack import OffloadConfig, OffloadStack
from offload.packs import core

MB = 1_000_000


def _sparse_layer(root: Path, size: int) -> Path:
    """A layer directory holding one file of `size` bytes that takes no disk (a sparse file)."""
    (root / "python").mkdir(parents=True)
    with open(root / "python" / "big.bin", "wb") as f:
        f.truncate(size)
    return root


def test_every_function_of_the_stack_was_checked_and_fits(synthesis, template_json: dict) -> None:
    functions = [c for c in synthesis.stack.node.find_all() if isinstance(c, OffloadFunction)]
    assert len(functions) == len(resources_of(template_json, "AWS::Lambda::Function"))
    for fn in functions:
        assert 0 < fn.package_size.total <= LAMBDA_UNZIPPED_LIMIT, fn.package_size.describe()


def test_the_video_functions_fit_with_the_ffmpeg_layer_and_say_how_much(synthesis, record_property) -> None:
    video = synthesis.stack.pack_constructs["video"]
    for fn in (video.media_function, video.transcode_function):
        size = fn.package_size
        print(f"{size.function}: {size.describe()}")
        record_property(size.function, size.describe())
        parts = dict(size.parts)
        assert list(parts) == ["code", "RuntimeLayer", "FfmpegLayer"]
        assert parts["FfmpegLayer"] > 150 * MB, "ffmpeg (131 MB) and PyAV are in it"
        assert size.total <= LAMBDA_UNZIPPED_LIMIT
    # what the check counts is what the layer directory holds (without the stamp and bytecode)
    assert dict(video.media_function.package_size.parts)["FfmpegLayer"] == unzipped_bytes(video.ffmpeg_layer.directory)


def test_layers_over_the_limit_stop_synthesis_with_each_part_and_the_fix(tmp_path: Path) -> None:
    # Given a function whose layers would be one byte over Lambda's limit
    stack = Stack(App(outdir=str(tmp_path / "out")), "Sizes")
    code = empty_code()
    assert isinstance(code, lambda_.AssetCode)
    code_bytes = unzipped_bytes(Path(code.path))
    layers = [
        BuiltLayer(
            stack,
            "Big",
            built=LayerBuild(_sparse_layer(tmp_path / "big", LAMBDA_UNZIPPED_LIMIT - code_bytes), "x", False),
            description="a big layer",
        )
    ]
    # then exactly at the limit it passes
    assert check_package_size(stack, "function Sizes/AtLimit", code, layers).total == LAMBDA_UNZIPPED_LIMIT
    # and one byte more is a CatalogError naming the function, each part, the limit and the fix
    layers.append(
        BuiltLayer(stack, "One", built=LayerBuild(_sparse_layer(tmp_path / "one", 1), "y", False), description="1 byte")
    )
    with pytest.raises(CatalogError) as err:
        check_package_size(stack, "function Sizes/Over", code, layers)
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith("function Sizes/Over: code plus layers would be code 0.0 MB + Big 262.1 MB + One 0.0 MB")
    assert "262,144,000 bytes" in message and "make Big smaller" in message


def test_a_pack_whose_function_is_too_big_fails_the_stack(tmp_path: Path) -> None:
    # Given a pack adding a 240 MB layer to a function that also has the runtime layer (about 50 MB)
    big = _sparse_layer(tmp_path / "layer", 240 * MB)
    pack = Pack("big", infra="tests.support.infra:ExtraLayerFunction", options={"layer_dir": str(big)})
    app = App(outdir=str(tmp_path / "out"), context=cdk_json_context())
    # when its stack is built, then synthesis stops before anything is deployed
    with pytest.raises(CatalogError, match=r"^function Offload/BigPack/Step: code plus layers would be .*RuntimeLayer"):
        OffloadStack(app, "Offload", config=OffloadConfig(), catalog=Catalog.compose(core, pack))


def test_a_function_made_without_offload_function_is_refused(tmp_path: Path) -> None:
    pack = Pack("raw", infra="tests.support.infra:RawFunction")
    app = App(outdir=str(tmp_path), context=cdk_json_context())
    with pytest.raises(CatalogError, match=re.escape("Lambda function Offload/RawPack/Raw/Resource was not built")):
        OffloadStack(app, "Offload", config=OffloadConfig(), catalog=Catalog.compose(core, pack))


def test_code_whose_size_is_unknown_is_refused(tmp_path: Path) -> None:
    stack = Stack(App(outdir=str(tmp_path)), "Sizes")
    code = lambda_.Code.from_bucket_v2(s3.Bucket(stack, "B"), "code.zip")
    with pytest.raises(CatalogError, match=r"its code is a S3CodeV2, whose size can't be checked"):
        check_package_size(stack, "function Sizes/S3", code, [])
