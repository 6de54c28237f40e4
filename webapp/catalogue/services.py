"""Writes to the catalogue and interactions (HackSoft style: keyword-only, typed)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Avg, Count, Q, QuerySet
from django.utils import timezone

from recommender import ann
from recommender.cowatch import CoWatch
from recommender.encoders import TextEncoder, text_sha
from recommender.models.popularity import genre_fans
from webapp.catalogue.models import CatalogueStats, Genre, Interaction, Item, ItemVectors
from webapp.catalogue.selectors import dataset_from_db
from webapp.catalogue.state import ann_index_path, catalogue_state
from webapp.jobs.services import Progress, quiet

if TYPE_CHECKING:
    from recommender.llm import LLMHandle

Kind = Interaction.Kind


@transaction.atomic
def interaction_toggle(*, user: Any, item: Item, kind: str) -> Interaction | None:
    """Like or dislike an item; the same button again takes it back.

    Like and dislike exclude each other. Returns the new interaction, or None when it was
    removed. The unique constraint guarantees at most one like per user and item.
    """
    if kind not in (Kind.LIKE, Kind.DISLIKE):
        raise ValidationError(f"cannot toggle a {kind!r} interaction")
    existing = Interaction.objects.filter(user=user, item=item, kind=kind)
    if existing.exists():
        existing.delete()
        return None
    opposite = Kind.DISLIKE if kind == Kind.LIKE else Kind.LIKE
    Interaction.objects.filter(user=user, item=item, kind=opposite).delete()
    return Interaction.objects.create(user=user, item=item, kind=kind, created_at=timezone.now())


@transaction.atomic
def interaction_rate(*, user: Any, item: Item, value: float) -> Interaction:
    """Set (or change) the user's 1-5 rating of an item (whole stars: the page shows stars,
    so a 4.7 would be stored as one thing and shown as another)."""
    if not 1 <= value <= 5 or value != int(value):
        raise ValidationError("a rating is a whole number of stars from 1 to 5")
    rating, _ = Interaction.objects.update_or_create(
        user=user,
        item=item,
        kind=Kind.RATING,
        defaults={"value": float(value), "created_at": timezone.now()},
    )
    return rating


@transaction.atomic
def interaction_set(
    *, user: Any, item: Item, kind: str, value: float | None = None
) -> tuple[Interaction, bool]:
    """Like, dislike or rate, idempotently (the API's create-or-update): unlike the page's
    toggle, saying "like" twice keeps the like. Returns (interaction, created)."""
    if kind == Kind.RATING:
        if value is None:
            raise ValidationError("a rating needs a value from 1 to 5")
        existed = Interaction.objects.filter(user=user, item=item, kind=kind).exists()
        return interaction_rate(user=user, item=item, value=value), not existed
    existing = Interaction.objects.filter(user=user, item=item, kind=kind).first()
    if existing is not None:
        return existing, False
    created = interaction_toggle(user=user, item=item, kind=kind)
    if created is None:  # only when the row appeared between the two queries
        raise ValidationError(f"the {kind} changed meanwhile; try again")
    return created, True


def interaction_delete(*, user: Any, pk: int) -> None:
    """Remove one of the user's own interactions; someone else's is "not found"."""
    deleted, _ = Interaction.objects.filter(user=user, pk=pk).delete()
    if not deleted:
        raise Interaction.DoesNotExist(f"no interaction {pk} of yours")


def items_set_active(*, item_ids: list[int], active: bool) -> int:
    """Retire or restore items; their interactions are kept either way."""
    return (
        Item.objects.filter(pk__in=item_ids)
        .exclude(is_active=active)
        .update(is_active=active, updated_at=timezone.now())
    )


def catalogue_stats_recompute(*, progress: Progress = quiet) -> CatalogueStats:
    """Denormalise per-item counts and write a statistics snapshot.

    Two aggregate queries and one bulk update, so it scales with the number of items, not
    interactions (the database does the counting).
    """
    started = time.perf_counter()
    progress(0.05, "counting interactions per item")
    per_item = {
        row["item"]: row
        for row in Interaction.objects.values("item").annotate(
            n=Count("id"), mean=Avg("value", filter=Q(kind=Kind.RATING))
        )
    }
    progress(0.4, "updating items")
    items = list(Item.objects.only("id", "interaction_count", "mean_rating"))
    changed = []
    for item in items:
        row = per_item.get(item.pk)
        count, mean = (row["n"], row["mean"]) if row else (0, None)
        mean = round(mean, 4) if mean is not None else None
        if item.interaction_count != count or item.mean_rating != mean:
            item.interaction_count, item.mean_rating = count, mean
            changed.append(item)
    with transaction.atomic():
        Item.objects.bulk_update(changed, ["interaction_count", "mean_rating"], batch_size=500)
    progress(0.8, "counting genres and kinds")
    genre_counts = dict(
        Genre.objects.annotate(n=Count("items", filter=Q(items__is_active=True)))
        .order_by("-n", "name")
        .values_list("name", "n")
    )
    kind_counts = dict(
        Interaction.objects.values_list("kind").annotate(n=Count("id")).values_list("kind", "n")
    )
    progress(0.85, "counting what each genre's fans like and what is watched together")
    fans, neighbours = audience_by_pk()
    stats = CatalogueStats.objects.create(
        n_items=len(items),
        n_active_items=Item.objects.filter(is_active=True).count(),
        n_users=get_user_model().objects.count(),
        n_interactions=sum(kind_counts.values()),
        genre_counts=genre_counts,
        kind_counts=kind_counts,
        genre_fans=fans,
        item_neighbours=neighbours,
        seconds=round(time.perf_counter() - started, 3),
    )
    progress(1.0, "done")
    return stats


NEIGHBOURS = 30  # co-watched items kept per item


def audience_by_pk() -> tuple[dict[str, dict[str, int]], dict[str, list[list[Any]]]]:
    """What the audience says, keyed by item pk (one pass over the positive interactions; a
    few seconds on ML-1M): genre -> {pk: fans of the genre who liked it} (nonzero only), and
    pk -> [[pk, co-watch cosine], ...] its ``NEIGHBOURS`` most co-watched items."""
    dataset = dataset_from_db()  # what the models train on: the positive interactions
    catalogue, interactions = dataset.catalogue, dataset.interactions
    fans = genre_fans(interactions, catalogue.genre_matrix)  # (G, n_items)
    by_genre = {
        genre: {
            str(catalogue.ids.external(int(j))): int(fans[g, j]) for j in np.flatnonzero(fans[g])
        }
        for g, genre in enumerate(catalogue.genre_vocabulary)
        if fans[g].any()
    }
    index, sims = CoWatch.from_interactions(interactions).neighbours(NEIGHBOURS)
    pk = catalogue.ids.external
    by_item = {
        str(pk(a)): [
            [pk(int(b)), round(float(c), 4)]
            for b, c in zip(index[a], sims[a], strict=True)
            if c > 0
        ]
        for a in range(len(catalogue))
        if sims[a].any()
    }
    return by_genre, by_item


def items_to_enrich() -> QuerySet[Item]:
    """Active items with no curated text that the LLM has not tried yet, popular ones first.

    ``generated_by`` is set on every attempt, successful or not, so a failed item is not
    retried forever (an admin clears the field to ask again).
    """
    return Item.objects.filter(is_active=True, description="", generated_by="").order_by(
        "-interaction_count", "pk"
    )


def catalogue_enrich_batch(*, llm: LLMHandle, limit: int = 16) -> tuple[int, int]:
    """Describe up to ``limit`` items; returns (described, unusable).

    The write re-checks that no curated description appeared meanwhile: an admin's text is
    never overwritten, and running the batch twice does nothing the second time.
    """
    from recommender.enrich import ItemText, describe_items

    items = list(items_to_enrich().prefetch_related("genres")[:limit])
    if not items:
        return 0, 0
    texts = [ItemText(i.title, i.year, tuple(g.name for g in i.genres.all())) for i in items]
    tag = f"{llm.model_id}@{llm.version}"
    described = unusable = 0
    for item, generated in zip(items, describe_items(llm, texts), strict=True):
        fields: dict[str, Any] = {"generated_by": tag, "generated_at": timezone.now()}
        if generated.ok:
            fields |= {
                "generated_description": generated.description,
                "generated_keywords": list(generated.keywords),
            }
            described += 1
        else:
            fields["generated_by"] = f"{tag} (no usable output)"
            unusable += 1
        Item.objects.filter(pk=item.pk, description="", generated_by="").update(**fields)
    return described, unusable


def item_vectors_compute(*, encoder: TextEncoder, progress: Progress = quiet) -> ItemVectors:
    """Embed every item's text (the encoder's cache skips unchanged texts) and store the
    matrix as an artifact keyed by (encoder, texts hash). Idempotent."""
    state = catalogue_state()
    existing = ItemVectors.objects.filter(
        encoder_key=encoder.key, texts_hash=state.texts_hash
    ).first()
    if existing is not None and Path(existing.path).exists():
        return existing
    started = time.perf_counter()
    progress(0.1, f"embedding {len(state.texts):,} item texts")
    vectors = encoder.encode(list(state.texts))  # (n_items, d)
    folder = Path(settings.ARTIFACT_DIR) / "item_vectors"
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{text_sha(encoder.key)[:12]}-{state.texts_hash[:16]}"
    path = folder / f"{stem}.npy"
    np.save(folder / f"{stem}.ids.npy", np.asarray(state.catalogue.ids.ids, dtype=np.int64))
    np.save(path, vectors.astype(np.float32))
    if len(vectors) >= ann.EXACT_BELOW:  # "films like Heat" searches it (catalogue.state)
        progress(0.9, f"indexing {len(vectors):,} item vectors")
        ann.build(vectors, ann_index_path(str(path)))
    row, _ = ItemVectors.objects.update_or_create(
        encoder_key=encoder.key,
        texts_hash=state.texts_hash,
        defaults={
            "path": str(path),
            "n_items": len(vectors),
            "dim": int(vectors.shape[1]),
            "seconds": round(time.perf_counter() - started, 2),
        },
    )
    return row
