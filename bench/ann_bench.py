"""The "films like Heat" re-rank with and without the item-vector index (issue #26, item 2).

    python bench/ann_bench.py                         # ML-100K, then 3.7k, 30k, 100k synthetic
    python bench/ann_bench.py --sizes 3700 --no-ml100k --repeat 10

For each catalogue, through the project's own functions (one core for the re-rank,
``OMP_NUM_THREADS=1``; the index build uses every core, as the worker does):

- **index**: the build time of :func:`recommender.ann.build` (HNSW, usearch) and its file size;
- **search**: the 300 nearest items of one query, exact (``vectors @ q``) and from the index;
- **recall@10 / recall@300** of :class:`recommender.ann.HnswIndex` against exact search, over
  the text vectors of 200 items taken as queries (what a title statement asks for);
- **the title-statement re-rank** (``scoring.profile_rerank`` of a stored top 100 with
  "films like <title>", retrieving beyond the top 100 from every item's stored parts, with
  co-watch neighbours): p50/p95 with exact cosines over every item and with
  :class:`explanations.scoring.TitleSearch` over the index, and how many of the 40 titles'
  top 10s are the same.

ML-100K uses the real MiniLM item texts (``recommender.encoders``; ~30 s to embed) and its
co-watch neighbours; the synthetic catalogues (``recommender.synthetic``) use vectors made of
the items' latent factors plus noise, so similar items cluster as real texts do. The index is
built whatever the size here; the app uses it from ``ann.EXACT_BELOW`` items up.
Prints a table and writes reports/bench/ann.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core: what one request gets

import argparse
import json
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bench.scale_bench import timed  # noqa: E402
from explanations.profile import Profile, make_statement  # noqa: E402
from explanations.scoring import (  # noqa: E402
    CatalogueScores,
    Neighbours,
    TextMoments,
    TitleSearch,
    profile_rerank,
)
from explanations.titles import TitleIndex  # noqa: E402
from recommender import ann, synthetic  # noqa: E402
from recommender.data import Catalogue  # noqa: E402

TEXT_DIM = 384  # MiniLM's
QUERIES, TITLES = 200, 40


def recall(index: ann.NearestItems, exact: ann.ExactIndex, queries: np.ndarray, k: int) -> float:
    found, _ = index.search(queries, k)
    truth, _ = exact.search(queries, k)
    hits = sum(len(set(f.tolist()) & set(t.tolist())) for f, t in zip(found, truth, strict=True))
    return hits / truth.size


def synthetic_case(
    n_items: int, rng: np.random.Generator
) -> tuple[Catalogue, np.ndarray, Neighbours]:
    config = synthetic.SyntheticConfig(n_items=n_items, n_users=50, seed=0)
    cat, factors, _ = synthetic.catalogue(config)  # factors: (n, k)
    mix = rng.normal(size=(factors.shape[1], TEXT_DIM))
    vectors = (factors @ mix + 2.0 * rng.normal(size=(n_items, TEXT_DIM))).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    k = 30  # co-watch neighbours, as the app stores them
    neighbours = (
        rng.integers(0, n_items, (n_items, k)),
        rng.random((n_items, k)).astype(np.float32),
    )
    return cat, vectors, neighbours


def ml100k_case() -> tuple[Catalogue, np.ndarray, Neighbours]:
    from recommender.cowatch import CoWatch
    from recommender.data import load_movielens
    from recommender.encoders import get_encoder

    dataset = load_movielens("100k")
    vectors = np.asarray(
        get_encoder().encode(dataset.catalogue.texts(), progress=False), np.float32
    )
    neighbours = CoWatch.from_interactions(dataset.interactions).neighbours()
    return dataset.catalogue, vectors, neighbours


def one_case(
    name: str,
    cat: Catalogue,
    vectors: np.ndarray,
    neighbours: Neighbours,
    repeat: int,
    folder: Path,
) -> dict[str, Any]:
    n = len(cat)
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    path = ann.build(vectors, folder / f"{name}.usearch")
    row: dict[str, Any] = {"catalogue": name, "n_items": n, "build_s": time.perf_counter() - start}
    row["index_mb"] = path.stat().st_size / 1024**2
    index = ann.open_index(path, n, vectors.shape[1])
    exact = ann.ExactIndex(vectors)
    queries = vectors[rng.choice(n, size=min(QUERIES, n), replace=False)]
    row["recall_at_10"] = recall(index, exact, queries, 10)
    row["recall_at_300"] = recall(index, exact, queries, 300)
    one = queries[:1]
    row["search_exact"] = timed(lambda: exact.search(one, 300), repeat)
    row["search_index"] = timed(lambda: index.search(one, 300), repeat)

    titles = TitleIndex(cat.titles, cat.years)
    total = rng.normal(size=n)  # the user's hybrid score of every item (stored parts)
    eligible = np.ones(n, bool)
    top = np.argsort(-total)[:100]
    whole = CatalogueScores({"hybrid": total}, eligible)
    moments = TextMoments.of(vectors)
    search = TitleSearch.of(cat, vectors, index)
    picks = rng.choice(n, size=TITLES, replace=False)

    def rerank(title: int, searched: TitleSearch | None) -> Callable[[], Any]:
        profile = Profile((make_statement(f"films like {cat.titles[title]}"),))
        return lambda: profile_rerank(
            top, total[top], {"hybrid": total[top]}, vectors, np.zeros((1, vectors.shape[1]), np.float32),
            profile, cat, index=titles, catalogue_scores=whole, neighbours=neighbours,
            text_moments=moments, title_search=searched,
        )  # fmt: skip

    same, tied, asked = 0, 0, 0
    for title in picks.tolist():
        exact_list = rerank(title, None)()
        if exact_list.facts[0].kind != "title":  # a title the reader does not find alone
            continue
        asked += 1
        found = rerank(title, search)()
        same += list(exact_list.items[:10]) == list(found.items[:10])
        # the same ten, two of them swapped on a score tie (the closed-form moments differ
        # from the measured ones in the 8th digit)
        tied += set(exact_list.items[:10]) == set(found.items[:10]) and bool(
            np.allclose(exact_list.scores[:10], found.scores[:10], rtol=0, atol=1e-6)
        )
    row["title_statements"] = asked
    row["same_top10"] = same
    row["same_top10_up_to_ties"] = tied
    title = int(picks[0])
    row["rerank_exact"] = timed(rerank(title, None), repeat)
    row["rerank_ann"] = timed(rerank(title, search), repeat)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[3_700, 30_000, 100_000])
    parser.add_argument("--no-ml100k", action="store_true", help="skip ML-100K (it embeds texts)")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "reports/bench/ann.json")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_ml100k:
            rows.append(one_case("ml-100k", *ml100k_case(), args.repeat, Path(tmp)))
        for n in args.sizes:
            rows.append(one_case(f"synthetic-{n}", *synthetic_case(n, rng), args.repeat, Path(tmp)))
    print(
        f"{'catalogue':>17} {'items':>8} {'build':>8} {'index':>8} {'R@10':>6} {'R@300':>6} "
        f"{'same top10 (ties)':>17} {'search 300: exact / index p50':>30} "
        f"{'re-rank exact p50/p95':>22} {'re-rank index p50/p95':>22}"
    )
    for r in rows:
        e, a = r["rerank_exact"], r["rerank_ann"]
        print(
            f"{r['catalogue']:>17} {r['n_items']:>8,} {r['build_s']:>7.1f}s {r['index_mb']:>5.1f} MB "
            f"{r['recall_at_10']:>6.3f} {r['recall_at_300']:>6.3f} "
            f"{r['same_top10']:>3} ({r['same_top10_up_to_ties']:>2}) of {r['title_statements']:<3} "
            f"{r['search_exact']['p50_ms']:>17.1f} / {r['search_index']['p50_ms']:>5.1f} ms "
            f"{e['p50_ms']:>13.1f}/{e['p95_ms']:>5.1f} ms {a['p50_ms']:>13.1f}/{a['p95_ms']:>5.1f} ms"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    meta = {"machine": platform.processor() or platform.machine(), "cores": os.cpu_count()}
    args.out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
