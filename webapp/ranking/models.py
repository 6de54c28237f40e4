"""The explanation cache: what the ranking says about each recommended item, per user."""

from __future__ import annotations

from django.conf import settings
from django.db import models


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
        db_table = "profiles_explanation"  # created by the profiles app; moved, not migrated
        constraints = [
            models.UniqueConstraint(fields=["user", "item", "key"], name="explanation_unique_key")
        ]

    def __str__(self) -> str:
        return f"explanation of {self.item_id} for {self.user}"
