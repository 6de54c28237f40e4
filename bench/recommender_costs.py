"""What each model costs to fit and to serve: fit time, peak memory, recommend() latency.

    python bench/recommender_costs.py --dataset ml-1m --models pop,itemknn,als,bpr,ease

Each model runs in its own subprocess, so its peak memory is not polluted by the models before
it. Hyperparameters come from the evaluation report (reports/<dataset>/results.json) when it
has the model, else from the model's config defaults. The fit uses split.train_valid (what a
deployment trains on). Latency is one ``recommend(user, n=10)`` call, the request-path cost,
timed over ``--users`` random users after a short warm-up.
Writes reports/bench/recommender_costs.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from recommender import registry  # noqa: E402
from recommender.data import load_movielens  # noqa: E402
from recommender.evaluate import DATASETS  # noqa: E402
from recommender.split import leave_last_out  # noqa: E402

MB = 1024 * 1024


class PeakRSS:
    """Samples this process's resident memory in a thread; ``peak`` is the largest seen."""

    def __init__(self, interval: float = 0.005) -> None:
        self.process = psutil.Process()
        self.interval = interval
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(self.interval)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


def chosen_hparams(report: Path, name: str) -> dict[str, Any] | None:
    if not report.exists():
        return None
    for model in json.loads(report.read_text())["models"]:
        if model["name"] == name:
            return dict(model["hparams"])
    return None


def worker(name: str, dataset_name: str, n_users: int, seed: int, report: Path) -> dict[str, Any]:
    """Runs inside the subprocess: fit once, then time recommend()."""
    spec = registry.get(name)
    dataset = load_movielens(DATASETS[dataset_name])  # type: ignore[arg-type]
    split = leave_last_out(dataset.interactions)
    hparams = chosen_hparams(report, name)
    source = "evaluation report" if hparams is not None else "config defaults"
    model = spec.build(hparams or {}, seed)

    process = psutil.Process()
    rss_before = process.memory_info().rss
    with PeakRSS() as peak:
        start = time.perf_counter()
        model.fit(split.train_valid, dataset.catalogue)
        fit_seconds = time.perf_counter() - start
    rss_after = process.memory_info().rss

    rng = np.random.default_rng(seed)
    users = rng.choice(split.users, size=min(n_users, len(split.users)), replace=False)
    for u in users[:5]:  # warm caches and lazy initialisation before timing
        model.recommend(int(u), n=10)
    latencies = []
    for u in users:
        start = time.perf_counter()
        model.recommend(int(u), n=10)
        latencies.append((time.perf_counter() - start) * 1000)
    return {
        "model": name,
        "hparams": hparams or {},
        "hparams_from": source,
        "fit_seconds": fit_seconds,
        "fit_peak_rss_mb": peak.peak / MB,
        "fit_peak_over_baseline_mb": (peak.peak - rss_before) / MB,
        "retained_after_fit_mb": (rss_after - rss_before) / MB,
        "pickle_mb": len(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)) / MB,
        "recommend_ms_p50": float(np.percentile(latencies, 50)),
        "recommend_ms_p95": float(np.percentile(latencies, 95)),
        "recommend_users": len(latencies),
    }


def run_in_subprocess(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
               "--dataset", args.dataset, "--users", str(args.users), "--seed", str(args.seed),
               "--report", str(args.report)]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        return {"model": name, "error": done.stderr.strip().splitlines()[-1:]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ["model", "fit s", "peak RSS MB", "fit +MB", "kept +MB", "pickle MB",
              "rec p50 ms", "rec p95 ms"]  # fmt: skip
    lines = [header]
    for r in rows:
        if "error" in r:
            lines.append([r["model"], f"error: {r['error']}", *[""] * 6])
            continue
        lines.append([
            r["model"], f"{r['fit_seconds']:.1f}", f"{r['fit_peak_rss_mb']:.0f}",
            f"{r['fit_peak_over_baseline_mb']:.0f}", f"{r['retained_after_fit_mb']:.0f}",
            f"{r['pickle_mb']:.1f}", f"{r['recommend_ms_p50']:.2f}", f"{r['recommend_ms_p95']:.2f}",
        ])  # fmt: skip
    return aligned(lines)


def aligned(lines: list[list[str]]) -> str:
    """Rows of cells as a text table: columns padded to their widest cell, the first row a
    header underlined with dashes."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    out = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ml-1m")
    parser.add_argument("--models", default="pop,itemknn,als,bpr,ease")
    parser.add_argument("--users", type=int, default=200, help="users timed for recommend()")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--report",
        type=Path,
        default=None,
        help="evaluation results.json to take hyperparameters from; "
        "default reports/<dataset>/results.json",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.report = args.report or ROOT / "reports" / args.dataset / "results.json"

    if args.worker:
        print(json.dumps(worker(args.worker, args.dataset, args.users, args.seed, args.report)))
        return 0

    names = [n.strip() for n in args.models.split(",") if n.strip()]
    try:
        for name in names:
            registry.get(name)
    except registry.ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rows = []
    for name in names:
        print(f"benchmarking {name} ...", file=sys.stderr, flush=True)
        rows.append(run_in_subprocess(name, args))
    args.out.mkdir(parents=True, exist_ok=True)
    payload = {
        "dataset": args.dataset,
        "seed": args.seed,
        "users_timed": args.users,
        "fit_on": "split.train_valid",
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "models": rows,
    }
    (args.out / "recommender_costs.json").write_text(json.dumps(payload, indent=2))
    print(
        f"{args.dataset}: fit on train_valid; recommend(n=10) over {args.users} users; "
        f"{os.cpu_count()} CPUs"
    )
    print(format_table(rows))
    print(f"wrote {args.out / 'recommender_costs.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
