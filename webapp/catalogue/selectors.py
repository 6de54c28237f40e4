"""Reads of the catalogue and interactions."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q, QuerySet

from webapp.catalogue.models import Genre, Interaction, Item


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
