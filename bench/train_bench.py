"""Training peak memory and time per component on a synthetic 30k-item catalogue (#26, item 4).

    python bench/train_bench.py                      # 30k items, 10k users, ~10 min on 2 cores
    python bench/train_bench.py --items 100000 --components itemknn,sasrec
    python bench/train_bench.py --loss-steps  # one SASRec step, full vs sampled, 3.7k-100k

Does each component the registry would train at this catalogue size fit a 24 GB worker, and
how long does it take? Data come from :mod:`recommender.synthetic` (seeded: power-law
popularity, latent tastes, template texts). Each component is fitted in its own subprocess on
the whole synthetic history, so its peak resident memory (sampled every 5 ms) is its own.

Components are registry names with their config defaults, except that SASRec trains
``--sasrec-epochs`` epochs (its time is reported per epoch: a real fit early-stops after
tens of them). ``sasrec-full`` is SASRec forced to the full softmax, to show what the
sampled loss saves at this size; ``ease`` is listed to show that it refuses (its n x n
matrices do not fit) and what the hybrid takes instead. A component that fails is reported
with its error, not skipped. Writes reports/bench/train.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.recommender_costs import MB, PeakRSS, aligned  # noqa: E402
from recommender import registry, synthetic  # noqa: E402
from recommender.models.hybrid import DEFAULT_COMPONENTS, sized_components  # noqa: E402

# bench name -> (registry name, hparams over the config defaults)
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {"sasrec-full": ("sasrec", {"loss": "full"})}


def component(name: str, epochs: int) -> tuple[str, dict[str, Any]]:
    """The registry name and hparams a bench name trains."""
    model_name, hparams = VARIANTS.get(name, (name, {}))
    if model_name == "sasrec":
        hparams = {**hparams, "epochs": epochs, "patience": epochs}
    return model_name, hparams


def worker(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """Runs inside the subprocess: make the data, fit the component once."""
    import psutil

    config = synthetic.SyntheticConfig(n_items=args.items, n_users=args.users, seed=args.seed)
    start = time.perf_counter()
    catalogue, factors, log_pop = synthetic.catalogue(config)
    data = synthetic.interactions(config, factors, log_pop)
    data_seconds = time.perf_counter() - start
    model_name, hparams = component(name, args.sasrec_epochs)
    model = registry.get(model_name).build(hparams, args.seed)
    rss_before = psutil.Process().memory_info().rss
    row: dict[str, Any] = {"component": name, "hparams": hparams, "interactions": len(data)}
    with PeakRSS() as peak:
        start = time.perf_counter()
        try:
            model.fit(data, catalogue)
        except (ValueError, MemoryError) as exc:  # EASE refuses above ease.MAX_ITEMS
            row["error"] = str(exc)
        fit_seconds = time.perf_counter() - start
    row.update(
        data_seconds=data_seconds,
        fit_seconds=fit_seconds,
        peak_rss_mb=peak.peak / MB,
        fit_over_baseline_mb=(peak.peak - rss_before) / MB,
    )
    history = getattr(model, "history_", None)
    if history:  # SASRec: which loss it trained and what an epoch costs
        row["loss"] = model.training_loss()  # type: ignore[attr-defined]
        row["seconds_per_epoch"] = sum(r["seconds"] for r in history) / len(history)
    return row


def loss_steps(sizes: list[int], seed: int) -> list[dict[str, Any]]:
    """Seconds of one SASRec training step (128 sequences x 100 items, forward, backward,
    AdamW) with each loss at each catalogue size: where SAMPLED_SOFTMAX_ABOVE comes from."""
    import torch

    from recommender.models import sasrec

    cfg = sasrec.DEFAULTS
    torch.set_num_threads(cfg.threads)
    rows = []
    for n in sizes:
        torch.manual_seed(seed)
        net = sasrec._SASRecNet(n, cfg)
        opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr)
        batch = torch.randint(1, n + 1, (128, 101))  # (B, W + 1) tokens, no padding
        inputs, targets = batch[:, :-1], batch[:, 1:]
        log_q = torch.full((n,), 1.0 / n).log()
        row: dict[str, Any] = {"items": n}
        for loss_name in ("full", "sampled"):
            times = []
            for _ in range(4):  # the first step warms up, the median of the other 3 counts
                start = time.perf_counter()
                if loss_name == "full":
                    loss = sasrec._token_loss(net, inputs, targets)
                else:
                    negatives = torch.randint(0, n, (cfg.negatives,))
                    loss = sasrec._sampled_token_loss(net, inputs, targets, negatives, log_q)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - start)
            row[f"{loss_name}_step_s"] = sorted(times[1:])[1]
        print(f"{n:>7,} items: full {row['full_step_s']:.2f} s, sampled "
              f"{row['sampled_step_s']:.2f} s per step", flush=True)  # fmt: skip
        rows.append(row)
    return rows


def run_in_subprocess(name: str, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
               "--items", str(args.items), "--users", str(args.users),
               "--sasrec-epochs", str(args.sasrec_epochs), "--seed", str(args.seed)]  # fmt: skip
    with tempfile.TemporaryDirectory() as cache:  # the text encoder encodes cold
        env = {**os.environ, "RECOMMENDER_CACHE_DIR": cache}
        done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env=env)
    if done.returncode != 0:  # killed (out of memory) or crashed: say so, keep going
        tail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        return {"component": name, "error": tail[0]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def format_table(rows: list[dict[str, Any]]) -> str:
    header = ["component", "fit s", "s/epoch", "peak RSS MB", "fit +MB", "note"]
    lines = [header]
    for r in rows:
        epoch = f"{r['seconds_per_epoch']:.1f}" if "seconds_per_epoch" in r else ""
        note = r.get("loss", "") + (f" error: {r['error'][:70]}" if "error" in r else "")
        lines.append([
            r["component"], f"{r.get('fit_seconds', 0):.1f}", epoch,
            f"{r.get('peak_rss_mb', 0):.0f}", f"{r.get('fit_over_baseline_mb', 0):.0f}", note,
        ])  # fmt: skip
    return aligned(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--components", default="ease,itemknn,sasrec,dense")
    parser.add_argument("--sasrec-epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench" / "train.json")
    parser.add_argument(
        "--loss-steps",
        action="store_true",
        help="instead: time one SASRec step, full vs sampled softmax, at 3.7k-100k items",
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args)))
        return 0
    if args.loss_steps:
        steps = loss_steps([3_706, 10_000, 30_000, 100_000], args.seed)
        out = args.out.with_name("train-loss-steps.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"cpu_count": os.cpu_count(), "steps": steps}, indent=2))
        print(f"wrote {out}")
        return 0

    names = [n.strip() for n in args.components.split(",") if n.strip()]
    rows = []
    for name in names:
        print(f"training {name} ...", file=sys.stderr, flush=True)
        rows.append(run_in_subprocess(name, args))
    chosen = [name for _, name in sized_components(DEFAULT_COMPONENTS, args.items)]
    payload = {
        "items": args.items,
        "users": args.users,
        "seed": args.seed,
        "hybrid_components": chosen,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "components": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2))
    print(
        f"synthetic {args.items:,} items x {args.users:,} users; the hybrid trains "
        f"{', '.join(chosen)}; {os.cpu_count()} CPUs"
    )
    print(format_table(rows))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
