"""The one seam: database rows -> the arrays and id maps ``recommender`` works on."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Q

from recommender.data import Catalogue, Dataset, IdMap, build_dataset
from webapp.catalogue.models import Interaction, Item
from webapp.recommendations.models import Adapter, ModelVersion, RecommendationList

# What counts as a positive signal for the collaborative models. A dislike is not one, and
# a view is too weak to count yet.
POSITIVE_KINDS = frozenset({Interaction.Kind.RATING, Interaction.Kind.LIKE})
POSITIVE = Q(kind__in=sorted(POSITIVE_KINDS))


def catalogue_from_db() -> Catalogue:
    """Every item, retired ones included (their history still teaches the models); the item
    index follows primary-key order, so ids map to the same rows across calls."""
    rows = list(
        Item.objects.order_by("pk").values_list(
            "pk", "title", "year", "description", "generated_description"
        )
    )
    genres: dict[int, list[str]] = {}
    for item_id, name in Item.genres.through.objects.values_list("item_id", "genre__name"):
        genres.setdefault(item_id, []).append(name)
    return Catalogue(
        ids=IdMap.from_iterable(r[0] for r in rows),
        titles=tuple(r[1] for r in rows),
        years=np.array([r[2] or -1 for r in rows], dtype=np.int64),
        genres=tuple(tuple(sorted(genres.get(r[0], []))) for r in rows),
        # A curated text wins; the LLM's text only with EMBED_GENERATED_TEXT (see settings).
        descriptions=tuple(
            r[3] or (r[4] if settings.EMBED_GENERATED_TEXT else "") or "" for r in rows
        ),
    )


def dataset_from_db(name: str = "site") -> Dataset:
    """Positive interactions in (time, id) order: ids follow insertion order, which is the
    file row order for imports and so breaks timestamp ties the way the protocol expects."""
    catalogue = catalogue_from_db()
    rows = Interaction.objects.filter(POSITIVE).order_by("created_at", "id")
    users, items, values, stamps = [], [], [], []
    for user_id, item_id, value, created in rows.values_list(
        "user_id", "item_id", "value", "created_at"
    ).iterator(chunk_size=20_000):
        users.append(user_id)
        items.append(item_id)
        values.append(value if value is not None else 5.0)  # a like counts as a top rating
        stamps.append(int(created.timestamp()))
    user_ids = sorted(set(users))
    return build_dataset(
        name, user_ids, catalogue, users, items, np.asarray(values), np.asarray(stamps)
    )


def best_adapter() -> Adapter | None:
    """The adapter serving uses: the best validation score among those registered."""
    return Adapter.objects.exclude(valid_ndcg=None).order_by("-valid_ndcg", "-created_at").first()


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def stored_list(*, user: Any) -> RecommendationList | None:
    """The user's precomputed list with its model version (one query)."""
    return RecommendationList.objects.filter(user=user).select_related("model_version").first()


def list_status(*, stored: RecommendationList | None) -> dict[str, Any] | None:
    """Where a stored list (as the ranking already read it) stands: which model wrote it and
    when, and whether the LLM reranker has reordered its head since (or is doing so now).
    None: no list yet.
    """
    from webapp.jobs.models import JobRun
    from webapp.recommendations import tasks  # tasks import this module

    if stored is None:
        return None
    rerank_job = JobRun.objects.filter(task_name=tasks.lists_rerank.name).first()
    reranked_current = stored.reranked_at is not None and stored.reranked_at >= stored.computed_at
    return {
        "computed_at": stored.computed_at,
        "model": stored.model_version.name,
        "model_version": stored.model_version.version,
        "reranked_at": stored.reranked_at if reranked_current else None,
        # "<model path or id>@<content hash>": the folder or hub name is what a person reads
        "reranked_by": stored.reranked_by.split("@")[0].rstrip("/").rsplit("/", 1)[-1]
        if reranked_current
        else "",
        "llm_order": (stored.reranked or []) if reranked_current else [],
        "rerank_job": rerank_job if rerank_job and not rerank_job.is_finished else None,
    }


HOME_LENGTH = 20  # cards on the home page


def for_you(*, user: Any, limit: int = HOME_LENGTH) -> dict[str, Any]:
    """What the home page's list shows: the profile-re-ranked entries (each with the LLM
    reranker's place, when it has one), where the stored list stands, and whether the
    explanations of the first screen are still being written."""
    from webapp.profiles import selectors as profiles  # profiles' selectors import this module
    from webapp.profiles.services import EXPLAIN_TOP_N

    ranking = profiles.ranking_for(user=user, limit=limit)
    status = list_status(stored=ranking.stored)
    llm_place = {pk: n for n, pk in enumerate(status["llm_order"] if status else [], start=1)}
    for entry in ranking.entries:
        entry["llm_rank"] = llm_place.get(entry["item"].pk)
    job = profiles.explanations_job(user=user) if ranking.entries else None
    return {
        "explain_top": EXPLAIN_TOP_N,
        "recommendations": ranking.entries,
        "ranking": ranking,
        "status": status,
        "explain_job": job,
        "explaining": job is not None and not job.is_finished,
    }
