from __future__ import annotations

from datetime import datetime
from typing import Any

from celery import shared_task
from django.conf import settings
from django.db import OperationalError, transaction

from webapp.catalogue.tasks import item_vectors_enqueue
from webapp.jobs.models import JobRun
from webapp.jobs.services import Progress, job_enqueue, job_progress
from webapp.jobs.tasks import JobTask
from webapp.recommendations import selectors, services
from webapp.recommendations.models import ModelVersion


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def model_train(
    self: JobTask, job_id: int | None = None, name: str = "hybrid", seed: int = 0
) -> dict[str, Any]:
    """Train ``name``, write every user's list from it, then activate it: only then, so a
    run killed half-way never leaves the site serving a model with half its lists, and
    never over a version created after this training was asked for."""

    def training(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=0.8 * fraction, message=message)

    def refreshing(fraction: float, message: str) -> None:
        job_progress(
            job_id=job_id, fraction=0.8 + 0.2 * fraction, message=f"refreshing lists: {message}"
        )

    requested_at = _requested_at(job_id)
    mv = services.model_train(name=name, seed=seed, activate=False, progress=training)
    if (serving := services.newer_serving(requested_at)) is not None:
        return {
            "model_version": mv.version,
            "activated": False,
            "reason": f"{serving.version} was trained after this was asked for; it keeps serving",
        }
    if mv.n_users > settings.REFRESH_CHUNK_USERS:
        # more users than one slice: every worker on the refresh queue shares the writing,
        # and the last slice to land activates the version
        numbers = services.refresh_plan(model_version=mv, requested_at=requested_at)
        lists_refresh_enqueue(mv, numbers)
        item_vectors_enqueue()
        return {
            "model_version": mv.version,
            "valid_ndcg": mv.valid_ndcg,
            "lists": f"{mv.n_users:,} users in {len(numbers)} parts, written by the workers",
            "activated": "when the last part is written",
        }
    written, activated = _refresh_and_activate(mv, requested_at, refreshing)
    # Profile re-ranking and explanations need item vectors; the refresh is a no-op when the
    # stored ones still match the catalogue's texts.
    item_vectors_enqueue()
    return {
        "model_version": mv.version,
        "valid_ndcg": mv.valid_ndcg,
        "lists": written,
        "activated": activated,
    }


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def model_train_first(
    self: JobTask,
    job_id: int | None = None,
    quick: str = "ease",
    name: str = "hybrid",
    seed: int = 0,
) -> dict[str, Any]:
    """A new site's first lists within a minute: ``quick`` with its default hyperparameters
    (EASE: one matrix inverse, seconds on MovieLens) serves first, then :func:`model_train`
    of ``name`` is queued; it replaces the quick model when its tuning and training finish
    (the page says a better model is on its way meanwhile)."""

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=f"{quick}: {message}")

    requested_at = _requested_at(job_id)
    mv = services.model_train(name=quick, seed=seed, activate=False, hparams={}, progress=report)
    activated, written = False, 0
    if services.newer_serving(requested_at) is None:
        written, activated = _refresh_and_activate(mv, requested_at, report)
    # queued after the quick version is active, so the better one may replace it
    follow = job_enqueue(task=model_train, arguments={"name": name, "seed": seed})
    item_vectors_enqueue()
    return {
        "model_version": mv.version,
        "lists": written,
        "activated": activated,
        "then": f"{name} (job #{follow.pk})",
    }


def _requested_at(job_id: int | None) -> datetime | None:
    """When the training was asked for: what activation compares newer versions with."""
    return JobRun.objects.filter(pk=job_id).values_list("created_at", flat=True).first()


def _refresh_and_activate(
    mv: ModelVersion, requested_at: datetime | None, progress: Progress
) -> tuple[int, bool]:
    """Every user's list from ``mv`` in this task, then ``mv`` serves (unless a newer
    version does): (lists written, whether it serves)."""
    written = services.recommendations_refresh(model_version=mv, progress=progress)
    return written, services.model_activate(mv=mv, requested_at=requested_at)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def lists_refresh_chunk(version: str, number: int) -> dict[str, Any]:
    """One slice of a version's list refresh (services.refresh_chunk). Not a JobRun of its
    own: the training job says the parts are queued, the page says how many are written, and
    a worker killed mid-slice leaves the message to be redelivered (acks late)."""
    mv = ModelVersion.objects.get(version=version)
    return services.refresh_chunk(model_version=mv, number=number)


def lists_refresh_enqueue(mv: ModelVersion, numbers: list[int]) -> None:
    """Queue each slice on REFRESH_QUEUE once the plan is committed."""

    def send() -> None:
        for number in numbers:
            lists_refresh_chunk.apply_async(
                kwargs={"version": mv.version, "number": number}, queue=settings.REFRESH_QUEUE
            )

    transaction.on_commit(send)


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def lists_refresh_changed(version: str = "") -> dict[str, Any]:
    """Between trainings: queue a refresh of only the users whose inputs changed since their
    list (selectors.users_to_refresh), one :func:`lists_refresh_users` per REFRESH_CHUNK_USERS
    on REFRESH_QUEUE; everyone else keeps their list. Safe to send again at any time: a
    user refreshed twice gets the same list, and one refreshed already is no longer
    selected. Returns how many users were queued and skipped."""
    mv = ModelVersion.objects.get(version=version) if version else selectors.active_model_version()
    if mv is None:
        return {"refreshed": 0, "reason": "no trained model yet"}
    services.refresh_marks_prune()
    users = selectors.users_to_refresh(model_version=mv)
    size = settings.REFRESH_CHUNK_USERS
    parts = [users[start : start + size] for start in range(0, len(users), size)]
    for part in parts:
        lists_refresh_users.apply_async(
            kwargs={"version": mv.version, "user_ids": part}, queue=settings.REFRESH_QUEUE
        )
    queued = services.refresh_report(model_version=mv, selected=users, written=len(users))
    return queued | {"parts": len(parts)}


@shared_task(autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3)
def lists_refresh_users(version: str, user_ids: list[int]) -> dict[str, Any]:
    """One part of :func:`lists_refresh_changed`: these users' lists from ``version``, their
    marks cleared (idempotent: each list is an upsert; redelivered after a worker died, it
    writes the same lists again)."""
    mv = ModelVersion.objects.get(version=version)
    if not mv.is_active:  # a training since: its own refresh writes everyone's list
        return {"lists": 0, "reason": f"{version} no longer serves"}
    return {"lists": services.recommendations_refresh(model_version=mv, user_ids=user_ids)}


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def items_add(self: JobTask, job_id: int | None = None) -> dict[str, Any]:
    """New catalogue items into the serving model without training (semantic IDs from their
    text), then every list from the extended version."""

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    mv = services.items_add_to_model(progress=report)
    if mv is None:
        return {"added": 0, "reason": "the serving model cannot place new items, or none is new"}
    return {"model_version": mv.version, "added": mv.hparams["added_items"], "active": mv.is_active}


def items_add_enqueue(**_: Any) -> JobRun | None:
    """Receiver of ``webapp.catalogue.signals.items_added``: queue :func:`items_add` when the
    serving model is one that can place new items (one job waiting at most)."""
    mv = selectors.active_model_version()
    if mv is None or mv.name != "semantic":
        return None
    return job_enqueue(task=items_add, dedupe_key="items-add")


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def recommendations_refresh(
    self: JobTask, job_id: int | None = None, user_ids: list[int] | None = None, version: str = ""
) -> dict[str, Any]:
    """Recompute lists from the active model (or ``version``) for some or all users."""
    mv = ModelVersion.objects.get(version=version) if version else selectors.active_model_version()
    if mv is None:
        return {"lists": 0, "reason": "no trained model yet"}

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    return {
        "lists": services.recommendations_refresh(
            model_version=mv, user_ids=user_ids, progress=report
        )
    }


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def adapter_train(
    self: JobTask, job_id: int | None = None, steps: int = 150, retriever: str = "ease"
) -> dict[str, Any]:
    """Fine-tune the LLM reranker's LoRA adapter, then rerank every list with the best one."""

    def on_step(step: int, total: int, loss: float) -> None:
        job_progress(
            job_id=job_id,
            fraction=0.9 * step / max(total, 1),
            message=f"step {step}/{total}, loss {loss:.3f}",
        )

    adapter = services.adapter_train(steps=steps, retriever=retriever, on_step=on_step)
    lists_rerank.delay_on_commit()
    return {"adapter": adapter.version, "valid_ndcg": adapter.valid_ndcg, "steps": adapter.steps}


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def lists_rerank(
    self: JobTask, job_id: int | None = None, user_ids: list[int] | None = None
) -> dict[str, Any]:
    """Store the LLM's order of each list's head (never run inside a request)."""

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    return {"reranked": services.lists_rerank(user_ids=user_ids, progress=report)}


@shared_task(
    base=JobTask, bind=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=3
)
def model_version_evaluate(
    self: JobTask, job_id: int | None = None, version: str = "", users: int = 200, seed: int = 0
) -> dict[str, Any]:
    """Score the served version (or ``version``) with the offline protocol on ``users``
    sampled users (0 = all) and store the scores on the version."""
    mv = ModelVersion.objects.get(version=version) if version else selectors.active_model_version()
    if mv is None:
        raise ValueError("there is no model version to evaluate; train one first")

    def report(fraction: float, message: str) -> None:
        job_progress(job_id=job_id, fraction=fraction, message=message)

    scores = services.model_version_evaluate(
        model_version=mv, users_sample=users or None, seed=seed, progress=report
    )
    return {
        "model_version": mv.version,
        "ndcg@10": scores["test"]["ndcg@10"],
        "users": scores["n_users_evaluated"],
    }
