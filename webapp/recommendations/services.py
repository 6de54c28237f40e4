"""Training and list refreshes. Slow work: only ever called from Celery tasks or commands."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from recommender import registry
from recommender.base import Ranker
from recommender.serving import top_n, train_for_serving
from webapp.catalogue.models import Item
from webapp.recommendations import selectors
from webapp.recommendations.models import ModelVersion, RecommendationList

Progress = Callable[[float, str], None]
LIST_LENGTH = 100  # candidates kept per user: room for profile re-ranking and LLM reranking


def _quiet(fraction: float, message: str) -> None:
    return None


def model_train(
    *, name: str = "hybrid", seed: int = 0, activate: bool = True, progress: Progress = _quiet
) -> ModelVersion:
    """Tune on validation, refit on everything, save the artifact and register the version."""
    dataset = selectors.dataset_from_db()
    if len(dataset.interactions) == 0:
        raise ValueError("there are no interactions to learn from; import data first")
    trained = train_for_serving(name, dataset, seed=seed, progress=progress)
    version = f"{name}-{timezone.now():%Y%m%d-%H%M%S}-{trained.split_hash[:8]}"
    path = Path(settings.ARTIFACT_DIR) / "models" / f"{version}.bin"
    trained.model.save(path)
    ids = {"users": list(dataset.users.ids), "items": list(dataset.catalogue.ids.ids)}
    with transaction.atomic():
        mv = ModelVersion.objects.create(
            name=name,
            version=version,
            path=str(path),
            hparams=trained.hparams,
            valid_ndcg=trained.valid_ndcg if np.isfinite(trained.valid_ndcg) else None,
            split_hash=trained.split_hash,
            n_users=len(dataset.users),
            n_items=len(dataset.catalogue),
            n_interactions=len(dataset.interactions),
            seconds={k: round(v, 2) for k, v in trained.seconds.items()},
        )
        _ids_path(mv).write_text(json.dumps(ids))
        if activate:
            ModelVersion.objects.exclude(pk=mv.pk).update(is_active=False)
            mv.is_active = True
            mv.save(update_fields=["is_active"])
    return mv


def _ids_path(mv: ModelVersion) -> Path:
    return Path(mv.path).with_suffix(".ids.json")


@functools.lru_cache(maxsize=2)
def _load(version: str, path: str, name: str) -> tuple[Ranker, list[int], list[int]]:
    """A worker keeps the last two versions in memory; loading is the slow part of a refresh."""
    model_cls = type(registry.get(name).build({}, 0))  # the class whose ``load`` reads it
    ids = json.loads(Path(path).with_suffix(".ids.json").read_text())
    return model_cls.load(Path(path)), ids["users"], ids["items"]


def recommendations_refresh(
    *,
    model_version: ModelVersion,
    user_ids: list[int] | None = None,
    progress: Progress = _quiet,
) -> int:
    """Recompute and store top-N lists for ``user_ids`` (default: every user the model knows).

    Returns how many lists were written. Users the model has not seen (new accounts) are
    skipped: cold start is answered from their profile, not from this model.
    """
    model, known_users, item_ids = _load(
        model_version.version, model_version.path, model_version.name
    )
    index_of_user = {pk: i for i, pk in enumerate(known_users)}
    wanted = known_users if user_ids is None else [u for u in user_ids if u in index_of_user]
    # Retired items are left out, and so are items the model's id map knows but the database
    # no longer has. Items added after fitting are simply unknown until the next training.
    active = set(Item.objects.filter(is_active=True).values_list("pk", flat=True))
    excluded = np.array([pk not in active for pk in item_ids], dtype=bool)
    started, written = time.perf_counter(), 0
    users = np.array([index_of_user[u] for u in wanted], dtype=np.int64)
    batch: list[RecommendationList] = []
    for n, ul in enumerate(top_n(model, users, LIST_LENGTH, excluded_items=excluded), start=1):
        entries = [
            {
                "item": item_ids[i],
                "score": round(float(s), 5),
                "components": {r: round(float(c[j]), 5) for r, c in ul.components.items()},
            }
            for j, (i, s) in enumerate(zip(ul.items, ul.scores, strict=True))
        ]
        batch.append(
            RecommendationList(
                user_id=known_users[ul.user], model_version=model_version, entries=entries
            )
        )
        if len(batch) >= 500:
            written += _store(batch)
            batch = []
            progress(n / max(len(users), 1), f"{n:,} of {len(users):,} users")
    written += _store(batch)
    progress(1.0, f"{written:,} lists in {time.perf_counter() - started:.1f} s")
    return written


def _store(lists: list[RecommendationList]) -> int:
    if lists:
        RecommendationList.objects.bulk_create(
            lists,
            update_conflicts=True,
            unique_fields=["user"],
            update_fields=["model_version", "entries", "computed_at"],
        )
    return len(lists)
