"""Search at 1k, 10k and 100k vectors: Amazon S3 Vectors (priced, checked for correctness on moto + the
local QueryVectors shim) against today's S3-JSON brute force (measured cold and warm), and the offline
embedder's throughput and cold load time on this machine.

    .venv/bin/python bench/search.py                  # 1k, 10k, 100k; about 3-4 minutes on 2 cores
    .venv/bin/python bench/search.py --sizes 1000 --queries 20

What is measured and what is not:
- S3-JSON (offload.ai.vector_index.S3VectorIndex) on moto in-process: the cold query (a new instance:
  LIST + one GET per vector + rank) and the warm one (LIST + rank from the cache). moto's in-process S3
  is not AWS: a GET here costs ~0.1-0.3 ms of CPU, on AWS ~10-30 ms of latency (16 in parallel). Above
  --moto-max vectors the cold figure is the measured per-object cost times N (marked "extrapolated"),
  and the warm rank is measured on the real N vectors in the same in-memory form the cache holds.
- S3 Vectors: latency can't be measured offline; the figure quoted is AWS's published one ("as low as
  100 ms" warm, under a second cold). moto + the shim check that the adapter returns exactly the
  brute-force top 10 (the shim is exact; AWS's engine is approximate, so on AWS recall is < 100%).
- Cost per 1,000 queries from published us-east-1 prices (docs/cost.md cites them):
  S3: LIST $0.005 per 1,000, GET $0.0004 per 1,000; Lambda arm64 $0.0000133334 per GB-s at 2,048 MB;
  S3 Vectors: $2.50 per million QueryVectors calls, plus a data-processed charge per TB scanned whose
  unit price we could not read from the pricing page (left out: the figure is a lower bound).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

for _name, _value in {
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ.setdefault(_name, _value)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

from offload.ai.s3_vectors import S3VectorsIndex, ensure_index  # noqa: E402
from offload.ai.vector_index import S3VectorIndex, _entry, _rank  # noqa: E402
from offload.local.s3vectors_query import add_query_vectors  # noqa: E402

DIMENSIONS = 384  # the offline MiniLM embedder's size, the stack's default index
LIST_PRICE, GET_PRICE = 0.005 / 1000, 0.0004 / 1000
LAMBDA_GB_S, MEMORY_GB = 0.0000133334, 2.0
S3_VECTORS_QUERY_PRICE = 2.50 / 1_000_000
REGION = "us-east-1"


def unit_vector(rng: random.Random) -> list[float]:
    v = [rng.gauss(0.0, 1.0) for _ in range(DIMENSIONS)]
    norm = math.sqrt(sum(x * x for x in v))
    return [x / norm for x in v]


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def bench_s3_json(n: int, vectors: list[list[float]], queries: list[list[float]], moto_max: int) -> dict[str, Any]:
    """Cold and warm query times of the S3-JSON index at n vectors (moto up to moto_max, then extrapolated)."""
    stored = min(n, moto_max)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket="bench")
        writer = S3VectorIndex(s3, "bench", "index/bench/")
        for i in range(stored):
            writer.upsert(f"img-{i:06d}", vectors[i], {"status": "indexed"})
        cold_reader = S3VectorIndex(s3, "bench", "index/bench/")
        start = time.perf_counter()
        cold_reader.query(queries[0], limit=10)
        cold_s = time.perf_counter() - start
        warm = []
        for q in queries:
            start = time.perf_counter()
            cold_reader.query(q, limit=10)
            warm.append(time.perf_counter() - start)
    if stored == n:
        return {
            "cold_s": cold_s,
            "warm": warm,
            "rank": [_rank_time(vectors[:n], q) for q in queries[:5]],
            "extrapolated": False,
        }
    # Above moto_max: cold = measured per-object cost x n; warm = LIST time scaled + the real rank at n.
    entries = [_entry(f"img-{i:06d}", vectors[i], {"status": "indexed"}) for i in range(n)]
    ranks = []
    for q in queries:
        start = time.perf_counter()
        _rank(q, entries, 10)
        ranks.append(time.perf_counter() - start)
    list_share = max(0.0, statistics.median(warm) - _rank_time(vectors[:stored], queries[0]))
    scale = n / stored
    return {
        "cold_s": cold_s * scale,
        "warm": [r + list_share * scale for r in ranks],
        "rank": ranks,
        "extrapolated": True,
    }


def _rank_time(vectors: list[list[float]], query: list[float]) -> float:
    entries = [_entry(f"k{i}", v, {}) for i, v in enumerate(vectors)]
    start = time.perf_counter()
    _rank(query, entries, 10)
    return time.perf_counter() - start


def check_s3_vectors(vectors: list[list[float]], queries: list[list[float]]) -> int:
    """On moto + the shim: how many of the queries got exactly the brute-force top 10 from the adapter."""
    add_query_vectors()
    with mock_aws():
        client = boto3.client("s3vectors", region_name=REGION)
        client.create_vector_bucket(vectorBucketName="bench-vectors")
        ensure_index(client, "bench-vectors", "images-bench-384", DIMENSIONS)
        index = S3VectorsIndex(client, "bench-vectors", "images-bench-384")
        index.upsert_many((f"img-{i:06d}", v, {"status": "indexed"}) for i, v in enumerate(vectors))
        entries = [_entry(f"img-{i:06d}", v, {}) for i, v in enumerate(vectors)]
        same = 0
        for q in queries:
            expected = [m.key for m in _rank(q, entries, 10)]
            got = [m.key for m in index.query(q, limit=10, filter={"status": "indexed"})]
            same += got == expected
        return same


def bench_embedder() -> dict[str, float]:
    """Cold load (first embed, model and tokenizer loading) and steady texts/s of the ONNX MiniLM embedder."""
    from offload.ai.onnx_embedder import OnnxMiniLMEmbedder

    texts = [f"a photo of item {i}: a red car parked by the sea at sunset, calm and bright" for i in range(256)]
    start = time.perf_counter()
    embedder = OnnxMiniLMEmbedder()
    embedder.embed(["warm up"])
    cold = time.perf_counter() - start
    start = time.perf_counter()
    for chunk in range(0, len(texts), 32):
        embedder.embed(texts[chunk : chunk + 32])
    rate = len(texts) / (time.perf_counter() - start)
    return {"cold_load_s": cold, "texts_per_s": rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--moto-max", type=int, default=10_000, help="store at most this many objects in moto")
    parser.add_argument("--check", type=int, default=2000, help="vectors for the S3 Vectors correctness check")
    args = parser.parse_args()
    rng = random.Random(16)
    largest = max(args.sizes)
    print(f"generating {largest:,} unit vectors of {DIMENSIONS} dimensions ...", flush=True)
    vectors = [unit_vector(rng) for _ in range(largest)]
    queries = [unit_vector(rng) for _ in range(args.queries)]

    emb = bench_embedder()
    print(
        f"\nembedder (ONNX MiniLM int8, this machine): cold load {emb['cold_load_s']:.2f} s, "
        f"{emb['texts_per_s']:.0f} texts/s (batches of 32)"
    )

    same = check_s3_vectors(vectors[: args.check], queries)
    print(
        f"S3 Vectors adapter on moto + shim: {same}/{len(queries)} queries returned exactly the brute-force top 10 "
        f"({args.check:,} vectors)"
    )

    print(
        "\n| vectors | S3-JSON cold | S3-JSON warm p50 | warm p99 | of which ranking p50 | S3-JSON $/1k queries (warm) "
        "| S3 Vectors latency (published) | S3 Vectors $/1k queries |"
    )
    print("|---:|---:|---:|---:|---:|---:|---|---:|")
    for n in args.sizes:
        r = bench_s3_json(n, vectors, queries, args.moto_max)
        p50, p99 = percentile(r["warm"], 50), percentile(r["warm"], 99)
        lists = math.ceil(n / 1000)
        json_cost = 1000 * (lists * LIST_PRICE + p50 * MEMORY_GB * LAMBDA_GB_S)
        vec_cost = 1000 * S3_VECTORS_QUERY_PRICE
        mark = " (extrapolated)" if r["extrapolated"] else ""
        print(
            f"| {n:,} | {r['cold_s']:.2f} s{mark} | {p50 * 1000:.0f} ms | {p99 * 1000:.0f} ms "
            f"| {percentile(r['rank'], 50) * 1000:.0f} ms | ${json_cost:.4f} "
            f"| ~100 ms warm, < 1 s cold | ${vec_cost:.4f} + data processed |",
            flush=True,
        )
    print(
        f"\nS3-JSON cold on AWS instead: {GET_PRICE * 1000:.4f} $ per 1,000 GETs, one GET per vector per new "
        "instance; at 10-30 ms a GET with 16 in parallel, 10,000 vectors take ~6-20 s."
    )


if __name__ == "__main__":
    main()
