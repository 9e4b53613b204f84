"""The local cloud re-synthesizes only when the app's inputs changed in content."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from offload.local.cloud import (
    SYNTH_INPUTS,
    SYNTH_STAMP,
    inputs_digest,
    synthesis_is_current,
    synthesize_if_stale,
)

ROOT = Path(__file__).resolve().parents[2]


def _app(root: Path) -> Path:
    """A copy of this repository's app inputs (app.py, cdk.json, ...) in `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for name in SYNTH_INPUTS:
        if (ROOT / name).is_file():
            shutil.copy2(ROOT / name, root / name)
    return root


def _assembly(tmp_path: Path, digest: str) -> Path:
    cdk_out = _app(tmp_path) / "cdk.out"
    cdk_out.mkdir()
    template = cdk_out / "Offload.template.json"
    template.write_text("{}")
    os.utime(template, (0, 0))  # older than every input: mtimes alone would call it stale
    (cdk_out / SYNTH_STAMP).write_text(digest + "\n")
    return cdk_out


def test_an_assembly_built_from_the_current_inputs_is_not_synthesized_again(tmp_path):
    cdk_out = _assembly(tmp_path, inputs_digest(_app(tmp_path)))

    assert synthesize_if_stale(cdk_out, "Offload", log=lambda m: None) is False


def test_an_assembly_built_from_other_inputs_or_without_a_stamp_is_stale(tmp_path):
    cdk_out = _assembly(tmp_path, "0" * 64)
    assert not synthesis_is_current(cdk_out, "Offload")

    (cdk_out / SYNTH_STAMP).unlink()
    assert not synthesis_is_current(cdk_out, "Offload")


def test_the_digest_follows_content_not_modification_times(tmp_path):
    root = _app(tmp_path / "app")
    (root / "shop").mkdir()
    (root / "shop" / "__init__.py").write_text("")
    (root / "shop" / "jobs.py").write_text("X = 1\n")
    before = inputs_digest(root)

    os.utime(root / "app.py")  # touched, not changed
    touched = inputs_digest(root)
    (root / "app.py").write_text((root / "app.py").read_text() + "\n# changed\n")

    changed = inputs_digest(root)
    assert touched == before != changed
    (root / "shop" / "jobs.py").write_text("X = 2\n")  # the app's own package is an input too
    assert inputs_digest(root) != changed
