"""The semantic-ID model beyond the accuracy table: its IDs, its decoding, and new items.

    python bench/semantic_bench.py --dataset ml-100k            # ~15 min on 2 idle cores
    python bench/semantic_bench.py --dataset ml-1m --id-models ease

1. IDs: codebook utilisation per level, collision rate, distinct prefixes.
2. Decoding (the model tuned on the leave-last-out split, as the harness does): for
   ``--users`` random users, trie-constrained and free beam search (beam 20): the share of
   decoded IDs that name an active item, and of those the share the user has not seen;
   agreement of the beam's top 10 with the exact likelihood ranking; latency per user.
3. New items: the items first rated in the last ``--new-share`` (30%) of the timeline are held out of
   training entirely (no interaction with them before the cut, none used after it for
   training). Models fit on the interactions before the cut; the semantic model fits on the
   old items only and then gets the new ones with ``add_items`` (their text, no retraining).
   Each user who rated a new item after the cut is scored on those items: how often a new
   item reaches the top 10 of the whole ranking, Recall@10 / NDCG@10 of the new items in the
   whole ranking, and Recall@10 / NDCG@10 among the new items only ("restricted"). ID-based
   models have nothing to score a new item with; dense text retrieval is the text baseline.

Writes reports/bench/semantic-<dataset>.json and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.recommender_costs import PeakRSS  # noqa: E402
from recommender import registry  # noqa: E402
from recommender.data import Catalogue, IdMap, Interactions, load_movielens  # noqa: E402
from recommender.evaluate import DATASETS  # noqa: E402
from recommender.harness import score_users, validate  # noqa: E402
from recommender.models import semantic  # noqa: E402
from recommender.models.semantic import SemanticRec  # noqa: E402
from recommender.split import leave_last_out  # noqa: E402

MB = 1024 * 1024


def ndcg_recall(ranked: np.ndarray, targets: set[int], k: int = 10) -> tuple[float, float]:
    """NDCG@k (ideal: min(k, |targets|) hits at the top) and Recall@k of a ranked list."""
    hits = [i for i, item in enumerate(ranked[:k].tolist()) if item in targets]
    dcg = sum(1.0 / np.log2(i + 2) for i in hits)
    ideal = sum(1.0 / np.log2(i + 2) for i in range(min(k, len(targets))))
    return dcg / ideal, len(hits) / len(targets)


def decoding_stats(model: SemanticRec, users: np.ndarray, beam: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    exact = score_users(model, users)
    for constrained in (True, False):
        decoded = valid = fresh = 0
        overlap, seconds = [], []
        for row, user in enumerate(users.tolist()):
            start = time.perf_counter()
            items, _, counts = model.generate(user, n=10, beam=beam, constrained=constrained)
            seconds.append(time.perf_counter() - start)
            decoded += counts["decoded"]
            valid += counts["valid"]
            fresh += counts["new_to_user"]
            scores = exact[row].astype(np.float64)
            scores[model.seen(user)] = -np.inf
            top = np.argsort(-scores, kind="stable")[:10]
            overlap.append(len(set(items.tolist()) & set(top.tolist())) / 10)
        out["constrained" if constrained else "free"] = {
            "valid_share": round(valid / decoded, 4),
            "new_to_user_share": round(fresh / decoded, 4),
            "top10_agreement_with_exact": round(float(np.mean(overlap)), 4),
            "latency_ms_p50": round(1000 * float(np.median(seconds)), 2),
            "latency_ms_p95": round(1000 * float(np.percentile(seconds, 95)), 2),
        }
    return out


def new_items_split(data: Interactions, share: float) -> tuple[np.ndarray, float, Interactions]:
    """(new item indices, cut time, training interactions): items first rated after the
    ``1 - share`` quantile of time, and everything before the cut."""
    cut = float(np.quantile(data.timestamps, 1.0 - share))
    first = np.full(data.n_items, np.inf)
    np.minimum.at(first, data.items, data.timestamps.astype(np.float64))
    new = np.flatnonzero((first > cut) & np.isfinite(first))
    return new, cut, data.subset(data.timestamps <= cut)


def sub_catalogue(catalogue: Catalogue, keep: np.ndarray) -> Catalogue:
    return Catalogue(
        ids=IdMap.from_iterable(catalogue.ids.ids[i] for i in keep.tolist()),
        titles=tuple(catalogue.titles[i] for i in keep.tolist()),
        years=catalogue.years[keep],
        genres=tuple(catalogue.genres[i] for i in keep.tolist()),
        descriptions=tuple(catalogue.descriptions[i] for i in keep.tolist()),
    )


def new_items_experiment(
    dataset: Any,
    share: float,
    id_models: list[str],
    sem_config: semantic.SemanticConfig,
    save: Any = lambda part: None,
) -> dict[str, Any]:
    data, catalogue = dataset.interactions, dataset.catalogue
    new, cut, train = new_items_split(data, share)
    is_new = np.zeros(data.n_items, bool)
    is_new[new] = True
    after = (data.timestamps > cut) & is_new[data.items]
    targets: dict[int, set[int]] = {}
    for u, i in zip(data.users[after].tolist(), data.items[after].tolist(), strict=True):
        targets.setdefault(u, set()).add(i)
    histories = train.histories()
    users = np.array(sorted(u for u in targets if len(histories[u])), dtype=np.int64)
    report: dict[str, Any] = {
        "cut": cut,
        "new_items": len(new),
        "new_item_ratings_after_cut": int(after.sum()),
        "users": len(users),
        "models": {},
    }
    print(f"new items: {len(new)} first rated after the cut; {len(users)} users rated one")

    # Ties are broken at random, not by index: a model with nothing to say about new items
    # (all equal) must not be credited with the catalogue's order.
    tiebreak = np.random.default_rng(0).random(data.n_items)

    def evaluate(name: str, scores: np.ndarray, seconds: float) -> None:
        full_n, full_r, rest_n, rest_r, any_new = [], [], [], [], []
        for row, user in enumerate(users.tolist()):
            s = scores[row].astype(np.float64)
            s[histories[user]] = -np.inf
            ranked = np.lexsort((tiebreak, -s))
            n, r = ndcg_recall(ranked, targets[user])
            full_n.append(n)
            full_r.append(r)
            any_new.append(bool(is_new[ranked[:10]].any()))
            among = new[np.lexsort((tiebreak[new], -s[new]))]
            n, r = ndcg_recall(among, targets[user])
            rest_n.append(n)
            rest_r.append(r)
        row = {
            "users_with_a_new_item_in_top10": round(float(np.mean(any_new)), 4),
            "ndcg@10": round(float(np.mean(full_n)), 4),
            "recall@10": round(float(np.mean(full_r)), 4),
            "restricted_ndcg@10": round(float(np.mean(rest_n)), 4),
            "restricted_recall@10": round(float(np.mean(rest_r)), 4),
            "fit_seconds": round(seconds, 1),
        }
        report["models"][name] = row
        print(f"  {name:10s} {row}")
        save(report)  # a long run stopped half-way keeps the models already measured

    # the semantic model never sees the new items until add_items
    old = np.flatnonzero(~is_new)
    position = np.full(data.n_items, -1)
    position[old] = np.arange(len(old))
    keep = ~is_new[train.items]
    old_train = Interactions(
        train.n_users, len(old), train.users[keep], position[train.items[keep]],
        train.values[keep], train.timestamps[keep],
    )  # fmt: skip
    start = time.perf_counter()
    model = SemanticRec(sem_config).fit(old_train, sub_catalogue(catalogue, old))
    added = model.add_items([catalogue.text(int(i)) for i in new])
    seconds = time.perf_counter() - start
    order = np.r_[old, new]  # model column -> original item
    scores = np.full((len(users), data.n_items), -np.inf, dtype=np.float32)
    scores[:, order] = score_users(model, users)
    assert len(added) == len(new)
    evaluate("semantic", scores, seconds)
    report["semantic_new_item_ids"] = {
        "collision_rate_of_new": round(
            float(
                np.mean(
                    [
                        (model.ids[:, :-1] == model.ids[a, :-1]).all(1).sum() > 1
                        for a in added.tolist()
                    ]
                )
            ),
            4,
        )
    }
    for name in ["dense", *id_models]:
        spec = registry.get(name)
        hparams = {"epochs": 30} if name == "sasrec" else {}
        start = time.perf_counter()
        fitted = spec.build(hparams, 0).fit(train, catalogue)
        evaluate(name, score_users(fitted, users), time.perf_counter() - start)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ml-100k")
    parser.add_argument("--users", type=int, default=300, help="users for the decoding stats")
    parser.add_argument("--beam", type=int, default=20)
    parser.add_argument("--new-share", type=float, default=0.3)
    parser.add_argument("--id-models", default="pop,ease,sasrec")
    parser.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE")
    parser.add_argument("--skip-decoding", action="store_true")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    overrides = dict(s.split("=", 1) for s in args.set)
    cfg = semantic.config_from(
        {k: type(getattr(semantic.DEFAULTS, k))(v) for k, v in overrides.items()}, 0
    )
    dataset = load_movielens(DATASETS[args.dataset])  # type: ignore[arg-type]
    report: dict[str, Any] = {"dataset": args.dataset, "config": overrides}
    if not args.skip_decoding:
        split = leave_last_out(dataset.interactions)
        with PeakRSS() as rss:
            start = time.perf_counter()
            model = SemanticRec.tune_model(split, dataset.catalogue, cfg)
            seconds = time.perf_counter() - start
        epochs = model.history_
        report["ids"] = model.code_stats()
        report["training"] = {
            "tune_seconds": round(seconds, 1),
            "epochs_run": len(epochs),
            "best_epoch": model.best_epoch_,
            "seconds_per_epoch": round(float(np.mean([e["seconds"] for e in epochs])), 1),
            "peak_rss_mb": round(rss.peak / MB),
            "valid_ndcg@10": round(validate(model, split), 4),
        }
        print("IDs:", report["ids"])
        print("training:", report["training"])
        users = np.random.default_rng(0).choice(
            dataset.interactions.n_users, min(args.users, dataset.interactions.n_users), False
        )
        report["decoding"] = decoding_stats(model, users, args.beam)
        for mode, row in report["decoding"].items():
            print(f"decoding ({mode}, beam {args.beam}):", row)
    out = args.out or ROOT / "reports" / "bench" / f"semantic-{args.dataset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)

    def save(part: dict[str, Any]) -> None:
        report["new_items"] = part
        out.write_text(json.dumps(report, indent=2))

    save({})
    new_items_experiment(
        dataset,
        args.new_share,
        [m for m in args.id_models.split(",") if m],
        replace(cfg, epochs=report.get("training", {}).get("best_epoch") or cfg.epochs),
        save,
    )
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
