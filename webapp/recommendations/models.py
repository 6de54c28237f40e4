from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.db import models

if TYPE_CHECKING:  # recommender.rerank imports torch: never at Django start
    from recommender.rerank import RerankConfig


class ModelVersion(models.Model):
    """A fitted model artifact with the data and choices that produced it."""

    name = models.CharField(max_length=64, help_text="Registry name, e.g. hybrid, ease.")
    version = models.CharField(max_length=64, unique=True)
    path = models.CharField(max_length=500, help_text="Artifact file under ARTIFACT_DIR.")
    hparams = models.JSONField(default=dict)
    valid_ndcg = models.FloatField(null=True, blank=True, help_text="NDCG@10 on validation.")
    split_hash = models.CharField(max_length=32, blank=True)
    n_users = models.PositiveIntegerField(default=0)
    n_items = models.PositiveIntegerField(default=0)
    n_interactions = models.PositiveIntegerField(default=0)
    seconds = models.JSONField(default=dict, help_text="Time per stage.")
    is_active = models.BooleanField(default=False, help_text="The version lists are served from.")
    evaluation = models.JSONField(
        default=dict,
        blank=True,
        help_text="Offline test scores from the last evaluation run (model_version_evaluate).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class Adapter(models.Model):
    """A LoRA adapter for the LLM reranker; serving uses the best validated one."""

    version = models.CharField(max_length=64, unique=True)
    base_model = models.CharField(max_length=300, help_text="LLM id and content hash.")
    path = models.CharField(max_length=500, help_text="Adapter folder under ARTIFACT_DIR.")
    split_hash = models.CharField(max_length=32, blank=True)
    config = models.JSONField(default=dict, help_text="The fine-tuning config saved with it.")
    valid_ndcg = models.FloatField(null=True, blank=True, help_text="Reranked NDCG@10, validation.")
    retriever_valid_ndcg = models.FloatField(
        null=True,
        blank=True,
        help_text="The retriever's own NDCG@10 on the same validation users: the bar to beat.",
    )
    valid_gain_low = models.FloatField(
        null=True,
        blank=True,
        help_text="Lower end of the 95% interval of the validation gain; serving needs it > 0.",
    )
    steps = models.PositiveIntegerField(default=0)
    seconds = models.FloatField(default=0.0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-valid_ndcg", "-created_at"]

    def __str__(self) -> str:
        return f"adapter {self.version} (valid NDCG@10 {self.valid_ndcg})"

    @property
    def rerank_config(self) -> RerankConfig:
        """How serving prompts and scores with it: its training prompt form and its blend."""
        from recommender.rerank import RerankConfig

        return RerankConfig.served(self.config or {})


class RecommendationList(models.Model):
    """A user's precomputed top-N, read by pages with one query: no model runs in a request.

    ``entries`` is a list of {"item": pk, "score": float, "components": {role: float}}, best
    first; the components are what the ranker reported, so explanations cite real causes.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="recommendation_list"
    )
    # PROTECT: deleting a model version must not take every user's list with it (the admin is
    # told which lists still use it; a newer version replaces them first)
    model_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="lists")
    entries = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)
    # The LLM reranker's order of the head of ``entries`` (item pks), written in the background.
    reranked = models.JSONField(null=True, blank=True)
    # Per reranked item, in that order: {"item", "llm": its part of the score (stored so the
    # request path reads it rather than rebuilding it), "with": the history item the co-watch
    # hint paired it with (None without a hint)}: the evidence of the "llm" component.
    reranked_parts = models.JSONField(default=list, blank=True)
    reranked_by = models.CharField(max_length=200, blank=True)
    # The user's score parts for every item the model knows (recommender.serving.pack_parts,
    # float16, in the model's item order: ModelVersion's ids file): explicit profile
    # statements retrieve from the whole catalogue with them, scored by the same model.
    # Only for models without a user state (recommender.user_state): hybrids of EASE, SASRec
    # and the text model store ``user_state`` instead.
    catalogue_scores = models.BinaryField(null=True, blank=True, editable=False)
    # What scores any item for this user in about 2 KB whatever the catalogue's size
    # (recommender.user_state.UserState.pack): per role a vector and the z-score moments; the
    # item side is shared, memory-mapped from the files beside the model version's artifact.
    user_state = models.BinaryField(null=True, blank=True, editable=False)
    reranked_at = models.DateTimeField(null=True, blank=True)
    # CatalogueVersion.number read before this list was computed: a list older than the
    # catalogue is refreshed between trainings (services.lists_refresh_changed); indexed, so
    # finding them is a range scan
    catalogue_version = models.BigIntegerField(default=0, db_index=True)

    def __str__(self) -> str:
        return f"recommendations for {self.user} ({self.model_version})"


class RefreshMark(models.Model):
    """A user whose inputs changed since their list was computed: database triggers
    (migration 0011) write one on every insert, update or delete of their interactions and
    every new profile version, whatever the writer (ORM, bulk import, raw SQL). The table
    holds only changed users, so selecting them costs O(changed), not O(users); refreshing a
    list deletes its mark unless ``version`` moved on meanwhile (an edit during the refresh
    keeps its mark for the next one).

    No foreign key: a user's deletion deletes their interactions first, whose trigger would
    otherwise mark a user about to disappear. Marks of users gone are dropped by the refresh.
    """

    user_id = models.BigIntegerField(primary_key=True)
    version = models.BigIntegerField(default=1)

    def __str__(self) -> str:
        return f"user {self.user_id} changed (mark {self.version})"


class RefreshChunk(models.Model):
    """One slice of a model version's list refresh: any worker may take it, redoing it is
    harmless (each list is an upsert), and the version starts serving when the last slice
    lands (``services.refresh_chunk``), so N workers write a catalogue's lists N times faster
    and a killed worker's slice is redelivered alone."""

    model_version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="refresh_chunks"
    )
    number = models.PositiveIntegerField()
    user_ids = models.JSONField(default=list)
    # when the training was asked for: the activation rule of services.model_activate
    requested_at = models.DateTimeField(null=True, blank=True)
    activate = models.BooleanField(default=True)
    lists = models.PositiveIntegerField(default=0)
    done_at = models.DateTimeField(null=True, blank=True)
    # deliveries that started this part: one that kills its worker every time is given up
    # after JOB_MAX_ATTEMPTS (the version then never serves, and the page says so)
    attempts = models.PositiveIntegerField(default=0)
    failed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["model_version", "number"], name="one_refresh_chunk_per_number"
            )
        ]
        ordering = ["model_version", "number"]

    def __str__(self) -> str:
        return f"{self.model_version} refresh part {self.number}"
