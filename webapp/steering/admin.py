from __future__ import annotations

from django.contrib import admin

from webapp.adminkit import ReadOnlyAdmin
from webapp.steering.models import Conversation


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdmin, admin.ModelAdmin):  # type: ignore[misc]
    """Read-only: written by the product for one user; staff look, never edit."""

    list_display = ("user", "updated_at")
    raw_id_fields = ("user",)
