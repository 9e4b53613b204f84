"""The runtime layer: built without Docker, cached by a stamp, carrying offload minus what never ships."""

from __future__ import annotations

import shutil
from pathlib import Path

from offload.cdk.layers import PACKAGE, _inputs_digest, build_layer, default_constraints, runtime_requirements

REQUIREMENTS = runtime_requirements()
CONSTRAINTS = default_constraints()


def test_second_layer_build_with_nothing_changed_is_a_no_op(synthesis) -> None:
    # Given the layer the session's synth built (or found current)
    first = build_layer()
    stamp_before = first.stamp.stat().st_mtime_ns
    # when it is built again with nothing changed
    second = build_layer()
    # then the stamp already matched, nothing was rebuilt and the stamp was not rewritten
    assert second.rebuilt is False
    assert second.digest == first.digest == first.stamp.read_text().strip()
    assert second.stamp.stat().st_mtime_ns == stamp_before


def test_layer_digest_changes_when_a_shipped_source_changes(tmp_path: Path) -> None:
    package = tmp_path / "offload"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = _inputs_digest(REQUIREMENTS, CONSTRAINTS, package)
    (package / "catalog.py").write_text((package / "catalog.py").read_text() + "\n# changed\n")
    assert _inputs_digest(REQUIREMENTS, CONSTRAINTS, package) != before


def test_layer_digest_ignores_packages_that_never_ship(tmp_path: Path) -> None:
    package = tmp_path / "offload"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    before = _inputs_digest(REQUIREMENTS, CONSTRAINTS, package)
    for excluded in ("local", "cli", "cdk", "testing"):
        (package / excluded).mkdir(exist_ok=True)
        (package / excluded / "new_module.py").write_text("X = 1\n")
    (package / "packs" / "images" / "infra.py").write_text("# a construct never runs on Lambda\n")
    (package / "__pycache__").mkdir(exist_ok=True)
    (package / "__pycache__" / "catalog.cpython-311.pyc").write_bytes(b"\0")
    assert _inputs_digest(REQUIREMENTS, CONSTRAINTS, package) == before


def test_layer_ships_offload_and_dependencies_but_not_what_lambda_provides(synthesis) -> None:
    site = build_layer().path / "python"
    assert (site / "offload" / "catalog.py").is_file()
    assert (site / "pydantic").is_dir() and (site / "aws_lambda_powertools").is_dir()
    assert (site / "offload" / "packs" / "images" / "steps.py").is_file()
    for absent in (
        "boto3",
        "botocore",
        "s3transfer",
        "offload/local",
        "offload/cli",
        "offload/cdk",
        "offload/packs/images/infra.py",
        "offload/packs/images/cli.py",
    ):
        assert not (site / absent).exists(), absent
    assert not list(site.rglob("__pycache__")) and not list(site.rglob("*.pyc"))


def test_an_app_layer_holds_only_the_app_requirements(tmp_path: Path) -> None:
    # Given an app that needs one small pure-Python package
    out = tmp_path / "app-layer"
    # when its layer is built (no offload package in it)
    built = build_layer(out, requirements=["six==1.17.0"], package=None)
    # then the layer has the package, and nothing of offload
    site = built.path / "python"
    assert (site / "six.py").is_file()
    assert not (site / "offload").exists()
    assert build_layer(out, requirements=["six==1.17.0"], package=None).rebuilt is False


def test_an_app_that_names_its_requirements_gets_a_second_layer_on_every_function(tmp_path: Path) -> None:
    from aws_cdk.assertions import Template

    from offload.cdk.app import build_app

    # Given an app whose cdk.json names a requirements file
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# the app's own dependencies\nsix==1.17.0\n")
    context = {
        "offload:catalog": "tests.support.catalogs:core_only",
        "offload:codePackages": [],
        "offload:appRequirements": str(requirements),
    }
    # when its stack is built
    _, stack = build_app(outdir=tmp_path / "cdk.out", context=context)
    template = Template.from_stack(stack).to_json()
    # then there are two layers, the app's holds its requirement, and every function uses both
    layers = {k for k, v in template["Resources"].items() if v["Type"] == "AWS::Lambda::LayerVersion"}
    assert len(layers) == 2
    functions = [v for v in template["Resources"].values() if v["Type"] == "AWS::Lambda::Function"]
    assert functions and all({ref["Ref"] for ref in f["Properties"]["Layers"]} == layers for f in functions)
    assert (Path.cwd() / "layers" / "app" / "build" / "python" / "six.py").is_file()
