from __future__ import annotations

from django.contrib import admin

from webapp.profiles.models import Conversation, Explanation, ItemVectors, ProfileVersion


@admin.register(ProfileVersion)
class ProfileVersionAdmin(admin.ModelAdmin):
    """Read-only: versions are history; users change profiles through their own pages."""

    list_display = ("user", "number", "reason", "summary", "created_by", "created_at")
    list_filter = ("reason",)
    search_fields = ("user__username", "summary")
    readonly_fields = [f.name for f in ProfileVersion._meta.fields]

    def has_add_permission(self, request: object) -> bool:
        return False

    def has_change_permission(self, request: object, obj: object = None) -> bool:
        return False


@admin.register(ItemVectors)
class ItemVectorsAdmin(admin.ModelAdmin):
    list_display = ("encoder_key", "texts_hash", "n_items", "dim", "seconds", "created_at")


@admin.register(Explanation)
class ExplanationAdmin(admin.ModelAdmin):
    list_display = ("user", "item", "key", "created_at")
    search_fields = ("user__username", "item__title")
    raw_id_fields = ("user", "item")


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("user", "updated_at")
    raw_id_fields = ("user",)
