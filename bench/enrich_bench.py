"""Enrichment throughput, output validity, and whether dense retrieval gains from the text.

    .venv/bin/python bench/enrich_bench.py --items 60 --batch 8

Sample: a fixed set E of ML-100K items = the test items of randomly drawn evaluated users
(seed 0), topped up with random items to ``--items``. E is enriched with SmolLM2 (greedy).

Dense comparison (fair by construction): the dense retriever (MiniLM, DenseText defaults) is
fitted on ``split.train_valid`` twice, once on the plain catalogue and once with E's generated
descriptions and keywords; for every evaluated user whose test item is in E, the test item is
ranked among E's items the user has not seen. Both runs rank the same universe, so the only
difference is the text. The universe is small, so the paired bootstrap CI says how much the
sample can tell. Writes reports/bench/enrich.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.data import load_movielens
from recommender.enrich import ItemText, describe_items
from recommender.llm import get_llm
from recommender.metrics import ndcg_at_k, paired_bootstrap_ci, recall_at_k
from recommender.split import leave_last_out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--items", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("reports/bench/enrich.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    ds = load_movielens("100k")
    cat = ds.catalogue
    split = leave_last_out(ds.interactions)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(split.users))
    chosen: list[int] = []
    for row in order:  # test items of random users first: they make the comparison possible
        item = int(split.test_items[row])
        if item not in chosen:
            chosen.append(item)
        if len(chosen) >= int(args.items * 0.75):
            break
    rest = [int(i) for i in rng.permutation(len(cat)) if int(i) not in chosen]
    sample = np.array(sorted(chosen + rest[: args.items - len(chosen)]))

    llm = get_llm()
    items = [ItemText(cat.titles[i], int(cat.years[i]), cat.genres[i]) for i in sample]
    t0 = time.perf_counter()
    generated = describe_items(llm, items, batch_size=args.batch)
    seconds = time.perf_counter() - t0
    ok = [g.ok for g in generated]

    descriptions = list(cat.descriptions)
    for i, g in zip(sample, generated, strict=True):
        if g.ok:
            descriptions[i] = g.description + (
                f" Keywords: {', '.join(g.keywords)}." if g.keywords else ""
            )
    enriched = dataclasses.replace(cat, descriptions=tuple(descriptions))

    from recommender.models.dense import DenseText

    in_e = np.isin(split.test_items, sample)
    users, targets = split.users[in_e], split.test_items[in_e]
    history = split.train_valid.histories()
    per_condition = {}
    for name, catalogue in (("plain", cat), ("enriched", enriched)):
        model = DenseText().fit(split.train_valid, catalogue)
        scores = model.score_users(users)[:, sample]  # (U, |E|)
        ranks = []
        for row, u in enumerate(users):
            s = scores[row].astype(np.float64)
            s[np.isin(sample, history[u])] = -np.inf  # the user's known items are never ranked
            t = s[int(np.flatnonzero(sample == targets[row])[0])]
            ranks.append(int((s > t).sum()))
        per_condition[name] = np.array(ranks)
    nd = {k: ndcg_at_k(v, 10) for k, v in per_condition.items()}
    ci = paired_bootstrap_ci(nd["enriched"], nd["plain"], resamples=2000)
    report = {
        "items": len(sample),
        "batch": args.batch,
        "seconds": round(seconds, 1),
        "items_per_min": round(60 * len(sample) / seconds, 2),
        "ok_share": float(np.mean(ok)),
        "mean_keywords": float(np.mean([len(g.keywords) for g in generated])),
        "examples": [
            {"item": cat.titles[i], "description": g.description, "keywords": list(g.keywords)}
            for i, g in list(zip(sample, generated, strict=True))[:8]
        ],
        "dense_within_sample": {
            "users": len(users),
            "universe": len(sample),
            "ndcg@10_plain": float(nd["plain"].mean()),
            "ndcg@10_enriched": float(nd["enriched"].mean()),
            "recall@10_plain": float(recall_at_k(per_condition["plain"], 10).mean()),
            "recall@10_enriched": float(recall_at_k(per_condition["enriched"], 10).mean()),
            "ndcg_diff_ci95": [ci.mean, ci.low, ci.high],
        },
        "model": llm.model_id,
        "version": llm.version,
        "dtype": str(llm.model.dtype),
        "threads": torch.get_num_threads(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
