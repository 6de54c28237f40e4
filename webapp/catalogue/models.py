from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from explanations.titles import natural_title


class Genre(models.Model):
    name = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Item(models.Model):
    """A catalogue entry. Retired (inactive) items keep their history but are not recommended."""

    source = models.CharField(
        max_length=32, help_text="Which catalogue the item came from: ml-100k, ml-1m, admin, ..."
    )
    external_id = models.CharField(max_length=255, help_text="The item's id in its source.")
    title = models.CharField(max_length=300)
    year = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True)
    genres = models.ManyToManyField(Genre, blank=True, related_name="items")
    description = models.TextField(blank=True, help_text="Curated by an admin; always wins.")
    generated_description = models.TextField(
        blank=True, help_text="Written by the LLM; shown only where no curated text exists."
    )
    generated_keywords = models.JSONField(
        default=list, blank=True, help_text="Keywords written by the LLM with the description."
    )
    generated_by = models.CharField(
        max_length=200, blank=True, help_text="Model and version that wrote the generated text."
    )
    generated_at = models.DateTimeField(null=True, blank=True)
    facts = models.JSONField(default=dict, blank=True, help_text="Structured facts (JSON).")
    is_active = models.BooleanField(
        default=True, db_index=True, help_text="Retired items stay in history, leave listings."
    )
    # Denormalised by the catalogue-statistics task so listings never count rows per request.
    interaction_count = models.PositiveIntegerField(default=0, editable=False)
    mean_rating = models.FloatField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["title", "id"]
        constraints = [
            models.UniqueConstraint(fields=["source", "external_id"], name="item_unique_per_source")
        ]
        indexes = [models.Index(fields=["title"], name="item_title_idx")]

    def __str__(self) -> str:
        return f"{self.display_title} ({self.year})" if self.year else self.display_title

    @property
    def display_title(self) -> str:
        """The title as people write it: MovieLens stores "Godfather, The"; pages, the API
        and explanations say "The Godfather". ``title`` keeps the stored form (search, import
        matching)."""
        return natural_title(self.title)

    @property
    def display_description(self) -> str:
        return self.description or self.generated_description

    @property
    def description_is_generated(self) -> bool:
        return not self.description and bool(self.generated_description)


class Interaction(models.Model):
    class Kind(models.TextChoices):
        RATING = "rating", "Rating"
        LIKE = "like", "Like"
        DISLIKE = "dislike", "Dislike"
        VIEW = "view", "View"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="interactions"
    )
    # PROTECT: an item with history is retired, never deleted (its ratings train the models)
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="interactions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    value = models.FloatField(null=True, blank=True, help_text="The rating (1-5) for ratings.")
    # When it happened (for imports, the source's timestamp). Ties are broken by id, which
    # follows insertion (file row) order: the evaluation protocol depends on that.
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # One rating / like / dislike per user and item; views may repeat.
            models.UniqueConstraint(
                fields=["user", "item", "kind"],
                condition=~Q(kind="view"),
                name="interaction_unique_except_views",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="interaction_user_history_idx"),
            models.Index(fields=["item", "kind"], name="interaction_item_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.kind} {self.item}"


class CatalogueStats(models.Model):
    """A snapshot written by the ``catalogue_stats_recompute`` task; the admin shows the last."""

    computed_at = models.DateTimeField(auto_now_add=True)
    n_items = models.PositiveIntegerField()
    n_active_items = models.PositiveIntegerField()
    n_users = models.PositiveIntegerField()
    n_interactions = models.PositiveIntegerField()
    genre_counts = models.JSONField(default=dict)
    kind_counts = models.JSONField(default=dict)
    # genre -> {item pk: how many of the genre's fans liked it}: a new user's list starts from
    # what the fans of the genres they name watch (recommender.models.popularity.genre_fans)
    genre_fans = models.JSONField(default=dict, blank=True)
    # item pk -> [[pk, cosine], ...] its most co-watched items (recommender.cowatch): "more
    # like this" finds what the same people watch, not only what the text resembles
    item_neighbours = models.JSONField(default=dict, blank=True)
    seconds = models.FloatField(help_text="How long the computation took.")

    class Meta:
        ordering = ["-computed_at"]
        get_latest_by = "computed_at"
        verbose_name_plural = "catalogue statistics"

    def __str__(self) -> str:
        return f"catalogue statistics at {self.computed_at:%Y-%m-%d %H:%M}"


class ItemVectors(models.Model):
    """Catalogue text vectors computed by a worker, stored as an .npy file under ARTIFACT_DIR.

    Keyed by the encoder and a hash of every item's text, so a changed description or a new
    encoder means a new row (and file) rather than silently mixed vectors.
    """

    encoder_key = models.CharField(max_length=400)
    texts_hash = models.CharField(max_length=64)
    path = models.CharField(max_length=500, help_text="(n_items, d) float32 .npy; ids beside it")
    n_items = models.PositiveIntegerField()
    dim = models.PositiveIntegerField()
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "profiles_itemvectors"  # created by the profiles app; moved, not migrated
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["encoder_key", "texts_hash"], name="itemvectors_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.n_items} item vectors ({self.encoder_key[:40]}, {self.texts_hash[:8]})"


class CatalogueVersion(models.Model):
    """One row whose ``number`` database triggers bump on every write to the items, their
    genres or the catalogue statistics (migration 0008): the request path reads this one
    row to know whether its cached catalogue state is current, instead of aggregating the
    items table on every request. Triggers, not signals: ``update()``, ``bulk_create`` and
    raw SQL writers (imports, the statistics task, enrichment) bump it too."""

    number = models.BigIntegerField(default=0)
    # a random value each bump writes: a rolled-back write takes its number back, and the
    # next write would reach the same number with other content; the token tells them apart
    token = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"catalogue version {self.number}"
