"""The local cloud re-synthesizes only when the app's inputs changed in content."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from offload.local.cloud import (
    ROOT,
    SYNTH_INPUTS,
    SYNTH_STAMP,
    inputs_digest,
    synthesis_is_current,
    synthesize_if_stale,
)


def _assembly(tmp_path: Path, digest: str) -> Path:
    cdk_out = tmp_path / "cdk.out"
    cdk_out.mkdir()
    template = cdk_out / "Offload.template.json"
    template.write_text("{}")
    os.utime(template, (0, 0))  # older than every input: mtimes alone would call it stale
    (cdk_out / SYNTH_STAMP).write_text(digest + "\n")
    return cdk_out


def test_an_assembly_built_from_the_current_inputs_is_not_synthesized_again(tmp_path):
    cdk_out = _assembly(tmp_path, inputs_digest())

    assert synthesize_if_stale(cdk_out, "Offload", log=lambda m: None) is False


def test_an_assembly_built_from_other_inputs_or_without_a_stamp_is_stale(tmp_path):
    cdk_out = _assembly(tmp_path, "0" * 64)
    assert not synthesis_is_current(cdk_out, "Offload")

    (cdk_out / SYNTH_STAMP).unlink()
    assert not synthesis_is_current(cdk_out, "Offload")


def test_the_digest_follows_content_not_modification_times(tmp_path):
    root = tmp_path / "app"
    for name in SYNTH_INPUTS:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=shutil.ignore_patterns("__pycache__", "node_modules"))
        elif source.exists():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name)
    before = inputs_digest(root)

    os.utime(root / "app.py")  # touched, not changed
    touched = inputs_digest(root)
    (root / "app.py").write_text((root / "app.py").read_text() + "\n# changed\n")

    assert touched == before != inputs_digest(root)
