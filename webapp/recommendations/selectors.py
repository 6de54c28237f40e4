"""The one seam: database rows -> the arrays and id maps ``recommender`` works on."""

from __future__ import annotations

import functools
import json
import logging
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, Q, QuerySet

from recommender.decision import ServingDecision, serving_decision
from recommender.user_state import ItemSide
from webapp.catalogue.models import CatalogueVersion

# the training data is the catalogue app's rows; re-exported here, where the callers read it
from webapp.catalogue.selectors import dataset_from_db  # noqa: F401
from webapp.jobs.models import JobRun
from webapp.recommendations.models import (
    Adapter,
    ModelVersion,
    RecommendationList,
    RefreshChunk,
    RefreshMark,
)

log = logging.getLogger(__name__)


def best_adapter() -> Adapter | None:
    """The adapter serving uses: the best validation score among those registered."""
    return Adapter.objects.exclude(valid_ndcg=None).order_by("-valid_ndcg", "-created_at").first()


def active_model_version() -> ModelVersion | None:
    return ModelVersion.objects.filter(is_active=True).first()


def catalogue_version_number() -> int:
    """The catalogue's version counter (database triggers bump it on any item write); 0
    without its row (a test database flushed between tests)."""
    number = CatalogueVersion.objects.filter(pk=1).values_list("number", flat=True).first()
    return int(number or 0)


def refresh_marks(*, user_ids: list[int] | None = None) -> dict[int, int]:
    """user -> mark version of the users whose inputs changed since their list (all of them,
    or those of ``user_ids``): read before a refresh computes, so an edit meanwhile shows."""
    rows = RefreshMark.objects.all()
    if user_ids is not None:
        rows = rows.filter(user_id__in=user_ids)
    return dict(rows.values_list("user_id", "version"))


def users_to_refresh(*, model_version: ModelVersion) -> list[int]:
    """Users whose stored list is older than their inputs, sorted: a mark (a new, changed or
    removed interaction, a new profile version), a list computed before the catalogue's last
    change, or a list from another model version."""
    return sorted(u for (u,) in users_to_refresh_query(model_version=model_version))


def users_to_refresh_query(*, model_version: ModelVersion) -> QuerySet[Any]:
    """:func:`users_to_refresh` as one UNION of three index reads (the marks table holds only
    changed users; catalogue_version and model_version are indexed on the lists), so its
    cost follows the number of changed users, not of all users."""
    # EXISTS, not IN: a probe of auth_user's primary key per mark, never a scan of the users
    user = get_user_model().objects.filter(pk=OuterRef("user_id"))
    marked = RefreshMark.objects.filter(Exists(user)).values_list("user_id")
    lists = RecommendationList.objects.values_list("user_id")
    older = lists.filter(catalogue_version__lt=catalogue_version_number())
    # two ranges rather than "<>": each is an index range scan of the model_version column
    pk = model_version.pk
    other_version = lists.filter(Q(model_version_id__lt=pk) | Q(model_version_id__gt=pk))
    return marked.union(older, other_version)


def reranker_serving() -> tuple[Adapter | None, ServingDecision]:
    """The best validated adapter, and whether it reorders the served lists (and why)."""
    adapter, version = best_adapter(), active_model_version()
    served = version.name if version else None
    if adapter is None:
        return None, serving_decision(served, None, None, None)
    return adapter, serving_decision(
        served,
        (adapter.config or {}).get("retriever"),
        adapter.valid_ndcg,
        adapter.retriever_valid_ndcg,
        adapter.valid_gain_low,
    )


def stored_list(*, user: Any, entries: bool = True) -> RecommendationList | None:
    """The user's precomputed list with its model version (one query).

    ``entries=False`` leaves the list itself (``entries``, ``reranked_parts``: tens of kB of
    JSON) to a second query on first access: a page whose ranking is cached needs only the
    row's versions and dates, and decoding the JSON on every request is most of its cost.
    """
    rows = RecommendationList.objects.filter(user=user).select_related("model_version")
    deferred = ("entries", "reranked_parts", "catalogue_scores", "user_state")
    return (rows if entries else rows.defer(*deferred)).first()


def ids_path(artifact: str | Path) -> Path:
    """The ids file beside a model version's artifact: its user and item pks, in the order
    of the model's rows and columns (written once at training)."""
    return Path(artifact).with_suffix(".ids.json")


def model_ids(path: str) -> dict[str, list[Any]]:
    """{"users": [...], "items": [...]}: the pks of a model version's rows and columns."""
    ids: dict[str, list[Any]] = json.loads(ids_path(path).read_text())
    return ids


def item_side_path(artifact: str | Path) -> Path:
    """The directory beside a model version's artifact holding its item side
    (recommender.user_state.ItemSide: one .npy per role, memory-mapped by web processes)."""
    return Path(artifact).with_suffix(".items")


@functools.lru_cache(maxsize=4)
def model_item_side(version: str, path: str) -> ItemSide | None:
    """A model version's item side, memory-mapped once per process; None when it was never
    written (a version from before user states) or cannot be read (the caller then has no
    catalogue-wide scores, as for a list without them, and says so in the log)."""
    folder = item_side_path(path)
    if not (folder / "manifest.json").is_file():
        return None
    try:
        return ItemSide.load(folder)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("item side of %s unreadable (%s): no catalogue-wide scores", version, exc)
        return None


@functools.lru_cache(maxsize=4)
def model_item_ids(version: str, path: str) -> tuple[Any, ...]:
    """The item pks in the order of a model version's score arrays, cached per process by
    version (the request path maps stored score arrays with it)."""
    return tuple(model_ids(path)["items"])


# The Celery name of ``tasks.lists_rerank`` (the tasks module imports this one, so the name is
# written out; a test checks that it matches).
LISTS_RERANK_TASK = "webapp.recommendations.tasks.lists_rerank"
TRAIN_TASKS = (
    "webapp.recommendations.tasks.model_train",
    "webapp.recommendations.tasks.model_train_first",
)


# what each model ordering a list does, in the words of the page (no model names)
MODEL_WORDS = {
    "hybrid": "what people with taste like yours enjoyed and what you watched recently",
    "ease": "what people with taste like yours enjoyed",
    "itemknn": "films watched alongside the ones you liked",
    "als": "what people with taste like yours enjoyed",
    "bpr": "what people with taste like yours enjoyed",
    "sasrec": "what usually comes next after what you watched recently",
    "dense": "films whose descriptions are close to ones you liked",
    "pop": "what is widely watched here",
    "semantic": "what usually comes next after what you watched recently",
}


def list_status(*, stored: RecommendationList | None) -> dict[str, Any] | None:
    """Where a stored list (as the ranking already read it) stands: which model wrote it and
    when, and whether the LLM reranker has reordered its head since (or is doing so now).
    None: no list yet.
    """
    if stored is None:
        return None
    rerank_job = JobRun.objects.filter(task_name=LISTS_RERANK_TASK).first()
    training = (
        JobRun.objects.filter(task_name__in=TRAIN_TASKS)
        .exclude(state__in=(JobRun.State.SUCCEEDED, JobRun.State.FAILED))
        .order_by("-created_at")
        .first()
    )
    reranked_current = stored.reranked_at is not None and stored.reranked_at >= stored.computed_at
    return {
        "computed_at": stored.computed_at,
        "model": stored.model_version.name,
        "model_words": MODEL_WORDS.get(stored.model_version.name, "our recommender"),
        "model_version": stored.model_version.version,
        "reranked_at": stored.reranked_at if reranked_current else None,
        # "<model path or id>@<content hash>": the folder or hub name is what a person reads
        "reranked_by": stored.reranked_by.split("@")[0].rstrip("/").rsplit("/", 1)[-1]
        if reranked_current
        else "",
        "llm_order": (stored.reranked or []) if reranked_current else [],
        "rerank_job": rerank_job if rerank_job and not rerank_job.is_finished else None,
        # a newer model is training: the page says the list will get better
        "training_job": training,
        # (parts written, parts) of a trained version's lists still being written
        "refreshing": _refreshing(),
    }


def _refreshing() -> tuple[int, int] | None:
    pending = (
        RefreshChunk.objects.filter(done_at=None, failed_at=None, model_version__is_active=False)
        .order_by("-model_version__created_at")
        .values_list("model_version_id", flat=True)
        .first()
    )
    if pending is None:
        return None
    rows = RefreshChunk.objects.filter(model_version_id=pending)
    return rows.exclude(done_at=None).count(), rows.count()
