from __future__ import annotations

from django.contrib import admin

from webapp.adminkit import ReadOnlyAdmin
from webapp.profiles.models import ProfileVersion


@admin.register(ProfileVersion)
class ProfileVersionAdmin(ReadOnlyAdmin, admin.ModelAdmin):  # type: ignore[misc]
    """Read-only: versions are history (diffs and reverts read them), never deleted here;
    users change profiles through their own pages."""

    list_display = ("user", "number", "reason", "summary", "created_by", "created_at")
    list_filter = ("reason",)
    search_fields = ("user__username", "summary")
    readonly_fields = [f.name for f in ProfileVersion._meta.fields]
