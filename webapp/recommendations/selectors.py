"""The one seam: database rows -> the arrays and id maps ``recommender`` works on."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np

from recommender.data import Dataset, build_dataset
from webapp.catalogue.models import Interaction
from webapp.catalogue.selectors import POSITIVE, catalogue_from_db
from webapp.jobs.models import JobRun
from webapp.recommendations.models import Adapter, ModelVersion, RecommendationList


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


def stored_list(*, user: Any, entries: bool = True) -> RecommendationList | None:
    """The user's precomputed list with its model version (one query).

    ``entries=False`` leaves the list itself (``entries``, ``reranked_parts``: tens of kB of
    JSON) to a second query on first access: a page whose ranking is cached needs only the
    row's versions and dates, and decoding the JSON on every request is most of its cost.
    """
    rows = RecommendationList.objects.filter(user=user).select_related("model_version")
    deferred = ("entries", "reranked_parts", "catalogue_scores")
    return (rows if entries else rows.defer(*deferred)).first()


@functools.lru_cache(maxsize=4)
def model_item_ids(version: str, path: str) -> tuple[Any, ...]:
    """The item pks in the order of a model version's score arrays (its ids file, written
    once at training: cached per process by version)."""
    ids = json.loads(Path(path).with_suffix(".ids.json").read_text())
    return tuple(ids["items"])


# The Celery name of ``tasks.lists_rerank`` (the tasks module imports this one, so the name is
# written out; a test checks that it matches).
LISTS_RERANK_TASK = "webapp.recommendations.tasks.lists_rerank"


def list_status(*, stored: RecommendationList | None) -> dict[str, Any] | None:
    """Where a stored list (as the ranking already read it) stands: which model wrote it and
    when, and whether the LLM reranker has reordered its head since (or is doing so now).
    None: no list yet.
    """
    if stored is None:
        return None
    rerank_job = JobRun.objects.filter(task_name=LISTS_RERANK_TASK).first()
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
