"""The request-path ranking: the stored list re-ranked by the current profile, with cards.

Everything here is arithmetic on stored rows and vectors (see ``webapp.catalogue.state``):
statement vectors come from the encoder's on-disk cache, so only a newly typed statement is
embedded (~10-20 ms with MiniLM). Explanations are read from the cache the worker writes, or
drafted from the same evidence by the template.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db.models import Count

from explanations.explain import (
    MORE,
    Evidence,
    collect_evidence,
    explanation_key,
    leading_reason,
    list_evidence,
    reason_rows,
    template_explanation,
)
from explanations.matching import catalogue_fit, newest_year, statement_facts
from explanations.parsing import GENRE_PHRASE
from explanations.profile import Profile
from explanations.scoring import (
    EXPLICIT_SOURCES,
    CatalogueScores,
    Reranked,
    ScoredOnDemand,
    filter_mask,
    new_user_base,
    profile_rerank,
)
from recommender.encoders import text_sha
from recommender.serving import unpack_parts
from recommender.user_state import UserState
from webapp import ml
from webapp.catalogue.models import Interaction, Item, ItemVectors
from webapp.catalogue.selectors import POSITIVE_KINDS
from webapp.catalogue.state import (
    CatalogueState,
    catalogue_state,
    encoder_key,
    item_vectors,
    item_vectors_row,
    text_moments,
    title_search,
)
from webapp.jobs.models import JobRun
from webapp.profiles.selectors import current_profile
from webapp.ranking.models import Explanation
from webapp.recommendations.models import RecommendationList
from webapp.recommendations.selectors import (
    list_status,
    model_item_ids,
    model_item_side,
    stored_list,
)

PROFILE_ONLY = "profile-only"  # the "model version" of lists scored from the profile alone
EXPLAIN_TOP_N = 10  # explanations the refresh writes per user: the first screen of the list


@functools.cache
def _web_threads() -> None:
    # One torch thread per web process: a one-sentence embedding is latency-bound, and many
    # processes share the cores (the explanations package's measurements).
    import torch

    torch.set_num_threads(1)


def statement_vectors(
    profile: Profile, *, in_request: bool = True, store: bool = True
) -> np.ndarray:
    """(S, d) vectors; cached texts are read from the encoder's disk cache, new ones encoded
    (in a request that is the one statement just typed) and, with ``store``, cached."""
    encoder = ml.encoder()
    texts = [s.text for s in profile.statements]
    if in_request and encoder.cache is not None:
        found = encoder.cache.get_many(encoder.key, [text_sha(t) for t in texts])
        if len(found) < len(set(texts)):
            _web_threads()  # only now is torch needed at all
    return encoder.encode(texts, store=store)


# -- the re-ranked list ---------------------------------------------------------------------


@dataclass(frozen=True)
class Ranking:
    """The user's list re-ranked by their profile, with what the page needs for each card."""

    entries: list[dict[str, Any]]
    profile: Profile | None
    fingerprint: str
    model_version: str
    reranked: Reranked | None
    vectors_ready: bool
    stored: RecommendationList | None = None  # the precomputed list it was ranked from
    # catalogue indices of the positive history it was ranked for (what evidence may cite)
    history: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))


@dataclass(frozen=True)
class _Inputs:
    """Everything a user's ranking is computed from, read on every request (a few small
    queries, no JSON larger than the stored list): equal inputs give an equal ranking, so
    their digest keys the cached one."""

    state: CatalogueState
    profile: Profile | None
    stored: RecommendationList | None
    vectors: ItemVectors | None
    seen: frozenset[Any]  # items the user interacted with in any way
    positive: tuple[Any, ...]  # sorted: the ones the collaborative model counts

    @property
    def history(self) -> np.ndarray:
        """Catalogue indices of the positive history, sorted."""
        positions = (self.state.position(pk) for pk in self.positive)
        return np.array(sorted(i for i in positions if i is not None), np.int64)

    def digest(self) -> str:
        stored = self.stored
        parts = (
            self.state.signature,
            self.profile.fingerprint if self.profile is not None else None,
            None if stored is None else (
                stored.pk, stored.model_version_id, stored.computed_at, stored.reranked_at,
                stored.reranked_by,
            ),
            None if self.vectors is None else (self.vectors.pk, self.vectors.path),
            # only a cold start's pool depends on the rest (views included)
            sorted(self.seen) if stored is None else None,
            self.positive,
            encoder_key(),  # the statement vectors and the explanation keys depend on both
            settings.LLM_MODEL,
            settings.EXPLANATIONS_LLM,  # whether the drafts are final or pending
        )  # fmt: skip
        return hashlib.sha256(repr(parts).encode()).hexdigest()


def _inputs(user: Any, profile: Profile | None = None) -> _Inputs:
    rows = Interaction.objects.filter(user=user).order_by().values_list("item_id", "kind")
    interactions = list(rows)
    return _Inputs(
        state=catalogue_state(),
        profile=profile if profile is not None else current_profile(user=user),
        stored=stored_list(user=user, entries=False),  # read only when re-ranking
        vectors=item_vectors_row(),
        seen=frozenset(pk for pk, _ in interactions),
        positive=tuple(sorted({pk for pk, kind in interactions if kind in POSITIVE_KINDS})),
    )


@dataclass(frozen=True)
class _Candidates:
    items: np.ndarray  # (C,) catalogue indices
    scores: np.ndarray  # (C,) base scores
    components: dict[str, np.ndarray]  # role -> (C,)
    model_version: str
    # the user's parts over the whole catalogue (None for a cold start or an older list)
    catalogue_scores: CatalogueScores | ScoredOnDemand | None = None
    covered: frozenset[str] = frozenset()  # statements a new user's base already says


# (model version, catalogue signature) -> _model_rows(): the same for every user
_ModelRows = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
_MODEL_ROWS: dict[tuple[str, tuple[Any, ...]], _ModelRows] = {}


def _model_rows(version: str, path: str, state: CatalogueState) -> _ModelRows:
    """(model columns, their catalogue rows, the rows any user may be shown: known to the
    model and active, each catalogue row's model column or -1) for one model version on one
    catalogue state, worked out once per (version, catalogue signature) rather than on
    every request."""
    key = (version, state.signature)
    if (found := _MODEL_ROWS.get(key)) is not None:
        return found
    pks = model_item_ids(version, path)
    rows = [(j, i) for j, pk in enumerate(pks) if (i := state.position(pk)) is not None]
    src = np.array([j for j, _ in rows], np.int64)
    dst = np.array([i for _, i in rows], np.int64)
    shown = np.zeros(len(state.catalogue), dtype=bool)
    shown[dst] = True
    for pk in frozenset(state.catalogue.ids.ids) - state.active:
        if (i := state.position(pk)) is not None:
            shown[i] = False
    column = np.full(len(state.catalogue), -1, np.int64)
    column[dst] = src
    if len(_MODEL_ROWS) >= 4:  # a few versions and catalogue states at most
        _MODEL_ROWS.clear()
    _MODEL_ROWS[key] = found = (src, dst, shown, column)
    return found


def _eligible(inputs: _Inputs, shown: np.ndarray) -> np.ndarray:
    """(n_catalogue,) bool: items the model knows, active, and not in the user's history."""
    eligible = shown.copy()
    for pk in inputs.seen:
        if (i := inputs.state.position(pk)) is not None:
            eligible[i] = False
    return eligible


def _on_demand(inputs: _Inputs, stored: RecommendationList) -> ScoredOnDemand | None:
    """A user state's parts, scored for the catalogue rows retrieval asks about only (the
    version's item side is shared and memory-mapped); items the model does not know get
    nothing and are not eligible."""
    mv = stored.model_version
    side = model_item_side(mv.version, mv.path)
    if side is None:
        return None
    pks = model_item_ids(mv.version, mv.path)
    if side.n_items != len(pks):
        return None  # written for another ids file: never guess an alignment
    user = UserState.unpack(stored.user_state)
    _, _, shown, col_of_row = _model_rows(mv.version, mv.path, inputs.state)
    history = col_of_row[inputs.history]  # O(history), through the cached column map
    history = history[history >= 0]

    def score(rows: np.ndarray) -> dict[str, np.ndarray]:
        cols = col_of_row[rows]
        known = cols >= 0
        found = side.parts(user, history, cols[known])
        out = {}
        for role, values in found.items():
            out[role] = np.zeros(len(rows))
            out[role][known] = values
        return out

    return ScoredOnDemand(_eligible(inputs, shown), score, user.spread)


def _whole_catalogue(
    inputs: _Inputs, stored: RecommendationList
) -> CatalogueScores | ScoredOnDemand | None:
    """What retrieval scores items beyond the stored list with: the user state when the
    model has one, else the stored parts of every item mapped onto today's catalogue (items
    the model does not know, imported since, have no score and are not eligible)."""
    if stored.user_state:
        return _on_demand(inputs, stored)
    if not stored.catalogue_scores:
        return None
    state, mv = inputs.state, stored.model_version
    parts = unpack_parts(stored.catalogue_scores)
    n_model = len(model_item_ids(mv.version, mv.path))
    if any(len(v) != n_model for v in parts.values()):
        return None  # written for another ids file: never guess an alignment
    src, dst, shown, _ = _model_rows(mv.version, mv.path, state)
    components = {}
    for role, values in parts.items():
        mapped = np.zeros(len(state.catalogue))
        mapped[dst] = values[src]
        components[role] = mapped
    return CatalogueScores(components, _eligible(inputs, shown))


def _candidates(inputs: _Inputs) -> _Candidates:
    """The stored list (with the whole catalogue's parts, for retrieval); a user with no list
    (cold start) gets every active item they have not rated, scored by what the fans of the
    genres they named watch, else by how widely each is watched (z-scored log counts:
    :func:`explanations.scoring.new_user_base`), so a statement re-ranks films people like,
    not arbitrary ones."""
    state, stored, active = inputs.state, inputs.stored, inputs.state.active
    if stored is not None:
        lazy = {"entries", "reranked_parts", "catalogue_scores", "user_state"}
        deferred = stored.get_deferred_fields() & lazy
        if deferred:
            stored.refresh_from_db(fields=sorted(deferred))  # one query for all of them
        rows = [(state.position(e["item"]), e) for e in stored.entries if e["item"] in active]
        rows = [(i, e) for i, e in rows if i is not None]
        roles = sorted({r for _, e in rows for r in e["components"]})
        scores = np.array([e["score"] for _, e in rows], dtype=np.float64)
        components = {r: np.array([e["components"].get(r, 0.0) for _, e in rows]) for r in roles}
        if (
            stored.reranked_parts
            and stored.reranked_at
            and stored.reranked_at >= stored.computed_at
        ):
            # the LLM reranker's part of each head item, as the worker stored it
            llm = np.zeros(len(rows))
            where = {e["item"]: j for j, (_, e) in enumerate(rows)}
            for part in stored.reranked_parts:
                if (j := where.get(part["item"])) is not None:
                    llm[j] = part["llm"]
            scores = scores + llm
            components["llm"] = llm
        return _Candidates(
            np.array([i for i, _ in rows], dtype=np.int64),
            scores,
            components,
            stored.model_version.version,
            # only statements read the whole catalogue's parts (to retrieve, and for their
            # spread): a profile without any never pays for scoring every item
            _whole_catalogue(inputs, stored)
            if inputs.profile is not None and inputs.profile.statements
            else None,
        )
    pool = [state.position(pk) for pk in sorted(active - inputs.seen)]
    idx = np.array([i for i in pool if i is not None], dtype=np.int64)
    if not len(idx) or not len(state.counts):
        return _Candidates(idx, np.zeros(len(idx)), {}, PROFILE_ONLY)
    role, base, covered = new_user_base(
        inputs.profile or Profile(), state.catalogue, state.counts, state.fans
    )
    return _Candidates(idx, base[idx], {role: base[idx]}, PROFILE_ONLY, None, covered)


def explanation_key_for(
    state: CatalogueState, item: int, fingerprint: str, model_version: str
) -> str:
    return explanation_key(
        text_sha(state.texts[item]), fingerprint, settings.LLM_MODEL, evidence_hash=model_version
    )


@dataclass
class _Ranked:
    """A computed ranking without its ORM rows: what the cache keeps per user. The cards'
    template drafts are added as they are needed (cards whose LLM text exists need none)."""

    model_version: str
    reranked: Reranked | None
    vectors_ready: bool
    rows: list[int]  # places in ``reranked`` of the cards, in order
    indices: list[int]  # their catalogue indices
    pks: list[Any]
    keys: list[str]  # the explanation cache key of each card
    drafts: dict[Any, tuple[dict[str, Any], dict[str, Any]]]  # pk -> (explanation, evidence)
    # the cards' rows with their genres: every change to an item row moves the catalogue
    # signature, which is part of the cache key, so these are as fresh as a query
    items: dict[Any, Item] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return self.reranked is None


def _scored_profile(inputs: _Inputs) -> Profile:
    """The profile the arithmetic uses: before the item vectors exist only filters apply."""
    scored = inputs.profile or Profile()
    return scored if inputs.vectors is not None else Profile(filters=scored.filters)


def _rank(
    inputs: _Inputs,
    limit: int,
    positions: Sequence[int] | None,
    in_request: bool,
    *,
    store: bool = True,
) -> _Ranked:
    """``store=False`` (a profile that is not saved: the edit preview) embeds its new words
    without caching their vectors: a preview is sent on every pause in typing, and each
    half-typed text would otherwise leave a row in the shared cache."""
    state, profile = inputs.state, inputs.profile
    found = _candidates(inputs)
    model_version = found.model_version
    if profile is None and model_version == PROFILE_ONLY:
        return _Ranked(model_version, None, False, [], [], [], [], {})
    vectors = item_vectors(state, inputs.vectors)
    ready = vectors is not None
    scored = _scored_profile(inputs)
    if vectors is None:
        vectors = np.zeros((len(state.catalogue), 1), dtype=np.float32)
    s_vectors = (
        statement_vectors(scored, in_request=in_request, store=store)
        if scored.statements
        else np.zeros((0, vectors.shape[1]), dtype=np.float32)
    )
    ranked = profile_rerank(
        found.items,
        found.scores,
        found.components,
        vectors,
        s_vectors,
        scored,
        state.catalogue,
        index=state.index,
        catalogue_scores=found.catalogue_scores if ready else None,
        covered=found.covered,
        neighbours=state.neighbours,
        text_moments=text_moments(state, inputs.vectors) if ready else None,
        # "films like Heat" from the item vectors' index (a large catalogue only)
        title_search=title_search(state, inputs.vectors) if ready else None,
        # words that name no genre ("spooky") read as the chat reads them: only what a
        # person wrote is read, and only with the item vectors (the encoder is there), so a
        # list without such a statement never builds the reader in a web process
        reader=ml.genre_reader(tuple(state.catalogue.genre_vocabulary), store=store)
        if ready and any(s.source in EXPLICIT_SOURCES for s in scored.statements)
        else None,
    )
    return _cards(inputs, model_version, ranked, ready, limit, positions)


def _cards(
    inputs: _Inputs,
    model_version: str,
    ranked: Reranked,
    ready: bool,
    limit: int,
    positions: Sequence[int] | None,
) -> _Ranked:
    """The cards (top ``limit``, or the places ``positions``) of an already ranked list."""
    state, profile = inputs.state, inputs.profile
    fingerprint = profile.fingerprint if profile else ""
    rows = list(range(min(limit, len(ranked.items)))) if positions is None else list(positions)
    top = ranked.items[rows].tolist()
    pks = [state.catalogue.ids.external(i) for i in top]
    return _Ranked(
        model_version=model_version,
        reranked=ranked,
        vectors_ready=ready,
        rows=rows,
        indices=top,
        pks=pks,
        keys=[explanation_key_for(state, i, fingerprint, model_version) for i in top],
        drafts={},
        items=Item.objects.filter(pk__in=pks).prefetch_related("genres").in_bulk(),
    )


Attributions = dict[str, list[tuple[int, float]]]  # role -> [(history index, share)]


def stored_attributions(
    state: CatalogueState, stored: RecommendationList | None
) -> dict[int, Attributions]:
    """item index -> role -> [(history item index, share)], read off the stored list: what
    the worker computed, with the model that produced each component, when it wrote the
    list; plus, for items the LLM reranker moved up, the history item its co-watch hint
    paired them with (its part of the score is the share)."""
    if stored is None:
        return {}
    out: dict[int, Attributions] = {}
    for entry in stored.entries:
        i = state.position(entry["item"])
        if i is None:
            continue
        roles: Attributions = {}
        for role, pairs in entry.get("evidence", {}).items():
            cited = [
                (h, float(share)) for pk, share in pairs if (h := state.position(pk)) is not None
            ]
            if cited:
                roles[role] = cited
        out[i] = roles
    current = stored.reranked_at is not None and stored.reranked_at >= stored.computed_at
    for part in stored.reranked_parts if current else ():
        i, h = state.position(part["item"]), state.position(part.get("with"))
        if i is not None and h is not None and part["llm"] > 0:
            out.setdefault(i, {})["llm"] = [(h, float(part["llm"]))]
    return out


def card_evidence(
    state: CatalogueState,
    reranked: Reranked,
    row: int,
    attributions: dict[int, Attributions],
    history: np.ndarray,
    profile: Profile | None,
    cited_before: Mapping[int, int] | None = None,
) -> Evidence:
    """The evidence of the card at ``row`` of ``reranked``: every score component with the
    history items its model credits, and the statements the item truly matches."""
    i = int(reranked.items[row])
    return collect_evidence(
        state.catalogue,
        i,
        {r: float(v[row]) for r, v in reranked.components.items()},
        attributions.get(i, {}),
        history=history,
        profile=profile,
        statement_contributions=reranked.contribution(i),
        statement_matches=reranked.matched(i),
        facts=reranked.facts_by_id(),
        cited_before=cited_before,
    )


def cards_evidence(
    state: CatalogueState,
    reranked: Reranked,
    rows: int,
    attributions: dict[int, Attributions],
    history: np.ndarray,
    profile: Profile | None,
) -> list[Evidence]:
    """The evidence of the first ``rows`` cards, each knowing what the cards above cite, so
    a list does not name one film on every card (explanations.explain.list_evidence)."""
    return list_evidence(
        lambda row, before: card_evidence(
            state, reranked, row, attributions, history, profile, before
        ),
        min(rows, len(reranked.items)),
    )


def _draft(inputs: _Inputs, ranked: _Ranked, places: list[int]) -> None:
    """Template explanations (arithmetic on the same evidence the worker's LLM would be
    given) for the cards at ``places`` of ``ranked``, kept in its ``drafts``. They are final
    unless the LLM words explanations (EXPLANATIONS_LLM), in which case they are drafts the
    worker replaces."""
    assert ranked.reranked is not None
    state, reranked = inputs.state, ranked.reranked
    attributions = stored_attributions(state, inputs.stored)
    history, scored = inputs.history, _scored_profile(inputs)
    pending = {"pending": True} if settings.EXPLANATIONS_LLM else {}
    upto = max((ranked.rows[n] for n in places), default=-1) + 1
    listed = cards_evidence(state, reranked, upto, attributions, history, scored)
    for n in places:
        found = listed[ranked.rows[n]]
        # An item a statement brought in from the whole catalogue has no stored attributions:
        # its draft leaves the history roles out (Evidence.unattributed) and the worker
        # completes it with the model's (services.model_attributions), as for the LLM.
        waiting = ranked.rows[n] < EXPLAIN_TOP_N and found.item not in attributions
        todo = pending or ({"pending": True} if waiting and found.unattributed else {})
        text = template_explanation(found, state.index).to_dict() | todo
        ranked.drafts[ranked.pks[n]] = (text, found.to_dict())


RANKING_CACHE_SECONDS = 24 * 3600  # entries are replaced when their inputs change, so this
# only bounds how long an idle user's list occupies the cache


# The list lengths whose ranking is cached: the item page's whole list (0), the profile
# preview (10), the home page and the API's default (20), the chat's context and the API's
# maximum (100). Any other length up to 100 is cut from the next one, so one client cannot
# leave a cache entry per ?limit= value it tries (at most 8 per user: these x explain or not).
CACHED_LIMITS = frozenset({0, 10, 20, 100})


def ranking_cache_key(user_id: int, limit: int, explain: bool) -> str:
    # one entry per user and list length (a fixed key, replaced rather than accumulated
    # when the inputs change), holding the digest of the inputs it was computed from
    return f"ranking:v1:{user_id}:{limit}:{int(explain)}"


def _cache_key(user: Any, limit: int, explain: bool) -> str:
    return ranking_cache_key(user.pk, limit, explain)


def ranking_for(
    *,
    user: Any,
    limit: int = 20,
    explain: bool = True,
    in_request: bool = True,
    profile: Profile | None = None,
    positions: Sequence[int] | None = None,
) -> Ranking:
    """The list the home page shows: stored candidates, re-ranked by the current profile.

    Explanations come from the cache when a row for today's key exists, else from the
    template (arithmetic on the same evidence); the refresh task replaces them with LLM text.
    ``profile`` ranks with that profile instead of the saved one (the edit preview);
    ``positions`` builds entries for those places of the ranked list instead of the top
    ``limit`` (the item page's "why").

    With the saved profile, the computed ranking (order, scores, components, drafts) is kept
    in Django's cache under the digest of everything it was computed from: the catalogue
    signature, the profile fingerprint, the stored list's version, the item vectors, the
    user's interactions and the model settings. Any change to one of them is a different
    digest, so a repeat visit skips the arithmetic and the item queries and never sees a
    stale list; the written explanations are read on every call, so the worker's text
    replaces a draft at once.
    """
    inputs = _inputs(user, profile)
    # any length up to 100 is cut from the cached ranking of the next cached length
    asked = limit
    if profile is None and positions is None and 0 < limit <= max(CACHED_LIMITS):
        limit = min(n for n in CACHED_LIMITS if n >= limit)
    cacheable = profile is None and positions is None and limit in CACHED_LIMITS
    key, digest = _cache_key(user, limit, explain), inputs.digest() if cacheable else ""
    found = cache.get(key) if cacheable else None
    ranked: _Ranked | None = found[1] if found is not None and found[0] == digest else None
    fresh = ranked is None
    if ranked is None and positions is not None and profile is None:
        # Places of the saved list (the item page, right after ranking it with limit 0):
        # the cached full ranking has them, so only the cards are built, nothing re-ranked.
        whole = cache.get(_cache_key(user, 0, False))
        if whole is not None and whole[0] == inputs.digest() and not whole[1].empty:
            w = whole[1]
            ranked = _cards(inputs, w.model_version, w.reranked, w.vectors_ready, 0, positions)
    if ranked is None:
        ranked = _rank(inputs, limit, positions, in_request, store=profile is None)
    if ranked.empty:
        if cacheable and fresh:
            cache.set(key, (digest, ranked), RANKING_CACHE_SECONDS)
        return Ranking([], None, "", ranked.model_version, None, False, inputs.stored)
    assert ranked.reranked is not None
    pks, items = ranked.pks, ranked.items
    written: dict[tuple[Any, str], tuple[Any, Any]] = {
        (pk, k): (text, evidence)
        for pk, k, text, evidence in Explanation.objects.filter(
            user=user, item_id__in=pks, key__in=ranked.keys
        ).values_list("item_id", "key", "explanation", "evidence")
    }
    missing = [
        n
        for n, (pk, k) in enumerate(zip(pks, ranked.keys, strict=True))
        if explain and (pk, k) not in written and pk not in ranked.drafts
    ]
    if missing:
        _draft(inputs, ranked, missing)
    if cacheable and (fresh or missing):
        cache.set(key, (digest, ranked), RANKING_CACHE_SECONDS)
    entries = []
    for row, pk, k in zip(ranked.rows, pks, ranked.keys, strict=True):
        if (pk, k) in written:
            text, evidence = written[pk, k]
        else:
            text, evidence = ranked.drafts[pk] if explain else (None, None)
        entries.append(
            {
                "item": items[pk],
                "score": float(ranked.reranked.scores[row]),
                "components": {r: float(v[row]) for r, v in ranked.reranked.components.items()},
                "explanation": text,
                "evidence": evidence,  # what the explanation was written from (the API shows it)
            }
        )
    profile = inputs.profile
    return Ranking(
        entries[:asked] if asked else entries,
        profile,
        profile.fingerprint if profile else "",
        ranked.model_version,
        ranked.reranked,
        ranked.vectors_ready,
        inputs.stored,
        inputs.history,
    )


# -- what the pages show around the list ----------------------------------------------------

# The Celery name of ``tasks.explanations_refresh`` (the tasks module imports this one, so the
# name is written out; a test checks that it matches).
EXPLANATIONS_TASK = "webapp.ranking.tasks.explanations_refresh"


def explanations_job(*, user: Any) -> Any:
    """The user's latest explanation-refresh JobRun (or None): is text still being written?"""
    return JobRun.objects.filter(task_name=EXPLANATIONS_TASK, arguments__user_id=user.pk).first()


def cached_explanation(*, user: Any, item: Item) -> dict[str, Any] | None:
    """{"explanation", "evidence"} written for ``item`` under the key of *now* (current
    profile, model and item text), or None while it is still to be written. A few small
    queries, no ranking: what a polling card asks every few seconds."""
    state = catalogue_state()
    i = state.position(item.pk)
    if i is None:
        return None
    profile = current_profile(user=user)
    stored = RecommendationList.objects.filter(user=user).values_list(
        "model_version__version", flat=True
    )
    model_version = stored.first() or PROFILE_ONLY
    key = explanation_key_for(state, i, profile.fingerprint if profile else "", model_version)
    row = Explanation.objects.filter(user=user, item=item, key=key).first()
    return {"explanation": row.explanation, "evidence": row.evidence} if row else None


def item_verdict(*, user: Any, item: Item) -> dict[str, Any]:
    """Why ``item`` is, or is not, in the user's list, read off the same ranking the home
    page shows: its place and explanation, the filter that removed it, or that the model
    does not rank it among the user's candidates at all.

    ``status`` is one of: anonymous, retired, no_list, ranked, filtered, not_candidate; a
    ranked item also carries the statements that moved it (up or down) and their parts.
    """
    if not user.is_authenticated:
        return {"status": "anonymous"}
    rated = (
        Interaction.objects.filter(user=user, item=item)
        .exclude(kind=Interaction.Kind.VIEW)
        .exists()
    )
    if not item.is_active:
        return {"status": "retired", "rated": rated}
    state = catalogue_state()
    ranking = ranking_for(user=user, limit=0, explain=False)
    i = state.position(item.pk)
    if ranking.reranked is None or i is None:
        return {"status": "no_list", "rated": rated}
    found = np.flatnonzero(ranking.reranked.items == i)
    if found.size:
        place = int(found[0])
        entry = ranking_for(user=user, positions=[place]).entries[0]
        parts = ranking.reranked.contribution(i)
        moved: list[dict[str, Any]] = [
            {"statement": s, "part": parts[s.id]}
            for s in (ranking.profile.statements if ranking.profile else ())
            if abs(parts.get(s.id, 0.0)) > 1e-9
        ]
        moved.sort(key=lambda m: -abs(m["part"]))
        return {
            "status": "ranked",
            "rated": rated,
            "rank": place + 1,
            "of": len(ranking.reranked.items),
            "entry": entry,
            "statements": moved,
        }
    reason = ranking.reranked.removed.get(i)
    if reason is None and ranking.profile is not None:
        # not a candidate, but say so when a filter would remove it anyway
        reason = filter_mask(state.catalogue, np.array([i]), ranking.profile.filters)[1].get(i)
    if reason is not None:
        return {"status": "filtered", "rated": rated, "reason": reason}
    return {"status": "not_candidate", "rated": rated, "of": len(ranking.reranked.items)}


def similar_items(*, item: Item, limit: int = 6) -> list[Item]:
    """Active items whose text is closest to ``item``'s (cosine over the stored vectors);
    before the vectors exist, the items sharing most genres, most rated first."""
    state = catalogue_state()
    vectors = item_vectors(state)
    i = state.position(item.pk)
    active = state.active
    if vectors is not None and i is not None and np.any(vectors[i]):
        norms = np.linalg.norm(vectors, axis=1) + 1e-12  # (n,)
        sims = (vectors @ vectors[i]) / (norms * norms[i])  # (n,)
        sims[i] = -np.inf
        pks = []
        for j in np.argsort(-sims, kind="stable").tolist():
            pk = state.catalogue.ids.external(j)
            if pk in active and np.isfinite(sims[j]):
                pks.append(pk)
            if len(pks) == limit:
                break
        found = Item.objects.filter(pk__in=pks).prefetch_related("genres").in_bulk()
        return [found[pk] for pk in pks if pk in found]
    return list(
        Item.objects.filter(is_active=True, genres__in=item.genres.all())
        .exclude(pk=item.pk)
        .annotate(shared=Count("genres"))
        .order_by("-shared", "-interaction_count", "title", "pk")
        .prefetch_related("genres")[:limit]
    )


HOME_LENGTH = 20  # cards on the home page


def sections(entries: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page's rows: cards grouped by what raised them most ("Because you watched The
    River Wild"), each reason said once for its row (explanations.explain.reason_rows)."""
    keys = [leading_reason(e["evidence"]) if e.get("evidence") else MORE for e in entries]
    return [
        {"heading": heading, "entries": [entries[n] for n in cards]}
        for heading, cards in reason_rows(keys)
    ]


def for_you(*, user: Any, limit: int = HOME_LENGTH) -> dict[str, Any]:
    """What the home page's list shows: the profile-re-ranked entries (each with the LLM
    reranker's place, when it has one), where the stored list stands, and whether the
    explanations of the first screen are still being written."""
    ranking = ranking_for(user=user, limit=limit)
    status = list_status(stored=ranking.stored)
    llm_place = {pk: n for n, pk in enumerate(status["llm_order"] if status else [], start=1)}
    for rank, entry in enumerate(ranking.entries, start=1):
        entry["llm_rank"] = llm_place.get(entry["item"].pk)
        entry["rank"] = rank
    job = explanations_job(user=user) if ranking.entries else None
    return {
        "explain_top": EXPLAIN_TOP_N,
        "recommendations": ranking.entries,
        "sections": sections(ranking.entries),
        "ranking": ranking,
        "status": status,
        "explain_job": job,
        "explaining": job is not None and not job.is_finished,
    }


def statement_notes(ranking: Ranking, top: int = 10) -> dict[str, tuple[str, bool]]:
    """Statement id -> (what it does to the list, whether that is a warning), for the profile
    page: no statement is silently ignored, and a gentle generated one says so.

    "8 of your top 10 fit this"; "Holds down 12 films of your list; none is in your top 10";
    "A slight preference: 2 of your top 10 fit it anyway" (a generated avoid, weighed lightly);
    "No film in the catalogue fits this" (genres and years nothing has); "None of your top 10
    fits this yet" (a low weight, or other statements outweigh it)."""
    reranked, profile = ranking.reranked, ranking.profile
    if reranked is None or profile is None or not reranked.statement_ids:
        return {}
    catalogue = catalogue_state().catalogue
    # read against every genre we know, so "westerns" in a catalogue without any is a genre
    # that nothing fits rather than free text
    known = tuple(sorted(set(GENRE_PHRASE) | set(catalogue.genre_vocabulary)))
    n = min(top, len(reranked.items))
    by_id = {s.id: s for s in profile.statements}
    notes = {}
    for j, sid in enumerate(reranked.statement_ids):
        st = by_id.get(sid)
        if st is None:
            continue
        f = statement_facts(st.text, known, newest_year=newest_year(catalogue))
        if f.kind == "facts" and not catalogue_fit(catalogue, f).any():
            notes[sid] = ("No film in the catalogue fits this.", True)
            continue
        shown, listed = int(reranked.matches[:n, j].sum()), int(reranked.matches[:, j].sum())
        notes[sid] = _effect(st, shown, listed, n)
    return notes


def _effect(st: Any, shown: int, listed: int, n: int) -> tuple[str, bool]:
    """One statement's line: ``shown`` of the top ``n`` match it, ``listed`` of the list."""
    gentle = st.source not in EXPLICIT_SOURCES
    if st.polarity == "likes":
        if shown:
            return f"{shown} of your top {n} fit this.", False
        if gentle:
            return f"A gentle nudge: none of your top {n} fits it.", False
        return f"None of your top {n} fits this yet.", True
    if not shown:
        if not listed:
            return "None of your films fits this.", False
        return f"Holds down {listed} films of your list; none is in your top {n}.", False
    if gentle:
        return f"A slight preference: {shown} of your top {n} fit it anyway.", False
    return f"{shown} of your top {n} fit it anyway: a higher weight holds them down.", True
