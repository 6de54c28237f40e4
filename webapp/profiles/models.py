"""Scrutable profiles: a history of versions, compacted to a bounded number per user.

Nothing here imports torch or the ML packages: a profile is stored as ``Profile.to_dict()``
JSON. What is derived from a profile (the ranking, its explanations) lives in
``webapp.ranking``, which reads this app; this app never reads it.
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

    Versions are never edited (only ``critique_undone`` is set), so history, diffs and reverts
    are plain reads, and ``critique`` keeps exactly what one critique added so it can be undone
    on its own later. Old ones are deleted past PROFILE_VERSIONS_KEPT
    (``services.profile_compact``), but a number is never reused or renumbered.
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
