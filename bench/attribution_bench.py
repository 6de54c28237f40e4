"""What per-item evidence costs at refresh time, and whether it passes the deletion test.

    python bench/attribution_bench.py                    # ML-100K, all 943 users, top 100
    python bench/attribution_bench.py --epochs 5 --users 200

Fits the registry hybrid on every ML-100K interaction (what serving does) with the weights and
hyperparameters the evaluation chose (README: EASE .15 / SASRec .70 / text .15, l2 = 100,
26 SASRec epochs; ``--epochs`` trains fewer for a quick run), then times
:func:`recommender.serving.top_n` for all users with and without ``attribute_k``, and each
role's occlusions on their own, with torch on SASRec's configured thread count and on one
(``--threads``; on a busy 2-core host one thread is the faster). The deletion test: for a
sample of users, each top-10 item and each role, remove the cited history items, rescore that
role's part (:meth:`Hybrid.components_from_history`, the full history still masked) and count
how often it drops, for the default shares and for ``hold_std=True``.
``--model-cache var/bench/hybrid.zip`` keeps the fitted model for the next run (the fit takes
about 10 minutes on 2 shared cores). Writes reports/bench/attribution.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from recommender import registry  # noqa: E402
from recommender.artifacts import UnreadableArtifact  # noqa: E402
from recommender.attribution import Attribution, component_shares  # noqa: E402
from recommender.data import load_movielens  # noqa: E402
from recommender.models.hybrid import Hybrid  # noqa: E402
from recommender.serving import UserList, top_n  # noqa: E402

CHOSEN = {  # README, ML-100K evaluation: the hybrid's validation choices
    "w_collaborative": 0.15,
    "w_sequential": 0.70,
    "w_text": 0.15,
    "collaborative.l2": 100.0,
}


def fit_hybrid(epochs: int, seed: int, cache: Path | None) -> tuple[Hybrid, float | None]:
    """The registry hybrid fitted on all of ML-100K (or loaded from ``cache``); fit seconds."""
    if cache is not None and cache.exists():
        try:
            return Hybrid.load(cache), None  # fitted by an earlier run
        except UnreadableArtifact:  # written by an older version (pickled): fit it again
            pass
    dataset = load_movielens("100k")
    model = registry.get("hybrid").build({**CHOSEN, "sequential.epochs": epochs}, seed)
    assert isinstance(model, Hybrid)
    start = time.perf_counter()
    model.fit(dataset.interactions, dataset.catalogue)
    seconds = time.perf_counter() - start
    if cache is not None:
        model.save(cache)
    return model, seconds


def timed_top_n(model: Hybrid, users: np.ndarray, n: int, **kwargs: Any) -> tuple[list, float]:
    start = time.perf_counter()
    lists = list(top_n(model, users, n, **kwargs))
    return lists, time.perf_counter() - start


def role_seconds(model: Hybrid, lists: list[UserList], k: int, last: int, batch: int) -> dict:
    """Seconds of each role's occlusion alone, over the same users, items and chunks."""
    out = {}
    for role in model.config.roles():
        start = time.perf_counter()
        for begin in range(0, len(lists), batch):
            chunk = lists[begin : begin + batch]
            component_shares(
                model.models[role],
                np.array([ul.user for ul in chunk]),
                [ul.items for ul in chunk],
                k=k,
                last=last,
                weight=model.config.weight(role),
            )
        out[role] = time.perf_counter() - start
    return out


def deletion_rates(
    model: Hybrid, lists: list[UserList], evidence: list[list[Attribution]]
) -> dict[str, dict[str, Any]]:
    """Per role: how often removing the cited items lowers that role's part of the item.

    ``evidence[row]`` is aligned with the first items of ``lists[row]``.
    """
    text = model.models.get("text")
    counts = {role: [0, 0] for role in model.config.roles()}
    for ul, cited in zip(lists, evidence, strict=True):
        history = model.seen(ul.user)
        seen = np.zeros(model.n_items, dtype=bool)
        seen[history] = True
        values = text.seen_values(ul.user) if text is not None else None  # type: ignore[attr-defined]
        before = model.components_from_history(history, seen, values)
        memo: dict[frozenset[int], dict[str, np.ndarray]] = {}  # cited set -> rescored parts
        for item, per_item in zip(ul.items, cited, strict=False):
            for role, pairs in per_item.items():
                if not pairs:
                    continue
                removed = frozenset(h for h, _ in pairs)
                if removed not in memo:
                    keep = ~np.isin(history, list(removed))
                    kept_values = values[keep] if values is not None else None
                    memo[removed] = model.components_from_history(history[keep], seen, kept_values)
                counts[role][0] += int(memo[removed][role][item] < before[role][item])
                counts[role][1] += 1
    return {
        role: {"lowered": low, "cited": total, "rate": low / total if total else float("nan")}
        for role, (low, total) in counts.items()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=26, help="SASRec epochs (README: 26)")
    parser.add_argument("--users", type=int, default=0, help="users refreshed; 0 = all")
    parser.add_argument("--n", type=int, default=100, help="list length per user")
    parser.add_argument("--k", type=int, default=3, help="history items cited per role")
    parser.add_argument("--last", type=int, default=20, help="newest positions SASRec occludes")
    parser.add_argument("--batch", type=int, default=256, help="users per top_n chunk")
    parser.add_argument("--deletion-users", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        default="",
        help="comma-separated torch thread counts to time; default: SASRec's config, then 1",
    )
    parser.add_argument(
        "--model-cache", type=Path, default=None, help="save the fitted hybrid here, reuse it"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    args = parser.parse_args(argv)

    model, fit_seconds = fit_hybrid(args.epochs, args.seed, args.model_cache)
    configured = torch.get_num_threads()  # fit / load set SASRec's config.threads
    threads = [int(t) for t in args.threads.split(",") if t] or sorted(
        {configured, 1}, reverse=True
    )
    users = np.arange(model.n_users)
    if args.users:
        users = users[: args.users]
    list(top_n(model, users[:8], args.n, attribute_k=args.k))  # warm-up: lazy imports
    plain, plain_s = timed_top_n(model, users, args.n, batch=args.batch)
    timings = []
    for count in threads:
        torch.set_num_threads(count)
        cited, cited_s = timed_top_n(
            model, users, args.n, batch=args.batch, attribute_k=args.k, attribute_last=args.last
        )
        per_role = role_seconds(model, cited, args.k, args.last, args.batch)
        timings.append({"torch_threads": count, "top_n_with_attribution": cited_s, **per_role})
    assert all(np.array_equal(a.items, b.items) for a, b in zip(plain, cited, strict=True))
    rng = np.random.default_rng(args.seed)
    size = min(args.deletion_users, len(cited))
    sampled = [cited[i] for i in sorted(rng.choice(len(cited), size=size, replace=False))]
    deletion = deletion_rates(model, sampled, [ul.attributions[:10] for ul in sampled])
    # the variant with the full history's std held fixed, on the same cards
    held = model.attribute(
        np.array([ul.user for ul in sampled]),
        [ul.items[:10] for ul in sampled],
        k=args.k,
        last=args.last,
        hold_std=True,
    )
    deletion_held = deletion_rates(model, sampled, held)
    payload = {
        "dataset": "ml-100k",
        "hparams": {**CHOSEN, "sequential.epochs": args.epochs},
        "fit_seconds": fit_seconds,
        "users": len(users),
        "n": args.n,
        "k": args.k,
        "last": args.last,
        "batch": args.batch,
        "top_n_seconds": plain_s,
        "with_attribution_seconds": timings,  # whole top_n, then each role's occlusions alone
        "deletion_test": {"users": size, "top": 10, **deletion},
        "deletion_test_hold_std": {"users": size, "top": 10, **deletion_held},
        "cpu_count": os.cpu_count(),
        "load_average_1m_at_end": os.getloadavg()[0],  # the host is shared: context for timings
        "python": platform.python_version(),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "attribution.json").write_text(json.dumps(payload, indent=2))
    print(
        f"ml-100k hybrid, {len(users)} users x top {args.n}, k={args.k}, last={args.last}, "
        f"chunks of {args.batch}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f} "
        + ("(model from --model-cache)" if fit_seconds is None else f"(fit {fit_seconds:.0f} s)")
        + "\n"
    )
    print(f"{'seconds':32}" + "".join(f"{f'{t} thr':>9}" for t in threads))
    print(f"{'top_n, no attribution':32}{plain_s:9.2f}")
    print(
        f"{'top_n + attribution':32}"
        + "".join(f"{t['top_n_with_attribution']:9.2f}" for t in timings)
    )
    for role in model.config.roles():
        print(f"{'  occlusions: ' + role:32}" + "".join(f"{t[role]:9.2f}" for t in timings))
    print(f"\ndeletion test, {size} users x top 10: removing the cited items lowers the part")
    print(f"  {'role':14} {'shares (default)':>22} {'hold_std=True':>22}")
    for role, row in deletion.items():
        other = deletion_held[role]
        print(
            f"  {role:14} {row['lowered']:6d} / {row['cited']:5d} = {row['rate']:.3f}"
            f" {other['lowered']:6d} / {other['cited']:5d} = {other['rate']:.3f}"
        )
    print(f"wrote {args.out / 'attribution.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
