"""A multi-turn recommendation chat, grounded in the catalogue, with no text generation.

State is a small JSON-able belief state: temporary statements and filters gathered from the
turns so far, the anchor item of a "like X" request, and the items already shown. The user can
promote it into their profile (:func:`promote`); until then it changes nothing outside the
chat. Every reply is composed from catalogue facts, so it can only name real items, and
:func:`reply_problems` checks that it names no item outside the reply's own items.

Per message, in order:

1. A question about an item ("tell me about Alien", "what is Heat?", "why not The Shining?"):
   the title is looked up in the catalogue and answered from its facts; "why not" also says
   which of the user's filters or profile statements keep it down, or that it scores lower.
2. "like X but newer" / "similar to X": X becomes the anchor; "newer" adds year > X's year,
   "older" year < X's year; the rest of the clause is parsed as preferences.
3. A preference request ("a funny animated film from the 90s"): parsed into statements and
   filters (:func:`explanations.parsing.parse_preferences`) and added to the belief state.
4. Too vague to act on ("something good") with nothing in the belief state: ask a clarifying
   question instead of guessing.

Retrieval scores every catalogue item the filters allow (unseen, not shown before):
``1.5 * z(anchor cosine) + sum_s sign_s * w_s * z(statement cosine) + 0.5 * z(base)``, where
z is a z-score over the allowed items and ``base`` is what the caller passes (the user's
hybrid scores, or item popularity for a new user). The weights favour what the user just
asked for over what they usually watch, while the base still orders near-ties.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from explanations.parsing import parse_preferences
from explanations.profile import Filters, Profile, Statement, add_statement, make_statement
from explanations.scoring import Encode, filter_mask
from explanations.titles import TitleIndex, ungrounded
from recommender.data import Catalogue

ANCHOR_WEIGHT = 1.5
BASE_WEIGHT = 0.5
_VAGUE = frozenset(
    [
        "something",
        "anything",
        "good",
        "great",
        "nice",
        "decent",
        "fun",
        "cool",
        "watch",
        "watching",
        "see",
        "movie",
        "movies",
        "film",
        "films",
        "recommend",
        "recommendation",
        "recommendations",
        "suggest",
        "suggestion",
        "me",
        "a",
        "an",
        "the",
        "some",
        "i",
        "want",
        "would",
        "like",
        "to",
        "tonight",
        "please",
        "what",
        "should",
        "can",
        "you",
        "give",
        "show",
        "any",
        "kind",
        "of",
        "best",
        "surprise",
        "whatever",
        "interesting",
        "what's",
        "recommended",
    ]
)
_COMPARATIVES = {  # "like Alien but funnier": comparative -> preference text
    "funnier": "funny",
    "scarier": "scary",
    "darker": "dark",
    "lighter": "light-hearted",
    "shorter": "short",
    "more romantic": "romantic",
}
_ABOUT = re.compile(
    r"^\s*(?:tell me (?:more )?about|what(?:'s| is)|who(?:'s| is) in|describe|info on|"
    r"information about|what about|is)\s+(?P<q>.+?)\s*\??\s*$",
    re.IGNORECASE,
)
_WHY_NOT = re.compile(
    r"^\s*why(?: not| no| didn't you (?:recommend|suggest)| haven't you (?:recommended|suggested))"
    r"\s+(?P<q>.+?)\s*\??\s*$",
    re.IGNORECASE,
)
_LIKE = re.compile(
    r"(?:something |anything |a (?:film|movie) |films? |movies? )?"
    r"(?:like|similar to|in the vein of|such as)\s+(?P<q>.+?)"
    r"(?:\s*,?\s+but\s+(?P<mod>.+?))?\s*[.!?]*\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ConversationState:
    statements: tuple[Statement, ...] = ()
    filters: Filters = field(default_factory=Filters)
    anchor: int | None = None  # catalogue index of the "like X" item
    shown: tuple[int, ...] = ()  # catalogue indices already recommended in this chat
    turns: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "statements": [s.to_dict() for s in self.statements],
            "filters": self.filters.to_dict(),
            "anchor": self.anchor,
            "shown": list(self.shown),
            "turns": self.turns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        return cls(
            statements=tuple(Statement.from_dict(s) for s in data.get("statements", ())),
            filters=Filters.from_dict(data.get("filters", {})),
            anchor=data.get("anchor"),
            shown=tuple(data.get("shown", ())),
            turns=int(data.get("turns", 0)),
        )

    def is_empty(self) -> bool:
        return not self.statements and self.filters.is_empty() and self.anchor is None


@dataclass(frozen=True)
class Reply:
    text: str
    items: tuple[int, ...]  # recommended catalogue indices, best first
    item_ids: tuple[Any, ...]  # the same as external ids
    clarifying_question: str | None
    state: ConversationState
    mentioned: tuple[int, ...] = ()  # other items the text may name (the asked-about item)

    @property
    def allowed(self) -> set[int]:
        return {*self.items, *self.mentioned}


@dataclass(frozen=True)
class ChatContext:
    """Everything :func:`respond` reads besides the state; build once per user session.

    ``item_vectors``: (n_items, d) unit text vectors; ``encode``: the same encoder (MiniLM)
    for request texts; ``base_scores``: (n_items,) the user's hybrid scores or popularity;
    ``seen``: item indices the user already rated (never recommended).
    """

    catalogue: Catalogue
    index: TitleIndex
    item_vectors: np.ndarray
    encode: Encode
    base_scores: np.ndarray | None = None
    seen: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    profile: Profile | None = None


def _vague(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    return all(w in _VAGUE for w in words)


def _z(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _describe(index: TitleIndex, catalogue: Catalogue, item: int) -> str:
    genres = "/".join(catalogue.genres[item]) or "unclassified"
    text = f"{index.label(item)} is a {genres} film."
    description = catalogue.descriptions[item] if catalogue.descriptions else ""
    return text + (f" {description.strip()}" if description.strip() else "")


def _lookup(ctx: ChatContext, query: str) -> int | None:
    """The catalogue item a user's phrase names: exact title first, then the longest title
    mentioned inside the phrase; remakes resolve to the most recent one."""
    hits = ctx.index.lookup(query) or [i for m in ctx.index.find_in(query)[:1] for i in m.items]
    if not hits:
        return None
    return max(hits, key=lambda i: (int(ctx.catalogue.years[i]), -i))


def _why_not(ctx: ChatContext, state: ConversationState, item: int) -> str:
    cat = ctx.catalogue
    label = ctx.index.label(item)
    filters = state.filters.merge(ctx.profile.filters) if ctx.profile else state.filters
    keep, removed = filter_mask(cat, np.array([item]), filters)
    if item in set(ctx.seen.tolist()):
        return f"{label} is already in your history, so I do not recommend it again."
    if not keep[0]:
        return f"{label} is left out by your filter ({removed[item]}); remove it to see it."
    statements = list(state.statements) + (list(ctx.profile.statements) if ctx.profile else [])
    if statements:
        vectors = np.asarray(ctx.encode([s.text for s in statements]), dtype=np.float32)
        sims = vectors @ ctx.item_vectors[item]  # (S,)
        against = [
            s
            for s, sim in zip(statements, sims, strict=True)
            if s.polarity == "avoids" and sim > 0.3
        ]
        if against:
            return f"{label} matches what you avoid ({against[0].text}), so it ranks low for you."
    return f"{label} scores lower for you than the films I suggested. " + _describe(
        ctx.index, cat, item
    )


def _retrieve(ctx: ChatContext, state: ConversationState, n: int) -> list[int]:
    cat = ctx.catalogue
    filters = state.filters.merge(ctx.profile.filters) if ctx.profile else state.filters
    pool = np.setdiff1d(
        np.arange(len(cat)),
        np.concatenate(
            [ctx.seen, np.array(state.shown, dtype=np.int64), np.array([state.anchor or -1])]
        ),
    )
    keep, _ = filter_mask(cat, pool, filters)
    pool = pool[keep]
    if not len(pool):
        return []
    vectors = ctx.item_vectors[pool]  # (P, d)
    score = np.zeros(len(pool))
    if state.anchor is not None:
        score += ANCHOR_WEIGHT * _z(vectors @ ctx.item_vectors[state.anchor])
    if state.statements:
        s_vecs = np.asarray(ctx.encode([s.text for s in state.statements]), dtype=np.float32)
        for s, v in zip(state.statements, s_vecs, strict=True):
            score += s.sign * s.weight * _z(vectors @ v)
    if ctx.base_scores is not None:
        score += BASE_WEIGHT * _z(np.asarray(ctx.base_scores, dtype=np.float64)[pool])
    order = np.lexsort((pool, -score))[:n]
    return [int(i) for i in pool[order]]


def _with_preferences(
    ctx: ChatContext, state: ConversationState, text: str
) -> tuple[ConversationState, bool]:
    """State plus what ``text`` asks for; the flag says whether it asked for anything."""
    parsed = parse_preferences(text, ctx.catalogue.genre_vocabulary, hard_genre_filters=True)
    statements = [(t, p) for t, p in parsed.statements if not _vague(t)]
    filters = Filters(
        include_genres=tuple(parsed.include_genres),
        exclude_genres=tuple(parsed.exclude_genres),
        year_min=parsed.year_min,
        year_max=parsed.year_max,
    )
    if not statements and filters.is_empty():
        return state, False
    temp = Profile(state.statements, state.filters)
    for topic, polarity in statements:
        temp = add_statement(temp, make_statement(topic, polarity, source="conversation"))  # type: ignore[arg-type]
    return replace(state, statements=temp.statements, filters=state.filters.merge(filters)), True


def _recommend(ctx: ChatContext, state: ConversationState, n: int, lead: str) -> Reply:
    items = _retrieve(ctx, state, n)
    if not items:
        return Reply(
            "Nothing in the catalogue fits all of that. Try removing a filter: "
            + "; ".join(state.filters.describe() or ["(no filters)"])
            + ".",
            (),
            (),
            None,
            state,
        )
    names = ", ".join(ctx.index.label(i) for i in items)
    state = replace(state, shown=(*state.shown, *items))
    mentioned = (state.anchor,) if state.anchor is not None else ()
    return Reply(
        f"{lead} {names}.",
        tuple(items),
        tuple(ctx.catalogue.ids.external(i) for i in items),
        None,
        state,
        mentioned,
    )


CLARIFY = (
    "Happy to help. What are you in the mood for: a genre (comedy, thriller, animation...), "
    "a decade, or a film you liked that I should start from?"
)


def respond(state: ConversationState, message: str, ctx: ChatContext, n: int = 5) -> Reply:
    """One turn: answer a question, recommend, or ask for clarification (see module doc)."""
    state = replace(state, turns=state.turns + 1)
    cat = ctx.catalogue
    if m := _WHY_NOT.match(message):
        item = _lookup(ctx, m.group("q"))
        if item is not None:
            return Reply(_why_not(ctx, state, item), (), (), None, state, (item,))
    m_about = _ABOUT.match(message)
    if m_about and not _LIKE.search(message):
        item = _lookup(ctx, m_about.group("q"))
        if item is not None:
            return Reply(_describe(ctx.index, cat, item), (), (), None, state, (item,))
    if (m := _LIKE.search(message)) and (anchor := _lookup(ctx, m.group("q"))) is not None:
        modifier = (m.group("mod") or "").lower()
        year = int(cat.years[anchor])
        state = replace(state, anchor=anchor, shown=())
        if year > 0 and re.search(r"\b(newer|more recent|recent|later|modern)\b", modifier):
            state = replace(state, filters=replace(state.filters, year_min=year + 1))
        elif year > 0 and re.search(r"\b(older|earlier|classic)\b", modifier):
            state = replace(state, filters=replace(state.filters, year_max=year - 1))
        for comparative, plain in _COMPARATIVES.items():
            modifier = modifier.replace(comparative, plain)
        modifier = re.sub(
            r"\b(newer|more recent|recent|later|modern|older|earlier|classic)\b", "", modifier
        )
        state, _ = _with_preferences(ctx, state, modifier)
        return _recommend(ctx, state, n, f"Like {ctx.index.label(anchor)}:")
    if re.fullmatch(
        r"\s*(more|another|others?|next|more please|show me more)\s*[.!?]*\s*", message, re.I
    ):
        if state.is_empty():
            return Reply(CLARIFY, (), (), CLARIFY, state)
        return _recommend(ctx, state, n, "More picks:")
    text = message
    for comparative, plain in _COMPARATIVES.items():
        text = re.sub(rf"\b{comparative}\b", plain, text, flags=re.IGNORECASE)
    new_state, asked = _with_preferences(ctx, state, text)
    if not asked:
        if _vague(message) or state.is_empty():
            return Reply(CLARIFY, (), (), CLARIFY, state)
        return _recommend(ctx, state, n, "Here are more picks:")
    return _recommend(ctx, replace(new_state, shown=()), n, "Here are some picks:")


def promote(state: ConversationState, profile: Profile) -> Profile:
    """Write the chat's belief state into the profile (statements and filters, visible there)."""
    for s in state.statements:
        profile = add_statement(profile, s)
    return replace(profile, filters=profile.filters.merge(state.filters))


def reply_problems(reply: Reply, index: TitleIndex) -> list[str]:
    """Titles the reply text names that are neither its items nor the item asked about."""
    return [m.text for m in ungrounded(index, reply.text, reply.allowed)]
