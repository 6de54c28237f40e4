from __future__ import annotations

from django.conf import settings
from django.db import models


class Demographics(models.Model):
    """Optional facts about a user. MovieLens supplies them; our own users may leave them out."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="demographics"
    )
    # ML-100K stores exact ages; ML-1M stores the lower bound of an age bucket (1 = under 18).
    age = models.PositiveSmallIntegerField(null=True, blank=True)
    gender = models.CharField(max_length=16, blank=True)
    occupation = models.CharField(max_length=64, blank=True)
    zip_code = models.CharField(max_length=16, blank=True)
    source = models.CharField(
        max_length=32, blank=True, help_text="Where the account came from, e.g. ml-100k."
    )

    class Meta:
        verbose_name_plural = "demographics"

    def __str__(self) -> str:
        return f"demographics of {self.user}"
