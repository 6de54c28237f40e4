"""Share of generated titles that are real catalogue items, constrained vs unconstrained.

    .venv/bin/python bench/grounding_bench.py --n 1000 --batch 25

Each prompt is a random ML-100K user's last five training titles and "Recommend one more
movie"; the model answers greedily. Constrained: the title trie (every item active) limits the
tokens. Unconstrained: free generation; valid when its first line equals a catalogue title
(with or without the year, case-insensitive). Writes reports/bench/grounding.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from recommender.data import load_movielens
from recommender.grounding import TitleTrie, generate_titles, grounding_prompt, match_title
from recommender.llm import get_llm
from recommender.rerank import item_title
from recommender.split import leave_last_out


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=1000, help="generations per condition")
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--max-new-tokens", type=int, default=24)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--beams", type=int, default=1, help="beam search width (1 = greedy)")
    parser.add_argument(
        "--conditions", default="constrained,unconstrained", help="which to run, comma-separated"
    )
    parser.add_argument("--out", type=Path, default=Path("reports/bench/grounding.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    llm = get_llm()
    ds = load_movielens("100k")
    cat = ds.catalogue
    histories = leave_last_out(ds.interactions).train.histories()
    t0 = time.perf_counter()
    trie = TitleTrie.from_catalogue(llm.tokenizer, cat)
    trie_seconds = time.perf_counter() - t0
    titles: dict[str, int] = {}
    for i in range(len(cat)):
        titles.setdefault(item_title(cat, i, 10_000).casefold(), i)
        titles.setdefault(cat.titles[i].casefold(), i)
    rng = np.random.default_rng(0)
    users = rng.choice(
        [u for u, h in enumerate(histories) if len(h) >= 5], size=args.n, replace=True
    )
    prompts = [
        grounding_prompt(llm.tokenizer, [item_title(cat, int(i)) for i in histories[u][-5:]])
        for u in users
    ]
    report: dict[str, object] = {
        "n": args.n,
        "trie_items": len(trie),
        "trie_build_seconds": round(trie_seconds, 2),
        "beams": args.beams,
    }
    for name, constraint in (("constrained", trie), ("unconstrained", None)):
        if name not in args.conditions.split(","):
            continue
        valid, distinct, examples = 0, set(), []
        t0 = time.perf_counter()
        for start in range(0, args.n, args.batch):
            batch = prompts[start : start + args.batch]
            for tokens, item in generate_titles(
                llm, batch, constraint, args.max_new_tokens, num_beams=args.beams
            ):
                if constraint is None:
                    item = match_title(
                        llm.tokenizer.decode(tokens, skip_special_tokens=True), titles
                    )
                valid += item is not None
                if item is not None:
                    distinct.add(item)
                if len(examples) < 5:
                    examples.append(llm.tokenizer.decode(tokens, skip_special_tokens=True))
            print(f"{name}: {start + len(batch)}/{args.n} valid {valid}", flush=True)
        seconds = time.perf_counter() - t0
        report[name] = {
            "valid_share": valid / args.n,
            "distinct_items": len(distinct),
            "seconds": round(seconds, 1),
            "generations_per_min": round(60 * args.n / seconds, 1),
            "examples": examples,
        }
    report.update(
        model=llm.model_id,
        version=llm.version,
        dtype=str(llm.model.dtype),
        threads=torch.get_num_threads(),
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
