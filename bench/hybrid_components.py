"""Does one more component (or more seeds of one) make the hybrid better? Measured, not guessed.

    python bench/hybrid_components.py --dataset ml-100k \
        --components ease,sasrec,dense,semantic,sasrec@1 \
        --sets "served=ease+sasrec+dense" "with semantic=ease+sasrec+dense+semantic" \
               "2 SASRec seeds=ease+sasrec|sasrec@1+dense"
    # ~35 min on 2 idle cores (each SASRec seed ~9 min, the semantic model ~10 min)

Each component (a registry name, ``@N`` for seed N) is tuned with its own recipe on
``split.train`` (early stopping / grid on validation), then scored twice, as the harness's
refit protocol does: fitted on train for the validation items, refitted on train +
validation for the test items. Its scores are z-scored per user over unseen items, exactly as
:class:`recommender.models.hybrid.Hybrid` does, and cached in ``--cache`` so a set can be
re-mixed without refitting.

A set is components joined by ``+``; ``a|b`` is one component that averages a's and b's
normalised scores (a seed ensemble), normalised again. For each set the weights are searched
on the simplex (step 0.05) for the best *validation* NDCG@10, then the test NDCG@10 is read
once; the first set is the reference of the paired bootstrap CIs. The first set,
``ease+sasrec+dense``, reproduces the served hybrid's figures of the README table.

Writes reports/bench/hybrid-components-<dataset>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from recommender import registry  # noqa: E402
from recommender.data import Catalogue, Interactions, load_movielens  # noqa: E402
from recommender.evaluate import DATASETS  # noqa: E402
from recommender.harness import grid_search, score_users  # noqa: E402
from recommender.metrics import ndcg_at_k, paired_bootstrap_ci  # noqa: E402
from recommender.models.hybrid import normalise, simplex, target_ranks  # noqa: E402
from recommender.split import Split, leave_last_out  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="ml-100k")
    parser.add_argument("--components", default="ease,sasrec,dense,semantic,sasrec@1")
    parser.add_argument(
        "--sets",
        nargs="+",
        default=[
            "served=ease+sasrec+dense",
            "with semantic=ease+sasrec+dense+semantic",
            "2 SASRec seeds=ease+sasrec|sasrec@1+dense",
        ],
        metavar="LABEL=A+B|C",
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "var" / "bench" / "components")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "bench")
    return parser.parse_args(argv)


def seen_matrix(known: Interactions, users: np.ndarray) -> np.ndarray:
    """(len(users), n_items) bool: the items each user is known to have."""
    return known.to_csr(binary=True)[users].toarray().astype(bool)


def component_scores(
    component: str, split: Split, catalogue: Catalogue, cache: Path, dataset: str
) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
    """(validation scores, test scores, record) of one ``name[@seed]``, normalised per user."""
    path = cache / f"{dataset}-{component.replace('@', '-s')}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["valid"], saved["test"], json.loads(str(saved["record"]))
    name, _, seed_text = component.partition("@")
    seed = int(seed_text or 0)
    spec = registry.get(name)
    start = time.perf_counter()
    tuned = (
        spec.tune(split, catalogue, seed)
        if spec.tune
        else grid_search(spec, split, catalogue, seed)
    )
    hparams = tuned.hparams  # build() takes the seed itself, as the harness's refit does
    users = split.users
    parts = []
    for known in (split.train, split.train_valid):  # validation fit, then the test refit
        model = spec.build(hparams, seed).fit(known, catalogue)
        raw = score_users(model, users)
        parts.append(normalise(raw, seen_matrix(known, users), "zscore").astype(np.float32))
    record = {
        "hparams": hparams,
        "seed": seed,
        "valid_ndcg": tuned.valid_ndcg,
        "seconds": round(time.perf_counter() - start, 1),
    }
    cache.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, valid=parts[0], test=parts[1], record=json.dumps(record))
    return parts[0], parts[1], record


def per_user_ndcg(scores: np.ndarray, seen: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """NDCG@10 of one target per user, seen items masked, ties broken by item index."""
    return ndcg_at_k(target_ranks(np.where(seen, -np.inf, scores), targets), 10)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    dataset = load_movielens(DATASETS[args.dataset])  # type: ignore[arg-type]
    split = leave_last_out(dataset.interactions)
    users = split.users
    seen = {"valid": seen_matrix(split.train, users), "test": seen_matrix(split.train_valid, users)}
    scores: dict[str, dict[str, np.ndarray]] = {}
    records: dict[str, Any] = {}
    for component in [c.strip() for c in args.components.split(",") if c.strip()]:
        valid, test, records[component] = component_scores(
            component, split, dataset.catalogue, args.cache, args.dataset
        )
        scores[component] = {"valid": valid, "test": test}
        print(f"{component}: {records[component]}", file=sys.stderr)

    def part(group: str) -> dict[str, np.ndarray]:
        members = group.split("|")
        if len(members) == 1:
            return scores[members[0]]
        return {
            stage: normalise(np.mean([scores[m][stage] for m in members], 0), seen[stage], "zscore")
            for stage in ("valid", "test")
        }

    rows: list[dict[str, Any]] = []
    per_user: dict[str, np.ndarray] = {}
    for text in args.sets:
        label, _, body = text.partition("=")
        groups = body.split("+")
        parts = [part(g) for g in groups]
        stacked = {stage: np.stack([p[stage] for p in parts]) for stage in ("valid", "test")}
        best_valid, best_weights = -1.0, np.zeros(len(parts))
        for grid_point in simplex(len(parts), 0.05):
            weights = np.asarray(grid_point, dtype=np.float64)  # (components,)
            mixed = np.tensordot(weights, stacked["valid"], axes=1)  # (users, items)
            ndcg = float(per_user_ndcg(mixed, seen["valid"], split.valid_items).mean())
            if ndcg > best_valid:  # the first of equal values: grid order, as Hybrid.tune
                best_valid, best_weights = ndcg, weights
        mixed = np.tensordot(best_weights, stacked["test"], axes=1)
        per_user[label] = per_user_ndcg(mixed, seen["test"], split.test_items)
        rows.append(
            {
                "set": label,
                "components": groups,
                "weights": [round(float(w), 2) for w in best_weights],
                "valid_ndcg": best_valid,
                "test_ndcg": float(per_user[label].mean()),
            }
        )
    reference = rows[0]["set"]
    print(f"\n{args.dataset}, protocol refit, {len(users)} users; Δ vs '{reference}'")
    print(f"| set | weights | valid NDCG@10 | test NDCG@10 | Δ test, 95% CI |\n|{'---|' * 5}")
    for row in rows:
        delta = "–"
        if row["set"] != reference:
            ci = paired_bootstrap_ci(per_user[row["set"]], per_user[reference])
            row["delta"] = {"mean": ci.mean, "low": ci.low, "high": ci.high}
            delta = f"{ci.mean:+.4f} [{ci.low:+.4f}, {ci.high:+.4f}]"
        shown = " / ".join(
            f"{g} {w:.2f}" for g, w in zip(row["components"], row["weights"], strict=True)
        )
        print(
            f"| {row['set']} | {shown} | {row['valid_ndcg']:.4f} | {row['test_ndcg']:.4f} | {delta} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"hybrid-components-{args.dataset}.json"
    report = {"dataset": args.dataset, "split": split.id_hash(dataset.users, dataset.catalogue.ids)}
    path.write_text(json.dumps({**report, "components": records, "sets": rows}, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
