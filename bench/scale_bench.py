"""What a user costs to store and to re-rank as the catalogue grows (synthetic, seeded).

    python bench/scale_bench.py                      # 3.7k, 30k and 100k items (~3 min)
    python bench/scale_bench.py --sizes 3700 --repeat 20

For each catalogue size, on data from :mod:`recommender.synthetic` and through the project's
own functions (no web server; one core: ``OMP_NUM_THREADS=1`` is set):

- **bytes stored per user** beyond their history: the per-item parts the worker used to keep
  (``serving.pack_parts``: float16 x roles x items) against the user state
  (``user_state.UserState.pack``) for the served hybrid's roles;
- **scoring from the state**: every item (what the request path does today after an edit) and
  300 candidates (what two-stage retrieval will do);
- **a statement re-rank** (the uncached list after an edit): ``scoring.profile_rerank`` of a
  stored top 100 with a typed statement ("thrillers from the 70s") and a free-text one,
  retrieving beyond the top 100 from every item's stored parts (the old path), from the user
  state as the app does now (``ScoredOnDemand``: only what the statement could bring in is
  scored), and from the top 100 alone.

EASE's item side is an n x n matrix (55 MB at 3.7k items, 3.6 GB at 30k, 40 GB at 100k): it
is measured where it fits the 2 GB this benchmark allows itself and reported as not fitting
above. Prints a table and writes reports/bench/scale.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: what one request gets

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from explanations.profile import Profile, make_statement  # noqa: E402
from explanations.scoring import (  # noqa: E402
    CatalogueScores,
    ScoredOnDemand,
    TextMoments,
    profile_rerank,
)
from recommender import synthetic  # noqa: E402
from recommender.serving import pack_parts  # noqa: E402
from recommender.user_state import DOT, HISTORY, ItemSide, RoleState, UserState  # noqa: E402

SEQ_DIM, TEXT_DIM = 64, 384  # SASRec's hidden size and MiniLM's, as served
EASE_LIMIT_BYTES = 2 * 1024**3


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    fn()  # warm-up: page faults of the memory-mapped matrices, numpy's first call
    laps = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        laps.append((time.perf_counter() - start) * 1000)
    return {"p50_ms": float(np.percentile(laps, 50)), "p95_ms": float(np.percentile(laps, 95))}


def unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    x = rng.normal(size=shape).astype(np.float32)
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def one_size(n_items: int, repeat: int, rng: np.random.Generator) -> dict[str, Any]:
    config = synthetic.SyntheticConfig(n_items=n_items, n_users=200, seed=0)
    cat, factors, log_pop = synthetic.catalogue(config)
    data = synthetic.interactions(config, factors, log_pop)
    history = data.items[data.users == 0]
    with_ease = 4 * n_items * n_items <= EASE_LIMIT_BYTES
    kinds = {"sequential": DOT, "text": DOT} | ({"collaborative": HISTORY} if with_ease else {})
    item_vectors = unit(rng, (n_items, TEXT_DIM))
    matrices = {
        "sequential": rng.normal(size=(n_items, SEQ_DIM)).astype(np.float32),
        "text": item_vectors,
    }
    if with_ease:
        matrices["collaborative"] = (rng.normal(size=(n_items, n_items)) * 0.01).astype(np.float32)
    side = ItemSide(kinds, matrices)
    state = UserState(
        {
            "sequential": RoleState(DOT, 0.7, 0.1, 2.0, True, rng.normal(size=SEQ_DIM).astype(np.float32)),
            "text": RoleState(DOT, 0.15, 0.2, 0.05, True, unit(rng, (TEXT_DIM,))),
            "collaborative": RoleState(HISTORY, 0.15, 0.0, 0.3, True),
        }
    )  # fmt: skip
    served_roles = ("collaborative", "sequential", "text")  # the hybrid's three parts
    per_item = len(pack_parts({r: np.zeros(n_items, np.float16) for r in served_roles}))
    row: dict[str, Any] = {
        "n_items": n_items,
        "bytes_per_user_parts": per_item,
        "bytes_per_user_state": len(state.pack()),
        "ease_item_side_mb": 4 * n_items * n_items / 1024**2,
        "ease_fits": with_ease,
    }
    if not with_ease:
        state = UserState({r: s for r, s in state.roles.items() if r != "collaborative"})
    candidates = rng.choice(n_items, size=300, replace=False)
    row["state_all_items"] = timed(lambda: side.parts(state, history), repeat)
    row["state_300_candidates"] = timed(lambda: side.parts(state, history, candidates), repeat)

    parts = side.parts(state, history)
    eligible = np.ones(n_items, dtype=bool)
    eligible[history] = False
    total = np.sum(list(parts.values()), axis=0)
    top = np.argsort(-np.where(eligible, total, -np.inf))[:100]
    whole = CatalogueScores({r: p.astype(np.float16) for r, p in parts.items()}, eligible)
    profile = Profile(
        (make_statement("thrillers from the 70s"), make_statement("films about a detective"))
    )
    statement_vectors = unit(rng, (2, TEXT_DIM))
    moments = TextMoments.of(item_vectors)  # once per process and vectors file, as the app

    spread = float(total[eligible].std())  # the worker stores it in the state
    on_demand = ScoredOnDemand(eligible, lambda rows: side.parts(state, history, rows), spread)

    broad = Profile((make_statement("dramas"), make_statement("films about a detective")))

    def rerank(
        scores: CatalogueScores | ScoredOnDemand | None, asked: Profile = profile
    ) -> Callable[[], Any]:
        return lambda: profile_rerank(
            top, total[top], {r: p[top] for r, p in parts.items()}, item_vectors,
            statement_vectors, asked, cat, catalogue_scores=scores, text_moments=moments,
        )  # fmt: skip

    row["rerank_whole_catalogue"] = timed(rerank(whole), repeat)
    row["rerank_from_state"] = timed(rerank(on_demand), repeat)  # the app's path
    # a genre a fifth of the catalogue has: every fitting item is scored from the state
    row["rerank_from_state_broad"] = timed(rerank(on_demand, broad), repeat)
    row["rerank_top_100_only"] = timed(rerank(None), repeat)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[3_700, 30_000, 100_000])
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "reports/bench/scale.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = [one_size(n, args.repeat, rng) for n in args.sizes]
    header = (
        f"{'items':>8} {'parts B/user':>13} {'state B/user':>13} {'all items p95':>14} "
        f"{'300 cand. p95':>14} {'stored parts p95':>17} {'from state p95':>15} "
        f"{'broad stmt p95':>15} {'top100 only p95':>16}"
    )
    print(header)
    for r in rows:
        print(
            f"{r['n_items']:>8,} {r['bytes_per_user_parts']:>13,} {r['bytes_per_user_state']:>13,} "
            f"{r['state_all_items']['p95_ms']:>11.2f} ms {r['state_300_candidates']['p95_ms']:>11.2f} ms "
            f"{r['rerank_whole_catalogue']['p95_ms']:>14.1f} ms {r['rerank_from_state']['p95_ms']:>12.1f} ms "
            f"{r['rerank_from_state_broad']['p95_ms']:>12.1f} ms "
            f"{r['rerank_top_100_only']['p95_ms']:>13.1f} ms"
            + (
                ""
                if r["ease_fits"]
                else f"  (EASE's B, {r['ease_item_side_mb']:,.0f} MB, left out)"
            )
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
