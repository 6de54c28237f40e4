"""SASRec with full vs sampled softmax (logQ-corrected) on MovieLens: NDCG@10 / HR@10 with 95%
bootstrap intervals over users (#26, item 4).

    python bench/sampled_softmax.py --dataset ml-1m --epochs 8 --max-len 50   # ~40 min, 2 cores

Runs the evaluation CLI (``python -m recommender.evaluate --protocol fold-in``, the protocol
of docs/accuracy.md's ML-1M figures) once per loss, both at once with one thread each, with
the same budget (``--epochs`` cap, early stopping on validation as usual, ``--max-len``
window), then reads their per-user metrics: each model's 95% interval (users resampled,
1,000 times) and the paired interval of the difference. HR@10 is recall@10 here: one test
item per user. A variant whose report already exists under ``--out`` is not rerun. Writes
``--out``/sampled-softmax-<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from recommender.metrics import paired_bootstrap_ci  # noqa: E402

LOSSES = ("full", "sampled")
METRICS = {"NDCG@10": "ndcg@10", "HR@10": "recall@10"}


def evaluate(loss: str, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """Start the evaluation of one loss (None when its report is already there)."""
    out = args.out / loss
    if (out / args.dataset / "per_user.npz").exists():
        return None
    command = [sys.executable, "-m", "recommender.evaluate", "--dataset", args.dataset,
               "--models", "sasrec", "--protocol", "fold-in", "--no-progress",
               "--out", str(out), "--seed", str(args.seed),
               "--set", f"sasrec.epochs={args.epochs}", "--set", f"sasrec.max_len={args.max_len}",
               "--set", "sasrec.threads=1", "--set", f"sasrec.loss={loss}"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    log = (args.out / f"{loss}.log").open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Each loss's mean and 95% interval per metric, and sampled - full, paired."""
    per_user = {loss: np.load(args.out / loss / args.dataset / "per_user.npz") for loss in LOSSES}
    results = {
        loss: json.loads((args.out / loss / args.dataset / "results.json").read_text())
        for loss in LOSSES
    }
    out: dict[str, Any] = {"dataset": args.dataset, "epochs_cap": args.epochs,
                           "max_len": args.max_len, "seed": args.seed, "models": {}}  # fmt: skip
    for loss in LOSSES:
        model = results[loss]["models"][0]
        row: dict[str, Any] = {"hparams": model["hparams"]}
        for label, key in METRICS.items():
            values = per_user[loss][f"sasrec/{key}"]
            ci = paired_bootstrap_ci(values, np.zeros_like(values), seed=args.seed)
            row[label] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
        out["models"][loss] = row
    for label, key in METRICS.items():
        a, b = (per_user[loss][f"sasrec/{key}"] for loss in ("sampled", "full"))
        ci = paired_bootstrap_ci(a, b, seed=args.seed)
        out[f"sampled_minus_full_{label}"] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
    sampled, full = out["models"]["sampled"]["NDCG@10"], out["models"]["full"]["NDCG@10"]
    out["sampled_within_full_interval"] = full["low"] <= sampled["mean"] <= full["high"]
    return out


def format_table(result: dict[str, Any]) -> str:
    lines = ["loss     epochs  NDCG@10 [95% CI]          HR@10 [95% CI]"]
    for loss, row in result["models"].items():
        cells = [
            f"{row[m]['mean']:.4f} [{row[m]['low']:.4f}, {row[m]['high']:.4f}]" for m in METRICS
        ]
        lines.append(f"{loss:<8} {row['hparams'].get('epochs', ''):<7} {cells[0]:<25} {cells[1]}")
    for label in METRICS:
        d = result[f"sampled_minus_full_{label}"]
        lines.append(
            f"sampled - full {label}: {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] (paired)"
        )
    lines.append(
        f"sampled within full's 95% NDCG@10 interval: {result['sampled_within_full_interval']}"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dataset", choices=("ml-100k", "ml-1m"), default="ml-1m")
    parser.add_argument("--epochs", type=int, default=8, help="epoch cap of both fits")
    parser.add_argument("--max-len", type=int, default=50, help="SASRec window of both fits")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "sampled-softmax")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    running = [p for p in (evaluate(loss, args) for loss in LOSSES) if p is not None]
    if any(p.wait() != 0 for p in running):
        print(f"an evaluation failed: see {args.out}/*.log", file=sys.stderr)
        return 1
    result = compare(args)
    path = args.out / f"sampled-softmax-{args.dataset}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"{args.dataset}, SASRec, protocol fold-in, same budget for both losses:")
    print(format_table(result))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
