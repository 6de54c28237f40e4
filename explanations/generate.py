"""Write a profile from a user's ratings (LLM or rules), or from a sentence they typed.

A generated profile claims things about a person, so it says only what their ratings clearly
show: :mod:`explanations.taste` measures their tastes (a genre, a pair of genres or a decade
over-represented among their liked or disliked films, by a lift over everyone's, with a
minimum count), drops any that contradict each other or a statement they pinned, and keeps the
strongest. The LLM (:func:`write_profile`) is asked to phrase exactly those tastes, with no
worked example to copy; its sentence is cut into clauses and a clause is kept only when what
it claims is one of the measured tastes, with words the catalogue cannot check ("light-hearted")
giving way to the taste's own words. Every taste the model left out keeps its own words, so
the profile is the same set of true statements whoever worded it; which one did is returned
for the page to say. Evidence beside a statement is films that fully match it.

History rows are ``(item_id, title, year, genres, rating)``, oldest first; ``rating`` may be
``None`` for implicit feedback (then every item counts as liked and nothing as disliked).
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import replace
from typing import Any, NamedTuple

from explanations.llm_text import as_generator
from explanations.matching import statement_facts, years_phrase
from explanations.parsing import GENRE_PHRASE, genre_words, parse_preferences, split_clauses
from explanations.profile import (
    Filters,
    Profile,
    Source,
    Statement,
    add_statement,
    make_statement,
)
from explanations.taste import BaseRates, Rated, Taste, claimed, contradicts, tastes
from explanations.understanding import clean

MOVIELENS_GENRES: tuple[str, ...] = tuple(GENRE_PHRASE)


class HistoryItem(NamedTuple):
    item_id: Hashable
    title: str
    year: int
    genres: tuple[str, ...]
    rating: float | None


def as_history(rows: Iterable[Sequence[Any]]) -> list[HistoryItem]:
    return [HistoryItem(r[0], str(r[1]), int(r[2] or -1), tuple(r[3]), r[4]) for r in rows]


def repair_evidence(profile: Profile, history_ids: Iterable[Hashable]) -> Profile:
    """Drop evidence ids that are no longer in the user's history (e.g. a deleted rating)."""
    known = set(history_ids)
    statements = tuple(
        replace(s, evidence=tuple(e for e in s.evidence if e in known)) for s in profile.statements
    )
    return replace(profile, statements=statements)


# -- the LLM phrases measured tastes; the checks keep only what was measured ---------------

# No worked example: SmolLM2-135M copies an example's content into most users' profiles
# (measured: "light-hearted animated comedies" in 12 of 13). It gets this person's measured
# tastes and only phrases them.
PROFILE_SYSTEM = (
    "You write a one-sentence taste profile for a movie recommender. You get tastes measured "
    "from one person's ratings. Say each of them in plain words, in ONE sentence: what they "
    "like, then what they avoid. Add no other genre, mood, era or film."
)
Writer = str  # "llm": the language model worded it; "rules": the measured tastes' own words


def profile_prompt(measured: Sequence[Taste]) -> list[dict[str, str]]:
    """Chat messages: the instruction and this person's measured tastes, nothing else."""
    likes = [t.text for t in measured if t.polarity == "likes"]
    avoids = [t.text for t in measured if t.polarity == "avoids"]
    user = f"Likes: {'; '.join(likes) or 'nothing clear'}\nAvoids: {'; '.join(avoids) or 'nothing'}"
    return [{"role": "system", "content": PROFILE_SYSTEM}, {"role": "user", "content": user}]


def checked_wording(
    sentence: str, measured: Sequence[Taste], vocabulary: Sequence[str]
) -> dict[tuple[str, frozenset[str], int | None], str]:
    """The model's wording of each measured taste its sentence states: a clause is kept only
    when what it claims is exactly a measured taste (anything else, such as a genre the
    ratings do not show, is dropped), and words the catalogue cannot check ("light-hearted")
    give way to the taste's own words."""
    by_key = {t.key(): t for t in measured}
    first = re.split(r"(?<=[.!?])\s|\n", sentence.strip(), maxsplit=1)[0]
    out: dict[tuple[str, frozenset[str], int | None], str] = {}
    for clause in split_clauses(clean(first)[0], vocabulary):
        words = clause.topic.strip(" .,;:!?")
        if not 1 <= len(words.split()) <= 8:
            continue
        claim = claimed(statement_facts(words, vocabulary), clause.polarity)
        key = claim.key() if claim is not None else None
        if key is not None and key in by_key and key not in out:
            out[key] = words if not clause.rest else by_key[key].text
    return out


def _against_pinned(t: Taste, pinned: Sequence[Statement], vocabulary: Sequence[str]) -> bool:
    """Whether a measured taste contradicts a statement the person pinned."""
    for s in pinned:
        theirs = claimed(statement_facts(s.text, vocabulary), s.polarity)
        if theirs is None or s.polarity == t.polarity:
            continue
        like, avoid = (theirs, t) if s.polarity == "likes" else (t, theirs)
        if contradicts(like, avoid):
            return True
    return False


def _rated(rows: Sequence[HistoryItem]) -> list[Rated]:
    return [Rated(h.item_id, h.genres, h.year, h.rating) for h in rows]


def _own_base(rows: Sequence[HistoryItem]) -> BaseRates:
    """Without the catalogue's base rates: what the person rated is the base, so a taste is
    a genre over-represented among their liked films relative to all they rated."""
    return BaseRates.of([h.genres for h in rows], [h.year for h in rows])


def _merge(pinned: Sequence[Statement], fresh: Iterable[Statement], filters: Filters) -> Profile:
    profile = Profile(tuple(pinned), filters)
    seen = {(s.text.lower(), s.polarity) for s in pinned}
    for s in fresh:
        if (s.text.lower(), s.polarity) not in seen:
            seen.add((s.text.lower(), s.polarity))
            profile = add_statement(profile, s)
    return profile


def write_profile(
    llm: Any,
    history: Iterable[Sequence[Any]],
    pinned: Sequence[Statement] = (),
    *,
    base: BaseRates | None = None,
    vocabulary: Sequence[str] = MOVIELENS_GENRES,
    filters: Filters | None = None,
    max_statements: int = 6,
) -> tuple[Profile, Writer]:
    """A profile for one user and who worded it: ``pinned`` first and unchanged, then one
    statement per measured taste (:func:`explanations.taste.tastes`, against ``base``), in
    the LLM's words where its sentence states that taste and in the taste's own words
    otherwise. ``llm``: an ``LLMHandle``, a ``messages -> text`` callable, or ``None``."""
    rows = as_history(history)
    rated = _rated(rows)
    found = tastes(rated, base or _own_base(rows)) if rated else []
    measured = [t for t in found if not _against_pinned(t, pinned, vocabulary)]
    measured = measured[: max(0, max_statements - len(pinned))]
    wording: dict[tuple[str, frozenset[str], int | None], str] = {}
    generator = as_generator(llm, max_new_tokens=48)
    if generator is not None and measured:
        try:
            sentence = generator(profile_prompt(measured))
        except Exception:  # a model that fails leaves the measured tastes' own words
            sentence = ""
        wording = checked_wording(sentence, measured, vocabulary)
    fresh = [
        make_statement(
            wording.get(t.key(), t.text), t.polarity, source="generated", evidence=t.evidence
        )
        for t in measured
    ]
    return _merge(pinned, fresh, filters or Filters()), "llm" if wording else "rules"


def generate_profile(
    llm: Any, history: Iterable[Sequence[Any]], pinned: Sequence[Statement] = (), **kwargs: Any
) -> Profile:
    """:func:`write_profile`'s profile alone."""
    return write_profile(llm, history, pinned, **kwargs)[0]


def regenerate_profile(
    previous: Profile, llm: Any, history: Iterable[Sequence[Any]], **kwargs: Any
) -> tuple[Profile, Writer]:
    """Regenerate keeping the previous profile's pinned statements and its filters."""
    pinned = [s for s in previous.statements if s.pinned]
    return write_profile(llm, history, pinned, filters=previous.filters, **kwargs)


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
                compounds[genre_words(clause.genres)] = clause.topic
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
