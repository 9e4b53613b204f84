"""bench/video.py's smoke run: every figure the full run reports is there, and in a sane range."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def figures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    cache = tmp_path_factory.mktemp("video-bench-cache")
    command = [sys.executable, str(ROOT / "bench" / "video.py"), "--quick", "--duration", "4", "--height", "360"]
    run = subprocess.run(
        [*command, "--json", "--cache", str(cache)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.mark.slow
def test_the_pipeline_and_the_reference_command_both_spend_cpu_and_match_settings(figures: dict[str, Any]) -> None:
    cpu = figures["cpu"]
    assert cpu["ours_s"] > 0 and cpu["reference_s"] > 0
    assert -0.5 < cpu["overhead"] < 5.0
    stages = {s["name"] for s in cpu["stages"]}
    assert {"probe", "plan", "transcode segment 0", "transcode segment 1", "transcode audio", "join mp4"} <= stages
    assert {"join webm", "join hls 360p", "package poster", "package sprite"} <= stages
    assert cpu["x264_settings_differ"] == []


@pytest.mark.slow
def test_parallel_runs_and_the_lambda_model_are_reported(figures: dict[str, Any]) -> None:
    parallel = figures["parallel"]
    assert parallel["tasks"] == 3  # two 2 s segments and the audio
    assert set(parallel["wall_s"]) == {"1", "2"} and all(w > 0 for w in parallel["wall_s"].values())
    model = figures["lambda"]
    wall = model["wall_s"]
    assert wall["total"] > wall["transcode_map"] > 0 and wall["join_map"] > 0
    assert model["segments"] >= 1 and model["vcpus"] == pytest.approx(2.0, rel=0.01)
    assert 0 < model["usd_per_output_minute"] < model["usd_per_source_minute"]
    assert model["mediaconvert_usd_per_source_minute"]["pro"] > model["mediaconvert_usd_per_source_minute"]["basic"]


@pytest.mark.slow
def test_quality_and_sizes_are_measured_on_real_outputs(figures: dict[str, Any]) -> None:
    quality = figures["quality"]
    assert quality["rung"] == "360p"
    for side in ("ours", "reference", "ours_at_rung_size"):
        assert 60 < quality[side]["vmaf"] <= 100
        assert 25 < quality[side]["psnr_y"] < 70
    assert abs(quality["ours"]["vmaf"] - quality["reference"]["vmaf"]) < 5
    assert all(25 < p < 70 for p in quality["psnr_y"].values())
    sizes = figures["bytes"]
    for name in ("video.mp4", "video.webm", "hls 360p", "audio.m4a", "audio.opus", "poster.jpg", "sprite.jpg"):
        assert sizes[name] > 0, name
        assert figures["reference_bytes"][name] > 0, name
    assert figures["bytes_per_minute"]["video.mp4"] == pytest.approx(sizes["video.mp4"] * 15, rel=0.01)
    assert {t["target"].split()[0] for t in figures["targets"]} == {"CPU", "VMAF", "Lambda"}
