"""SASRec with full vs sampled softmax (logQ-corrected) on MovieLens: NDCG@10 / HR@10 with 95%
bootstrap intervals over users (#26, item 4).

    python bench/sampled_softmax.py --dataset ml-1m --epochs 8 --max-len 50  # ~20 min, 2 cores
    python bench/sampled_softmax.py --epochs 8 --sampled-epochs 16  # about equal time each

Runs the evaluation CLI (``python -m recommender.evaluate --protocol fold-in``, the protocol
of docs/accuracy.md's ML-1M figures) once per loss, both at once with one thread each:
early stopping on validation as usual under an ``--epochs`` cap (``--sampled-epochs`` gives
the cheaper sampled loss a cap of its own) and a ``--max-len`` window. Then it reads their
per-user metrics: each model's 95% interval (users resampled 1,000 times) and the paired
interval of the difference. HR@10 is recall@10 here (one test item per user). A fit whose
report is already under ``--out`` is not rerun. Writes
``--out``/<dataset>-full-<cap>-sampled-<cap>-<sampling>-<negatives>.json.
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


def epochs(loss: str, args: argparse.Namespace) -> int:
    """The epoch cap of one loss's fit."""
    return int(args.sampled_epochs or args.epochs) if loss == "sampled" else int(args.epochs)


def variant(loss: str, args: argparse.Namespace) -> str:
    """A fit's name: loss, epoch cap, and for the sampled loss its Q and negatives."""
    sampling = f"-{args.sampling}-{args.negatives}" if loss == "sampled" else ""
    return f"{loss}-{epochs(loss, args)}{sampling}"


def report_dir(loss: str, args: argparse.Namespace) -> Path:
    return args.out / variant(loss, args) / args.dataset


def evaluate(loss: str, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """Start the evaluation of one loss (None when its report is already there)."""
    out = report_dir(loss, args)
    if (out / "per_user.npz").exists():
        return None
    command = [sys.executable, "-m", "recommender.evaluate", "--dataset", args.dataset,
               "--models", "sasrec", "--protocol", "fold-in", "--no-progress",
               "--out", str(out.parent), "--seed", str(args.seed),
               "--set", f"sasrec.epochs={epochs(loss, args)}",
               "--set", f"sasrec.max_len={args.max_len}",
               "--set", "sasrec.threads=1", "--set", f"sasrec.loss={loss}"]  # fmt: skip
    if loss == "sampled":
        command += ["--set", f"sasrec.negative_sampling={args.sampling}",
                    "--set", f"sasrec.negatives={args.negatives}"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    out.parent.mkdir(parents=True, exist_ok=True)
    log = out.parent.with_suffix(".log").open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def model_row(loss: str, args: argparse.Namespace) -> tuple[dict[str, Any], Any]:
    """One loss's report: hparams, cap, wall seconds, validation curve, 95% intervals; and
    its per-user metrics."""
    model = json.loads((report_dir(loss, args) / "results.json").read_text())["models"][0]
    per_user = np.load(report_dir(loss, args) / "per_user.npz")
    row: dict[str, Any] = {
        "hparams": model["hparams"],
        "epochs_cap": epochs(loss, args),
        "seconds": sum(model["seconds"].values()),  # wall clock, on a machine others share
        "valid_ndcg@10_by_epoch": [round(t["ndcg"], 4) for t in model["trials"]],
    }
    for label, key in METRICS.items():
        values = per_user[f"sasrec/{key}"]
        ci = paired_bootstrap_ci(values, np.zeros_like(values), seed=args.seed)  # mean's CI
        row[label] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
    return row, per_user


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Each loss's mean and 95% interval per metric, and sampled - full, paired."""
    out: dict[str, Any] = {"dataset": args.dataset, "protocol": "fold-in",
                           "max_len": args.max_len, "seed": args.seed, "models": {}}  # fmt: skip
    per_user = {}
    for loss in LOSSES:
        out["models"][loss], per_user[loss] = model_row(loss, args)
    for label, key in METRICS.items():
        a, b = (per_user[loss][f"sasrec/{key}"] for loss in ("sampled", "full"))
        ci = paired_bootstrap_ci(a, b, seed=args.seed)
        out[f"sampled_minus_full_{label}"] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
    sampled, full = out["models"]["sampled"]["NDCG@10"], out["models"]["full"]["NDCG@10"]
    out["sampled_within_full_interval"] = full["low"] <= sampled["mean"] <= full["high"]
    return out


def format_table(result: dict[str, Any]) -> str:
    lines = ["loss     epochs  NDCG@10 [95% CI]          HR@10 [95% CI]           wall s"]
    for loss, row in result["models"].items():
        cells = [
            f"{row[m]['mean']:.4f} [{row[m]['low']:.4f}, {row[m]['high']:.4f}]" for m in METRICS
        ]
        lines.append(
            f"{loss:<8} {row['epochs_cap']:<7} {cells[0]:<25} {cells[1]:<24} {row['seconds']:.0f}"
        )
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
    parser.add_argument(
        "--sampled-epochs", type=int, default=0, help="epoch cap of the sampled fit; 0 = --epochs"
    )
    parser.add_argument("--sampling", choices=("popularity", "uniform"), default="popularity")
    parser.add_argument("--negatives", type=int, default=4096, help="per batch, sampled loss")
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
    path = args.out / f"{args.dataset}-{variant('full', args)}-{variant('sampled', args)}.json"
    path.write_text(json.dumps(result, indent=2))
    print(f"{args.dataset}, SASRec, protocol fold-in, window {args.max_len}:")
    print(format_table(result))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
