from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.catalogue.models import Interaction, Item
from webapp.jobs.models import JobRun
from webapp.jobs.services import job_enqueue
from webapp.recommendations import selectors, services, tasks
from webapp.recommendations.models import ModelVersion, RecommendationList

pytestmark = pytest.mark.django_db
User = get_user_model()
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_the_dataset_counts_ratings_and_likes_but_not_dislikes(alice: Any, make_item: Any) -> None:
    a, b, c = make_item(title="A"), make_item(title="B"), make_item(title="C")
    Interaction.objects.create(user=alice, item=a, kind="rating", value=2, created_at=T0)
    Interaction.objects.create(
        user=alice, item=b, kind="like", created_at=T0 + timedelta(seconds=1)
    )
    Interaction.objects.create(
        user=alice, item=c, kind="dislike", created_at=T0 + timedelta(seconds=2)
    )
    data = selectors.dataset_from_db()
    assert data.users.ids == (alice.pk,)
    assert len(data.catalogue) == 3  # every item is in the catalogue
    items = [data.catalogue.ids.external(i) for i in data.interactions.items]
    assert items == [a.pk, b.pk]
    assert data.interactions.values.tolist() == [2.0, 5.0]


def test_training_registers_a_version_and_lists_recommend_the_users_own_block(
    two_tastes: dict[str, Any],
) -> None:
    mv = services.model_train(name="ease")
    assert mv.is_active and mv.n_users == 20 and mv.n_items == 16 and mv.split_hash
    assert mv.valid_ndcg is not None and mv.valid_ndcg > 0.5
    written = services.recommendations_refresh(model_version=mv)
    assert written == 20

    user = two_tastes["users"]["comedy"][3]
    stored = RecommendationList.objects.get(user=user)
    seen = set(Interaction.objects.filter(user=user).values_list("item_id", flat=True))
    pks = [e["item"] for e in stored.entries]
    assert not seen & set(pks), "a list never repeats what the user already rated"
    assert pks[0] == two_tastes["comedies"][3].pk, "the one comedy they skipped comes first"
    for entry in stored.entries:
        assert entry["score"] == pytest.approx(sum(entry["components"].values()), abs=1e-4)


def test_each_stored_item_keeps_the_history_items_its_model_credits(
    two_tastes: dict[str, Any],
) -> None:
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    user = two_tastes["users"]["comedy"][3]
    stored = RecommendationList.objects.get(user=user)
    history = set(Interaction.objects.filter(user=user).values_list("item_id", flat=True))
    first = stored.entries[0]
    assert set(first["evidence"]) <= set(first["components"]), "evidence names a component"
    cited = [pk for pk, share in first["evidence"]["ease"]]
    assert cited and set(cited) <= history, "only the user's own history is cited"
    assert {Item.objects.get(pk=pk).title[:6] for pk in cited} == {"Comedy"}
    shares = [
        share for e in stored.entries for pairs in e["evidence"].values() for _, share in pairs
    ]
    assert shares and min(shares) > 0


def test_retired_items_are_left_out_of_refreshed_lists(two_tastes: dict[str, Any]) -> None:
    mv = services.model_train(name="ease")
    target = two_tastes["comedies"][3]
    Item.objects.filter(pk=target.pk).update(is_active=False)
    services.recommendations_refresh(model_version=mv)
    pks = {
        e["item"]
        for e in RecommendationList.objects.get(user=two_tastes["users"]["comedy"][3]).entries
    }
    assert target.pk not in pks


def test_the_home_page_shows_my_list(client: Client, two_tastes: dict[str, Any]) -> None:
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    client.force_login(two_tastes["users"]["horror"][2])
    page = client.get(reverse("home")).content.decode()
    assert "Recommended for you" in page
    first_card = page.split('<ol class="recs">')[1].split("</li>")[0]
    assert "Horror 2" in first_card  # the one horror film this user has not rated


def test_a_new_user_is_told_how_to_get_recommendations(client: Client, alice: Any) -> None:
    client.force_login(alice)
    page = client.get(reverse("home")).content.decode()
    assert "No recommendations for you yet" in page


def test_while_training_the_home_page_polls_its_progress(client: Client, alice: Any) -> None:
    JobRun.objects.create(
        task_name=tasks.model_train.name, state="running", progress=0.4, message="tuning ease"
    )
    client.force_login(alice)
    fragment = client.get(reverse("home"), HTTP_HX_REQUEST="true").content.decode()
    assert (
        'hx-trigger="every 3s"' in fragment
        and "tuning ease" in fragment
        and "<html" not in fragment
    )


def test_the_training_task_records_its_result(
    two_tastes: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(task=tasks.model_train, arguments={"name": "ease"})
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.result["lists"] == 20
    assert ModelVersion.objects.get(version=job.result["model_version"]).is_active


def test_staff_can_start_training_from_the_admin(
    client: Client, staff: Any, two_tastes: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("admin:recommendations_modelversion_train"), {"name": "pop"})
    assert response.status_code == 302
    assert ModelVersion.objects.get().name == "pop"
    assert client.get(reverse("admin:recommendations_modelversion_changelist")).status_code == 200


def test_training_with_no_data_fails_clearly() -> None:
    with pytest.raises(ValueError, match="no interactions"):
        services.model_train(name="pop")


def test_two_trainings_in_the_same_second_get_distinct_versions(two_tastes: dict[str, Any]) -> None:
    first, second = services.model_train(name="pop"), services.model_train(name="pop")
    assert first.version != second.version and first.path != second.path
    assert ModelVersion.objects.filter(is_active=True).get() == second


def test_a_late_training_never_activates_over_a_newer_version(
    two_tastes: dict[str, Any],
) -> None:
    """The stale re-run of an hour-old training request must not switch every list back."""
    asked = JobRun.objects.create(task_name=tasks.model_train.name, arguments={"name": "pop"})
    JobRun.objects.filter(pk=asked.pk).update(created_at=T0)  # asked for long ago
    newer = services.model_train(name="ease")  # trained and serving since
    services.recommendations_refresh(model_version=newer)
    result = tasks.model_train.apply(kwargs={"job_id": asked.pk, "name": "pop"}).result
    assert result["activated"] is False and newer.version in result["reason"]
    assert selectors.active_model_version() == newer
    assert set(RecommendationList.objects.values_list("model_version", flat=True)) == {newer.pk}
    # a request made now does activate, after writing every list
    fresh = JobRun.objects.create(task_name=tasks.model_train.name, arguments={"name": "pop"})
    result = tasks.model_train.apply(kwargs={"job_id": fresh.pk, "name": "pop"}).result
    assert result["activated"] is True and result["lists"] == 20
    assert selectors.active_model_version().version == result["model_version"]


def test_deleting_a_model_version_never_takes_the_lists_with_it(
    two_tastes: dict[str, Any],
) -> None:
    from django.db.models import ProtectedError

    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    with pytest.raises(ProtectedError):
        mv.delete()
    assert RecommendationList.objects.filter(model_version=mv).count() == 20


def test_a_new_site_serves_a_quick_model_first_then_the_one_asked_for(
    two_tastes: dict[str, Any], tiny_models: Any, django_capture_on_commit_callbacks: Any
) -> None:
    from django.core.management import call_command

    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_recommender", model="pop", background=True, if_missing=True)
    first = JobRun.objects.get(task_name=tasks.model_train_first.name)
    assert first.state == JobRun.State.SUCCEEDED, first.error
    assert first.result["activated"] and first.result["lists"] == 20
    quick = ModelVersion.objects.get(version=first.result["model_version"])
    assert quick.name == "ease" and quick.hparams == {}  # default settings: no tuning
    # the model asked for was queued after the quick one served, so it replaces it
    follow = JobRun.objects.get(task_name=tasks.model_train.name)
    assert follow.state == JobRun.State.SUCCEEDED, follow.error
    assert follow.result["activated"] and ModelVersion.objects.get(is_active=True).name == "pop"
    # a site with a model trains only what is asked for
    with django_capture_on_commit_callbacks(execute=True):
        call_command("train_recommender", model="ease", background=True)
    assert JobRun.objects.filter(task_name=tasks.model_train_first.name).count() == 1


def test_the_page_says_a_better_model_is_on_its_way_while_one_trains(
    two_tastes: dict[str, Any], client: Client
) -> None:
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    user = two_tastes["users"]["comedy"][3]
    client.force_login(user)
    assert 'data-testid="training-status"' not in client.get(reverse("home")).content.decode()
    JobRun.objects.create(
        task_name=tasks.model_train.name, state=JobRun.State.RUNNING, progress=0.4
    )
    page = client.get(reverse("home")).content.decode()
    assert "A better model is being trained (40%)" in page


def test_a_refresh_larger_than_one_part_is_shared_and_activates_when_the_last_lands(
    two_tastes: dict[str, Any], settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    settings.REFRESH_CHUNK_USERS = 6  # 20 users: parts of 6, 6, 6 and 2
    with django_capture_on_commit_callbacks(execute=True):
        job = job_enqueue(task=tasks.model_train, arguments={"name": "ease"})
    job.refresh_from_db()
    assert job.state == JobRun.State.SUCCEEDED, job.error
    assert job.result["lists"] == "20 users in 4 parts, written by the workers"
    mv = ModelVersion.objects.get(version=job.result["model_version"])
    chunks = list(mv.refresh_chunks.all())
    assert [len(c.user_ids) for c in chunks] == [6, 6, 6, 2]
    assert all(c.done_at for c in chunks) and sum(c.lists for c in chunks) == 20
    assert ModelVersion.objects.get(is_active=True) == mv
    assert RecommendationList.objects.filter(model_version=mv).count() == 20


def test_a_part_left_undone_keeps_the_old_version_serving_and_a_redone_part_changes_nothing(
    two_tastes: dict[str, Any], settings: Any, client: Client
) -> None:
    old = services.model_train(name="ease")
    services.recommendations_refresh(model_version=old)
    settings.REFRESH_CHUNK_USERS = 6
    new = services.model_train(name="ease", activate=False)
    numbers = services.refresh_plan(model_version=new, requested_at=None)
    assert services.refresh_plan(model_version=new, requested_at=None) == numbers  # idempotent
    for n in numbers[:-1]:  # the worker holding the last part died before it finished
        assert services.refresh_chunk(model_version=new, number=n)["activated"] is False
    assert ModelVersion.objects.get(is_active=True) == old
    assert services.refresh_progress(model_version=new) == (3, 4)
    client.force_login(two_tastes["users"]["comedy"][3])
    page = client.get(reverse("home")).content.decode()
    assert "writing everyone's lists (3 of 4 parts done)" in page
    # the part is redelivered to another worker: the version serves once it is written
    assert services.refresh_chunk(model_version=new, number=numbers[-1])["activated"] is True
    assert ModelVersion.objects.get(is_active=True) == new
    before = list(RecommendationList.objects.order_by("user_id").values_list("entries", flat=True))
    again = services.refresh_chunk(model_version=new, number=numbers[0])  # a duplicate delivery
    assert again["left"] == 0 and RecommendationList.objects.filter(model_version=new).count() == 20
    after = list(RecommendationList.objects.order_by("user_id").values_list("entries", flat=True))
    assert after == before


def test_a_part_that_kills_its_worker_every_time_is_given_up_and_the_old_version_serves(
    two_tastes: dict[str, Any], settings: Any, admin_client: Client
) -> None:
    old = services.model_train(name="ease")
    settings.REFRESH_CHUNK_USERS = 10
    new = services.model_train(name="ease", activate=False)
    first, last = services.refresh_plan(model_version=new, requested_at=None)
    services.refresh_chunk(model_version=new, number=first)
    # the last part's earlier deliveries each died with their worker
    new.refresh_chunks.filter(number=last).update(attempts=settings.JOB_MAX_ATTEMPTS)
    assert services.refresh_chunk(model_version=new, number=last)["failed"] is True
    assert services.refresh_chunk(model_version=new, number=last)["failed"] is True  # stays
    assert ModelVersion.objects.get(is_active=True) == old
    page = admin_client.get(reverse("admin:recommendations_refreshchunk_changelist"))
    assert page.status_code == 200 and str(new.refresh_chunks.get(number=last).attempts) in (
        page.content.decode()
    )


@pytest.mark.worker
def test_real_workers_write_a_refresh_in_parts_and_the_version_serves_once_all_land(
    transactional_db: None, two_tastes: dict[str, Any]
) -> None:
    from webapp.celery import app

    from .conftest import start_worker, stop_worker, wait_for

    app.conf.task_always_eager = False
    app.control.purge()
    small = {"REFRESH_CHUNK_USERS": "3"}  # 20 users: 7 parts
    workers = [start_worker(f"refresh-{n}.log", name=f"refresh{n}@%h", env=small) for n in (1, 2)]
    try:
        job = job_enqueue(task=tasks.model_train, arguments={"name": "ease"})
        assert wait_for(lambda: ModelVersion.objects.filter(is_active=True).exists(), timeout=120)
        job.refresh_from_db()
        assert job.state == JobRun.State.SUCCEEDED, job.error
        mv = ModelVersion.objects.get(is_active=True)
        assert mv.version == job.result["model_version"]
        parts = list(mv.refresh_chunks.all())
        assert len(parts) == 7 and all(p.done_at for p in parts)
        assert RecommendationList.objects.filter(model_version=mv).count() == 20
    finally:
        for proc in workers:
            stop_worker(proc)
        app.conf.task_always_eager = True
