"""What offload's own part of AI video generation costs per generated minute, against seed 002's shape.

Runs real generations on the local cloud (the synthesized stack, the local providers), then prices
what AWS would bill for them from what was recorded: each execution's state transitions (Step
Functions Standard bills per transition: the execution history's `...StateEntered` events), and each
function's measured time in its handler (the local cloud times every invocation) at the function's
memory. The provider's own price is left out (docs/generate.md has the list prices). The peer is seed
002's shape: one long-running worker container with Redis, per month, whatever the volume.

Caveats printed with the figures: handler time here includes the local S3/DynamoDB round trips (a
little more than on AWS for the light steps) and the ffmpeg steps run on this machine's x86 cores
(Lambda's arm64 is taken as ARM64_FACTOR slower for the media functions). Prices: us-east-1 on-demand
as published (2026-11); **check before quoting**.

    .venv/bin/python bench/generate_cost.py [--runs 2] [--scenes 3] [--seconds 4] [--size 1280x720] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

HOURS = 730
PRICES_USD = {
    "sfn_standard_transition": 0.000025,
    "lambda_arm64_gb_s": 0.0000133334,
    "lambda_request": 0.0000002,
    "fargate_arm64_vcpu_h": 0.03238,
    "fargate_arm64_gb_h": 0.00356,
    "cache_t4g_micro_h": 0.0128,
}
ARM64_FACTOR = 1.5  # the media functions' ffmpeg time on Graviton against a core here (as bench/video.py)
MEDIA_FUNCTIONS = ("GeneratePackMedia", "VideoPackMedia", "VideoPackTranscode")
# Seed 002's worker: concurrency 2, 10 jobs a minute, "256MB minimum (recommend 512MB)"; ffmpeg merges
# need more CPU than that, so the container is priced at both ends.
CONTAINERS = {"0.25 vCPU / 0.5 GB (seed 002's minimum)": (0.25, 0.5), "1 vCPU / 2 GB (merging with ffmpeg)": (1.0, 2.0)}
VOLUMES = (100, 1_000, 10_000)  # generated videos a month


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="generations to run (in a row)")
    parser.add_argument("--scenes", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds per scene")
    parser.add_argument("--size", default="1280x720")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    from offload.aws import Clients
    from offload.jobs.enqueue import enqueue
    from offload.local.cloud import LocalCloud, free_port
    from offload.runtime import Runtime
    from offload.settings import Settings

    os.chdir(ROOT)
    cloud = LocalCloud(port=free_port(), log=lambda m: print(f"  {m}", file=sys.stderr))
    print("starting the local cloud ...", file=sys.stderr)
    cloud.start()
    try:
        settings = Settings.model_validate(json.loads(cloud.outputs["ClientConfig"]))
        rt = Runtime(settings, Clients(endpoint_url=cloud.endpoint, region="us-east-1"))
        before = {
            name: (f.stats.busy_s, f.stats.invocations, f.stats.busy_s_by_step.get("submit", 0.0))
            for name, f in cloud.functions.items()
        }
        jobs, walls = [], []
        for i in range(args.runs):
            scenes = [
                {"text": f"Scene {n + 1} of run {i + 1}", "visual": f"a harbour at dusk, shot {n + 1}",
                 "seconds": args.seconds}
                for n in range(args.scenes)
            ]  # fmt: skip
            began = time.time()
            job_id = enqueue("video.generate", {"scenes": scenes, "size": args.size}, runtime=rt)
            job = _wait(rt, job_id)
            walls.append(time.time() - began)
            if job.status.value != "completed":
                print(f"generation {job_id} ended {job.status.value}: {job.error}", file=sys.stderr)
                return 1
            jobs.append(job)
            print(f"  run {i + 1}: {job_id} completed in {walls[-1]:.1f} s", file=sys.stderr)
        figures = _figures(cloud, rt, jobs, before, walls, args)
    finally:
        cloud.stop()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        _print(figures)
    return 0


def _wait(rt: Any, job_id: str, timeout_s: float = 1800) -> Any:
    deadline = time.time() + timeout_s
    while True:
        job = rt.store.get(job_id)
        if job is not None and job.status.terminal:
            return job
        if time.time() > deadline:
            raise SystemExit(f"generation {job_id} still {job and job.status.value} after {timeout_s:g} s")
        time.sleep(1)


def _transitions(sfn: Any, execution_arn: str) -> int:
    count, kwargs = 0, {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        count += sum(1 for e in page["events"] if e["type"].endswith("StateEntered"))
        if not page.get("nextToken"):
            return count
        kwargs["nextToken"] = page["nextToken"]


def _figures(cloud: Any, rt: Any, jobs: list[Any], before: dict, walls: list[float], args: Any) -> dict[str, Any]:
    from offload.packs.video.steps import VideoPipeline

    sfn = rt.clients.client("stepfunctions")
    generate_t = sum(_transitions(sfn, j.execution_arn) for j in jobs)
    video_store = VideoPipeline(rt).store
    video_t = 0
    for j in jobs:
        record = video_store.get(j.result["video_key"])
        if record is not None and record.execution_arn:
            video_t += _transitions(sfn, record.execution_arn)
    per_fn: dict[str, dict[str, float]] = defaultdict(dict)
    gb_s = 0.0
    requests = 0
    local_provider_s = 0.0
    for key, f in cloud.functions.items():
        busy, calls = f.stats.busy_s - before[key][0], f.stats.invocations - before[key][1]
        name = f.spec.logical_id
        if name.startswith("GeneratePackMedia"):
            # The local provider renders its clips in `submit` on this function: a provider's work, not ours.
            provider_s = f.stats.busy_s_by_step.get("submit", 0.0) - before[key][2]
            busy -= provider_s
            local_provider_s += provider_s
        if calls == 0 or not name.startswith(("GeneratePack", "VideoPack", "QueueGenerate", "QueueVideo")):
            continue
        factor = ARM64_FACTOR if name.startswith(MEDIA_FUNCTIONS) else 1.0
        billed = busy * factor * f.spec.memory_mb / 1024
        per_fn[name] = {"invocations": calls, "seconds_here": round(busy, 2), "memory_mb": f.spec.memory_mb,
                        "gb_s": round(billed, 2)}  # fmt: skip
        gb_s += billed
        requests += calls
    minutes = sum(j.result["duration_s"] for j in jobs) / 60
    p = PRICES_USD
    cost = {
        "step_functions": (generate_t + video_t) * p["sfn_standard_transition"],
        "lambda_gb_s": gb_s * p["lambda_arm64_gb_s"],
        "lambda_requests": requests * p["lambda_request"],
    }
    total = sum(cost.values())
    per_minute = total / minutes
    per_video = total / len(jobs)
    containers = {
        label: HOURS * (vcpu * p["fargate_arm64_vcpu_h"] + gb * p["fargate_arm64_gb_h"] + p["cache_t4g_micro_h"])
        for label, (vcpu, gb) in CONTAINERS.items()
    }
    volumes = {str(v): round(v * per_video, 2) for v in VOLUMES}
    return {
        "runs": len(jobs),
        "scenes": args.scenes,
        "seconds_per_scene": args.seconds,
        "size": args.size,
        "generated_minutes": round(minutes, 3),
        "wall_s": [round(w, 1) for w in walls],
        "transitions": {
            "generate": generate_t,
            "video_pipeline": video_t,
            "per_video": round((generate_t + video_t) / len(jobs), 1),
        },
        "functions": dict(per_fn),
        "local_provider_render_s_left_out": round(local_provider_s, 2),
        "cost_usd": {k: round(v, 6) for k, v in cost.items()},
        "per_video_usd": round(per_video, 5),
        "per_generated_minute_usd": round(per_minute, 5),
        "container_month_usd": {k: round(v, 2) for k, v in containers.items()},
        "ours_month_usd_by_volume": volumes,
        "break_even_videos_a_month": {k: round(v / per_video) for k, v in containers.items()},
    }


def _print(f: dict[str, Any]) -> None:
    print(
        f"generation cost bench: {f['runs']} runs of {f['scenes']} scenes x {f['seconds_per_scene']:g} s at "
        f"{f['size']} ({f['generated_minutes']:.2f} generated minutes), local providers; wall {f['wall_s']} s"
    )
    t = f["transitions"]
    print(
        f"  state transitions: generation {t['generate']}, video pipeline {t['video_pipeline']} "
        f"({t['per_video']} per video)"
    )
    print("  function                          calls  s here  MB     GB-s billed")
    for name, row in f["functions"].items():
        calls, here, mb, gb_s = row["invocations"], row["seconds_here"], row["memory_mb"], row["gb_s"]
        print(f"  {name[:32]:32} {calls:6} {here:7.2f} {mb:5} {gb_s:9.2f}")
    print(
        f"  (left out: {f['local_provider_render_s_left_out']} s of the local provider rendering clips, "
        "a provider's work)"
    )
    for item, usd in f["cost_usd"].items():
        print(f"  {item:18} ${usd:.5f}")
    print(f"  per video ${f['per_video_usd']:.5f}; per generated minute ${f['per_generated_minute_usd']:.5f}")
    print("  one always-on worker container + Redis (seed 002's shape), per month:")
    for label, usd in f["container_month_usd"].items():
        even = f["break_even_videos_a_month"][label]
        print(f"    {label:40} ${usd:7.2f}  (break-even at {even:,} videos a month)")
    by_volume = f["ours_month_usd_by_volume"].items()
    print("  offload per month by volume: " + ", ".join(f"{v} videos ${usd}" for v, usd in by_volume))
    print(
        f"  (Lambda arm64 taken as {ARM64_FACTOR}x slower than a core here for ffmpeg; "
        "prices us-east-1, check before quoting)"
    )


if __name__ == "__main__":
    raise SystemExit(main())
