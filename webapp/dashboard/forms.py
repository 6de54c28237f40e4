"""One small form per dashboard button: it validates the button's options and knows which
task it starts, so the view that handles every button stays a few lines long."""

from __future__ import annotations

from typing import Any, ClassVar

from celery import Task
from django import forms

from recommender import registry
from webapp.catalogue.tasks import catalogue_enrich, item_vectors_refresh
from webapp.recommendations import tasks as rec_tasks
from webapp.recommendations.models import ModelVersion
from webapp.recommendations.selectors import active_model_version


class JobForm(forms.Form):
    """A button that queues ``task`` with the cleaned fields as its arguments."""

    task: ClassVar[Task]
    title: ClassVar[str]
    help: ClassVar[str]
    button: ClassVar[str]
    message: ClassVar[str]  # what the page says once queued; may use {job}
    permission: ClassVar[str]  # what a staff member needs to press it ("app.codename")

    def arguments(self) -> dict[str, Any]:
        return dict(self.cleaned_data)


class EnrichForm(JobForm):
    task = catalogue_enrich
    permission = "catalogue.change_item"
    title = "Catalogue enrichment"
    help = "The LLM writes a description and keywords for active items that have no text."
    button = "Describe items"
    message = "The LLM is describing items without text ({job})."

    limit = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        initial=0,
        required=False,
        label="Items at most",
        help_text="0 describes every item without text.",
    )

    def arguments(self) -> dict[str, Any]:
        return {"limit": self.cleaned_data.get("limit") or 0}


class ItemVectorsForm(JobForm):
    task = item_vectors_refresh
    permission = "catalogue.change_item"
    title = "Item embeddings"
    help = "Re-embed item texts with the sentence encoder; unchanged texts come from the cache."
    button = "Refresh embeddings"
    message = "Item embeddings are being refreshed ({job})."


class TrainForm(JobForm):
    task = rec_tasks.model_train
    permission = "recommendations.add_modelversion"
    title = "Recommender training"
    help = "Tune on the validation split, refit on every interaction, serve it, refresh lists."
    button = "Train"
    message = "Training {name} ({job})."

    # Names only: listing what imports cleanly would load torch into the web process.
    name = forms.ChoiceField(choices=[(n, n) for n in registry.names()], initial="hybrid")

    def arguments(self) -> dict[str, Any]:
        return {"name": self.cleaned_data["name"]}


class AdapterForm(JobForm):
    task = rec_tasks.adapter_train
    permission = "recommendations.add_adapter"
    title = "LoRA fine-tuning"
    help = "Fine-tune the LLM reranker's adapter, then rerank every list with the best one."
    button = "Fine-tune"
    message = "Fine-tuning for {steps} steps ({job})."

    steps = forms.IntegerField(min_value=1, max_value=5000, initial=150)


class EvaluateForm(JobForm):
    task = rec_tasks.model_version_evaluate
    permission = "recommendations.change_modelversion"
    title = "Offline evaluation"
    help = (
        "Leave-last-out test scores of a version (its own hyperparameters, one refit) on "
        "today's interactions, against popularity. Fewer users is faster."
    )
    button = "Evaluate"
    message = "Evaluating {version} on {users} users ({job})."

    version = forms.ModelChoiceField(
        queryset=ModelVersion.objects.all(),
        to_field_name="version",
        empty_label=None,
        label="Model version",
        error_messages={
            "required": "There is no model version to evaluate yet: train one first.",
            "invalid_choice": "That model version does not exist (any more).",
        },
    )
    users = forms.IntegerField(
        min_value=0,
        max_value=1_000_000,
        initial=200,
        label="Users sampled",
        help_text="0 evaluates every user.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        active = active_model_version()
        if active is not None:
            self.fields["version"].initial = active.version

    def arguments(self) -> dict[str, Any]:
        return {
            "version": self.cleaned_data["version"].version,
            "users": self.cleaned_data["users"],
        }


# URL slug -> form; the page shows the buttons in this order.
ACTIONS: dict[str, type[JobForm]] = {
    "enrich": EnrichForm,
    "item-vectors": ItemVectorsForm,
    "train": TrainForm,
    "fine-tune": AdapterForm,
    "evaluate": EvaluateForm,
}


def action_forms(user: Any, bound: dict[str, JobForm] | None = None) -> list[tuple[str, JobForm]]:
    """The form of every button ``user`` may press, prefixed by its slug so field ids stay
    unique on one page; a form that failed validation is passed in ``bound`` and shown with
    its errors."""
    bound = bound or {}
    return [
        (slug, bound.get(slug) or form(prefix=slug))
        for slug, form in ACTIONS.items()
        if user.has_perm(form.permission)
    ]
