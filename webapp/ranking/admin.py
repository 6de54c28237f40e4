from __future__ import annotations

from django.contrib import admin

from webapp.adminkit import ReadOnlyAdmin
from webapp.ranking.models import Explanation


@admin.register(Explanation)
class ExplanationAdmin(ReadOnlyAdmin, admin.ModelAdmin):  # type: ignore[misc]
    """Read-only: written by the product for one user; staff look, never edit."""

    list_display = ("user", "item", "key", "created_at")
    search_fields = ("user__username", "item__title")
    raw_id_fields = ("user", "item")
