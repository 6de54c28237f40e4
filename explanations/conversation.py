"""A multi-turn recommendation chat, grounded in the catalogue, with no text generation.

State is a small JSON-able belief state: the constraints and statements gathered from the
turns so far, the anchor item of a "like X" request, and the items already shown. The user can
promote it into their profile (:func:`promote`); until then it changes nothing outside the
chat. Every reply is composed from catalogue facts, so it can only name real items, and
:func:`reply_problems` checks that it names no item outside the reply's own items and anchor.

Per message, in order:

1. A question about an item ("tell me about Alien", "what is Heat?", "why not The Shining?"):
   the title is looked up in the catalogue and answered from its facts; "why not" also says
   which of the chat's constraints, the user's filters or profile statements keep it down.
2. "like X but newer" / "similar to X": X becomes the anchor. Items must share a genre with X
   and are never X (nor the anchor of an earlier like-turn); "newer" keeps years after X's,
   "older" years before it; the rest of the message is read as a request (3).
3. A request ("a funny animated film from the 90s"): read by
   :func:`explanations.parsing.parse_request` into hard constraints (one genre group per
   genre phrase, exclusions, a year range) and statements, added to the belief state. A
   later wish for a genre lifts an earlier exclusion of it, and an exclusion drops an earlier
   wish it rules out. Comparatives ("funnier", "darker") are relative to what was shown, so
   they only rank (a statement), never filter.
4. Too vague to act on ("something good") with nothing in the belief state: ask a clarifying
   question instead of guessing.

The user test behind this design: with genres as mere text statements, 35% of the cards for
"an animated film from the 90s"-style requests missed the request (The Shawshank Redemption
for animation, an unknown-year item for "the 40s"). Now an item is shown only if it meets
every constraint; a year range never admits an item of unknown year; if nothing meets them the
reply says so in plain words and shows nothing else. Each card carries a reason built from
catalogue facts ("a 1995 animated family comedy", "a 1991 thriller, newer than Heat").

Retrieval scores every item that meets the constraints (unseen, not shown before):
``1.5 * z(anchor cosine) + sum_s sign_s * w_s * z(statement cosine) + 0.5 * z(base)``, where
z is a z-score over those items and ``base`` is what the caller passes (the user's hybrid
scores, or item popularity for a new user). The weights favour what the user just asked for
over what they usually watch, while the base still orders near-ties. The profile's filters
apply too, except where the chat asks otherwise (its year range replaces the profile's; a
genre asked for here overrides the profile's genre filters for this chat).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from explanations.matching import years_phrase
from explanations.parsing import GENRE_PHRASE, ParsedRequest, genre_groups_in, parse_request
from explanations.phrasing import quotable, unlinked
from explanations.profile import Filters, Profile, Statement, add_statement, make_statement
from explanations.scoring import Encode, filter_keep, filter_mask, zscore
from explanations.titles import TitleIndex, ungrounded
from explanations.understanding import (
    GenreReader,
    Understanding,
    is_small_talk,
    normalise,
    understand,
)
from recommender.data import Catalogue

MAX_WISHES = 20  # statements a chat keeps (the newest); its state is stored with every turn
MAX_SHOWN = 500  # films it remembers showing, so "more" does not repeat them
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


Relation = Literal["newer", "older"]

# genre -> (its adjective before a noun, its noun at the head of a phrase)
_GENRE_WORDS: dict[str, tuple[str, str]] = {
    "Action": ("action", "action film"),
    "Adventure": ("adventure", "adventure film"),
    "Animation": ("animated", "animated film"),
    "Children's": ("family", "family film"),
    "Comedy": ("comic", "comedy"),
    "Crime": ("crime", "crime film"),
    "Documentary": ("documentary", "documentary"),
    "Drama": ("dramatic", "drama"),
    "Fantasy": ("fantasy", "fantasy film"),
    "Film-Noir": ("noir", "film noir"),
    "Horror": ("horror", "horror film"),
    "Musical": ("musical", "musical"),
    "Mystery": ("mystery", "mystery"),
    "Romance": ("romantic", "romance"),
    "Sci-Fi": ("sci-fi", "sci-fi film"),
    "Thriller": ("thriller", "thriller"),
    "War": ("war", "war film"),
    "Western": ("western", "western"),
}
# which genre heads a phrase ("animated family comedy", not "comic animated family film"),
# and the order of the adjectives before it; genres not listed come last
_HEADS = (
    "Comedy", "Thriller", "Mystery", "Western", "Musical", "Drama", "Documentary", "Romance",
    "Horror", "Film-Noir", "Adventure", "Action", "Sci-Fi", "Fantasy", "War", "Crime",
    "Children's", "Animation",
)  # fmt: skip
_ADJECTIVES = (
    "Romance", "Animation", "Children's", "Action", "Adventure", "Crime", "Horror", "Sci-Fi",
    "Fantasy", "War", "Western", "Mystery", "Thriller", "Musical", "Drama", "Documentary",
    "Film-Noir", "Comedy",
)  # fmt: skip
_UNNAMED = frozenset(["unknown"])  # MovieLens's placeholder genre says nothing about a film


@dataclass(frozen=True)
class ConversationState:
    """What the chat has gathered. ``filters`` holds the exclusions, "only" genres and the
    year range asked for (a range here also rules out items of unknown year);
    ``genre_groups`` the genres asked for, one group per phrase: an item meets them iff it
    has a genre of every group."""

    statements: tuple[Statement, ...] = ()
    filters: Filters = field(default_factory=Filters)
    genre_groups: tuple[tuple[str, ...], ...] = ()
    anchor: int | None = None  # catalogue index of the current "like X" item
    relation: Relation | None = None  # "like X but newer/older": years after/before X's
    anchors: tuple[int, ...] = ()  # every like-turn's item: never recommended in this chat
    shown: tuple[int, ...] = ()  # catalogue indices already recommended in this chat
    turns: int = 0
    exclude_years: tuple[tuple[int, int], ...] = ()  # "not from the 90s": inclusive ranges

    def to_dict(self) -> dict[str, Any]:
        return {
            "statements": [s.to_dict() for s in self.statements],
            "exclude_years": [list(r) for r in self.exclude_years],
            "filters": self.filters.to_dict(),
            "genre_groups": [list(g) for g in self.genre_groups],
            "anchor": self.anchor,
            "relation": self.relation,
            "anchors": list(self.anchors),
            "shown": list(self.shown),
            "turns": self.turns,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversationState:
        anchor = data.get("anchor")
        relation = data.get("relation")
        return cls(
            statements=tuple(Statement.from_dict(s) for s in data.get("statements", ())),
            filters=Filters.from_dict(data.get("filters", {})),
            genre_groups=tuple(tuple(g) for g in data.get("genre_groups", ())),
            anchor=anchor,
            relation=relation if relation in ("newer", "older") else None,
            # a state stored before "anchors" existed still never offers its anchor
            anchors=tuple(data.get("anchors", () if anchor is None else (anchor,))),
            shown=tuple(data.get("shown", ())),
            turns=int(data.get("turns", 0)),
            exclude_years=tuple((int(a), int(b)) for a, b in data.get("exclude_years", ())),
        )

    def is_empty(self) -> bool:
        return (
            not self.statements
            and self.filters.is_empty()
            and not self.genre_groups
            and self.anchor is None
            and not self.exclude_years
        )

    @property
    def has_years(self) -> bool:
        return self.filters.year_min is not None or self.filters.year_max is not None


@dataclass(frozen=True)
class Reply:
    text: str
    items: tuple[int, ...]  # recommended catalogue indices, best first
    item_ids: tuple[Any, ...]  # the same as external ids
    clarifying_question: str | None
    state: ConversationState
    mentioned: tuple[int, ...] = ()  # other items the text may name (the asked-about item)
    reasons: tuple[str, ...] = ()  # why each item fits, aligned with ``items``
    understood: tuple[str, ...] = ()  # what the message was read as ("thrillers", "not horror")

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
    reader: GenreReader | None = None  # words that are no genre -> a genre (None: rules only)

    @property
    def newest_year(self) -> int | None:
        years = np.asarray(self.catalogue.years)
        return int(years.max()) if len(years) and years.max() > 0 else None


def _vague(text: str) -> bool:
    words = re.findall(r"[a-z']+", text.lower())
    return all(w in _VAGUE for w in words)


# -- words from catalogue facts -----------------------------------------------------------


def _article(phrase: str) -> str:
    # years are read out: "an 1895 film" ("eighteen"), "a 1985 film"
    return "an" if re.match(r"[aeio]|8|18\d\d\b", phrase) else "a"


def genre_phrase(genres: Sequence[str]) -> str:
    """Genres as a noun phrase: Animation, Children's, Comedy -> "animated family comedy";
    none -> "film"."""
    named = [g for g in dict.fromkeys(genres) if g not in _UNNAMED]
    if not named:
        return "film"
    order = {g: k for k, g in enumerate(_HEADS)}
    head = min(named, key=lambda g: order.get(g, len(order)))
    rank = {g: k for k, g in enumerate(_ADJECTIVES)}
    adjectives = sorted((g for g in named if g != head), key=lambda g: rank.get(g, len(rank)))
    words = [_GENRE_WORDS.get(g, (g.lower(), ""))[0] for g in adjectives]
    noun = _GENRE_WORDS.get(head, ("", f"{head.lower()} film"))[1]
    return " ".join([*words, noun])


def _any_of(genres: Sequence[str]) -> str:
    words = [_GENRE_WORDS.get(g, (g.lower(), ""))[0] for g in genres]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _years_words(lo: int | None, hi: int | None) -> str:
    return years_phrase(
        lo, hi, decade="from the {lo}s", span="from {lo} to {hi}", since="from {lo} or later",
        until="from {hi} or earlier", single="from {lo}",
    )  # fmt: skip


def _wish(ctx: ChatContext, state: ConversationState) -> str:
    """The chat's constraints in plain words: "a western from the 2020s"."""
    f = state.filters
    single = [g[0] for g in state.genre_groups if len(g) == 1]
    single += [g for g in f.include_genres if g not in single]
    several = [g for g in state.genre_groups if len(g) > 1]
    if not single and len(several) == 1:  # "violent": "an action, crime or war film"
        parts = [f"{_any_of(several[0])} film"]
    else:
        parts = [genre_phrase(single) + "".join(f" that is {_any_of(g)}" for g in several)]
    if years := _years_words(f.year_min, f.year_max):
        parts.append(years)
    if state.anchor is not None:
        label = ctx.index.label(state.anchor)
        if state.relation is not None:
            parts.append(f"{state.relation} than {label} and sharing a genre with it")
        else:
            parts.append(f"sharing a genre with {label}")
    if f.exclude_genres:
        nouns = [_GENRE_WORDS.get(g, ("", f"{g.lower()} film"))[1] for g in f.exclude_genres]
        parts.append("that is not " + " or ".join(f"{_article(w)} {w}" for w in nouns))
    for lo, hi in state.exclude_years:
        parts.append("not " + _years_words(lo, hi))
    text = " ".join(parts)
    return f"{_article(text)} {text}"


def _reason(ctx: ChatContext, state: ConversationState, item: int) -> str:
    """Why a card fits, from its catalogue facts: "a 1989 comedy, like Ghostbusters"."""
    cat = ctx.catalogue
    genres = [g for g in cat.genres[item] if g not in _UNNAMED]
    asked = {g for group in state.genre_groups for g in group} | set(state.filters.include_genres)
    named = [g for g in genres if g in asked]
    if state.anchor is not None:
        anchor_genres = set(cat.genres[state.anchor])
        if not anchor_genres & set(named):
            named += [g for g in genres if g in anchor_genres][:2]
    if not named:
        named = genres[:2]
    year = int(cat.years[item])
    phrase = genre_phrase(named[:3])
    phrase = f"{year} {phrase}" if year > 0 else phrase
    text = f"{_article(phrase)} {phrase}"
    if state.anchor is not None:
        name = ctx.index.natural[state.anchor]
        text += f", {state.relation} than {name}" if state.relation else f", like {name}"
    return text


# -- which items meet the chat's constraints -----------------------------------------------


def _genre_columns(catalogue: Catalogue, genres: Sequence[str]) -> list[int]:
    column = {g: j for j, g in enumerate(catalogue.genre_vocabulary)}
    return [column[g] for g in genres if g in column]


def _meets(ctx: ChatContext, state: ConversationState) -> np.ndarray:
    """(n_items,) bool: the items that meet every constraint the chat has gathered."""
    cat = ctx.catalogue
    has = cat.genre_matrix > 0  # (n_items, n_genres)
    years = np.asarray(cat.years)
    f = state.filters
    ok = np.ones(len(cat), dtype=bool)
    for group in [*state.genre_groups, *([f.include_genres] if f.include_genres else [])]:
        ok &= has[:, _genre_columns(cat, group)].any(axis=1)
    if cols := _genre_columns(cat, f.exclude_genres):
        ok &= ~has[:, cols].any(axis=1)
    if state.has_years:
        ok &= years > 0  # an unknown year meets no range: we cannot say it does
        if f.year_min is not None:
            ok &= years >= f.year_min
        if f.year_max is not None:
            ok &= years <= f.year_max
    for lo, hi in state.exclude_years:
        ok &= (years > 0) & ((years < lo) | (years > hi))
    anchors = set(state.anchors)
    if state.anchor is not None:
        anchors.add(state.anchor)
        if cols := _genre_columns(cat, cat.genres[state.anchor]):
            ok &= has[:, cols].any(axis=1)
        year = int(years[state.anchor])  # > 0 whenever there is a relation (see respond)
        if state.relation == "newer":
            ok &= years > year
        elif state.relation == "older":
            ok &= (years > 0) & (years < year)
    for a in anchors:
        ok[ctx.index.lookup(ctx.index.natural[a]) or [a]] = False  # remakes share the title
    return ok


def _profile_filters(ctx: ChatContext, state: ConversationState) -> Filters:
    """The profile's filters, less what the chat asks otherwise (see the module doc)."""
    if ctx.profile is None:
        return Filters()
    f = ctx.profile.filters
    asked = {g for group in state.genre_groups for g in group} | set(state.filters.include_genres)
    own_years = state.has_years or state.relation is not None
    return replace(
        f,
        include_genres=() if asked else f.include_genres,
        exclude_genres=tuple(g for g in f.exclude_genres if g not in asked),
        year_min=None if own_years else f.year_min,
        year_max=None if own_years else f.year_max,
    )


def _describe(index: TitleIndex, catalogue: Catalogue, item: int) -> str:
    genres = "/".join(catalogue.genres[item]) or "unclassified"
    text = f"{index.label(item)} is a {genres} film."
    description = catalogue.descriptions[item] if catalogue.descriptions else ""
    description = unlinked(description)
    return text + (f" Its catalogue description: “{description}”." if description else "")


def _vocabulary(catalogue: Catalogue) -> tuple[str, ...]:
    """Every genre the synonyms know, not only the catalogue's: a wish for a genre the
    catalogue lacks must find nothing, not turn into free text that finds anything."""
    return tuple(dict.fromkeys([*catalogue.genre_vocabulary, *GENRE_PHRASE]))


def _lookup(ctx: ChatContext, query: str) -> tuple[int, str] | None:
    """The catalogue item a user's phrase names and the phrase's other words: the exact title
    first, then the first title mentioned inside the phrase; remakes resolve to the most
    recent one. A phrase that is only genre words names a genre, not the film of that name
    ("a western", not Western (1997))."""
    _, leftover = genre_groups_in(query, _vocabulary(ctx.catalogue))
    if not re.sub(r"\b(?:a|an|the|some|films?|movies?)\b", "", leftover).strip(" ?!.,"):
        return None
    rest = ""
    hits = ctx.index.lookup(query)
    if not hits and (found := ctx.index.find_in(query)[:1]):
        hits = list(found[0].items)
        rest = query[: found[0].start] + " " + query[found[0].end :]
    if not hits:
        return None
    return max(hits, key=lambda i: (int(ctx.catalogue.years[i]), -i)), rest.strip()


def _unknown_title(ctx: ChatContext, query: str) -> str | None:
    """The phrase after "like", when it names no catalogue film and no genre or year either
    (so it can only be a film we do not have); None otherwise."""
    request = parse_request(query, _vocabulary(ctx.catalogue))
    if request.genre_groups or request.year_min is not None or request.year_max is not None:
        return None
    words = re.sub(r"\b(?:a|an|the|some|films?|movies?|one|that|this)\b", "", query)
    words = unlinked(words).strip(" ?!.,")
    return words[:60] or None


def _why_not(ctx: ChatContext, state: ConversationState, item: int) -> str:
    cat = ctx.catalogue
    label = ctx.index.label(item)
    if item in set(ctx.seen.tolist()):
        return f"{label} is already in your history, so I do not recommend it again."
    if item in {state.anchor, *state.anchors}:
        return f"{label} is the film you asked me to start from, so I suggest others like it."
    if not _meets(ctx, state)[item]:
        return f"{label} is left out because you asked for {_wish(ctx, state)}."
    keep, removed = filter_mask(cat, np.array([item]), _profile_filters(ctx, state))
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
            said = quotable(against[0].text, ctx.index, {item})
            if not said:
                return f"{label} matches something you avoid, so it ranks low for you."
            return f"{label} matches what you said you avoid (“{said}”), so it ranks low for you."
    return f"{label} scores lower for you than the films I suggested. " + _describe(
        ctx.index, cat, item
    )


def _retrieve(ctx: ChatContext, state: ConversationState, pool: np.ndarray, n: int) -> list[int]:
    """The ``n`` best of ``pool`` (catalogue indices that meet the constraints)."""
    vectors = ctx.item_vectors[pool]  # (P, d)
    score = np.zeros(len(pool))
    if state.anchor is not None:
        score += ANCHOR_WEIGHT * zscore(vectors @ ctx.item_vectors[state.anchor])
    if state.statements:
        s_vecs = np.asarray(ctx.encode([s.text for s in state.statements]), dtype=np.float32)
        for s, v in zip(state.statements, s_vecs, strict=True):
            score += s.sign * s.weight * zscore(vectors @ v)
    if ctx.base_scores is not None:
        score += BASE_WEIGHT * zscore(np.asarray(ctx.base_scores, dtype=np.float64)[pool])
    order = np.lexsort((pool, -score))[:n]
    return [int(i) for i in pool[order]]


def _comparatives(text: str) -> tuple[list[str], str]:
    """(the plain words of the comparatives in ``text``, the text without them)."""
    found = []
    for comparative, plain in _COMPARATIVES.items():
        pattern = rf"\b{comparative}\b"
        if re.search(pattern, text, re.IGNORECASE):
            found.append(plain)
            text = re.sub(pattern, " ", text, flags=re.IGNORECASE)
    return found, text


_REFINE = re.compile(
    r"^\s*(?:and|also|plus|but|with|without|make it|preferably|ideally|only|maybe|"
    r"something|anything)\b",
    re.IGNORECASE,
)


def _new_topic(text: str) -> bool:
    """Whether a message that names genres starts over ("a western" after "comedies from the
    80s") rather than refines ("and from the 80s", "but only comedies")."""
    return not _REFINE.match(text)


def _merged_filters(f: Filters, request: ParsedRequest) -> Filters:
    """The chat's filters plus a request's: "only" genres added (less those it excludes),
    exclusions added (less those it asks for), a year bound it gives replaces the old one."""
    asked = {g for group in request.genre_groups for g in group}
    excluded = set(request.exclude_genres)
    return replace(
        f,
        include_genres=tuple(
            dict.fromkeys(
                [*(g for g in f.include_genres if g not in excluded), *request.only_genres]
            )
        ),
        exclude_genres=tuple(
            dict.fromkeys(
                [*(g for g in f.exclude_genres if g not in asked), *request.exclude_genres]
            )
        ),
        year_min=request.year_min if request.year_min is not None else f.year_min,
        year_max=request.year_max if request.year_max is not None else f.year_max,
    )


def _with_request(
    ctx: ChatContext,
    state: ConversationState,
    request: ParsedRequest,
    fresh: bool = False,
    exclude_years: Sequence[tuple[int, int]] = (),
    soft: Sequence[str] = (),
) -> tuple[ConversationState, bool]:
    """State plus what ``request`` asks for; the flag says whether it asked for anything.
    ``fresh``: genres it names replace the genres asked for before (a new topic); ``soft``:
    comparatives' plain words ("funny" for "funnier"), which only rank."""
    statements = [(t, p) for t, p in request.statements if not _vague(t)]
    statements += [(plain, "likes") for plain in soft]
    has_years = request.year_min is not None or request.year_max is not None
    if not (
        statements or request.genre_groups or request.exclude_genres or has_years or exclude_years
    ):
        return state, False
    excluded = set(request.exclude_genres)
    filters = _merged_filters(state.filters, request)
    groups = [g for g in state.genre_groups if not set(g) <= excluded]
    previous = state.statements
    years_out = tuple(dict.fromkeys([*state.exclude_years, *exclude_years]))
    if fresh and request.genre_groups:
        groups, previous = [], ()  # a new topic: the earlier wishes no longer apply
        years_out = tuple(exclude_years)
        filters = replace(
            filters,
            include_genres=tuple(request.only_genres),
            year_min=request.year_min,
            year_max=request.year_max,
        )
    # the chat keeps its newest wishes only: its state is stored with every turn
    temp = Profile(tuple(previous)[-(MAX_WISHES - 1) :], filters)
    for topic, polarity in statements[:MAX_WISHES]:
        if len(temp.statements) >= MAX_WISHES:
            temp = replace(temp, statements=temp.statements[1:])
        temp = add_statement(temp, make_statement(topic, polarity, source="conversation"))  # type: ignore[arg-type]
    return replace(
        state,
        statements=temp.statements,
        filters=filters,
        genre_groups=tuple(dict.fromkeys([*groups, *request.genre_groups])),
        exclude_years=years_out,
    ), True


def _distinct(
    ctx: ChatContext, state: ConversationState, items: Sequence[int], n: int
) -> list[int]:
    """The first ``n`` items with distinct titles: MovieLens lists some films under two ids
    ("Hugo Pool (1997)" twice), and a reply never shows one film twice, nor the film the
    user started from."""
    taken = {ctx.index.label(a) for a in (*state.anchors, *state.shown)}
    out: list[int] = []
    for i in items:
        label = ctx.index.label(i)
        if label not in taken:
            taken.add(label)
            out.append(i)
        if len(out) == n:
            break
    return out


def _recommend(
    ctx: ChatContext,
    state: ConversationState,
    n: int,
    lead: str,
    understood: tuple[str, ...] = (),
    note: str = "",
) -> Reply:
    cat = ctx.catalogue
    mentioned = (state.anchor,) if state.anchor is not None else ()
    meets = _meets(ctx, state)
    pool = np.flatnonzero(meets)
    keep = filter_keep(cat, pool, _profile_filters(ctx, state))
    unavailable = np.concatenate([ctx.seen, np.array(state.shown, dtype=np.int64)])
    pool = np.setdiff1d(pool[keep], unavailable)
    if not len(pool):
        wish = _wish(ctx, state)
        if not meets.any():
            text = f"Nothing in the catalogue is {wish}."
        elif not keep.any():
            text = (
                f"Nothing in the catalogue is {wish} and passes your profile's filters ("
                + "; ".join(_profile_filters(ctx, state).describe())
                + ")."
            )
        elif wish == "a film":  # only statements: nothing left that ranks for them
            text = "You have seen or been shown every film I could suggest for that."
        else:
            text = f"You have seen or been shown every film in the catalogue that is {wish}."
        return Reply(note + text, (), (), None, state, mentioned, understood=understood)
    items = _distinct(ctx, state, _retrieve(ctx, state, pool, 3 * n), n)
    # semicolons: "Fear (1996), The Assignment (1997)" reads as the title "Fear, The"
    names = "; ".join(ctx.index.label(i) for i in items)
    state = replace(state, shown=(*state.shown, *items)[-MAX_SHOWN:])
    return Reply(
        f"{note}{lead} {names}.",  # what was read: Reply.understood
        tuple(items),
        tuple(cat.ids.external(i) for i in items),
        None,
        state,
        mentioned,
        tuple(_reason(ctx, state, i) for i in items),
        understood,
    )


CLARIFY = (
    "Happy to help. What are you in the mood for: a genre (comedy, thriller, animation...), "
    "a decade, or a film you liked that I should start from?"
)


def _question(state: ConversationState, text: str, understood: tuple[str, ...] = ()) -> Reply:
    return Reply(text, (), (), text, state, understood=understood)


def _answer_question(ctx: ChatContext, state: ConversationState, message: str) -> Reply | None:
    """ "why not X?" and "tell me about X": answered from the catalogue's facts."""
    if m := _WHY_NOT.match(message):
        found = _lookup(ctx, m.group("q"))
        if found is not None:
            return Reply(_why_not(ctx, state, found[0]), (), (), None, state, (found[0],))
    m_about = _ABOUT.match(message)
    # one question: "what about other documentaries? I loved Amadeus" asks for documentaries
    if m_about and not _LIKE.search(message) and not re.search(r"[?!]\s+\w", m_about["q"]):
        found = _lookup(ctx, m_about.group("q"))
        if found is not None:
            item = found[0]
            return Reply(_describe(ctx.index, ctx.catalogue, item), (), (), None, state, (item,))
    return None


def _unknown_note(ctx: ChatContext, u: Understanding, message: str) -> str:
    """ "I don't know X (2007)": the films named that the catalogue lacks, said once."""
    names = [f"“{f.text}”" for f in u.unknown_films]
    m = None if u.known_films or u.request.genre_groups else _LIKE.search(message)
    if m and (unknown := _unknown_title(ctx, m.group("q"))):
        names.append(f"“{unknown}”")
    if not names:
        return ""
    return f"I could not find {' or '.join(dict.fromkeys(names))} in the catalogue. "


def _anchored(ctx: ChatContext, state: ConversationState, u: Understanding) -> ConversationState:
    """The state with the first film the message likes as its anchor; every named film is
    kept out of the picks. "like X but newer/older" keeps years after/before X's."""
    named = [f.item for f in u.known_films if f.item is not None]
    liked = [f.item for f in u.known_films if f.role == "like" and f.item is not None]
    anchor = liked[0] if liked else state.anchor
    relation: Relation | None = None if liked else state.relation
    if liked and int(ctx.catalogue.years[liked[0]]) > 0:  # nothing is newer than unknown
        relation = u.relation
    return replace(
        state,
        anchor=anchor,
        relation=relation,
        anchors=tuple(dict.fromkeys([*state.anchors, *named])),
        shown=() if liked else state.shown,
    )


def _more(message: str) -> bool:
    return bool(
        re.fullmatch(
            r"\s*(more|another|others?|next|more please|show me more)\s*[.!?]*\s*", message, re.I
        )
    )


def _open_words_answer(
    ctx: ChatContext,
    state: ConversationState,
    u: Understanding,
    words: Sequence[tuple[str, str]],
    n: int,
    understood: tuple[str, ...],
    note: str,
) -> Reply:
    """A wish in words that name no genre of ours ("martial arts films", "Disney movies")
    that the learned reader places near one: films of that genre, ranked by the words as a
    soft text preference, and the reply says how the words were read. Words it places near
    no genre ("a rainy Sunday") are asked about instead: the items' texts (title and genres)
    are too thin to rank on them alone."""
    phrase, hint = words[0]
    wishes = ParsedRequest(genre_groups=((hint,),), statements=((phrase, "likes"),))
    state, _ = _with_request(ctx, _anchored(ctx, state, u), wishes, fresh=True)
    genre = GENRE_PHRASE.get(hint, hint)
    lead = f"“{phrase}” is not one of our genres; I read it as close to {genre}:"
    return _recommend(ctx, replace(state, shown=()), n, lead, understood, note)


def respond(state: ConversationState, message: str, ctx: ChatContext, n: int = 5) -> Reply:
    """One turn: answer a question, recommend, or ask for clarification (see module doc)."""
    state = replace(state, turns=state.turns + 1)
    message = normalise(message)
    if (answer := _answer_question(ctx, state, message)) is not None:
        return answer
    if _more(message):
        if state.is_empty():
            return _question(state, CLARIFY)
        return _recommend(ctx, state, n, "More picks:")
    if is_small_talk(message):
        return _question(state, CLARIFY)
    soft, text = _comparatives(message)
    u = understand(text, _vocabulary(ctx.catalogue), ctx.index, ctx.newest_year, ctx.reader)
    groups = genre_groups_in(" ".join(soft), _vocabulary(ctx.catalogue))[0]
    if groups and not any(f.role == "like" for f in u.known_films):
        # "the scarier the better": more of a genre is a wish for that genre; beside a film
        # ("like Alien but funnier") it only ranks, since few films are both
        more = tuple(dict.fromkeys((*u.request.genre_groups, *groups)))
        u = replace(u, request=replace(u.request, genre_groups=more))
    understood = u.chips(ctx.index.label)
    note = _unknown_note(ctx, u, message)
    if (open_words := u.open_words) and not soft and u.only_hints and state.is_empty():
        return _open_words_answer(ctx, state, u, open_words, n, understood, note)
    if u.only_unread_words and not soft:
        words = "; ".join(f"“{t}”" for t, _ in u.request.statements[:2])
        ask = (
            "Which film did you mean, or what do you like about it (a genre, a decade)?"
            if note
            else f"I could not match {words} to a genre, a decade or a film in our catalogue. "
            "What are you in the mood for: a genre, a decade, or a film you liked?"
        )
        return _question(state, note + ask, understood)
    if (hints := u.only_hints) and not soft and state.is_empty() and not u.only_avoid_hints:
        # a guess from a weak reading is no answer: ask, naming the guess
        guess = " or ".join(GENRE_PHRASE.get(g, g) for g in hints[:2])
        ask = f"Do you mean {guess}? Tell me a genre, a decade or a film you liked."
        return _question(state, note + ask, understood)
    liked = any(f.role == "like" for f in u.known_films)
    fresh = _new_topic(message) and not liked
    before = state
    state, asked = _with_request(ctx, _anchored(ctx, state, u), u.request, fresh,
                                 u.exclude_years, soft)  # fmt: skip
    if liked:
        lead = f"Like {ctx.index.label(state.anchor)}:" if state.anchor is not None else ""
        return _recommend(ctx, replace(state, shown=()), n, lead or "Here are some picks:",
                          understood, note)  # fmt: skip
    if not asked and not u.known_films:
        if note:
            return _question(
                state, note + "What do you like about it: a genre, a decade?", understood
            )
        if _vague(message) or before.is_empty():
            return _question(state, CLARIFY)
        return _recommend(ctx, state, n, "Here are more picks:")
    if fresh and state.genre_groups != before.genre_groups:
        # a new topic drops the earlier "like X" too: "a western" after "like Heat"
        state = replace(state, anchor=None, relation=None)
    return _recommend(ctx, replace(state, shown=()), n, "Here are some picks:", understood, note)


def promote(state: ConversationState, profile: Profile, index: TitleIndex | None = None) -> Profile:
    """Write the chat's belief state into the profile, where it stays visible and editable.

    Statements carry the wishes in the user's words ("westerns", "funny animated film"), so the
    genres asked for shape the ranking there without becoming a hard filter the user never set;
    "only" genres, exclusions and the year range become the profile's filters. With ``index``
    a "like X" anchor becomes the statement "films like X" ("but newer": a year filter too).
    """
    for s in state.statements:
        profile = add_statement(profile, s)
    filters = state.filters
    if index is not None and state.anchor is not None:
        text = f"films like {index.natural[state.anchor]}"
        if all(s.text != text for s in profile.statements):
            profile = add_statement(profile, make_statement(text, source="conversation"))
        year = index.years[state.anchor]
        if year > 0 and state.relation == "newer" and filters.year_min is None:
            filters = replace(filters, year_min=year + 1)
        elif year > 0 and state.relation == "older" and filters.year_max is None:
            filters = replace(filters, year_max=year - 1)
    return replace(profile, filters=profile.filters.merge(filters))


def reply_problems(reply: Reply, index: TitleIndex) -> list[str]:
    """Titles the reply text names that are neither its items nor the item asked about."""
    text = reply.text
    for item in sorted(reply.allowed, key=lambda i: -len(index.label(i))):
        # an allowed film's full label is accounted for; scanning across two labels could
        # read "Fear (1996); The Assignment (1997)" as the unshown "Fear, The"
        text = text.replace(index.label(item), " · ")
    return [m.text for m in ungrounded(index, text, reply.allowed)]
