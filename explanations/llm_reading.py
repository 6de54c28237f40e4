"""Could the packaged LLM read requests instead of the rules? Measured, not assumed.

``python -m explanations.llm_reading --split test`` asks SmolLM2-135M-Instruct (the packaged
model, zero-shot, greedy) to read each actionable request of the corpora into genres, ruled-out
genres and a year range, in a fixed line format. A validator keeps only what the catalogue can
check (genres of its vocabulary, years inside the catalogue's span); anything else is dropped,
so the model can never invent a constraint the page would show. The same requests are read by
:func:`explanations.understanding.understand` (rules + the MiniLM reader), and both readings are
compared with the annotation:

- *genres exact*: the set of genres asked for equals the annotated set (groups flattened);
- *exclusions exact*, *years exact*: the same for ruled-out genres and the year range;
- *all exact*: the three at once; *invented*: a genre read that the request does not state;
- latency per request (one core's worth of a 2-core machine).

The prompt carries no worked example: the model copies examples (see ``../shared/MODELS.md``).
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from explanations.corpus import RealRequest, load_paraphrases, load_real_requests
from explanations.understanding import RECENT_YEARS, understand

Generate = Callable[[list[dict[str, str]]], str]

SYSTEM = (
    "You read what a person asks a movie recommender for. Answer in exactly three lines:\n"
    "genres: <the genres they want, from the list, comma-separated, or none>\n"
    "not: <genres they do not want, from the list, or none>\n"
    "years: <first year>-<last year> if they name a time, else none\n"
    "Genres list: {genres}."
)


@dataclass(frozen=True)
class Reading:
    genres: frozenset[str]
    exclude: frozenset[str]
    years: tuple[int | None, int | None]


def parse_answer(text: str, vocabulary: Sequence[str], span: tuple[int, int]) -> Reading:
    """The validator: the model's three lines -> a reading of checkable facts only."""
    by_lower = {g.lower(): g for g in vocabulary}
    fields: dict[str, str] = {}
    for line in text.lower().splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("genres", "not", "years") and key.strip() not in fields:
            fields[key.strip()] = value

    def genres(key: str) -> frozenset[str]:
        words = re.split(r"[,;/]|\band\b", fields.get(key, ""))
        return frozenset(by_lower[w.strip()] for w in words if w.strip() in by_lower)

    lo = hi = None
    if m := re.search(r"(\d{4})\s*-\s*(\d{4})", fields.get("years", "")):
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        if span[0] <= a <= span[1] and span[0] <= b <= span[1]:
            lo, hi = a, b
    want = genres("genres")
    return Reading(want, genres("not") - want, (lo, hi))


def llm_read(
    generate: Generate, text: str, vocabulary: Sequence[str], span: tuple[int, int]
) -> Reading:
    messages = [
        {"role": "system", "content": SYSTEM.format(genres=", ".join(vocabulary))},
        {"role": "user", "content": text[:600]},
    ]
    return parse_answer(generate(messages), vocabulary, span)


def rules_read(text: str, vocabulary: Sequence[str], **context: Any) -> Reading:
    u = understand(text, vocabulary, **context)
    r = u.request
    genres = frozenset(g for group in r.genre_groups for g in group)
    return Reading(genres, frozenset(r.exclude_genres) - genres, (r.year_min, r.year_max))


def truth(r: RealRequest, newest: int) -> Reading:
    lo = r.year_min
    if r.recent:
        lo = max(lo or 0, newest - RECENT_YEARS + 1)
    genres = frozenset(g for group in r.genres for g in group)
    return Reading(genres, frozenset(r.not_genres), (lo, r.year_max))


def score(readings: Sequence[Reading], truths: Sequence[Reading]) -> dict[str, float]:
    pairs = list(zip(readings, truths, strict=True))
    n = max(len(pairs), 1)
    return {
        "genres_exact": sum(a.genres == b.genres for a, b in pairs) / n,
        "exclusions_exact": sum(a.exclude == b.exclude for a, b in pairs) / n,
        "years_exact": sum(a.years == b.years for a, b in pairs) / n,
        "all_exact": sum(a == b for a, b in pairs) / n,
        "invented_genre": sum(bool(a.genres - b.genres) for a, b in pairs) / n,
    }


def compare(
    requests: Sequence[RealRequest], generate: Generate, context: dict[str, Any]
) -> dict[str, Any]:
    """Both readers on the actionable ``requests``; ``context``: understand()'s arguments."""
    vocabulary = context["vocabulary"]
    newest = context["newest_year"]
    span = (1900, newest)
    chosen = [r for r in requests if r.actionable]
    truths = [truth(r, newest) for r in chosen]
    out: dict[str, Any] = {"requests": len(chosen)}
    rest = {k: v for k, v in context.items() if k != "vocabulary"}
    for name, read in (
        ("rules", lambda t: rules_read(t, vocabulary, **rest)),
        ("llm", lambda t: llm_read(generate, t, vocabulary, span)),
    ):
        readings, ms = [], []
        for r in chosen:
            t0 = time.perf_counter()
            readings.append(read(r.text.replace("QUOTATION_MARK", '"')))
            ms.append((time.perf_counter() - t0) * 1000)
        out[name] = score(readings, truths) | {
            "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    from explanations.llm_text import as_generator
    from explanations.understanding_eval import build_context
    from recommender.llm import get_llm

    parser = argparse.ArgumentParser(prog="python -m explanations.llm_reading")
    parser.add_argument("--split", choices=["dev", "test"], default="test")
    parser.add_argument("--limit", type=int, default=0, help="first N requests per set (0: all)")
    parser.add_argument("--out", type=Path, default=Path("reports/llm_reading.json"))
    args = parser.parse_args(argv)
    ctx, _ = build_context()
    generate = as_generator(get_llm(), max_new_tokens=40)
    assert generate is not None
    context = {
        "vocabulary": ctx.catalogue.genre_vocabulary,
        "index": ctx.index,
        "newest_year": ctx.newest_year,
        "reader": ctx.reader,
    }
    results: dict[str, Any] = {"split": args.split}
    for name, load in (("real", load_real_requests), ("paraphrases", load_paraphrases)):
        requests = load(args.split)
        results[name] = compare(requests[: args.limit or None], generate, context)
    print("| set | reader | genres exact | exclusions exact | years exact | all exact | "
          "invented a genre | p50 | p95 |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    for name in ("real", "paraphrases"):
        for who in ("rules", "llm"):
            m = results[name][who]
            print(
                f"| {name} ({results[name]['requests']}) | {who} | {m['genres_exact']:.1%} | "
                f"{m['exclusions_exact']:.1%} | {m['years_exact']:.1%} | {m['all_exact']:.1%} | "
                f"{m['invented_genre']:.1%} | {m['p50_ms']:.0f} ms | {m['p95_ms']:.0f} ms |"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
