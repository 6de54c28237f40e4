from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from webapp.catalogue.models import CatalogueStats, Interaction, Item
from webapp.jobs.models import JobRun

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_cannot_reach_the_admin(client: Client) -> None:
    response = client.get(reverse("admin:catalogue_item_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_a_non_staff_user_cannot_reach_the_admin(
    client: Client, alice: Any, make_item: Any
) -> None:
    item = make_item()
    client.force_login(alice)
    for url in (
        reverse("admin:index"),
        reverse("admin:catalogue_item_changelist"),
        reverse("admin:catalogue_item_change", args=[item.pk]),
    ):
        response = client.get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
    response = client.post(reverse("admin:catalogue_item_recompute_stats"))
    assert response.status_code == 302 and not JobRun.objects.exists()


def test_staff_can_search_and_filter_items(client: Client, staff: Any, make_item: Any) -> None:
    make_item(title="Alien", genres=("Horror",), description="curated text")
    make_item(title="Toy Story", genres=("Animation",), generated_description="machine text")
    client.force_login(staff)
    url = reverse("admin:catalogue_item_changelist")
    assert "Alien" in client.get(url, {"q": "alien"}).content.decode()
    generated = client.get(url, {"description": "generated"}).content.decode()
    assert "Toy Story" in generated and "Alien</a>" not in generated
    by_genre = client.get(
        url, {"genres__id__exact": Item.objects.get(title="Alien").genres.get().pk}
    )
    assert "Alien" in by_genre.content.decode() and "Toy Story" not in by_genre.content.decode()
    assert client.get(url, {"decade": "1990"}).status_code == 200
    assert client.get(url, {"decade": "²"}).status_code == 200  # a digit int() refuses


def test_bulk_retire_and_restore_keep_history(
    client: Client, staff: Any, alice: Any, make_item: Any
) -> None:
    item = make_item()
    Interaction.objects.create(user=alice, item=item, kind="like", created_at="2024-01-01T00:00Z")
    client.force_login(staff)
    url = reverse("admin:catalogue_item_changelist")
    client.post(url, {"action": "retire", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert not item.is_active and item.interactions.count() == 1
    client.post(url, {"action": "restore", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.is_active


def test_recompute_button_runs_the_statistics_job(
    client: Client, staff: Any, alice: Any, make_item: Any, django_capture_on_commit_callbacks: Any
) -> None:
    item = make_item()
    Interaction.objects.create(
        user=alice, item=item, kind="rating", value=4, created_at="2024-01-01T00:00Z"
    )
    client.force_login(staff)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:catalogue_item_recompute_stats"))
    job = JobRun.objects.get()
    assert job.state == JobRun.State.SUCCEEDED and job.requested_by == staff
    item.refresh_from_db()
    assert (item.interaction_count, item.mean_rating) == (1, 4.0)
    page = client.get(reverse("admin:catalogue_item_changelist")).content.decode()
    assert "1 interactions" in page or "1 interaction" in page
    assert CatalogueStats.objects.get().n_interactions == 1


def test_interactions_and_users_are_browsable(
    client: Client, staff: Any, alice: Any, make_item: Any
) -> None:
    Interaction.objects.create(
        user=alice, item=make_item(), kind="like", created_at="2024-01-01T00:00Z"
    )
    client.force_login(staff)
    assert "alice" in client.get(reverse("admin:catalogue_interaction_changelist")).content.decode()
    assert client.get(reverse("admin:auth_user_change", args=[alice.pk])).status_code == 200
    assert client.get(reverse("admin:jobs_jobrun_changelist")).status_code == 200


def test_staff_queue_llm_enrichment_and_a_bad_limit_is_refused(
    client: Client, staff: Any, make_item: Any
) -> None:
    make_item(title="Aliens")
    client.force_login(staff)
    page = client.get(reverse("admin:catalogue_item_changelist")).content.decode()
    assert "1 active item without text" in page
    response = client.post(reverse("admin:catalogue_item_enrich"), {"limit": "many"})
    assert response.status_code == 302 and not JobRun.objects.exists()
    # queued only: the on-commit send never runs inside the test's transaction
    client.post(reverse("admin:catalogue_item_enrich"), {"limit": "3"})
    job = JobRun.objects.get()
    assert job.arguments == {"limit": 3} and job.requested_by == staff


def test_history_is_protected_from_deletion_in_the_admin(admin_client: Any, make_item: Any) -> None:
    """Items are retired, not deleted (their ratings train the models); the serving model
    version cannot be deleted; profile versions, explanations and chats are read-only."""
    from django.db.models import ProtectedError

    item = make_item(title="Kept")
    user = get_user_model().objects.create_user("rater")
    Interaction.objects.create(user=user, item=item, kind="like", created_at="2024-01-01T00:00Z")
    page = admin_client.get(reverse("admin:catalogue_item_delete", args=[item.pk]))
    assert page.status_code == 403
    with pytest.raises(ProtectedError):
        item.delete()  # and not behind the admin's back either
    for name in ("profiles_profileversion", "ranking_explanation", "steering_conversation"):
        listing = admin_client.get(reverse(f"admin:{name}_changelist"))
        assert listing.status_code == 200
        assert admin_client.get(reverse(f"admin:{name}_add")).status_code == 403


def test_staff_who_may_only_view_cannot_run_actions(client: Client, make_item: Any) -> None:
    from django.contrib.auth.models import Permission

    viewer = get_user_model().objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_item"))
    item = make_item(title="Stays")
    client.force_login(viewer)
    url = reverse("admin:catalogue_item_changelist")
    page = client.get(url)
    assert page.status_code == 200 and "Retire selected" not in page.content.decode()
    client.post(url, {"action": "retire", "_selected_action": [item.pk]})
    item.refresh_from_db()
    assert item.is_active


@pytest.mark.django_db
def test_the_train_button_refuses_an_unknown_model_name_before_queueing(
    client: Any, staff: Any
) -> None:
    client.force_login(staff)
    url = reverse("admin:recommendations_modelversion_train")
    response = client.post(url, {"name": "{oops} no-such-model"}, follow=True)
    assert response.status_code == 200
    assert "No model named" in response.content.decode() and not JobRun.objects.exists()
