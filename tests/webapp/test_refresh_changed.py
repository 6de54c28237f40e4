"""Between trainings only the users whose inputs changed get a new list (#26, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from webapp.catalogue import services as catalogue_services
from webapp.catalogue.models import Interaction
from webapp.profiles import services as profile_services
from webapp.recommendations import selectors, services, tasks
from webapp.recommendations.models import RecommendationList, RefreshMark

pytestmark = pytest.mark.django_db
T1 = datetime(2024, 6, 1, tzinfo=UTC)


@pytest.fixture
def served(two_tastes: dict[str, Any]) -> dict[str, Any]:
    """EASE serving, every list written: nobody has changed since."""
    mv = services.model_train(name="ease")
    services.recommendations_refresh(model_version=mv)
    return two_tastes | {"mv": mv}


def _stamps() -> dict[int, Any]:
    return dict(RecommendationList.objects.values_list("user_id", "computed_at"))


def test_a_fresh_refresh_leaves_nobody_to_refresh(served: dict[str, Any]) -> None:
    assert not RefreshMark.objects.exists()
    assert selectors.users_to_refresh(model_version=served["mv"]) == []
    report = services.lists_refresh_changed(model_version=served["mv"])
    assert report["refreshed"] == 0 and report["skipped"] == 20 and report["skipped_share"] == 1.0


def test_a_user_with_a_new_rating_is_refreshed_and_an_untouched_one_keeps_their_row(
    served: dict[str, Any],
) -> None:
    rater, untouched = served["users"]["comedy"][0], served["users"]["comedy"][1]
    before = _stamps()
    row_before = RecommendationList.objects.get(user=untouched)
    catalogue_services.interaction_rate(user=rater, item=served["horrors"][0], value=5)
    assert selectors.users_to_refresh(model_version=served["mv"]) == [rater.pk]

    report = services.lists_refresh_changed(model_version=served["mv"])

    assert (report["refreshed"], report["skipped"]) == (1, 19)
    after = _stamps()
    assert after[rater.pk] > before[rater.pk]
    assert {u: t for u, t in after.items() if u != rater.pk} == {
        u: t for u, t in before.items() if u != rater.pk
    }
    row = RecommendationList.objects.get(user=untouched)
    assert (row.pk, row.entries, bytes(row.user_state or b"")) == (
        row_before.pk,
        row_before.entries,
        bytes(row_before.user_state or b""),
    )
    assert selectors.users_to_refresh(model_version=served["mv"]) == []  # the mark is gone


def test_a_new_rating_moves_the_raters_list_at_the_refresh_not_at_the_next_training(
    served: dict[str, Any],
) -> None:
    """The refresh folds the rater's history as it is now into the fitted model: a comedy
    fan who rates a horror film gets the other horror films lifted, each citing it."""
    rater, liked = served["users"]["comedy"][3], served["horrors"][0]
    horrors = {h.pk for h in served["horrors"]}

    def horror_scores() -> dict[int, float]:
        entries = RecommendationList.objects.get(user=rater).entries
        return {e["item"]: e["score"] for e in entries if e["item"] in horrors}

    before = horror_scores()
    catalogue_services.interaction_rate(user=rater, item=liked, value=5)
    services.lists_refresh_changed(model_version=served["mv"])

    after = horror_scores()
    assert liked.pk not in after and set(after) == horrors - {liked.pk}  # rated: not offered
    assert min(after.values()) > max(before.values())
    entries = RecommendationList.objects.get(user=rater).entries
    cited = [
        e for e in entries
        if e["item"] in horrors and any(h == liked.pk for pairs in e["evidence"].values() for h, _ in pairs)
    ]  # fmt: skip
    assert len(cited) == len(after)
    # the fitted model did not learn it: another comedy fan's list is unchanged
    other = served["users"]["comedy"][4]
    services.recommendations_refresh(model_version=served["mv"], user_ids=[other.pk])
    assert all(
        e["item"] in horrors or e["score"] >= 0
        for e in RecommendationList.objects.get(user=other).entries
    )


def test_a_removed_like_and_a_bulk_insert_mark_their_users(served: dict[str, Any]) -> None:
    liker, bulk = served["users"]["horror"][2], served["users"]["horror"][3]
    item = served["comedies"][1]
    catalogue_services.interaction_toggle(user=liker, item=item, kind="like")
    services.lists_refresh_changed(model_version=served["mv"])
    catalogue_services.interaction_toggle(user=liker, item=item, kind="like")  # taken back
    Interaction.objects.bulk_create(
        [Interaction(user=bulk, item=i, kind="like", created_at=T1) for i in served["comedies"]]
    )
    assert selectors.users_to_refresh(model_version=served["mv"]) == sorted([liker.pk, bulk.pk])


def test_a_profile_edit_counts_as_a_change(served: dict[str, Any]) -> None:
    fan = served["users"]["horror"][0]
    profile_services.profile_edit(user=fan, by=fan, action="add", text="funny films")
    assert selectors.users_to_refresh(model_version=served["mv"]) == [fan.pk]


def test_a_catalogue_change_makes_every_list_stale(served: dict[str, Any]) -> None:
    before = _stamps()
    catalogue_services.items_set_active(item_ids=[served["comedies"][7].pk], active=False)
    assert len(selectors.users_to_refresh(model_version=served["mv"])) == 20

    report = services.lists_refresh_changed(model_version=served["mv"])

    assert (report["refreshed"], report["skipped"]) == (20, 0)
    assert all(_stamps()[u] > t for u, t in before.items())
    retired = served["comedies"][7].pk
    assert all(
        retired not in [e["item"] for e in entries]
        for entries in RecommendationList.objects.values_list("entries", flat=True)
    )
    assert selectors.users_to_refresh(model_version=served["mv"]) == []


def test_a_new_model_version_refreshes_everyone(served: dict[str, Any]) -> None:
    newer = services.model_train(name="ease")  # active now; its lists are not written yet
    assert len(selectors.users_to_refresh(model_version=newer)) == 20
    report = services.lists_refresh_changed(model_version=newer)
    assert report["refreshed"] == 20
    assert set(RecommendationList.objects.values_list("model_version", flat=True)) == {newer.pk}


def test_an_edit_made_while_a_list_was_computed_keeps_its_mark(served: dict[str, Any]) -> None:
    user = served["users"]["comedy"][4]
    catalogue_services.interaction_rate(user=user, item=served["horrors"][1], value=4)
    read = selectors.refresh_marks(user_ids=[user.pk])  # what the refresh answered
    catalogue_services.interaction_rate(user=user, item=served["horrors"][2], value=4)
    assert services.refresh_marks_clear(marks=read) == 0
    assert selectors.users_to_refresh(model_version=served["mv"]) == [user.pk]


def test_the_task_queues_parts_on_the_refresh_queue_and_says_who_was_skipped(
    served: dict[str, Any], settings: Any
) -> None:
    settings.REFRESH_CHUNK_USERS = 2
    changed = [served["users"]["comedy"][u] for u in range(3)]
    for user in changed:
        catalogue_services.interaction_rate(user=user, item=served["horrors"][0], value=3)
    before = _stamps()

    report = tasks.lists_refresh_changed()  # eager: the two parts run here

    assert (report["refreshed"], report["skipped"], report["parts"]) == (3, 17, 2)
    assert [u for u, t in _stamps().items() if t != before[u]] == sorted(u.pk for u in changed)
    assert not RefreshMark.objects.exists()


def test_the_command_reports_refreshed_and_skipped(served: dict[str, Any]) -> None:
    user = served["users"]["horror"][5]
    catalogue_services.interaction_rate(user=user, item=served["comedies"][2], value=2)
    out = StringIO()
    call_command("refresh_lists", stdout=out)
    assert "1 lists refreshed" in out.getvalue() and "19 users skipped" in out.getvalue()


def test_a_deleted_users_mark_goes_with_the_next_refresh(served: dict[str, Any]) -> None:
    gone = served["users"]["comedy"][9]
    gone.delete()  # its interactions' delete trigger marks it once more
    services.lists_refresh_changed(model_version=served["mv"])
    assert not RefreshMark.objects.filter(user_id=gone.pk).exists()


def test_every_source_of_a_users_inputs_still_has_its_mark_trigger_after_all_migrations() -> None:
    # SQLite drops a table's triggers when a migration rebuilds it: a later migration that
    # alters interactions or profile versions must put them back (migration 0011 says how)
    expected = {
        ("catalogue_interaction", "refreshmark_interaction_insert"),
        ("catalogue_interaction", "refreshmark_interaction_update"),
        ("catalogue_interaction", "refreshmark_interaction_delete"),
        ("profiles_profileversion", "refreshmark_profile_insert"),
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT DISTINCT event_object_table, trigger_name FROM information_schema.triggers"
                " WHERE trigger_name LIKE 'refreshmark%%'"
            )
        else:
            cursor.execute(
                "SELECT tbl_name, name FROM sqlite_master WHERE type = 'trigger'"
                " AND name LIKE 'refreshmark%'"
            )
        assert set(cursor.fetchall()) == expected


def test_a_part_queued_before_a_training_writes_nothing_once_the_new_version_serves(
    served: dict[str, Any],
) -> None:
    user = served["users"]["comedy"][2]
    before = RecommendationList.objects.get(user=user).computed_at
    services.model_train(name="ease")  # serves now; the part below was queued for the old one
    result = tasks.lists_refresh_users(version=served["mv"].version, user_ids=[user.pk])
    assert result["lists"] == 0 and RecommendationList.objects.get(user=user).computed_at == before
