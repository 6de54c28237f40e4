"""Reads of the catalogue and interactions."""

from __future__ import annotations

from typing import Any

import numpy as np
from django.conf import settings
from django.db.models import Prefetch, Q, QuerySet

from recommender.data import Catalogue, Dataset, IdMap, Interactions, build_dataset
from webapp.catalogue.models import Genre, Interaction, Item

# What counts as a positive signal for the collaborative models. A dislike is not one, and
# a view is too weak to count yet.
POSITIVE_KINDS = frozenset({Interaction.Kind.RATING, Interaction.Kind.LIKE})
POSITIVE = Q(kind__in=sorted(POSITIVE_KINDS))
# Interactions -> the ratings profile generation reads: a like is a top rating, a dislike the
# bottom one; views say too little about taste to count.
KIND_RATING = {Interaction.Kind.LIKE: 5.0, Interaction.Kind.DISLIKE: 1.0}


def item_list(*, query: str = "", genre: str = "", include_retired: bool = False) -> QuerySet[Item]:
    """Catalogue listing for browsing: active items, optional title search and genre filter."""
    items = Item.objects.all() if include_retired else Item.objects.filter(is_active=True)
    for word in query.split()[:8]:  # every word must match; the cap keeps the SQL bounded
        items = items.filter(title__icontains=word)
    if genre:
        items = items.filter(genres__name=genre)
    return items.prefetch_related("genres").order_by("-interaction_count", "title", "id")


def genre_list() -> QuerySet[Genre]:
    return Genre.objects.filter(items__is_active=True).distinct().order_by("name")


def user_history(*, user: Any) -> QuerySet[Interaction]:
    return (
        Interaction.objects.filter(user=user)
        .select_related("item")
        .prefetch_related(Prefetch("item__genres"))
        .order_by("-created_at", "-id")
    )


def item_state_for_user(*, user: Any, item: Item) -> dict[str, Any]:
    """What the user has done with an item: liked / disliked / rating."""
    if not user.is_authenticated:
        return {"liked": False, "disliked": False, "rating": None}
    kinds = dict(
        Interaction.objects.filter(
            Q(kind=Interaction.Kind.LIKE) | Q(kind=Interaction.Kind.DISLIKE) | Q(kind="rating"),
            user=user,
            item=item,
        ).values_list("kind", "value")
    )
    rating = kinds.get(Interaction.Kind.RATING)
    return {
        "liked": Interaction.Kind.LIKE in kinds,
        "disliked": Interaction.Kind.DISLIKE in kinds,
        "rating": int(rating) if rating is not None else None,
    }


def popular_items(*, limit: int = 12) -> QuerySet[Item]:
    """The best-known active items (most interactions): what a new user can rate at once."""
    return (
        Item.objects.filter(is_active=True)
        .prefetch_related("genres")
        .order_by("-interaction_count", "title", "id")[:limit]
    )


def item_states_for_user(*, user: Any, items: list[Item]) -> dict[int, dict[str, Any]]:
    """``item_state_for_user`` for many items in one query: item pk -> liked/disliked/rating."""
    states: dict[int, dict[str, Any]] = {
        item.pk: {"liked": False, "disliked": False, "rating": None} for item in items
    }
    if not user.is_authenticated or not items:
        return states
    rows = Interaction.objects.filter(user=user, item__in=items).exclude(kind=Interaction.Kind.VIEW)
    for item_id, kind, value in rows.values_list("item_id", "kind", "value"):
        if kind == Interaction.Kind.RATING:
            states[item_id]["rating"] = int(value) if value is not None else None
        else:
            states[item_id]["liked" if kind == Interaction.Kind.LIKE else "disliked"] = True
    return states


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


def history_rows(*, user: Any) -> list[tuple[Any, str, int, tuple[str, ...], float | None]]:
    """(item pk, title, year, genres, rating) oldest first, one row per item (latest wins)."""
    rows = (
        Interaction.objects.filter(user=user)
        .exclude(kind=Interaction.Kind.VIEW)
        .order_by("created_at", "id")
        .select_related("item")
        .prefetch_related("item__genres")
    )
    latest: dict[int, tuple[Any, str, int, tuple[str, ...], float | None]] = {}
    for r in rows:
        rating = r.value if r.kind == Interaction.Kind.RATING else KIND_RATING[r.kind]
        genres = tuple(sorted(g.name for g in r.item.genres.all()))
        latest.pop(r.item_id, None)  # re-insert so the order follows the latest interaction
        latest[r.item_id] = (r.item_id, r.item.title, r.item.year or -1, genres, rating)
    return list(latest.values())


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


def interactions_now(*, user_ids: list[int], item_index: dict[int, int]) -> Interactions:
    """The positive interactions of ``user_ids`` as they are now, as a slice a model folds in
    (:meth:`recommender.base.Ranker.folded`): row ``i`` is ``user_ids[i]``, items are indices
    of ``item_index`` (a model's item pks; items added since its training are left out). The
    same rows, order and values as :func:`dataset_from_db` gives training, for these users."""
    row_of = {pk: i for i, pk in enumerate(user_ids)}
    rows = (
        Interaction.objects.filter(POSITIVE, user_id__in=user_ids)
        .order_by("created_at", "id")
        .values_list("user_id", "item_id", "value", "created_at")
    )
    users, items, values, stamps = [], [], [], []
    for user_id, item_id, value, created in rows.iterator(chunk_size=20_000):
        if item_id in item_index:
            users.append(row_of[user_id])
            items.append(item_index[item_id])
            values.append(value if value is not None else 5.0)  # a like counts as a top rating
            stamps.append(int(created.timestamp()))
    return Interactions(
        n_users=len(user_ids),
        n_items=len(item_index),
        users=np.asarray(users, dtype=np.int64),
        items=np.asarray(items, dtype=np.int64),
        values=np.asarray(values, dtype=np.float32),
        timestamps=np.asarray(stamps, dtype=np.int64),
    )
