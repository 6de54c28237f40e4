"""What a person feels when they steer: the top 10 they see before and after.

Each measure here reads the top 10 of the product's own ranking (a ``rank`` callable that
returns the ranked catalogue indices for a user row and a profile: in
:mod:`explanations.evaluate` it is :func:`explanations.scoring.profile_rerank` over the served
hybrid's stored list and whole-catalogue parts, as the web app calls it) and counts what a
person would notice:

- :func:`steering_shares`: one "likes <genre>" statement, written as the user would, at each
  weight step: the share of the top 10 that carries the genre (the figure the issue names),
  and with "avoids <genre>" the share that still does. Mean rank shifts are not reported:
  they rose for every genre while the top 10 barely changed.
- :func:`critique_effects`: "more like this" on one of the user's top 10 (how many of the top
  10 share most of its genres, and how many are among its 20 most co-watched films, before
  and after), and "less violent, more comedies" (the share of violent genres and of
  comedies, before and after).
- :func:`cold_start`: held-out users described by a fixed rule from their early ratings (top
  genres by lift and their favourite decade, never titles), ranked as a new user's list is
  (what the genres' fans watch, plus the profile parsed from the description), against
  popularity alone, on their later ratings.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from explanations.critique import critique_item, critique_list
from explanations.generate import profile_from_text
from explanations.parsing import GENRE_PHRASE, GENRE_SYNONYMS
from explanations.profile import MAX_WEIGHT, Profile, add_statement, make_statement
from recommender import metrics
from recommender.data import Catalogue, Dataset
from recommender.models.popularity import LIKED, favourite_genres, genre_fans

Rank = Callable[[int, Profile], np.ndarray]  # (user row, profile) -> ranked catalogue indices

TOP = 10
WEIGHTS = (0.25, 0.5, 1.0, 2.0, MAX_WEIGHT)  # the profile page's slider steps measured
DEFAULT_WEIGHT = 1.0  # what a statement the user writes gets (profile.DEFAULT_WEIGHT["user"])
MIN_ITEMS = 20  # genres with fewer eligible items are reported but not held to the target
VIOLENT = GENRE_SYNONYMS["violent"]  # what the parser reads "violent" as: Action, Crime, War


def _has(catalogue: Catalogue, genres: Sequence[str]) -> np.ndarray:
    """(n_items,) bool: the item has any of ``genres``."""
    vocab = list(catalogue.genre_vocabulary)
    cols = [vocab.index(g) for g in genres if g in vocab]
    if not cols:
        return np.zeros(len(catalogue), dtype=bool)
    return np.asarray((catalogue.genre_matrix[:, cols] > 0).any(axis=1), dtype=bool)


def steering_shares(
    rank: Rank,
    rows: Sequence[int],
    profiles: Mapping[int, Profile],
    catalogue: Catalogue,
    active: np.ndarray | None = None,
    weights: Sequence[float] = WEIGHTS,
) -> dict[str, Any]:
    """Per genre: the share of the top 10 carrying it with no statement, with "likes <genre>"
    at each weight, and with "avoids <genre>" at the default weight; mean over ``rows``.

    ``profiles``: each row's profile before the statement (the generated one, as a user who
    never edited theirs has); ``active``: (n_items,) bool, the items that may be listed.
    """
    active = np.ones(len(catalogue), dtype=bool) if active is None else active
    per_genre: dict[str, Any] = {}
    decreases = pairs = 0
    examples: list[dict[str, Any]] = []
    for genre, phrase in GENRE_PHRASE.items():
        has = _has(catalogue, [genre])
        n_items = int((has & active).sum())
        if n_items == 0:
            continue
        before, avoid = [], []
        by_weight: dict[float, list[float]] = {w: [] for w in weights}
        for row in rows:
            profile = profiles[row]
            before.append(float(has[rank(row, profile)[:TOP]].mean()))
            shares = []
            for w in weights:
                liked = add_statement(profile, make_statement(phrase, "likes", weight=w))
                top = rank(row, liked)[:TOP]
                share = float(has[top].mean()) if len(top) else 0.0
                by_weight[w].append(share)
                shares.append(share)
            pairs += 1
            decreases += any(b < a - 1e-9 for a, b in itertools.pairwise(shares))
            avoided = add_statement(profile, make_statement(phrase, "avoids"))
            avoid.append(float(has[rank(row, avoided)[:TOP]].mean()))
        default = float(np.mean(by_weight[DEFAULT_WEIGHT])) if DEFAULT_WEIGHT in by_weight else None
        per_genre[genre] = {
            "statement": f"likes {phrase}",
            "eligible_items": n_items,
            "held_to_target": n_items >= MIN_ITEMS,
            "share_before": float(np.mean(before)),
            "share_by_weight": {str(w): float(np.mean(v)) for w, v in by_weight.items()},
            "share_at_default": default,
            "users_below_60pct_at_default": int(
                sum(s < 0.6 for s in by_weight.get(DEFAULT_WEIGHT, []))
            ),
            "avoid_share": float(np.mean(avoid)),
        }
        if default is not None and default < 0.6 and len(examples) < 8:
            examples.append({"genre": genre, "share_at_default": default})
    held = {g: v for g, v in per_genre.items() if v["held_to_target"]}

    def summary(key: str) -> dict[str, Any]:
        values = {g: v["share_by_weight"][key] for g, v in held.items()}
        worst = min(values, key=values.__getitem__) if values else None
        return {
            "mean": float(np.mean(list(values.values()))) if values else None,
            "min": values[worst] if worst else None,
            "worst_genre": worst,
        }

    return {
        "users": len(rows),
        "weights": list(weights),
        "default_weight": DEFAULT_WEIGHT,
        "genres_held": len(held),
        "at_default": summary(str(DEFAULT_WEIGHT)),
        "at_max": summary(str(float(max(weights)))),
        "avoid_share_max": max((v["avoid_share"] for v in per_genre.values()), default=None),
        "user_genre_pairs_where_a_higher_weight_lowered_the_share": f"{decreases}/{pairs}",
        "per_genre": per_genre,
        "below_target": examples,
    }


def genre_alike(catalogue: Catalogue, item: int) -> set[int]:
    """Items sharing at least half of the genres the two have between them (Jaccard >= 0.5):
    what a person checks first when told a film is "like" another."""
    has = catalogue.genre_matrix > 0  # (n_items, G)
    inter = (has & has[item]).sum(axis=1)
    union = (has | has[item]).sum(axis=1)
    alike = np.flatnonzero((union > 0) & (inter * 2 >= union))
    return {int(i) for i in alike if i != item}


def critique_effects(
    rank: Rank,
    rows: Sequence[int],
    profiles: Mapping[int, Profile],
    catalogue: Catalogue,
    cowatched: Callable[[int], set[int]],
    place: int = 4,
) -> dict[str, Any]:
    """ "More like this" on the film at ``place`` (0-based) of each user's top 10, and the
    list critique "less violent, more comedies": what the top 10 holds before and after.

    "Similar" is judged two ways, as a person checks it: sharing most of its genres
    (:func:`genre_alike`), and being among its 20 most co-watched films (``cowatched``, from
    the training interactions). The product's anchor reads genre overlap and co-watching
    too (beside the text), so both counts are partly by construction; this keeps its own
    arithmetic, so a bug in the anchor's is not shared.
    """
    counts: dict[str, list[int]] = {k: [] for k in ("genre_b", "genre_a", "cw_b", "cw_a")}
    kept = []
    violent = _has(catalogue, VIOLENT)
    comedy = _has(catalogue, ["Comedy"])
    v_before, v_after, c_before, c_after = [], [], [], []
    examples: list[dict[str, Any]] = []
    for row in rows:
        profile = profiles[row]
        top = rank(row, profile)[:TOP]
        if len(top) <= place:
            continue
        item = int(top[place])
        alike, near = genre_alike(catalogue, item), cowatched(item)
        more, _ = critique_item(profile, catalogue, item, "more")
        after = rank(row, more)[:TOP]
        b, a = set(top.tolist()) - {item}, set(after.tolist()) - {item}
        counts["genre_b"].append(len(alike & b))
        counts["genre_a"].append(len(alike & a))
        counts["cw_b"].append(len(near & b))
        counts["cw_a"].append(len(near & a))
        kept.append(item in after.tolist())
        if len(examples) < 4:
            examples.append(
                {
                    "more_like": catalogue.titles[item],
                    "top_before": [catalogue.titles[i] for i in top],
                    "top_after": [catalogue.titles[i] for i in after],
                }
            )
        less, _ = critique_list(profile, "less violent, more comedies", catalogue.genre_vocabulary)
        after = rank(row, less)[:TOP]
        v_before.append(float(violent[top].mean()))
        v_after.append(float(violent[after].mean()) if len(after) else 0.0)
        c_before.append(float(comedy[top].mean()))
        c_after.append(float(comedy[after].mean()) if len(after) else 0.0)
    n = len(kept)

    def mean(key: str) -> float | None:
        return float(np.mean(counts[key])) if n else None

    pairs = list(zip(counts["genre_a"], counts["genre_b"], strict=True))
    return {
        "users": n,
        "more_like_this": {
            "genre_alike_in_top10_before": mean("genre_b"),
            "genre_alike_in_top10_after": mean("genre_a"),
            "cowatched_in_top10_before": mean("cw_b"),
            "cowatched_in_top10_after": mean("cw_a"),
            "users_with_more_genre_alike": int(sum(a > b for a, b in pairs)),
            "users_with_fewer_genre_alike": int(sum(a < b for a, b in pairs)),
            "critiqued_item_still_listed": int(sum(kept)),
            "similar": "shares >= half of the genres (Jaccard); or among its 20 most co-watched",
            "examples": examples,
        },
        "less_violent_more_comedies": {
            "violent_share_before": float(np.mean(v_before)) if n else None,
            "violent_share_after": float(np.mean(v_after)) if n else None,
            "comedy_share_before": float(np.mean(c_before)) if n else None,
            "comedy_share_after": float(np.mean(c_after)) if n else None,
            "users_with_fewer_violent": int(
                sum(a < b for a, b in zip(v_after, v_before, strict=True))
            ),
            "users_with_more_violent": int(
                sum(a > b for a, b in zip(v_after, v_before, strict=True))
            ),
            "violent_genres": list(VIOLENT),
        },
    }


# -- cold start ----------------------------------------------------------------------------------


MIN_DECADE_ITEMS = 3
MIN_DECADE_LIFT = 1.5  # below this the decade is the catalogue's, not the user's


def describe(catalogue: Catalogue, items: np.ndarray, ratings: np.ndarray) -> str:
    """Two sentences a new user might write, by a fixed rule from their early ratings: the
    genres they like most relative to the catalogue (lift, :func:`favourite_genres`), and the
    decade they like most relative to it, when that stands out. No titles, so it carries
    taste, not the answer."""
    vocab = list(catalogue.genre_vocabulary)
    chosen = favourite_genres(catalogue.genre_matrix, items, ratings)
    phrases = [GENRE_PHRASE[vocab[g]] for g in chosen if vocab[g] in GENRE_PHRASE]
    liked = items[ratings >= LIKED]
    liked = liked if len(liked) else items
    first = f"I love {' and '.join(phrases)}." if phrases else "I like all sorts of films."
    # the decade the user likes most relative to the catalogue (as the genres), if they
    # liked at least MIN_DECADE_ITEMS films of it: "mostly the 90s" says nothing about a
    # user of a catalogue that is mostly the 90s
    known = catalogue.years > 0
    of_catalogue = Counter(int(y) // 10 * 10 for y in catalogue.years[known])
    mine = Counter(int(y) // 10 * 10 for y in catalogue.years[liked] if y > 0)
    total, n = sum(of_catalogue.values()), sum(mine.values())
    lift = {
        d: (c / n) / (of_catalogue[d] / total) for d, c in mine.items() if c >= MIN_DECADE_ITEMS
    }
    best = max(sorted(lift), key=lift.__getitem__, default=None)
    if best is None or lift[best] < MIN_DECADE_LIFT:
        return first
    return f"{first} Mostly films from the {best}s."


def _ndcg(order: np.ndarray, relevant: set[int], k: int = TOP) -> float:
    gains = [1.0 / np.log2(r + 2) for r, i in enumerate(order[:k].tolist()) if i in relevant]
    ideal = sum(1.0 / np.log2(r + 2) for r in range(min(len(relevant), k)))
    return float(sum(gains) / ideal) if ideal else 0.0


def cold_start(
    dataset: Dataset,
    rank_new_user: Callable[[Profile, np.ndarray, np.ndarray], np.ndarray],
    seed: int = 0,
    folds: int = 5,
    early: float = 0.5,
) -> dict[str, Any]:
    """Every user is held out once (``folds`` seeded folds): popularity and the genre fans'
    counts come from the other folds; a held-out user's first ``early`` of ratings (by time)
    only write their description; their later liked ratings are what NDCG@10 is computed
    against, over the whole catalogue (a new user has rated nothing, so nothing is excluded).

    ``rank_new_user(profile, counts, fans)`` ranks the whole catalogue for a user who rated
    nothing, from the profile the onboarding box parses out of the description: the
    product's cold-start path (:func:`explanations.scoring.new_user_base` plus the profile).
    """
    inter = dataset.interactions
    cat = dataset.catalogue
    users = np.unique(inter.users)
    fold_of = np.random.default_rng(seed).permutation(len(users)) % folds
    ours, pop = [], []
    examples: list[dict[str, Any]] = []
    for fold in range(folds):
        held = users[fold_of == fold]
        is_held = np.isin(inter.users, held)
        known = inter.subset(~is_held)
        counts = np.bincount(known.items, minlength=len(cat)).astype(np.float64)
        fans = genre_fans(known, cat.genre_matrix)
        popularity = np.log1p(counts)
        pop_order = np.lexsort((np.arange(len(cat)), -popularity))
        for u in held.tolist():
            rows = np.flatnonzero(inter.users == u)
            rows = rows[np.lexsort((rows, inter.timestamps[rows]))]
            cut = max(1, round(early * len(rows)))
            first, later = rows[:cut], rows[cut:]
            relevant = {int(inter.items[r]) for r in later if inter.values[r] >= LIKED}
            if not relevant:
                continue
            text = describe(cat, inter.items[first], inter.values[first])
            profile = profile_from_text(text)
            order = rank_new_user(profile, counts, fans)
            ours.append(_ndcg(order, relevant))
            pop.append(_ndcg(pop_order, relevant))
            if len(examples) < 5:
                examples.append(
                    {
                        "description": text,
                        "profile": [s.display() for s in profile.statements]
                        + profile.filters.describe(),
                        "top5": [cat.titles[i] for i in order[:5]],
                        "ndcg@10": ours[-1],
                        "popularity_ndcg@10": pop[-1],
                    }
                )
    a, b = np.array(ours), np.array(pop)
    ci = metrics.paired_bootstrap_ci(a, b, seed=seed)
    return {
        "evaluated_users": len(a),
        "protocol": (
            f"{folds} folds of users, each held out of the counts once; the first {early:.0%} "
            "of a held-out user's ratings (by time) write a two-sentence description by a "
            "fixed rule (top genres by lift, favourite decade, no titles), parsed as "
            f"onboarding parses it; relevant = their later ratings >= {LIKED:g}; NDCG@10 over "
            "the whole catalogue, nothing excluded"
        ),
        "ndcg@10_described": float(a.mean()) if len(a) else None,
        "ndcg@10_popularity": float(b.mean()) if len(b) else None,
        "diff": {"mean": ci.mean, "low": ci.low, "high": ci.high, "level": ci.level},
        "users_better": int((a > b).sum()),
        "users_worse": int((a < b).sum()),
        "examples": examples,
    }
