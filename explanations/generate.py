"""Write a profile from a user's ratings (LLM or rules), or from a sentence they typed.

:func:`generate_profile` asks the LLM for one sentence about the user's taste (a system prompt
plus one worked example, which SmolLM2-135M handles zero-shot; see MODELS.md), cuts it into
statements with :mod:`explanations.parsing`, and attaches evidence to each statement here,
deterministically: history items whose genres match the statement (and, given an encoder,
whose text is closest to it). The LLM never picks evidence, so it cannot cite an item the user
has not rated. A generated statement that no history item supports is dropped: it would be a
claim about the user with nothing behind it.

When no LLM is given, or its output yields no supported statement, :func:`fallback_profile`
writes statements from genre statistics of liked and disliked items, so there is always a
profile. Pinned statements are copied through unchanged, first, whatever the generator says.

History rows are ``(item_id, title, year, genres, rating)``, oldest first; ``rating`` may be
``None`` for implicit feedback (then every item counts as liked and nothing as disliked).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

import numpy as np

from explanations.llm_text import as_generator
from explanations.matching import years_phrase
from explanations.parsing import GENRE_PHRASE, genres_in, parse_preferences, split_clauses
from explanations.profile import (
    Filters,
    Polarity,
    Profile,
    Source,
    Statement,
    add_statement,
    make_statement,
)
from explanations.scoring import Encode
from explanations.understanding import clean

MOVIELENS_GENRES: tuple[str, ...] = tuple(GENRE_PHRASE)
LIKED_RATING = 4.0  # ratings at or above this count as liked (MovieLens 1-5 stars)
DISLIKED_RATING = 2.0  # at or below: disliked
EVIDENCE_PER_STATEMENT = 3


class HistoryItem(NamedTuple):
    item_id: Hashable
    title: str
    year: int
    genres: tuple[str, ...]
    rating: float | None


def as_history(rows: Iterable[Sequence[Any]]) -> list[HistoryItem]:
    return [HistoryItem(r[0], str(r[1]), int(r[2] or -1), tuple(r[3]), r[4]) for r in rows]


def _liked(h: HistoryItem) -> bool:
    return h.rating is None or h.rating >= LIKED_RATING


def _disliked(h: HistoryItem) -> bool:
    return h.rating is not None and h.rating <= DISLIKED_RATING


def _item_text(h: HistoryItem) -> str:
    """The same shape as ``Catalogue.text`` so statement-item cosines match the rerank's."""
    year = f" ({h.year})" if h.year > 0 else ""
    genres = f" Genres: {', '.join(h.genres)}." if h.genres else ""
    return f"{h.title}{year}{genres}"


# -- evidence ---------------------------------------------------------------------------


def attach_evidence(
    text: str,
    polarity: Polarity,
    history: Sequence[HistoryItem],
    encode: Encode | None = None,
    vocabulary: Sequence[str] = MOVIELENS_GENRES,
    k: int = EVIDENCE_PER_STATEMENT,
    history_vectors: np.ndarray | None = None,
) -> tuple[Hashable, ...]:
    """Up to ``k`` ids of history items that support the statement, best first.

    Pool: liked items for "likes", disliked ones for "avoids". Within the pool, items sharing
    a genre the statement names come first; ties (or no genre named) are ordered by text
    similarity when ``encode`` is given, else by rating and recency. With neither a genre nor
    an encoder there is no way to tell which items support the text, so nothing is attached.
    The result only ever contains ids taken from ``history``.
    """
    pool = [
        (pos, h)
        for pos, h in enumerate(history)
        if (_liked(h) if polarity == "likes" else _disliked(h))
    ]
    if not pool:
        return ()
    genres, _ = genres_in(text, vocabulary)
    genre_hit = np.array([bool(set(h.genres) & set(genres)) for _, h in pool])
    if encode is None and not genres:
        return ()
    if encode is not None:
        if history_vectors is None:
            vectors = np.asarray(encode([_item_text(h) for _, h in pool]), dtype=np.float32)
        else:
            vectors = history_vectors[[pos for pos, _ in pool]]
        statement = np.asarray(encode([text]), dtype=np.float32)[0]
        sims = vectors @ statement  # (pool,)
        # with no genre named, keep only items clearly closer than the pool's average
        eligible = genre_hit if genres else sims > sims.mean() + 0.5 * sims.std()
        key = np.lexsort((np.arange(len(pool)), -sims, ~eligible))
    else:
        eligible = genre_hit
        ratings = np.array([h.rating if h.rating is not None else 0.0 for _, h in pool])
        recency = np.array([pos for pos, _ in pool])
        key = np.lexsort((-recency, -ratings, ~eligible))
    chosen = [pool[j][1].item_id for j in key if eligible[j]][:k]
    return tuple(dict.fromkeys(chosen))


def repair_evidence(profile: Profile, history_ids: Iterable[Hashable]) -> Profile:
    """Drop evidence ids that are no longer in the user's history (e.g. a deleted rating)."""
    known = set(history_ids)
    statements = tuple(
        replace(s, evidence=tuple(e for e in s.evidence if e in known)) for s in profile.statements
    )
    return replace(profile, statements=statements)


# -- the deterministic fallback -----------------------------------------------------------


def fallback_statements(
    history: Sequence[Sequence[Any]], max_likes: int = 3, max_avoids: int = 2
) -> list[Statement]:
    """Genre statistics: genres over-represented among liked (disliked) items.

    A genre qualifies as liked when at least two liked items carry it and its like rate,
    smoothed as (liked + 1) / (all + 2), is at least the user's overall like rate; they are
    ranked by liked count times that lift, so a user's most-watched genre does not win on
    volume alone. Disliked genres need two disliked items and a dislike rate 1.5x the user's
    overall one. Evidence: the best-rated, most recent items of that genre in the pool.
    """
    history = as_history(history)
    if not history:
        return []
    n_all = Counter(g for h in history for g in h.genres)
    n_liked = Counter(g for h in history if _liked(h) for g in h.genres)
    n_disliked = Counter(g for h in history if _disliked(h) for g in h.genres)
    like_rate = sum(map(_liked, history)) / len(history)
    dislike_rate = sum(map(_disliked, history)) / len(history)

    def evidence(genre: str, liked: bool) -> tuple[Hashable, ...]:
        pool = [
            (h.rating or 0.0, pos, h.item_id)
            for pos, h in enumerate(history)
            if genre in h.genres and (_liked(h) if liked else _disliked(h))
        ]
        pool.sort(key=lambda t: (-t[0], -t[1]) if liked else (t[0], -t[1]))
        return tuple(item for _, _, item in pool[:EVIDENCE_PER_STATEMENT])

    scored = []
    for g, count in n_liked.items():
        rate = (count + 1) / (n_all[g] + 2)
        if count >= 2 and rate >= like_rate:
            scored.append((-(count * rate / max(like_rate, 1e-9)), g))
    out = [
        make_statement(
            GENRE_PHRASE.get(g, f"{g} films"),
            "likes",
            source="generated",
            evidence=evidence(g, True),
        )
        for _, g in sorted(scored)[:max_likes]
    ]
    avoid = []
    for g, count in n_disliked.items():
        rate = (count + 1) / (n_all[g] + 2)
        liked_rate = (n_liked[g] + 1) / (n_all[g] + 2)
        if count >= 2 and rate >= 1.5 * dislike_rate and rate > liked_rate:
            avoid.append((-count * rate, g))
    out += [
        make_statement(
            GENRE_PHRASE.get(g, f"{g} films"),
            "avoids",
            source="generated",
            evidence=evidence(g, False),
        )
        for _, g in sorted(avoid)[:max_avoids]
    ]
    return [s for s in out if s.evidence]


# -- the LLM path -------------------------------------------------------------------------

PROFILE_SYSTEM = (
    "You write short taste profiles for a movie recommender. You see films a user rated. "
    "Write ONE sentence about the kinds of films they like and dislike: genres, moods, eras. "
    "Do not name any film."
)
_EXAMPLE_USER = (
    "Liked: Toy Story (1995; Animation, Children's, Comedy); Aladdin (1992; Animation, "
    "Children's, Comedy, Musical); Babe (1995; Children's, Comedy, Drama); Back to the Future "
    "(1985; Comedy, Sci-Fi)\n"
    "Disliked: Scream (1996; Horror, Thriller); Platoon (1986; Drama, War)\n"
    "Recent: Jumanji (1995; Adventure, Children's, Fantasy)"
)
_EXAMPLE_ANSWER = (
    "Loves light-hearted animated comedies and family adventures, but dislikes gory horror "
    "and grim war dramas."
)


def _line(h: HistoryItem) -> str:
    year = f"{h.year}; " if h.year > 0 else ""
    return f"{h.title} ({year}{', '.join(h.genres)})"


def profile_prompt(
    history: Sequence[HistoryItem], n_liked: int = 8, n_disliked: int = 5
) -> list[dict[str, str]]:
    """Chat messages: system, one worked example, then this user's liked/disliked/recent."""
    liked = sorted(
        [(pos, h) for pos, h in enumerate(history) if _liked(h)],
        key=lambda t: (-(t[1].rating or 0.0), -t[0]),
    )[:n_liked]
    disliked = sorted(
        [(pos, h) for pos, h in enumerate(history) if _disliked(h)],
        key=lambda t: (t[1].rating or 0.0, -t[0]),
    )[:n_disliked]
    recent = list(history)[-5:]
    user = (
        f"Liked: {'; '.join(_line(h) for _, h in liked) or '(none)'}\n"
        f"Disliked: {'; '.join(_line(h) for _, h in disliked) or '(none)'}\n"
        f"Recent: {'; '.join(_line(h) for h in recent) or '(none)'}"
    )
    return [
        {"role": "system", "content": PROFILE_SYSTEM},
        {"role": "user", "content": _EXAMPLE_USER},
        {"role": "assistant", "content": _EXAMPLE_ANSWER},
        {"role": "user", "content": user},
    ]


def statements_from_sentence(
    sentence: str,
    history: Sequence[HistoryItem],
    encode: Encode | None = None,
    vocabulary: Sequence[str] = MOVIELENS_GENRES,
    source: Source = "generated",
) -> list[Statement]:
    """Cut an LLM sentence into statements; keep those the history supports."""
    first = re.split(r"(?<=[.!?])\s|\n", sentence.strip(), maxsplit=1)[0]
    titles = {h.title.lower() for h in history}
    out: list[Statement] = []
    for clause in split_clauses(first, vocabulary):
        text = clause.topic.strip()
        words = text.split()
        # a usable statement is a short phrase; titles and echoes of the prompt are not tastes
        if not 1 <= len(words) <= 10 or text.lower() in titles or ":" in text:
            continue
        if text.lower() in _EXAMPLE_ANSWER.lower() and not genres_in(text, vocabulary)[0]:
            continue
        evidence = attach_evidence(text, clause.polarity, history, encode, vocabulary)
        if evidence:
            out.append(make_statement(text, clause.polarity, source=source, evidence=evidence))
    return out


def _merge(pinned: Sequence[Statement], fresh: Iterable[Statement], filters: Filters) -> Profile:
    profile = Profile(tuple(pinned), filters)
    seen = {(s.text.lower(), s.polarity) for s in pinned}
    for s in fresh:
        if (s.text.lower(), s.polarity) not in seen:
            seen.add((s.text.lower(), s.polarity))
            profile = add_statement(profile, s)
    return profile


def generate_profile(
    llm: Any,
    history: Iterable[Sequence[Any]],
    pinned: Sequence[Statement] = (),
    *,
    encode: Encode | None = None,
    vocabulary: Sequence[str] = MOVIELENS_GENRES,
    filters: Filters | None = None,
    max_statements: int = 6,
) -> Profile:
    """A profile for one user: ``pinned`` first and unchanged, then generated statements.

    ``llm``: an ``LLMHandle``, a ``messages -> text`` callable, or ``None`` (rules only).
    Pinned statements keep their ids, text and evidence; ``filters`` (the previous profile's)
    are carried over, since regenerating statements must not silently drop a hard filter.
    """
    rows = as_history(history)
    generator = as_generator(llm, max_new_tokens=48)
    fresh: list[Statement] = []
    if generator is not None and rows:
        try:
            sentence = generator(profile_prompt(rows))
        except Exception:
            sentence = ""
        fresh = statements_from_sentence(sentence, rows, encode, vocabulary)
    if not fresh:
        fresh = fallback_statements(rows)
    return _merge(pinned, fresh[: max(0, max_statements - len(pinned))], filters or Filters())


def regenerate_profile(
    previous: Profile, llm: Any, history: Iterable[Sequence[Any]], **kwargs: Any
) -> Profile:
    """Regenerate keeping the previous profile's pinned statements and its filters."""
    pinned = [s for s in previous.statements if s.pinned]
    return generate_profile(llm, history, pinned, filters=previous.filters, **kwargs)


def _genre_words(genres: Sequence[str]) -> str:
    """The words parse_preferences writes for a clause of genres and years ("thrillers")."""
    return " and ".join(GENRE_PHRASE.get(g, g) for g in genres)


def _years_text(lo: int | None, hi: int | None) -> str:
    """A year wish as a statement the matcher reads back as the same range."""
    return years_phrase(
        lo, hi, decade="films from the {lo}s", span="films between {lo} and {hi}",
        since="films after {before}", until="films before {after}",
    )  # fmt: skip


def profile_from_text(
    text: str, vocabulary: Sequence[str] = MOVIELENS_GENRES, source: Source = "user"
) -> Profile:
    """Cold start: "slow-burn thrillers, nothing with musicals" -> statements, no evidence.

    Genre negations stay statements here (the user described a taste, not a rule). A year
    phrase with a hard cue ("nothing before 1980", "only films from the 90s") is a filter; a
    soft one ("mostly films from the 90s", "I love 80s films") is a taste, so a statement:
    a filter would hide every older film from someone who only said "mostly".
    """
    # "don't really like" is a negation, "the nineties" a decade, "rom-coms" two genres
    text, excluded = clean(text)
    parsed = parse_preferences(text, vocabulary, hard_genre_filters=False)
    year_min = year_max = None
    soft_years, compounds = [], {}
    for clause in split_clauses(text, vocabulary):
        if clause.year_min is None and clause.year_max is None:
            continue
        if clause.strength == "soft" and clause.polarity == "likes":
            if clause.genres:  # "thrillers from the 1970s" is one wish: 70s thrillers
                compounds[_genre_words(clause.genres)] = clause.topic
            else:
                soft_years.append(_years_text(clause.year_min, clause.year_max))
            continue
        year_min = clause.year_min if clause.year_min is not None else year_min
        year_max = clause.year_max if clause.year_max is not None else year_max
    profile = Profile(filters=Filters(year_min=year_min, year_max=year_max))
    for topic, polarity in parsed.statements:
        topic = compounds.get(topic, topic) if polarity == "likes" else topic
        profile = add_statement(profile, make_statement(topic, polarity, source=source))
    for topic in dict.fromkeys(soft_years):
        profile = add_statement(profile, make_statement(topic, "likes", source=source))
    for lo, hi in excluded:  # "but not from the 90s"
        topic = _years_text(lo, hi)
        profile = add_statement(profile, make_statement(topic, "avoids", source=source))
    return profile
