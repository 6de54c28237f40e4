"""The one seam: database rows -> the arrays and id maps ``recommender`` works on."""

from __future__ import annotations

import numpy as np
from django.db.models import Q

from recommender.data import Catalogue, Dataset, IdMap, build_dataset
from webapp.catalogue.models import Interaction, Item
from webapp.recommendations.models import Adapter, ModelVersion

# What counts as a positive signal for the collaborative models. A dislike is not one, and
# a view is too weak to count yet.
POSITIVE = Q(kind=Interaction.Kind.RATING) | Q(kind=Interaction.Kind.LIKE)


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
        descriptions=tuple(r[3] or r[4] or "" for r in rows),  # a curated text wins
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
