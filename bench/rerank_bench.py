"""Retriever alone vs zero-shot LLM reranker vs LoRA-tuned reranker on ML-100K, our split.

    .venv/bin/python bench/rerank_bench.py --adapter var/llm/lora/adapter --users 500

Protocol: the retriever (a registry model, tuned on validation) is fitted on ``split.train``
for validation and refitted on ``split.train_valid`` for test. Each user's top-K=20 unseen items
are reranked; items below K keep the retriever's order. NDCG@10 / Recall@10 are therefore
exact full-ranking metrics. A user whose held-out item is not in their top-20 scores 0 under
every reranking of it, so the LLM runs only for users whose item is among the candidates (an
exact shortcut, not an approximation). The blend weight (LLM vs retriever score) and the number
of permutations are chosen on validation; test is read once per variant for the table.
Scores per stage are cached under ``var/llm/bench`` so stages can run separately.

An adapter trained with co-watch hints (``finetune --cowatch-top N``) is scored with the same hinted
prompts (the zero-shot model too), and the table gets a row for the co-watch affinity alone,
with no LLM, so the LLM's own contribution is visible.

Without an adapter (``--adapter`` folder absent) the table has the retriever, the co-watch
rows and the zero-shot LLM, prompted with ``--cowatch-top`` hints. ``--retriever hybrid``
measures the pipeline the product serves (the hybrid's lists, reranked).

Writes reports/bench/rerank.json and prints a table.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.cowatch import CoWatch
from recommender.data import Catalogue, load_movielens
from recommender.decision import serving_decision
from recommender.finetune import candidate_scores, load_tuned, retriever_scores
from recommender.llm import get_llm
from recommender.metrics import paired_bootstrap_ci
from recommender.rerank import (
    RerankConfig,
    choose_blend,
    combine,
    crossfit_blend_ndcg,
    llm_rerank,
    permutations,
    position_bias,
    prompt_messages,
    rank_in_candidates,
    top_k_candidates,
)
from recommender.split import Split, leave_last_out

K = 20


def candidates(
    scores: np.ndarray, histories: list[np.ndarray], users: np.ndarray, targets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(U, K) top-K unseen items in retriever order, (U, K) their scores, (U,) target slot or -1."""
    cands, pos = top_k_candidates(scores, histories, users, targets, K)
    retr = np.take_along_axis(scores[users], cands, axis=1).astype(np.float64)
    return cands, retr, pos


def llm_scores_for(
    model: Any,
    tokenizer: Any,
    catalogue: Catalogue,
    histories: list[np.ndarray],
    users: np.ndarray,
    cands: np.ndarray,
    rows: np.ndarray,
    n_perm: int,
    cfg: RerankConfig,
    cowatch: np.ndarray | None,
) -> np.ndarray:
    """(U, K) mean label log-prob per candidate over n_perm cyclic orders; rows not in ``rows``
    stay 0. ``cowatch`` (U, K) moves with its candidate; used when ``cfg.hinted``."""
    out = np.zeros(cands.shape)
    hist = [histories[int(users[r])] for r in rows]
    for order in permutations(K, n_perm):
        shown = cands[rows][:, order]  # (R, K) slot j shows candidate order[j]
        cw = cowatch[rows][:, order] if cfg.hinted and cowatch is not None else None
        s = candidate_scores(model, tokenizer, catalogue, hist, shown, cfg, cowatch=cw)
        back = np.zeros_like(s)
        back[:, order] = s
        out[rows] += back / n_perm
    return out


def cached(path: Path, compute: Any) -> np.ndarray:
    if path.exists():
        return np.load(path)
    value = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, value)
    return value


def ndcg_recall(scores: np.ndarray, pos: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rank = rank_in_candidates(scores, pos)
    hit = (rank >= 0) & (rank < 10)
    return np.where(hit, 1.0 / np.log2(np.maximum(rank, 0) + 2.0), 0.0), hit.astype(float)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--adapter", type=Path, default=Path("var/llm/lora/adapter"))
    parser.add_argument("--retriever", default="ease")
    parser.add_argument(
        "--users", type=int, default=500, help="fixed random sample of evaluated users (0 = all)"
    )
    parser.add_argument(
        "--permutations",
        type=int,
        nargs="+",
        default=[1, 3],
        help="candidate orders tried (chosen on validation)",
    )
    parser.add_argument("--latency-users", type=int, default=20)
    parser.add_argument("--latency-permutations", type=int, nargs="+", default=[1, 3])
    parser.add_argument("--bias-users", type=int, default=40)
    parser.add_argument("--stages", default="zeroshot,tuned,report")
    parser.add_argument("--cache", type=Path, default=Path("var/llm/bench"))
    parser.add_argument("--out", type=Path, default=Path("reports/bench/rerank.json"))
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument(
        "--cowatch-top",
        type=int,
        default=3,
        help="co-watch hint size of the prompts when there is no adapter (0 = titles only)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    stages = set(args.stages.split(","))
    started = time.perf_counter()

    ds = load_movielens("100k")
    cat = ds.catalogue
    split: Split = leave_last_out(ds.interactions)
    rs_cache = Path("var/llm/retriever")
    valid_scores = retriever_scores(args.retriever, split, cat, "valid", rs_cache)
    test_scores = retriever_scores(args.retriever, split, cat, "test", rs_cache)
    rows_all = np.arange(len(split.users))
    if args.users:
        rows_all = np.sort(
            np.random.default_rng(0).choice(len(split.users), size=args.users, replace=False)
        )
    users = split.users[rows_all]
    h_train, h_tv = split.train.histories(), split.train_valid.histories()
    v_cands, v_retr, v_pos = candidates(valid_scores, h_train, users, split.valid_items[rows_all])
    t_cands, t_retr, t_pos = candidates(test_scores, h_tv, users, split.test_items[rows_all])
    v_rows, t_rows = np.flatnonzero(v_pos >= 0), np.flatnonzero(t_pos >= 0)
    print(
        f"users {len(users)}; target in top-{K}: valid {len(v_rows)}, test {len(t_rows)}",
        flush=True,
    )
    # The prompt format the adapter was trained with (the zero-shot model gets the same one).
    meta_path = args.adapter / "finetune.json"
    trained = json.loads(meta_path.read_text())["config"] if meta_path.exists() else {}
    cfg = RerankConfig.served(trained) if trained else RerankConfig(cowatch_top=args.cowatch_top)
    tag = f"{args.retriever}-{split.hash}-{args.users}"
    tag += f"-h{cfg.history}-c{cfg.title_chars}-y{int(cfg.years)}"
    if cfg.hinted:
        tag += f"-cw{cfg.cowatch_top}"
    # The prompt's wording and the adapter's weights are part of what is cached: a changed
    # template or another adapter must never reuse old scores.
    sample = prompt_messages(["a"], ["b", "c"], [1.0, 0.0] if cfg.hinted else None)
    tag += "-" + hashlib.sha256(json.dumps(sample).encode()).hexdigest()[:6]
    weights = args.adapter / "adapter_model.safetensors"
    have_adapter = weights.exists()
    if not have_adapter:
        print(f"no adapter at {args.adapter}: retriever, co-watch and zero-shot rows only")
    adapter_tag = hashlib.sha256(weights.read_bytes()).hexdigest()[:8] if have_adapter else "x"
    # Co-watch affinity of each candidate with the shown history, from the data each stage's
    # retriever was fitted on (train for validation, train + validation for test).
    v_cw = CoWatch.from_interactions(split.train).affinities(
        [h_train[int(u)][-cfg.history :] for u in users], v_cands
    )
    tv_cowatch = CoWatch.from_interactions(split.train_valid)  # also what latency times
    t_cw = tv_cowatch.affinities([h_tv[int(u)][-cfg.history :] for u in users], t_cands)

    def score(name: str, model: Any, tok: Any, stage: str, n_perm: int) -> np.ndarray:
        c, r, h, cw = (
            (v_cands, v_rows, h_train, v_cw) if stage == "valid" else (t_cands, t_rows, h_tv, t_cw)
        )
        who = f"{name}-{adapter_tag}" if name == "tuned" else name
        path = args.cache / f"{tag}-{who}-{stage}-p{n_perm}.npy"

        def run() -> np.ndarray:
            t0 = time.perf_counter()
            out = llm_scores_for(model, tok, cat, h, users, c, r, n_perm, cfg, cw)
            print(
                f"  {name} {stage} P={n_perm}: {len(r)} users in {time.perf_counter() - t0:.0f}s",
                flush=True,
            )
            return out

        return cached(path, run)

    results: dict[str, Any] = {"stages_seconds": {}}
    if "zeroshot" in stages:
        base = get_llm()
        for stage in ("valid", "test"):
            score("zeroshot", base.model, base.tokenizer, stage, 1)
    tuned = None
    if have_adapter and ("tuned" in stages or "report" in stages):
        tuned = load_tuned(args.adapter)
        for stage in ("valid", "test"):
            for p in args.permutations:
                score("tuned", tuned.model, tuned.tokenizer, stage, p)
    if "report" not in stages:
        return 0

    base = get_llm()
    retr_ndcg, _retr_rec = ndcg_recall(v_retr, v_pos)
    table: list[dict[str, Any]] = []
    test_retr_ndcg, test_retr_rec = ndcg_recall(t_retr, t_pos)
    table.append(
        {
            "model": f"retriever ({args.retriever})",
            "valid_ndcg@10": retr_ndcg.mean(),
            "ndcg@10": test_retr_ndcg.mean(),
            "recall@10": test_retr_rec.mean(),
            "blend": 1.0,
            "permutations": 0,
        }
    )
    variants = [("zeroshot", 1)] + [("tuned", p) for p in args.permutations if have_adapter]
    chosen_tuned: dict[str, Any] | None = None
    no_llm_ndcg: np.ndarray | None = None  # per test user, the co-watch blend without an LLM
    # With hints, a first row without any LLM: the co-watch affinity alone, blended with the
    # retriever by the same search, so the LLM's own share of a gain can be read off.
    for name, p in ([("co-watch", 0)] if cfg.hinted else []) + variants:
        if name == "co-watch":
            v, t = v_cw, t_cw
        else:
            v, t = score(name, None, None, "valid", p), score(name, None, None, "test", p)
        for blended in (False, True):
            if blended:
                w, _ = choose_blend(v, v_retr, v_pos)
            else:
                w = 0.0
            v_nd, _ = ndcg_recall(combine(v, v_retr, w), v_pos)
            t_nd, t_rc = ndcg_recall(combine(t, t_retr, w), t_pos)
            ci = paired_bootstrap_ci(t_nd, test_retr_ndcg, resamples=2000, seed=0)
            # validation gain with its interval; a blended row's weight is chosen on the
            # other half of the users (cross-fitting), as serving's decision measures it
            v_fair = crossfit_blend_ndcg(v, v_retr, v_pos) if blended else v_nd
            v_ci = paired_bootstrap_ci(v_fair, retr_ndcg, resamples=2000, seed=0)
            label = "co-watch affinity, no LLM" if name == "co-watch" else f"{name} LLM"
            row = {
                "model": label + (" + retriever blend" if blended else ""),
                "valid_ndcg@10": v_nd.mean(),
                "ndcg@10": t_nd.mean(),
                "recall@10": t_rc.mean(),
                "blend": w,
                "permutations": p,
                "valid_ndcg_diff_vs_retriever": {"low": v_ci.low, "high": v_ci.high},
                "ndcg_diff_vs_retriever": {
                    "mean": ci.mean,
                    "low": ci.low,
                    "high": ci.high,
                    "level": ci.level,
                },
            }
            if name == "co-watch" and blended:
                no_llm_ndcg = t_nd
            elif no_llm_ndcg is not None:
                # What the LLM adds over the same hint used without it.
                vs = paired_bootstrap_ci(t_nd, no_llm_ndcg, resamples=2000, seed=0)
                row["ndcg_diff_vs_cowatch_blend"] = {
                    "mean": vs.mean,
                    "low": vs.low,
                    "high": vs.high,
                    "level": vs.level,
                }
            table.append(row)
            if (
                name == "tuned"
                and blended
                and (chosen_tuned is None or row["valid_ndcg@10"] > chosen_tuned["valid_ndcg@10"])
            ):
                chosen_tuned = row
    results["table"] = table
    results["chosen_on_validation"] = chosen_tuned
    # What serving would do with these validation figures (the product's own rule): the LoRA
    # row chosen on validation, or without an adapter the best zero-shot row.
    llm_rows = [r for r in table if "LLM" in r["model"] and "co-watch" not in r["model"]]
    candidate = chosen_tuned or max(llm_rows, key=lambda r: r["valid_ndcg@10"])
    decision = serving_decision(
        args.retriever,
        args.retriever,
        candidate["valid_ndcg@10"],
        table[0]["valid_ndcg@10"],
        candidate["valid_ndcg_diff_vs_retriever"]["low"],
    )
    results["serving_decision"] = {
        "row": candidate["model"],
        "rerank": decision.rerank,
        "reason": decision.reason,
    }

    # position bias: shuffled candidates, how often slot A is the top-scored slot
    bias_rows = t_rows[: args.bias_users]
    prompts = [
        (
            [cfg.title(cat, int(i)) for i in h_tv[int(users[r])][-cfg.history :]],
            [cfg.title(cat, int(i)) for i in t_cands[r]],
        )
        for r in bias_rows
    ]
    bias_cw = [t_cw[r] for r in bias_rows] if cfg.hinted else None
    results["position_bias"] = {
        "zeroshot": position_bias(base, prompts, cowatch=bias_cw, cowatch_top=cfg.cowatch_top),
        "users": len(bias_rows),
    }
    if tuned is not None:
        results["position_bias"]["tuned"] = position_bias(
            tuned, prompts, cowatch=bias_cw, cowatch_top=cfg.cowatch_top
        )
    timed = tuned if tuned is not None else base  # latency of the model that would serve

    # latency: end-to-end llm_rerank() per user (prompt building + forward), tuned merged model
    latency: dict[str, Any] = {}
    lat_rows = rows_all[: args.latency_users]
    for p in sorted({*args.latency_permutations, *args.permutations}):
        times = []
        for r in range(len(lat_rows)):
            hist, cands = prompts[r % len(prompts)]
            # The affinity is computed inside the timed span, as serving computes it per user.
            row = bias_rows[r % len(prompts)]
            t0 = time.perf_counter()
            cw = (
                tv_cowatch.affinity(h_tv[int(users[row])][-cfg.history :], t_cands[row])
                if cfg.hinted
                else None
            )
            llm_rerank(timed, hist, cands, dataclasses.replace(cfg, permutations=p), cowatch=cw)
            times.append((time.perf_counter() - t0) * 1000)
        latency[f"P={p}"] = {
            "p50_ms": float(np.percentile(times, 50)),
            "p95_ms": float(np.percentile(times, 95)),
            "n": len(times),
        }
    results["latency"] = latency
    results.update(
        dataset="ml-100k",
        split_hash=split.hash,
        retriever=args.retriever,
        cowatch_top=cfg.cowatch_top,
        users=len(users),
        users_sample_seed=0,
        users_with_target_in_topk={"valid": len(v_rows), "test": len(t_rows)},
        k=K,
        base_model=base.model_id,
        base_version=base.version,
        tuned_model=tuned.model_id if tuned else None,
        tuned_version=tuned.version if tuned else None,
        dtype=str(base.model.dtype),
        torch_threads=torch.get_num_threads(),
        seconds=round(time.perf_counter() - started, 1),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1, default=float))
    print(
        f"\n{'model':44s} {'P':>2s} {'blend':>5s} {'valid':>7s} {'NDCG@10':>8s} {'R@10':>6s}  NDCG diff vs retriever [95% CI]"
    )
    for row in table:
        d = row.get("ndcg_diff_vs_retriever")
        ci_text = f"{d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}]" if d else ""
        if e := row.get("ndcg_diff_vs_cowatch_blend"):
            ci_text += f"  vs co-watch blend {e['mean']:+.4f} [{e['low']:+.4f}, {e['high']:+.4f}]"
        print(
            f"{row['model']:44s} {row['permutations']:>2d} {row['blend']:>5.2f} {row['valid_ndcg@10']:>7.4f} {row['ndcg@10']:>8.4f} {row['recall@10']:>6.4f}  {ci_text}"
        )
    print(f"serving ({candidate['model']}):", decision.reason)
    print("position bias (top slot = A, shuffled):", results["position_bias"])
    print("latency per user (ms):", latency)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
