from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from webapp.accounts.models import Demographics

User = get_user_model()


class DemographicsInline(admin.StackedInline):
    model = Demographics
    can_delete = True
    extra = 0


admin.site.unregister(User)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    inlines = (DemographicsInline,)
    list_display = ("username", "email", "is_staff", "is_active", "date_joined", "last_login")
    list_filter = ("is_staff", "is_superuser", "is_active", "demographics__source")
    show_full_result_count = False
