"""Is a generated profile true of the person, personal, predictive and consistent? Measured.

``python -m explanations.profile_eval --users 300 --llm-users 40`` writes profiles for a
sample of ML-100K users from their ratings (each user's last rating held out,
:func:`recommender.split.leave_last_out`), by the rules and, for a smaller sample, with the
packaged LLM wording them, and reports as a person would judge them:

- **true**: each statement's *text*, read back by the statement reader, passes the issue's
  lift test on the ratings it was written from (the share of the person's liked films having
  all its genres at least 1.5x the share over everyone's liked films, with at least 2 such
  films; "avoids" the same over disliked films; a decade likewise). The writer keeps only
  measured tastes, so a failure here means a wording that does not read back as its taste.
  *Still true later*: for users with 40+ ratings, the profile written from the first 70% of
  their ratings (in time); on the last 30%, which the writer never saw, how much more common
  than everyone's the films its statements name are (pooled over statements: one user's
  later films are too few to test one statement; 1 = no better than anyone's);
- **personal**: users whose profile differs from every other user's; the commonest
  statement's share of profiles; statements copied from the prompt's fixed text;
- **predictive** (the LACE/UPR test of a scrutable profile): the held-out item's AUC among
  all unseen items, scored by the profile alone (statement fits, ties counted half), against
  the same scoring with *another* user's profile (paired, a bootstrap 95% interval) and
  against popularity; and scored by popularity moved by the profile's statements, each by
  its measured lift (:mod:`explanations.profile_lift`), with the two weights chosen on each
  user's *validation* item (profiles written without it), never on the held-out one;
- **consistent**: pairs where an "avoids" covers a "likes" (target 0); top-10 slots (over a
  z-scored EASE list re-ranked by the profile) that fit a generated "avoids" (the profile page
  shows such an avoid as "a slight preference", not as a rule the list breaks);
- **cost**: seconds per profile, LLM and rules.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from explanations.generate import PROFILE_SYSTEM, write_profile
from explanations.matching import statement_facts
from explanations.profile import Profile
from explanations.profile_lift import StatementLift, lifted_scores, statement_lifts
from explanations.taste import (
    DISLIKED_RATING,
    LIKED_RATING,
    BaseRates,
    Rated,
    Taste,
    claimed,
    contradicts,
    holds,
    measure,
)
from recommender.data import Catalogue, Dataset, Interactions

CHECK_MIN_FILMS = 2  # the test: at least 2 films (the writer asks for 3)
# the profile-lift scorer's weights, chosen on the validation item: 0 leaves a kind of
# statement out, 1 is each statement's measured lift as it stands
LIKE_WEIGHTS = (0.0, 0.5, 0.75, 1.0, 1.5, 2.0)
AVOID_WEIGHTS = (0.0, 0.5, 1.0)
LATER_MIN_RATINGS = 40
EARLY_SHARE = 0.7


def rows_of(cat: Catalogue, items: np.ndarray, ratings: np.ndarray) -> list[tuple[Any, ...]]:
    return [
        (int(i), cat.titles[i], int(cat.years[i]), cat.genres[i], float(r))
        for i, r in zip(items, ratings, strict=True)
    ]


def base_rates(cat: Catalogue, known: Interactions) -> BaseRates:
    r = np.asarray(known.values, np.float64)
    liked = np.bincount(known.items[r >= LIKED_RATING], minlength=len(cat))
    disliked = np.bincount(known.items[r <= DISLIKED_RATING], minlength=len(cat))
    return BaseRates.of(cat.genres, cat.years, liked, disliked)


def statement_taste(text: str, polarity: str, vocabulary: Sequence[str]) -> Taste | None:
    """What a statement's words claim, as a taste to test (None: not a genre/decade claim)."""
    return claimed(statement_facts(text, vocabulary), polarity)  # type: ignore[arg-type]


def passes(
    text: str, polarity: str, rated: Sequence[Rated], base: BaseRates, vocab: Sequence[str]
) -> bool:
    t = statement_taste(text, polarity, vocab)
    if t is None:
        return False
    m = measure(t.polarity, t.genres, t.decade, rated, base)
    return holds(m, min_films=CHECK_MIN_FILMS)


def auc(scores: np.ndarray, target: int, candidates: np.ndarray) -> float:
    """The held-out item's AUC among ``candidates`` (ties count half)."""
    s = scores[candidates]
    t = scores[target]
    return float(((s < t).sum() + 0.5 * (s == t).sum() - 0.5) / max(len(s) - 1, 1))


def profile_scores(profile: Profile, cat: Catalogue) -> np.ndarray:
    """(n_items,) the profile alone, as a reader would match films to it: per statement, the
    share of its genre groups an item has (times its year fit), + for "likes", - for
    "avoids". Softer than the list's arithmetic, which lifts only full fits (so every lift
    can be cited): "crime dramas" makes a crime film a half match here."""
    has = cat.genre_matrix > 0
    col = {g: j for j, g in enumerate(cat.genre_vocabulary)}
    years = np.asarray(cat.years)
    out = np.zeros(len(cat))
    for s in profile.statements:
        f = statement_facts(s.text, cat.genre_vocabulary)
        if f.kind != "facts":
            continue
        groups = [[col[g] for g in grp if g in col] for grp in f.genre_groups]
        match = np.mean([has[:, c].any(axis=1) for c in groups if c], axis=0) if groups else 1.0
        fits = np.ones(len(cat), dtype=bool)
        if f.has_years:
            lo, hi = f.year_min or -(10**6), f.year_max or 10**6
            fits = (years >= lo) & (years <= hi)
        out += s.sign * match * fits
    return out


def bootstrap(diff: np.ndarray, seed: int = 0, n: int = 2000) -> list[float]:
    rng = np.random.default_rng(seed)
    means = [float(diff[rng.integers(0, len(diff), len(diff))].mean()) for _ in range(n)]
    return [float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))]


def contradictions(profile: Profile, vocab: Sequence[str]) -> int:
    tastes_ = [
        (s, t) for s in profile.statements if (t := statement_taste(s.text, s.polarity, vocab))
    ]
    return sum(
        contradicts(a, b)
        for _, a in tastes_
        if a.polarity == "likes"
        for _, b in tastes_
        if b.polarity == "avoids"
    )


def _others(users: Sequence[int], seed: int) -> dict[int, int]:
    """Each user's stand-in: another user of the sample, drawn once."""
    rng = np.random.default_rng(seed)
    return {
        u: users[(k + 1 + int(rng.integers(0, len(users) - 1))) % len(users)]
        for k, u in enumerate(users)
    }


def _paired(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, Any]:
    return {"difference": float((a - b).mean()), "ci95": bootstrap(a - b, seed)}


def _predictive(profiles: dict[int, Profile], data: dict[str, Any], seed: int) -> dict[str, Any]:
    cat, seen, target = data["cat"], data["seen"], data["target"]
    users = sorted(profiles)
    other = _others(users, seed)
    scores = {u: profile_scores(p, cat) for u, p in profiles.items()}
    pop = data["popularity"]
    # popularity as a tie-break only (below any profile step): does the profile add to it?
    tie = (np.argsort(np.argsort(pop)) + 1) / (len(pop) + 1) * 1e-3
    own, swap, popular, both = [], [], [], []
    for u in users:
        cand = np.setdiff1d(np.arange(len(cat)), seen[u])
        own.append(auc(scores[u], target[u], cand))
        swap.append(auc(scores[other[u]], target[u], cand))
        popular.append(auc(pop, target[u], cand))
        both.append(auc(scores[u] + tie, target[u], cand))
    own_a, swap_a, pop_a, both_a = map(np.array, (own, swap, popular, both))
    return {
        "users": len(users),
        "auc_own_profile": float(own_a.mean()),
        "auc_another_users_profile": float(swap_a.mean()),
        "auc_popularity": float(pop_a.mean()),
        "own_minus_another": float((own_a - swap_a).mean()),
        "own_minus_another_ci95": bootstrap(own_a - swap_a, seed),
        "own_minus_popularity": float((own_a - pop_a).mean()),
        "own_minus_popularity_ci95": bootstrap(own_a - pop_a, seed),
        "auc_own_profile_ties_by_popularity": float(both_a.mean()),
        "ties_by_popularity_minus_popularity": float((both_a - pop_a).mean()),
        "ties_by_popularity_minus_popularity_ci95": bootstrap(both_a - pop_a, seed),
    }


# -- popularity moved by the profile's statements (explanations.profile_lift) --------------


def _lifts(
    profiles: dict[int, Profile], data: dict[str, Any], words_only: bool = False
) -> dict[int, list[StatementLift]]:
    """Each user's statements with their measured lifts; ``words_only``: every statement's
    log lift 1, so only its words (which films it fits) and the weight count."""
    out = {u: statement_lifts(p, data["rated"][u], data["base"]) for u, p in profiles.items()}
    if words_only:
        out = {u: [StatementLift(s.polarity, s.fits, 1.0) for s in ls] for u, ls in out.items()}
    return out


def _lifted_aucs(
    lifts: dict[int, list[StatementLift]],
    data: dict[str, Any],
    weights: tuple[float, float],
    whose: dict[int, int] | None = None,
) -> np.ndarray:
    """(users,) the held-out item's AUC under popularity moved by the profile of
    ``whose[u]`` (the user's own without it), users in ascending order."""
    cat, seen, target, pop = data["cat"], data["seen"], data["target"], data["popularity"]
    out = []
    for u in sorted(lifts):
        scores = lifted_scores(pop, lifts[(whose or {}).get(u, u)], *weights)
        out.append(auc(scores, target[u], np.setdiff1d(np.arange(len(cat)), seen[u])))
    return np.array(out)


def choose_weights(lifts: dict[int, list[StatementLift]], valid: dict[str, Any]) -> dict[str, Any]:
    """The (like, avoid) weights with the best mean AUC of each user's validation item,
    scored with profiles written without it; ties go to the smaller weights."""
    table = {
        (wl, wa): float(_lifted_aucs(lifts, valid, (wl, wa)).mean())
        for wl in LIKE_WEIGHTS
        for wa in AVOID_WEIGHTS
    }
    best = max(table, key=lambda w: (round(table[w], 6), -w[0], -w[1]))
    return {
        "weights": list(best),
        "valid_auc": table[best],
        "valid_auc_popularity": table[(0.0, 0.0)],
        "valid_auc_weights_1_1": table[(1.0, 1.0)],
    }


def lifted_predictive(
    profiles: dict[int, Profile],
    valid_profiles: dict[int, Profile],
    data: dict[str, Any],
    seed: int,
) -> dict[str, Any]:
    """Popularity moved by the profile, against popularity alone and against another user's
    profile under the same scorer: with weights chosen on the validation item, with both
    weights 1 (nothing chosen), and words only (each statement's log lift 1)."""
    other = _others(sorted(profiles), seed)
    popular = _lifted_aucs({u: [] for u in profiles}, data, (0.0, 0.0))
    report: dict[str, Any] = {"users": len(profiles), "auc_popularity": float(popular.mean())}
    for name, words_only in (("measured_lifts", False), ("words_only", True)):
        chosen = choose_weights(_lifts(valid_profiles, data["valid"], words_only), data["valid"])
        lifts = _lifts(profiles, data, words_only)
        runs = {"chosen_on_validation": tuple(chosen["weights"])}
        if not words_only:
            runs["weights_1_1"] = (1.0, 1.0)
        report[name] = {"validation": chosen}
        for run, weights in runs.items():
            own = _lifted_aucs(lifts, data, weights)
            another = _lifted_aucs(lifts, data, weights, other)
            report[name][run] = {
                "weights": list(weights),
                "auc_own_profile": float(own.mean()),
                "auc_another_users_profile": float(another.mean()),
                "own_minus_popularity": _paired(own, popular, seed),
                "own_minus_another": _paired(own, another, seed),
            }
    return report


def _personal(profiles: dict[int, Profile]) -> dict[str, Any]:
    keys = {
        u: frozenset((s.text.lower(), s.polarity) for s in p.statements)
        for u, p in profiles.items()
    }
    counts = Counter(keys.values())
    statements = Counter(k for key in keys.values() for k in key)
    top, n = statements.most_common(1)[0] if statements else (("", ""), 0)
    prompt = PROFILE_SYSTEM.lower()
    copied = sum(s.text.lower() in prompt for p in profiles.values() for s in p.statements)
    return {
        "distinct_share": sum(counts[k] == 1 for k in keys.values()) / max(len(keys), 1),
        "commonest_statement": f"{top[1]}: {top[0]}",
        "commonest_share_of_profiles": n / max(len(keys), 1),
        "statements_in_prompt_text": copied,
        "empty_profiles": sum(not p.statements for p in profiles.values()),
        "statements_per_profile": float(np.mean([len(p.statements) for p in profiles.values()])),
    }


def _truth(
    profiles: dict[int, Profile],
    rated: dict[int, list[Rated]],
    base: BaseRates,
    vocab: Sequence[str],
) -> dict[str, Any]:
    results = [
        (passes(s.text, s.polarity, rated[u], base, vocab), s.text, s.polarity, u)
        for u, p in profiles.items()
        for s in p.statements
    ]
    failed = [f"ml100k user {u}: {pol} {text}" for ok, text, pol, u in results if not ok]
    return {
        "statements": len(results),
        "true_share": sum(ok for ok, *_ in results) / max(len(results), 1),
        "failures": failed[:8],
    }


def _sample(
    cat: Catalogue, known: Interactions, users: Sequence[int], targets: Sequence[int]
) -> tuple[dict[str, Any], dict[int, list[tuple[Any, ...]]]]:
    """What the measures need for ``users`` when ``known`` is what the profiles are written
    from and ``targets`` their held-out items; and each user's history rows, in time."""
    order = known.chronological_order()
    data: dict[str, Any] = {"cat": cat, "seen": {}, "target": {}, "rated": {}}
    rows = {}
    for u, target in zip(users, targets, strict=True):
        idx = order[known.users[order] == u]
        rows[u] = rows_of(cat, known.items[idx], known.values[idx])
        data["rated"][u] = [Rated(r[0], tuple(r[3]), r[2], r[4]) for r in rows[u]]
        data["seen"][u] = known.items[idx]
        data["target"][u] = int(target)
    data["popularity"] = np.bincount(known.items, minlength=len(cat)).astype(np.float64)
    data["base"] = base_rates(cat, known)
    return data, rows


def evaluate(dataset: Dataset, users: int, llm_users: int, seed: int = 0) -> dict[str, Any]:
    from recommender.split import leave_last_out

    cat = dataset.catalogue
    split = leave_last_out(dataset.interactions)
    rng = np.random.default_rng(seed)
    chosen = np.sort(rng.choice(len(split.users), size=min(users, len(split.users)), replace=False))
    sample = [int(u) for u in split.users[chosen]]
    data, rows = _sample(cat, split.train_valid, sample, split.test_items[chosen].tolist())
    # the same users one step earlier: profiles written without the validation item, which
    # is the held-out item for choosing the profile-lift scorer's weights
    data["valid"], valid_rows = _sample(
        cat, split.train, sample, split.valid_items[chosen].tolist()
    )
    base, rated = data["base"], data["rated"]
    report: dict[str, Any] = {"users": len(rows)}
    t0 = time.perf_counter()
    rules = {u: write_profile(None, r, base=base)[0] for u, r in rows.items()}
    report["rules_seconds_per_profile"] = (time.perf_counter() - t0) / max(len(rows), 1)
    valid_base = data["valid"]["base"]
    valid_rules = {u: write_profile(None, r, base=valid_base)[0] for u, r in valid_rows.items()}
    vocab = cat.genre_vocabulary
    report["rules"] = {
        "truth": _truth(rules, rated, base, vocab),
        "personal": _personal(rules),
        "predictive": _predictive(rules, data, seed),
        "predictive_lifted": lifted_predictive(rules, valid_rules, data, seed),
        "contradictory_pairs": sum(contradictions(p, vocab) for p in rules.values()),
        "later": _later(dataset, split.train_valid, list(rows), base, None),
    }
    report["rules"]["top10_against_avoids"] = top10_against_avoids(dataset, rules, data)
    if llm_users:
        weights = report["rules"]["predictive_lifted"]["measured_lifts"]["validation"]["weights"]
        report["llm"] = _with_llm(rows, llm_users, data, tuple(weights), seed)
    return report


def _with_llm(
    rows: dict[int, Any],
    n: int,
    data: dict[str, Any],
    weights: tuple[float, float],
    seed: int,
) -> dict[str, Any]:
    from recommender.llm import get_llm

    llm = get_llm()
    base, rated, vocab = data["base"], data["rated"], data["cat"].genre_vocabulary
    sample = dict(list(rows.items())[:n])
    profiles: dict[int, Profile] = {}
    writers: Counter[str] = Counter()
    seconds: list[float] = []
    for u, r in sample.items():
        t0 = time.perf_counter()
        profiles[u], writer = write_profile(llm, r, base=base)
        seconds.append(time.perf_counter() - t0)
        writers[writer] += 1
    lifts = _lifts(profiles, data)
    own = _lifted_aucs(lifts, data, weights)
    popular = _lifted_aucs({u: [] for u in profiles}, data, (0.0, 0.0))
    return {
        "users": len(sample),
        "worded_by_llm": writers["llm"] / max(len(sample), 1),
        "seconds_per_profile": float(np.mean(seconds)),
        "truth": _truth(profiles, rated, base, vocab),
        "personal": _personal(profiles),
        "contradictory_pairs": sum(contradictions(p, vocab) for p in profiles.values()),
        # the rules' weights, chosen on the validation item
        "predictive_lifted": {
            "weights": list(weights),
            "auc_own_profile": float(own.mean()),
            "auc_popularity": float(popular.mean()),
            "own_minus_popularity": _paired(own, popular, seed),
            "own_minus_another": _paired(
                own, _lifted_aucs(lifts, data, weights, _others(sorted(profiles), seed)), seed
            ),
        },
        "examples": {
            str(u): [f"{s.polarity}: {s.text}" for s in p.statements]
            for u, p in list(profiles.items())[:5]
        },
    }


def _later(
    dataset: Dataset, known: Interactions, users: Sequence[int], base: BaseRates, llm: Any
) -> dict[str, Any]:
    """Profiles from the first 70% of each user's ratings (in time), checked on the last 30%:
    how much more common than everyone's the films each statement names are there, pooled
    over statements (a single user's later films are too few to test one statement)."""
    cat = dataset.catalogue
    order = known.chronological_order()
    seen: dict[str, float] = {"likes": 0.0, "avoids": 0.0}
    expected: dict[str, float] = {"likes": 0.0, "avoids": 0.0}
    statements: Counter[str] = Counter()
    for u in users:
        idx = order[known.users[order] == u]
        if len(idx) < LATER_MIN_RATINGS:
            continue
        cut = int(len(idx) * EARLY_SHARE)
        early = rows_of(cat, known.items[idx[:cut]], known.values[idx[:cut]])
        late = [
            Rated(r[0], tuple(r[3]), r[2], r[4])
            for r in rows_of(cat, known.items[idx[cut:]], known.values[idx[cut:]])
        ]
        for s in write_profile(llm, early, base=base)[0].statements:
            t = statement_taste(s.text, s.polarity, cat.genre_vocabulary)
            if t is None:
                continue
            m = measure(t.polarity, t.genres, t.decade, late, base)
            pool = sum(f.pool() == t.polarity for f in late)
            seen[t.polarity] += len(m.films)
            expected[t.polarity] += pool * m.base
            statements[t.polarity] += 1
    return {
        p: {"statements": statements[p], "pooled_lift_later": seen[p] / max(expected[p], 1e-9)}
        for p in ("likes", "avoids")
    }


def top10_against_avoids(
    dataset: Dataset, profiles: dict[int, Profile], data: dict[str, Any]
) -> dict[str, Any]:
    """Top-10 slots fitting a generated "avoids", over a z-scored EASE list re-ranked by the
    profile (the web app's arithmetic); and those the page would show unqualified."""
    from explanations.scoring import profile_rerank
    from explanations.understanding_statements import _base_scores

    cat = dataset.catalogue
    users = sorted(profiles)[:60]
    scores, _ = _base_scores(dataset, np.array(users))
    slots = against = 0
    vectors = np.zeros((len(cat), 1), np.float32)
    for row, u in enumerate(users):
        p = profiles[u]
        total = scores[row]
        eligible = np.isfinite(total)
        cand = np.argsort(-np.where(eligible, total, -np.inf))[:100]
        out = profile_rerank(
            cand,
            total[cand],
            {"collaborative": total[cand]},
            vectors,
            np.zeros((len(p.statements), 1), np.float32),
            p,
            cat,
        )
        top = out.items[:10]
        slots += len(top)
        for j, s in enumerate(p.statements):
            if s.polarity != "avoids":
                continue
            against += int(out.matches[:10, j].sum())
    # the page shows a generated avoid with films in the top 10 as "a slight preference"
    # (webapp.ranking.selectors.statement_notes), never as a rule the list breaks
    return {
        "users": len(users),
        "slots": slots,
        "fitting_a_generated_avoid": against / max(slots, 1),
    }


def main(argv: list[str] | None = None) -> int:
    from recommender.data import load_movielens

    parser = argparse.ArgumentParser(prog="python -m explanations.profile_eval")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--llm-users", type=int, default=40, help="profiles worded by SmolLM2")
    parser.add_argument("--out", type=Path, default=Path("reports/profiles.json"))
    args = parser.parse_args(argv)
    report = evaluate(load_movielens("100k"), args.users, args.llm_users)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
