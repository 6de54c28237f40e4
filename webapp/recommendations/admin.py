from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path
from django.views.decorators.http import require_POST

from recommender import registry
from webapp.jobs.admin import changelist_url, job_button
from webapp.jobs.services import job_enqueue
from webapp.recommendations import services, tasks
from webapp.recommendations.models import (
    Adapter,
    ModelVersion,
    RecommendationList,
    RefreshChunk,
)


@admin.register(ModelVersion)
class ModelVersionAdmin(admin.ModelAdmin):
    list_display = (
        "version",
        "name",
        "is_active",
        "valid_ndcg",
        "n_users",
        "n_items",
        "n_interactions",
        "created_at",
    )
    list_filter = ("name", "is_active")
    readonly_fields = [f.name for f in ModelVersion._meta.fields if f.name != "is_active"]
    actions = ("activate",)
    change_list_template = "admin/recommendations/modelversion/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # the serving version's lists are every user's home page: activate another first
        if obj is not None and obj.is_active:
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        super().delete_queryset(request, queryset.filter(is_active=False))

    @admin.action(
        description="Serve from this version (and refresh every list)", permissions=["change"]
    )
    def activate(self, request: HttpRequest, queryset: QuerySet[ModelVersion]) -> None:
        if queryset.count() != 1:
            self.message_user(request, "Choose exactly one version.", messages.ERROR)
            return
        mv = queryset.get()
        services.model_activate(mv=mv)  # staff choose: no "newer" guard
        job = job_enqueue(
            task=tasks.recommendations_refresh,
            arguments={"version": mv.version},
            requested_by=request.user,
        )
        self.message_user(
            request,
            f"Serving {mv.version}; lists are refreshing (job #{job.pk}).",
            messages.SUCCESS,
        )

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(require_POST(self.train_view))
        return [
            path("train/", view, name="recommendations_modelversion_train"),
            *super().get_urls(),
        ]

    def train_view(self, request: HttpRequest) -> HttpResponse:
        name = request.POST.get("name", "hybrid")
        if name not in registry.names():  # checked before anything is queued
            self.message_user(
                request,
                f"No model named {name[:50]!r}; choose one of {', '.join(registry.names())}.",
                messages.ERROR,
            )
            return HttpResponseRedirect(changelist_url(self))
        return job_button(
            self,
            request,
            task=tasks.model_train,
            arguments={"name": name},
            message=f"Training {name} in the background ({{job}}).",
        )


@admin.register(RecommendationList)
class RecommendationListAdmin(admin.ModelAdmin):
    list_display = ("user", "model_version", "computed_at", "length")
    search_fields = ("user__username",)
    list_select_related = ("user", "model_version")
    readonly_fields = ("user", "model_version", "entries", "computed_at")
    show_full_result_count = False

    @admin.display(description="items")
    def length(self, obj: RecommendationList) -> int:
        return len(obj.entries)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Adapter)
class AdapterAdmin(admin.ModelAdmin):
    list_display = (
        "version",
        "valid_ndcg",
        "prompt",
        "steps",
        "seconds",
        "base_model",
        "created_at",
    )
    readonly_fields = [f.name for f in Adapter._meta.fields]
    change_list_template = "admin/recommendations/adapter/change_list.html"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description="prompt")
    def prompt(self, adapter: Adapter) -> str:
        """What the reranker is shown: titles, and the co-watch hint if it was trained on it."""
        return adapter.rerank_config.prompt_form

    def get_urls(self) -> list[Any]:
        view = self.admin_site.admin_view(require_POST(self.train_view))
        return [path("train/", view, name="recommendations_adapter_train"), *super().get_urls()]

    def train_view(self, request: HttpRequest) -> HttpResponse:
        try:
            steps = min(5000, max(1, int(request.POST.get("steps") or 150)))
        except ValueError:
            self.message_user(request, "Steps must be a whole number.", messages.ERROR)
            return HttpResponseRedirect(changelist_url(self))
        return job_button(
            self,
            request,
            task=tasks.adapter_train,
            arguments={"steps": steps},
            message=f"Fine-tuning for {steps} steps in the background ({{job}}).",
        )


@admin.register(RefreshChunk)
class RefreshChunkAdmin(admin.ModelAdmin):
    """A training's list refresh, part by part: which are written, which a worker keeps
    dying on (given up after JOB_MAX_ATTEMPTS deliveries; the version then never serves)."""

    list_display = ("model_version", "number", "users", "lists", "attempts", "done_at", "failed_at")
    list_filter = ("model_version",)
    readonly_fields = [f.name for f in RefreshChunk._meta.fields]

    @admin.display(description="users")
    def users(self, chunk: RefreshChunk) -> int:
        return len(chunk.user_ids)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
