from __future__ import annotations

from django.contrib import admin

from webapp.profiles.models import ProfileVersion


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
