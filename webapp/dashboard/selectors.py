"""Reads behind the staff dashboard: counts, time series, registered models, recent jobs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDay, TruncWeek
from django.utils import timezone

from recommender.decision import ServingDecision
from webapp.catalogue.models import Genre, Interaction, Item
from webapp.jobs.models import JobRun
from webapp.recommendations.models import Adapter, ModelVersion
from webapp.recommendations.selectors import reranker_serving

Period = Literal["day", "week"]
PERIODS: dict[str, tuple[int, dt.timedelta]] = {
    # how many buckets the chart shows, and how wide one is
    "day": (30, dt.timedelta(days=1)),
    "week": (26, dt.timedelta(weeks=1)),
}


def catalogue_counts() -> dict[str, Any]:
    """Live counts (cheap aggregate queries; the page needs no statistics job to be current)."""
    items = Item.objects.aggregate(
        total=Count("id"),
        active=Count("id", filter=Q(is_active=True)),
        curated=Count("id", filter=~Q(description="")),
        generated=Count("id", filter=~Q(generated_description="")),
        no_text=Count("id", filter=Q(description="", generated_description="")),
    )
    kinds = dict(
        Interaction.objects.order_by()
        .values_list("kind")
        .annotate(n=Count("id"))
        .values_list("kind", "n")
    )
    return {
        "items": items["total"],
        "active": items["active"],
        "retired": items["total"] - items["active"],
        "curated": items["curated"],
        "generated": items["generated"],
        "no_text": items["no_text"],
        "genres": Genre.objects.count(),
        "users": get_user_model().objects.count(),
        "interactions": sum(kinds.values()),
        "kinds": [(label, kinds.get(value, 0)) for value, label in Interaction.Kind.choices],
    }


def interactions_over_time(*, period: Period = "day") -> list[tuple[dt.date, int]]:
    """Interactions per day (or week) over the last 30 days (26 weeks) that have data.

    The window ends at the newest interaction rather than today: an imported data set such
    as MovieLens stops in 1998, and a chart of the empty weeks since would say nothing.
    Missing buckets are zeros, so the bars are evenly spaced in time.
    """
    count, step = PERIODS[period]
    newest = Interaction.objects.order_by().aggregate(newest=Max("created_at"))["newest"]
    if newest is None:
        return []
    end = timezone.localtime(newest).date()
    if period == "week":
        end -= dt.timedelta(days=end.weekday())  # TruncWeek buckets start on Monday
    start = end - step * (count - 1)
    since = timezone.make_aware(dt.datetime.combine(start, dt.time.min))
    trunc = TruncDay if period == "day" else TruncWeek
    rows = (
        Interaction.objects.filter(created_at__gte=since)
        .order_by()
        .annotate(bucket=trunc("created_at"))
        .values("bucket")
        .annotate(n=Count("id"))
        .values_list("bucket", "n")
    )
    counts = {timezone.localtime(bucket).date(): n for bucket, n in rows}
    return [(start + step * i, counts.get(start + step * i, 0)) for i in range(count)]


@dataclass(frozen=True)
class VersionRow:
    """A model version with its last evaluation flattened for the table."""

    version: ModelVersion
    evaluation: dict[str, Any]  # empty when it has never been evaluated
    ndcg: float | None
    recall: float | None
    coverage: float | None
    reference_ndcg: float | None
    diff: dict[str, Any] | None  # mean / low / high of NDCG@10 minus the reference's


def model_versions(*, limit: int = 20) -> list[VersionRow]:
    rows = []
    for mv in ModelVersion.objects.all()[:limit]:
        ev = mv.evaluation or {}
        test, ref = ev.get("test", {}), ev.get("reference_test", {})
        rows.append(
            VersionRow(
                version=mv,
                evaluation=ev,
                ndcg=test.get("ndcg@10"),
                recall=test.get("recall@10"),
                coverage=test.get("coverage@10"),
                reference_ndcg=ref.get("ndcg@10"),
                diff=ev.get("ndcg@10_diff_vs_reference"),
            )
        )
    return rows


def adapters(*, limit: int = 20) -> tuple[list[Adapter], Adapter | None, ServingDecision]:
    """Registered LoRA adapters (best validation first), the best validated one, and whether
    it reorders the served lists, with the reason."""
    best, decision = reranker_serving()
    return list(Adapter.objects.all()[:limit]), best, decision


def _label(job: JobRun) -> JobRun:
    # The module path says where a task lives; the last part says what it does.
    job.label = job.task_name.rsplit(".", 1)[-1].replace("_", " ")  # type: ignore[attr-defined]
    return job


def recent_jobs(*, limit: int = 12) -> list[JobRun]:
    return [_label(j) for j in JobRun.objects.select_related("requested_by")[:limit]]


def recent_failures(*, limit: int = 8) -> list[JobRun]:
    failed = JobRun.objects.filter(state=JobRun.State.FAILED).select_related("requested_by")
    return [_label(j) for j in failed[:limit]]
