from __future__ import annotations

from django.contrib import admin

from webapp.ranking.models import Explanation


@admin.register(Explanation)
class ExplanationAdmin(admin.ModelAdmin):
    list_display = ("user", "item", "key", "created_at")
    search_fields = ("user__username", "item__title")
    raw_id_fields = ("user", "item")
