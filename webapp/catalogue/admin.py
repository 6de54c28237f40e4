from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path
from django.utils.html import format_html_join
from django.views.decorators.http import require_POST

from webapp.catalogue import services, tasks
from webapp.catalogue.models import CatalogueStats, Genre, Interaction, Item, ItemVectors
from webapp.catalogue.signals import items_added
from webapp.jobs.admin import changelist_url, job_button
from webapp.jobs.models import JobRun


class DescriptionFilter(admin.SimpleListFilter):
    title = "description"
    parameter_name = "description"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("curated", "Curated"),
            ("generated", "Generated only"),
            ("none", "None"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Item]) -> QuerySet[Item]:
        value = self.value()
        if value == "curated":
            return queryset.exclude(description="")
        if value == "generated":
            return queryset.filter(description="").exclude(generated_description="")
        if value == "none":
            return queryset.filter(description="", generated_description="")
        return queryset


class DecadeFilter(admin.SimpleListFilter):
    title = "decade"
    parameter_name = "decade"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        years = Item.objects.exclude(year=None).values_list("year", flat=True).distinct()
        decades = sorted({y // 10 * 10 for y in years}, reverse=True)
        return [(str(d), f"{d}s") for d in decades] + [("unknown", "Unknown year")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Item]) -> QuerySet[Item]:
        value = self.value()
        if value == "unknown":
            return queryset.filter(year=None)
        if value and value.isascii() and value.isdigit():  # "²".isdigit() is True
            return queryset.filter(year__gte=int(value), year__lt=int(value) + 10)
        return queryset


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    list_display = (
        "title", "year", "genre_names", "source", "is_active", "interaction_count",
        "mean_rating", "description_state",
    )  # fmt: skip
    list_filter = ("is_active", "genres", DecadeFilter, DescriptionFilter, "source")
    search_fields = ("title", "external_id")
    list_per_page = 50
    ordering = ("-interaction_count", "title")
    actions = ("retire", "restore")
    filter_horizontal = ("genres",)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Retire, never delete: deleting an item took every user's interactions with it
        # (the training data) along; a retired item leaves listings and keeps its history.
        return False

    readonly_fields = (
        "source", "external_id", "generated_description", "generated_by", "generated_at",
        "interaction_count", "mean_rating", "created_at", "updated_at",
    )  # fmt: skip
    fieldsets = (
        (None, {"fields": ("title", "year", "genres", "is_active")}),
        ("Text", {"fields": (
            "description", "generated_description", "generated_by", "generated_at"
        )}),
        ("Facts", {"fields": ("facts",)}),
        ("Origin and statistics", {"fields": (
            "source", "external_id", "interaction_count", "mean_rating", "created_at", "updated_at"
        )}),
    )  # fmt: skip
    change_list_template = "admin/catalogue/item/change_list.html"

    def get_readonly_fields(self, request: HttpRequest, obj: Item | None = None) -> Any:
        # source and external_id identify an item, so they are set once, at creation.
        if obj is None:
            return tuple(f for f in self.readonly_fields if f not in ("source", "external_id"))
        return self.readonly_fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[Item]:
        return super().get_queryset(request).prefetch_related("genres")

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if not change:  # genres are saved by now, so a listener reads the item's whole text
            pk = form.instance.pk
            transaction.on_commit(lambda: items_added.send(sender=Item, item_ids=[pk]))

    @admin.display(description="genres")
    def genre_names(self, item: Item) -> str:
        return ", ".join(g.name for g in item.genres.all())

    @admin.display(description="description")
    def description_state(self, item: Item) -> str:
        if item.description:
            return "curated"
        return "generated" if item.generated_description else "—"

    @admin.action(description="Retire selected items (keep their history)", permissions=["change"])
    def retire(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        n = services.items_set_active(
            item_ids=list(queryset.values_list("pk", flat=True)), active=False
        )
        self.message_user(request, f"Retired {n} item(s).", messages.SUCCESS)

    @admin.action(description="Restore selected items", permissions=["change"])
    def restore(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        n = services.items_set_active(
            item_ids=list(queryset.values_list("pk", flat=True)), active=True
        )
        self.message_user(request, f"Restored {n} item(s).", messages.SUCCESS)

    def get_urls(self) -> list[Any]:
        stats = self.admin_site.admin_view(require_POST(self.recompute_stats_view))
        enrich = self.admin_site.admin_view(require_POST(self.enrich_view))
        return [
            path("recompute-stats/", stats, name="catalogue_item_recompute_stats"),
            path("enrich/", enrich, name="catalogue_item_enrich"),
            *super().get_urls(),
        ]

    def enrich_view(self, request: HttpRequest) -> HttpResponse:
        try:
            limit = max(0, int(request.POST.get("limit") or 0))
        except ValueError:
            self.message_user(request, "The item limit must be a whole number.", messages.ERROR)
            return HttpResponseRedirect(changelist_url(self))
        return job_button(
            self,
            request,
            task=tasks.catalogue_enrich,
            arguments={"limit": limit},
            message="The LLM is describing items without text in the background ({job}).",
        )

    def recompute_stats_view(self, request: HttpRequest) -> HttpResponse:
        return job_button(
            self,
            request,
            task=tasks.catalogue_stats_recompute,
            message="Statistics are being recomputed in the background ({job}).",
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra_context = extra_context or {}
        extra_context["stats"] = CatalogueStats.objects.first()
        extra_context["stats_job"] = JobRun.objects.filter(
            task_name=tasks.catalogue_stats_recompute.name
        ).first()
        extra_context["enrich_job"] = JobRun.objects.filter(
            task_name=tasks.catalogue_enrich.name
        ).first()
        extra_context["to_enrich"] = services.items_to_enrich().count()
        return super().changelist_view(request, extra_context=extra_context)


@admin.register(Genre)
class GenreAdmin(admin.ModelAdmin):
    search_fields = ("name",)


@admin.register(Interaction)
class InteractionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "user", "item", "kind", "value")
    list_filter = ("kind", "item__source")
    search_fields = ("user__username", "item__title")
    raw_id_fields = ("user", "item")
    list_select_related = ("user", "item")
    list_per_page = 100
    # Counting a million rows on every page view is slow; Django then shows "Show all" instead.
    show_full_result_count = False


@admin.register(CatalogueStats)
class CatalogueStatsAdmin(admin.ModelAdmin):
    list_display = (
        "computed_at",
        "n_items",
        "n_active_items",
        "n_users",
        "n_interactions",
        "seconds",
    )
    readonly_fields = (
        "computed_at", "n_items", "n_active_items", "n_users", "n_interactions", "genres_table",
        "kind_counts", "seconds",
    )  # fmt: skip
    exclude = ("genre_counts",)

    @admin.display(description="active items per genre")
    def genres_table(self, stats: CatalogueStats) -> str:
        return format_html_join(", ", "{} ({})", stats.genre_counts.items())

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ItemVectors)
class ItemVectorsAdmin(admin.ModelAdmin):
    list_display = ("encoder_key", "texts_hash", "n_items", "dim", "seconds", "created_at")
