"""Brute-force dense retrieval: how far does one matrix-vector product go?

For 10k / 100k / 1M synthetic unit vectors of 384 dims (MiniLM's width) in float32, time a
top-10 query (matrix-vector product + argpartition + sort of the 10) and report p50/p95
latency, queries per second when 64 queries are batched into one matrix product, and memory.

    python bench/dense_scaling.py            # prints a table, writes reports/bench/dense_scaling.json
    python bench/dense_scaling.py --sizes 10000,100000 --queries 50

Brute force reads the whole matrix per query, so latency grows linearly with the catalogue and
is bounded by memory bandwidth: the table says where it stops fitting a request budget.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import psutil

DIM = 384
K = 10
BATCH = 64  # queries per matrix product in the throughput column
REQUEST_BUDGET_MS = 50.0  # what one retrieval may spend inside a web request


def unit_rows(rng: np.random.Generator, n: int, dim: int, chunk: int = 100_000) -> np.ndarray:
    """(n, dim) float32 unit vectors, generated in chunks so float64 temporaries stay small."""
    out = np.empty((n, dim), dtype=np.float32)
    for start in range(0, n, chunk):
        block = rng.standard_normal((min(chunk, n - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out


def top_k(matrix: np.ndarray, query: np.ndarray, k: int = K) -> np.ndarray:
    """Indices of the k highest cosines, best first. matrix (n, d), query (d,)."""
    scores = matrix @ query  # (n,)
    head = np.argpartition(-scores, k - 1)[:k]
    return head[np.argsort(-scores[head], kind="stable")]


def top_k_batch(matrix: np.ndarray, queries: np.ndarray, k: int = K) -> np.ndarray:
    """(b, k) for queries (b, d): one (n, d) x (d, b) product serves the whole batch."""
    scores = queries @ matrix.T  # (b, n)
    head = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, head, 1), axis=1, kind="stable")
    return np.take_along_axis(head, order, 1)


def bench_size(n: int, n_queries: int, seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    process = psutil.Process()
    rss_before = process.memory_info().rss
    matrix = unit_rows(rng, n, DIM)
    queries = unit_rows(rng, n_queries, DIM)
    top_k(matrix, queries[0])  # warm-up: page in the matrix, initialise BLAS threads
    times = []
    for q in queries:
        start = time.perf_counter()
        top_k(matrix, q)
        times.append((time.perf_counter() - start) * 1000)
    # correctness spot check against a full sort
    expected = np.argsort(-(matrix @ queries[0]), kind="stable")[:K]
    assert np.array_equal(top_k(matrix, queries[0]), expected)
    batch = unit_rows(rng, BATCH, DIM)
    start = time.perf_counter()
    top_k_batch(matrix, batch)
    batch_seconds = time.perf_counter() - start
    rss_after = process.memory_info().rss
    return {
        "items": n,
        "matrix_mb": matrix.nbytes / 2**20,
        "rss_growth_mb": (rss_after - rss_before) / 2**20,
        "p50_ms": float(np.percentile(times, 50)),
        "p95_ms": float(np.percentile(times, 95)),
        "batched_qps": BATCH / batch_seconds,
        "queries": n_queries,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--queries", type=int, default=100, help="timed single queries per size")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/bench/dense_scaling.json"))
    args = parser.parse_args(argv)

    rows = [bench_size(int(n), args.queries, args.seed) for n in args.sizes.split(",")]
    print(f"brute-force top-{K}, {DIM} dims, float32, {os.cpu_count()} CPUs")
    print(
        f"{'items':>9}  {'matrix MB':>9}  {'RSS+ MB':>8}  {'p50 ms':>8}  {'p95 ms':>8}  {'batched q/s':>11}"
    )
    for r in rows:
        print(
            f"{r['items']:>9,}  {r['matrix_mb']:>9.0f}  {r['rss_growth_mb']:>8.0f}  "
            f"{r['p50_ms']:>8.2f}  {r['p95_ms']:>8.2f}  {r['batched_qps']:>11.0f}"
        )
    over = [r["items"] for r in rows if r["p95_ms"] > REQUEST_BUDGET_MS]
    verdict = (
        f"brute force exceeds a {REQUEST_BUDGET_MS:.0f} ms request budget at {min(over):,} items"
        if over
        else f"brute force stays under {REQUEST_BUDGET_MS:.0f} ms p95 at every size measured"
    )
    print(verdict)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "dim": DIM,
        "k": K,
        "batch": BATCH,
        "request_budget_ms": REQUEST_BUDGET_MS,
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "load_average": os.getloadavg(),
        "results": rows,
        "verdict": verdict,
    }
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
