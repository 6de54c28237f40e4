from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from tests.webapp.worker_tasks import always_fails
from webapp.catalogue.models import Interaction, Item, ItemVectors
from webapp.catalogue.tasks import catalogue_enrich, item_vectors_refresh
from webapp.dashboard import selectors
from webapp.dashboard.charts import bar_chart, nice_ceiling
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue, job_mark_succeeded, job_progress
from webapp.recommendations import services as rec_services
from webapp.recommendations import tasks as rec_tasks
from webapp.recommendations.models import Adapter, ModelVersion

pytestmark = pytest.mark.django_db

HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def artifacts_in_tmp(settings: Any, tmp_path: Path) -> None:
    # A fine-tuning run resumes from a folder named after its data and recipe: keep every
    # test's artifacts apart so none continues another's.
    settings.ARTIFACT_DIR = tmp_path / "artifacts"


@pytest.fixture
def staff_client(client: Client, staff: Any) -> Client:
    client.force_login(staff)
    return client


def _start(client: Client, action: str, data: dict[str, Any], capture: Any) -> Any:
    """Press a button, let the queued job run (eagerly, once the request commits), then
    load the page the button redirects to, as a browser would."""
    with capture(execute=True):
        response = client.post(reverse("dashboard:start", args=[action]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    return client.get(response["Location"])


# --- access --------------------------------------------------------------------------------


def test_visitors_and_non_staff_users_are_sent_to_the_staff_login(
    client: Client, alice: Any, django_capture_on_commit_callbacks: Any
) -> None:
    failed = JobRun.objects.create(task_name=always_fails.name, state=JobRun.State.FAILED)
    gets = [reverse("dashboard:overview"), reverse("dashboard:chart"), reverse("dashboard:jobs")]
    posts = [
        reverse("dashboard:start", args=["train"]),
        reverse("dashboard:run_again", args=[failed.pk]),
    ]
    for who in (None, alice):
        if who is not None:
            client.force_login(who)
        for url in gets:
            response = client.get(url, **HX)
            assert response.status_code == 302 and "/admin/login/" in response["Location"], url
        with django_capture_on_commit_callbacks(execute=True):
            for url in posts:
                response = client.post(url, {"train-name": "pop"})
                assert response.status_code == 302 and "/admin/login/" in response["Location"]
    assert list(JobRun.objects.values_list("pk", flat=True)) == [failed.pk]


def test_buttons_only_accept_posts(staff_client: Client) -> None:
    assert staff_client.get(reverse("dashboard:start", args=["train"])).status_code == 405
    assert staff_client.post(reverse("dashboard:overview")).status_code == 405


# --- the page ------------------------------------------------------------------------------


def test_the_dashboard_shows_counts_chart_versions_and_adapters(
    staff_client: Client, alice: Any, make_item: Any
) -> None:
    film = make_item(title="Alien", generated_description="A crew meets a creature.")
    make_item(title="Babe", is_active=False)
    make_item(title="Clue", description="Curated.")
    day = datetime(2024, 3, 10, 12, tzinfo=UTC)
    Interaction.objects.create(user=alice, item=film, kind="like", created_at=day)
    Interaction.objects.create(user=alice, item=film, kind="view", created_at=day)
    ModelVersion.objects.create(
        name="ease",
        version="ease-test-1",
        path="/nowhere.bin",
        valid_ndcg=0.31,
        is_active=True,
        evaluation={
            "n_users_evaluated": 17,
            "n_interactions": 140,
            "test": {"ndcg@10": 0.4242, "recall@10": 0.8, "coverage@10": 0.5},
            "reference_test": {"ndcg@10": 0.1},
            "ndcg@10_diff_vs_reference": {"mean": 0.3242, "low": 0.2, "high": 0.41},
        },
    )
    Adapter.objects.create(
        version="ease-abc-150",
        base_model="tiny@1",
        path="/x",
        valid_ndcg=0.55,
        config={"cowatch_top": 3, "blend": 0.35},
    )
    page = staff_client.get(reverse("dashboard:overview"))
    assert page.status_code == 200
    html = page.content.decode()
    stats = dict(re.findall(r"<dt>([^<]+)</dt><dd>([^<]+)</dd>", html))
    assert stats["Items"] == "3" and stats["Active"] == "2" and stats["Retired"] == "1"
    assert stats["With generated text"] == "1" and stats["Curated text"] == "1"
    assert stats["Interactions"] == "2" and stats["Likes"] == "1" and stats["Views"] == "1"
    # the chart is inline SVG drawn on the server: 30 daily bars, no script or CDN for it
    svg = html[html.index("<svg") : html.index("</svg>")]
    assert svg.count("<rect") == 30 and "10 Mar 24: 2" in svg
    assert "dashboard.css" in html and "cdn" not in html.lower()
    assert [s for s in re.findall(r'<script src="([^"]+)"', html)] == ["/static/vendor/htmx.min.js"]
    for text in (
        "ease-test-1", "0.4242", "0.3242 [0.2000, 0.4100]", "17 users", "ease-abc-150",
        "titles + co-watch hint (top 3); blend 0.35",
    ):  # fmt: skip
        assert text in html
    for title in ("Catalogue enrichment", "Item embeddings", "Recommender training"):
        assert title in html
    assert "LoRA fine-tuning" in html and "Offline evaluation" in html
    assert html.count('name="csrfmiddlewaretoken"') >= 5


def test_an_empty_site_renders_every_section(staff_client: Client) -> None:
    html = staff_client.get(reverse("dashboard:overview")).content.decode()
    assert "No interactions yet." in html and "No model trained yet." in html
    assert "No background jobs yet." in html and "No failed jobs." in html


def test_the_chart_switches_between_days_and_weeks(
    staff_client: Client, alice: Any, make_item: Any
) -> None:
    film = make_item()
    newest = datetime(2024, 3, 13, 9, tzinfo=UTC)  # a Wednesday
    for days_back in (0, 1, 8, 400):
        Interaction.objects.create(
            user=alice, item=film, kind="view", created_at=newest - timedelta(days=days_back)
        )
    daily = selectors.interactions_over_time(period="day")
    assert len(daily) == 30 and daily[-1] == (newest.date(), 1)
    assert sum(n for _, n in daily) == 3 and (newest.date() - timedelta(days=8), 1) in daily
    weekly = selectors.interactions_over_time(period="week")
    assert len(weekly) == 26 and weekly[-1][0].weekday() == 0  # weeks start on Monday
    assert [n for _, n in weekly[-2:]] == [1, 2] and sum(n for _, n in weekly) == 3

    fragment = staff_client.get(reverse("dashboard:chart"), {"period": "week"}, **HX)
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html
    assert html.count("<rect") == 26 and "Interactions per week" in html
    # without JavaScript the same link reloads the whole page on the weekly chart
    page = staff_client.get(reverse("dashboard:overview"), {"period": "week"}).content.decode()
    assert "Interactions per week" in page and "<html" in page


def test_bar_heights_scale_to_a_round_axis_top() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 3, 7, 11, 180, 2400)] == [1, 1, 5, 10, 20, 200, 2500]
    chart = bar_chart([("a", 5), ("b", 10), ("c", 0)], width=348, height=130)
    plot_height = 130 - 8 - 22
    assert [b.height for b in chart.bars] == [plot_height / 2, plot_height, 0]
    assert all(b.y + b.height == chart.baseline for b in chart.bars)
    assert (
        chart.bars[0].x >= chart.left
        and chart.bars[-1].x + chart.bars[-1].width <= chart.right == 320
    )
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"] and chart.peak.label == "b"
    assert chart.total == 15 and [t.label for t in chart.x_ticks] == ["a", "b", "c"]
    many = bar_chart([(str(i), i) for i in range(30)], x_labels=6)
    assert (
        len(many.x_ticks) == 6 and many.x_ticks[0].label == "0" and many.x_ticks[-1].label == "29"
    )
    assert bar_chart([]).bars == () and bar_chart([("x", 0)]).peak is None


# --- buttons -------------------------------------------------------------------------------


def _only_job(task: Any) -> JobRun:
    return JobRun.objects.get(task_name=task.name)


def test_the_enrichment_button_describes_items(
    staff_client: Client,
    staff: Any,
    make_item: Any,
    tiny_models: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    for n in range(3):
        make_item(title=f"Film {n}")
    response = _start(
        staff_client, "enrich", {"enrich-limit": "2"}, django_capture_on_commit_callbacks
    )
    job = _only_job(catalogue_enrich)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.arguments == {"limit": 2} and job.requested_by == staff
    assert job.result["total"] == 2 and Item.objects.exclude(generated_by="").count() == 2
    assert f"The LLM is describing items without text (job #{job.pk})." in response.content.decode()


def test_the_embedding_button_refreshes_item_vectors(
    staff_client: Client, make_item: Any, tiny_models: Any, django_capture_on_commit_callbacks: Any
) -> None:
    make_item(title="Alien", genres=("Horror",))
    response = _start(staff_client, "item-vectors", {}, django_capture_on_commit_callbacks)
    job = _only_job(item_vectors_refresh)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert ItemVectors.objects.get().pk == job.result["item_vectors"]
    assert f"Item embeddings are being refreshed (job #{job.pk})." in response.content.decode()


def test_the_training_button_trains_and_serves_the_chosen_model(
    staff_client: Client, two_tastes: Any, tiny_models: Any, django_capture_on_commit_callbacks: Any
) -> None:
    response = _start(
        staff_client, "train", {"train-name": "pop"}, django_capture_on_commit_callbacks
    )
    job = _only_job(rec_tasks.model_train)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.arguments == {"name": "pop"} and job.result["lists"] == 20
    assert ModelVersion.objects.get(is_active=True).name == "pop"
    assert f"Training pop (job #{job.pk})." in response.content.decode()


@pytest.fixture
def wide_tastes(make_item: Any) -> None:
    """Two blocks of 12 films, six fans each, every fan rating 11 of their block's films.

    The reranker's prompts hold 20 candidates and the evaluation ranks top-20 lists, so the
    catalogue must be larger than that. Each fan rates in a different order, so the held-out
    (last) films differ between fans and the models can learn every film from the others.
    """
    rows = []
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    for group in ("comedy", "horror"):
        block = [make_item(title=f"{group} {i}", genres=(group.title(),)) for i in range(12)]
        for u in range(6):
            user = get_user_model().objects.create_user(f"{group}-fan-{u}")
            rows += [
                Interaction(
                    user=user,
                    item=item,
                    kind="rating",
                    value=4,
                    created_at=t0 + timedelta(minutes=(k - u) % 12),
                )
                for k, item in enumerate(block)
                if k != (u + 6) % 12
            ]
    Interaction.objects.bulk_create(rows)


def test_the_fine_tuning_button_registers_an_adapter(
    staff_client: Client,
    wide_tastes: None,
    tiny_models: Any,
    django_capture_on_commit_callbacks: Any,
) -> None:
    response = _start(
        staff_client, "fine-tune", {"fine-tune-steps": "2"}, django_capture_on_commit_callbacks
    )
    job = _only_job(rec_tasks.adapter_train)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    adapter = Adapter.objects.get()
    assert (
        job.arguments == {"steps": 2}
        and adapter.steps == 2
        and job.result["adapter"] == adapter.version
    )
    html = response.content.decode()
    assert f"Fine-tuning for 2 steps (job #{job.pk})." in html and adapter.version in html


def test_the_evaluation_button_stores_test_scores_on_the_version(
    staff_client: Client, wide_tastes: None, django_capture_on_commit_callbacks: Any
) -> None:
    mv = rec_services.model_train(name="ease")
    data = {"evaluate-version": mv.version, "evaluate-users": "8"}
    page = _start(staff_client, "evaluate", data, django_capture_on_commit_callbacks)
    job = _only_job(rec_tasks.model_version_evaluate)
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.arguments == {"version": mv.version, "users": 8} and job.progress == 1.0
    mv.refresh_from_db()
    ev = mv.evaluation
    assert ev["n_users_evaluated"] == 8 and ev["reference"] == "pop"
    # the known answer: each fan's held-out film is one of the two unrated films of their
    # genre, so EASE ranks it first or second while popularity cannot tell the fans apart
    assert ev["test"]["ndcg@10"] > 0.6 > ev["reference_test"]["ndcg@10"]
    assert ev["ndcg@10_diff_vs_reference"]["low"] > 0
    html = page.content.decode()
    assert f"Evaluating {mv.version} on 8 users (job #{job.pk})." in html
    assert f"{ev['test']['ndcg@10']:.4f}" in html and "8 users" in html


def test_the_evaluation_defaults_to_the_served_version_and_every_user(
    wide_tastes: None, django_capture_on_commit_callbacks: Any
) -> None:
    mv = rec_services.model_train(name="pop")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(task=rec_tasks.model_version_evaluate, arguments={"users": 0})
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.result == {
        "model_version": mv.version,
        "ndcg@10": job.result["ndcg@10"],
        "users": 12,
    }
    mv.refresh_from_db()
    # popularity is its own reference: no difference to report
    assert mv.evaluation["ndcg@10_diff_vs_reference"] is None


def test_an_evaluation_that_cannot_run_fails_with_a_clear_reason(
    tastes: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(task=rec_tasks.model_version_evaluate, arguments={"users": 5})
    job.refresh_from_db()
    assert job.state == JobRun.State.FAILED
    assert job.message == (
        "ValueError: the evaluation ranks top-20 lists; the catalogue has only 16 items"
    )
    assert tastes["model_version"].evaluation == {}


def test_bad_button_input_is_refused_and_kept(staff_client: Client) -> None:
    response = staff_client.post(
        reverse("dashboard:start", args=["fine-tune"]), {"fine-tune-steps": "lots"}
    )
    html = response.content.decode()
    assert response.status_code == 400 and not JobRun.objects.exists()
    assert "LoRA fine-tuning: check steps below." in html
    assert 'value="lots"' in html and "Enter a whole number." in html
    # evaluation with no trained model says what to do
    response = staff_client.post(
        reverse("dashboard:start", args=["evaluate"]), {"evaluate-users": "50"}
    )
    assert response.status_code == 400 and not JobRun.objects.exists()
    assert (
        "There is no model version to evaluate yet: train one first." in response.content.decode()
    )
    assert staff_client.post(reverse("dashboard:start", args=["nope"])).status_code == 404


# --- progress and failures -----------------------------------------------------------------


def test_the_jobs_fragment_polls_until_every_job_is_finished(staff_client: Client) -> None:
    job = JobRun.objects.create(task_name=rec_tasks.model_train.name, state=JobRun.State.RUNNING)
    job_progress(job_id=job.pk, fraction=0.4, message="tuning hybrid on the validation split")
    url = reverse("dashboard:jobs")
    html = staff_client.get(url, **HX).content.decode()
    assert "<html" not in html and 'hx-trigger="every 2s"' in html
    assert 'value="40"' in html and "tuning hybrid on the validation split" in html
    job_progress(job_id=job.pk, fraction=0.7, message="fitting hybrid")
    html = staff_client.get(url, **HX).content.decode()
    assert 'value="70"' in html and "fitting hybrid" in html and "model train" in html
    job_mark_succeeded(job_id=job.pk, result={"lists": 3})
    html = staff_client.get(url, **HX).content.decode()
    assert 'value="100"' in html and "Succeeded" in html and "hx-trigger" not in html
    # a plain request for the fragment goes to the page
    assert staff_client.get(url).status_code == 302


def test_failures_show_their_error_and_run_again(
    staff_client: Client, staff: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        failed = job_enqueue(task=always_fails, arguments={"reason": "the disk is full"})
    html = staff_client.get(reverse("dashboard:overview")).content.decode()
    failures = html[html.index("Recent failures") :]
    assert "ValueError: the disk is full" in failures and "Traceback" in failures
    assert reverse("dashboard:run_again", args=[failed.pk]) in failures
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(reverse("dashboard:run_again", args=[failed.pk]), follow=True)
    again = JobRun.objects.exclude(pk=failed.pk).get()
    assert (again.task_name, again.arguments) == (failed.task_name, failed.arguments)
    assert again.requested_by == staff and again.state == JobRun.State.FAILED  # it fails again
    assert f"queued again as #{again.pk}" in response.content.decode()


def test_a_job_whose_task_is_gone_cannot_run_again(staff_client: Client) -> None:
    gone = JobRun.objects.create(task_name="webapp.retired.task", state=JobRun.State.FAILED)
    response = staff_client.post(reverse("dashboard:run_again", args=[gone.pk]), follow=True)
    text = unescape(response.content.decode())
    # the id, not "#1": PostgreSQL sequences are not reset between tests
    assert f"job #{gone.pk}: no task named 'webapp.retired.task' is registered any more" in text
    assert JobRun.objects.count() == 1
    assert staff_client.post(reverse("dashboard:run_again", args=[9999])).status_code == 404


def test_the_admin_run_again_action_uses_the_same_service(
    staff_client: Client, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        failed = job_enqueue(task=always_fails, arguments={"reason": "again"})
    with django_capture_on_commit_callbacks(execute=True):  # once it has failed
        staff_client.post(
            reverse("admin:jobs_jobrun_changelist"),
            {"action": "run_again", "_selected_action": [failed.pk]},
        )
    again = JobRun.objects.exclude(pk=failed.pk).get()
    assert (again.task_name, again.arguments) == (always_fails.name, {"reason": "again"})


def test_a_job_still_running_is_not_run_again(staff_client: Client) -> None:
    running = JobRun.objects.create(
        task_name=always_fails.name, state=JobRun.State.RUNNING, arguments={"reason": "x"}
    )
    response = staff_client.post(reverse("dashboard:run_again", args=[running.pk]), follow=True)
    assert "still running" in unescape(response.content.decode())
    assert JobRun.objects.count() == 1  # nothing queued beside it


def test_a_user_reads_why_a_job_failed_but_no_internal_detail() -> None:
    from webapp.jobs.services import failure_message

    said = JobRun(message=failure_message(ValueError("rate a few more films")))
    assert said.public_message == "rate a few more films"
    leak = failure_message(OSError("/var/lib/models/x.bin: disk full at 10.0.0.5"))
    assert "/var/lib" not in leak and "10.0.0.5" not in leak
    assert JobRun(message=leak).public_message.startswith("the job stopped on an internal error")
