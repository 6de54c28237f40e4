"""Scrutable profiles: every version kept, plus the derived rows the request path reads.

Nothing here imports torch or the ML packages: a profile is stored as ``Profile.to_dict()``
JSON and the item vectors live in an .npy artifact that this table only points at.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class Reason:
    """Why a version was written (plain strings: the values are what templates compare)."""

    GENERATED = "generated"
    EDIT = "edit"
    CRITIQUE = "critique"
    UNDO = "undo"
    REVERT = "revert"
    COLD_START = "cold start"
    CONVERSATION = "conversation"
    CHOICES = [
        (GENERATED, "Generated from history"),
        (EDIT, "Edited"),
        (CRITIQUE, "Critique"),
        (UNDO, "Critique undone"),
        (REVERT, "Reverted"),
        (COLD_START, "Described by you"),
        (CONVERSATION, "From a chat"),
    ]


class ProfileVersion(models.Model):
    """One saved state of a user's profile; the current profile is the highest ``number``.

    Versions are never edited or deleted, so history, diffs and reverts are plain reads, and
    ``critique`` keeps exactly what one critique added so it can be undone on its own later.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile_versions"
    )
    number = models.PositiveIntegerField()
    profile = models.JSONField(help_text="explanations.profile.Profile.to_dict()")
    fingerprint = models.CharField(max_length=16, db_index=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Empty when the system wrote it (generation in the background).",
    )
    reason = models.CharField(max_length=16, choices=Reason.CHOICES)
    summary = models.CharField(max_length=300, blank=True, help_text="What changed, in words.")
    critique = models.JSONField(null=True, blank=True, help_text="What this critique added.")
    reverted_from = models.PositiveIntegerField(null=True, blank=True)
    critique_undone = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["user", "number"], name="profileversion_unique_number")
        ]

    def __str__(self) -> str:
        return f"profile v{self.number} of {self.user} ({self.reason})"


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
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["encoder_key", "texts_hash"], name="itemvectors_unique_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.n_items} item vectors ({self.encoder_key[:40]}, {self.texts_hash[:8]})"


class Explanation(models.Model):
    """A cached explanation of one recommended item for one user.

    ``key`` = ``explanations.explain.explanation_key`` of (item text, profile fingerprint, LLM
    setting, recommendation model version): pages look rows up by the key of *now*, so a row
    made for an earlier profile, item text or model is simply not found (stale), and the
    refresh task writes a new one. A revert makes the old fingerprint current again, and with
    it the old rows.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="explanations"
    )
    item = models.ForeignKey("catalogue.Item", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=40)
    explanation = models.JSONField(help_text="explanations.explain.Explanation.to_dict()")
    evidence = models.JSONField(default=dict, help_text="The evidence it was written from.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "item", "key"], name="explanation_unique_key")
        ]

    def __str__(self) -> str:
        return f"explanation of {self.item_id} for {self.user}"


class Conversation(models.Model):
    """One chat per user: the belief state (``ConversationState.to_dict()``) and the turns."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="conversation"
    )
    state = models.JSONField(default=dict)
    turns = models.JSONField(default=list, help_text='[{"who": "you"|"bot", "text", "items"}]')
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"chat of {self.user}"
