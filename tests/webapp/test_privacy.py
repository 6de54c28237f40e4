from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Model
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    fan_fixture,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.accounts.models import Demographics
from webapp.catalogue.models import Interaction, Item
from webapp.jobs.models import JobRun
from webapp.privacy.services import personal_data_export
from webapp.profiles.models import ProfileVersion
from webapp.ranking.models import Explanation
from webapp.recommendations.models import ModelVersion, RecommendationList
from webapp.steering.models import Conversation

pytestmark = pytest.mark.django_db

PASSWORD = "correct horse battery"  # the alice fixture's
T0 = datetime(2024, 1, 1, tzinfo=UTC)
# Every model that holds personal rows, and how to find one user's rows in it.
PERSONAL: list[tuple[type[Model], str]] = [
    (Demographics, "user"),
    (Interaction, "user"),
    (ProfileVersion, "user"),
    (Explanation, "user"),
    (Conversation, "user"),
    (RecommendationList, "user"),
    (JobRun, "requested_by"),
    (Token, "user"),
]


def _fill(user: Any, *, marker: str, item: Item, model_version: ModelVersion) -> None:
    """One or more rows of every personal kind, each text carrying ``marker``."""
    Demographics.objects.create(user=user, age=31, occupation=f"{marker} occupation")
    Interaction.objects.create(user=user, item=item, kind="rating", value=4, created_at=T0)
    Interaction.objects.create(user=user, item=item, kind="view", created_at=T0)
    statement = {"id": "s1", "text": f"{marker} westerns", "polarity": "likes", "weight": 1.0}
    profile = {"format": "profile/1", "statements": [statement], "filters": {}}
    ProfileVersion.objects.create(
        user=user, number=1, profile=profile, fingerprint="a" * 16, reason="cold start"
    )
    ProfileVersion.objects.create(
        user=user,
        number=2,
        profile=profile,
        fingerprint="b" * 16,
        reason="critique",
        created_by=user,
        critique={"text": f"less {marker} violence", "added_statements": []},
    )
    Explanation.objects.create(
        user=user, item=item, key="k", explanation={"text": f"because {marker} liked it"}
    )
    Conversation.objects.create(user=user, turns=[{"who": "you", "text": f"{marker} says hi"}])
    RecommendationList.objects.create(
        user=user,
        model_version=model_version,
        entries=[{"item": item.pk, "score": 1.5, "components": {"collaborative": 1.5}}],
    )
    JobRun.objects.create(task_name=f"{marker}.started", requested_by=user)
    JobRun.objects.create(task_name=f"{marker}.for_them", arguments={"user_id": user.pk})
    Token.objects.create(user=user)


@pytest.fixture
def people(alice: Any, make_item: Any) -> dict[str, Any]:
    mv = ModelVersion.objects.create(name="ease", version="ease-1", path="/nowhere.bin")
    bob = get_user_model().objects.create_user("bob", email="bob@example.com", password="bob pw")
    alice.email = "alice@example.com"
    alice.save()
    mine, theirs = make_item(title="Alpha Film"), make_item(title="Zebra Only Film")
    _fill(alice, marker="alicemark", item=mine, model_version=mv)
    _fill(bob, marker="zebramark", item=theirs, model_version=mv)
    # alice (say, as staff) once edited bob's profile: that version is bob's data, not hers
    ProfileVersion.objects.create(
        user=bob,
        number=3,
        profile={"statements": []},
        fingerprint="c" * 16,
        reason="edit",
        created_by=alice,
    )
    return {"alice": alice, "bob": bob, "items": [mine, theirs]}


def _counts(user: Any) -> dict[str, int]:
    return {m.__name__: m.objects.filter(**{field: user}).count() for m, field in PERSONAL}


def test_visitors_must_log_in(client: Client) -> None:
    for name in ("overview", "export", "delete"):
        response = client.get(reverse(f"privacy:{name}"))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_the_page_shows_everything_stored_about_me_and_nothing_else(
    client: Client, people: dict[str, Any]
) -> None:
    client.force_login(people["alice"])
    response = client.get(reverse("privacy:overview"))
    html = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    for text in (
        "alice@example.com",
        "alicemark occupation",
        "Alpha Film",
        "alicemark westerns",
        "less alicemark violence",
        "alicemark says hi",
        "because alicemark liked it",
        "alicemark.started",
        "alicemark.for_them",
        "ease-1",
        "API token",
    ):
        assert text in html, text
    assert "zebra" not in html.lower()
    assert reverse("privacy:export") in html and reverse("privacy:delete") in html


def test_the_export_holds_my_rows_and_nothing_of_anyone_elses(
    client: Client, people: dict[str, Any]
) -> None:
    alice = people["alice"]
    client.force_login(alice)
    response = client.get(reverse("privacy:export"))
    assert response["Content-Type"].startswith("application/json")
    assert response["Content-Disposition"].startswith('attachment; filename="my-data-alice-')
    body = b"".join(response.streaming_content).decode()
    data = json.loads(body)
    assert data["format"] == "steerable-recommender/personal-data/1"
    assert (
        data["account"]["username"] == "alice" and data["account"]["email"] == "alice@example.com"
    )
    assert data["demographics"]["occupation"] == "alicemark occupation"
    assert sorted(i["kind"] for i in data["interactions"]) == ["rating", "view"]
    assert {i["item"]["title"] for i in data["interactions"]} == {"Alpha Film"}
    assert [v["number"] for v in data["profile_versions"]] == [2, 1]
    assert data["profile_versions"][0]["written_by"] == "you"
    assert [c["text"] for c in data["critiques"]] == ["less alicemark violence"]
    assert data["conversation"]["turns"] == [{"who": "you", "text": "alicemark says hi"}]
    assert [e["text"] for e in data["explanations"]] == ["because alicemark liked it"]
    assert data["recommendations"]["entries"][0]["item"]["title"] == "Alpha Film"
    assert {j["task"] for j in data["jobs"]} == {"alicemark.started", "alicemark.for_them"}
    assert data["api_token"]["created"]
    # nothing of bob's, not even the version alice wrote into his profile; no credentials
    assert "zebra" not in body.lower() and "bob" not in body.lower()
    assert Token.objects.get(user=alice).key not in body and alice.password not in body


def test_the_export_function_is_plain_json_for_the_api_too(people: dict[str, Any]) -> None:
    data = personal_data_export(user=people["bob"])
    assert json.loads(json.dumps(data)) == data  # no datetimes or models left in it
    assert [v["written_by"] for v in data["profile_versions"]] == ["staff", "you", "the system"]


def test_delete_asks_for_the_password_and_says_what_goes(
    client: Client, people: dict[str, Any]
) -> None:
    client.force_login(people["alice"])
    html = client.get(reverse("privacy:delete")).content.decode()
    assert 'type="password"' in html and 'name="csrfmiddlewaretoken"' in html
    assert "2 ratings, likes and views" in html and "2 background jobs" in html


def test_a_wrong_password_deletes_nothing_and_keeps_the_form(
    client: Client, people: dict[str, Any]
) -> None:
    alice, bob = people["alice"], people["bob"]
    before = _counts(alice), _counts(bob)
    client.force_login(alice)
    response = client.post(reverse("privacy:delete"), {"password": "not it"})
    html = response.content.decode()
    assert response.status_code == 400
    assert "That is not your password. Nothing was deleted." in html
    assert 'name="password"' in html and "Delete my account and data" in html
    assert (_counts(alice), _counts(bob)) == before
    assert get_user_model().objects.filter(pk=alice.pk).exists()
    assert client.get(reverse("privacy:overview")).status_code == 200  # still logged in
    missing = client.post(reverse("privacy:delete"), {})
    assert missing.status_code == 400 and "This field is required." in missing.content.decode()


def test_deleting_removes_every_personal_row_logs_out_and_leaves_others_intact(
    client: Client, people: dict[str, Any]
) -> None:
    alice, bob = people["alice"], people["bob"]
    bobs_before = _counts(bob)
    assert all(_counts(alice).values()), "the fixture must give alice a row of every kind"
    client.force_login(alice)
    response = client.post(reverse("privacy:delete"), {"password": PASSWORD}, follow=True)
    assert response.redirect_chain == [(reverse("privacy:deleted"), 302)]
    html = response.content.decode()
    assert "Your account is deleted" in html
    assert "2 interactions" in html and "2 profile versions" in html and "1 account" in html
    assert "2 background jobs" in html
    assert not get_user_model().objects.filter(pk=alice.pk).exists()
    assert _counts(alice) == {name: 0 for name in bobs_before}
    assert not JobRun.objects.filter(arguments__user_id=alice.pk).exists()
    assert _counts(bob) == bobs_before and Item.objects.count() == 2
    # the version alice wrote into bob's profile stays his, without her name on it
    assert ProfileVersion.objects.get(user=bob, number=3).created_by is None
    assert ModelVersion.objects.filter(version="ease-1").exists()
    # logged out: the privacy page asks for a login, the confirmation is shown once
    assert client.get(reverse("privacy:overview")).status_code == 302
    assert client.get(reverse("privacy:deleted"))["Location"] == reverse("home")


def test_the_last_administrator_cannot_delete_their_account(client: Client, staff: Any) -> None:
    client.force_login(staff)
    response = client.post(reverse("privacy:delete"), {"password": "staff pass 123"})
    assert response.status_code == 400
    assert "You are the only administrator" in response.content.decode()
    assert get_user_model().objects.filter(pk=staff.pk).exists()


def test_dates_on_the_privacy_page_are_readable() -> None:
    from webapp.privacy.templatetags.privacy_dates import isodate

    assert isodate("2026-11-22T06:03:38.748203+00:00") == "22 Nov 2026, 06:03"
    assert isodate(None) == "–"
    assert isodate("not a date") == "not a date"


def test_deleting_an_account_forgets_its_cached_rankings_and_its_words_vectors(
    client: Client,
    tiny_models: Any,
    fan: Any,
    tastes: dict[str, Any],
    django_capture_on_commit_callbacks: Any,
) -> None:
    from django.core.cache import cache

    from recommender.encoders import text_sha
    from webapp import ml
    from webapp.privacy.services import personal_data_delete
    from webapp.profiles import services as profile_services
    from webapp.ranking.selectors import CACHED_LIMITS, ranking_cache_key

    other = tastes["fans"]["horror"][0]
    profile_services.profile_edit(user=fan, by=fan, action="add", text="zq private wish")
    profile_services.profile_edit(user=other, by=other, action="add", text="zq kept wish")
    for user in (fan, other):
        client.force_login(user)
        assert client.get(reverse("home")).status_code == 200  # ranks, caches, encodes
    store = ml.encoder().cache
    mine, theirs = text_sha("zq private wish"), text_sha("zq kept wish")
    assert set(store.get_many(ml.encoder().key, [mine, theirs])) == {mine, theirs}
    keys = [ranking_cache_key(fan.pk, n, e) for n in CACHED_LIMITS for e in (0, 1)]
    assert cache.get_many(keys), "the home page cached the fan's ranking"

    with django_capture_on_commit_callbacks(execute=True):  # it runs once the delete commits
        personal_data_delete(user=fan)
    assert not cache.get_many(keys)
    assert set(store.get_many(ml.encoder().key, [mine, theirs])) == {theirs}


def test_the_retention_sweep_deletes_only_what_is_past_its_time(
    tiny_models: Any, fan: Any, tastes: dict[str, Any], django_capture_on_commit_callbacks: Any
) -> None:
    from datetime import timedelta

    import numpy as np
    from django.utils import timezone

    from recommender.encoders import text_sha
    from webapp import ml
    from webapp.catalogue.state import catalogue_state
    from webapp.privacy.services import data_prune
    from webapp.privacy.tasks import data_prune as data_prune_task
    from webapp.profiles import services as profile_services

    long_ago = timezone.now() - timedelta(days=365)
    done = [JobRun.objects.create(task_name="x", state=s) for s in ("succeeded", "failed")]
    waiting = JobRun.objects.create(task_name="x", state="queued")
    recent = JobRun.objects.create(task_name="x", state="succeeded")
    JobRun.objects.filter(pk__in=[j.pk for j in [*done, waiting]]).update(created_at=long_ago)
    item = tastes["comedies"][0]
    old = Explanation.objects.create(user=fan, item=item, key="old", explanation={})
    Explanation.objects.filter(pk=old.pk).update(created_at=long_ago)
    fresh = Explanation.objects.create(user=fan, item=item, key="new", explanation={})
    profile_services.profile_edit(user=fan, by=fan, action="add", text="zq still used")
    encoder = ml.encoder()
    vector = np.ones(encoder.encode(["x"]).shape[1], dtype=np.float32)
    encoder.cache.put_many(encoder.key, {text_sha("zq nobody's"): vector})
    used = text_sha("zq still used")
    encoder.cache.put_many(encoder.key, {used: vector})

    pruned = data_prune()
    assert pruned["jobs"] == 2 and pruned["explanations"] == 1 and pruned["text vectors"] >= 1
    left = set(JobRun.objects.filter(task_name="x").values_list("pk", flat=True))
    assert left == {waiting.pk, recent.pk}
    assert list(Explanation.objects.values_list("pk", flat=True)) == [fresh.pk]
    kept = encoder.cache.get_many(encoder.key, [used, text_sha("zq nobody's")])
    assert set(kept) == {used}
    item_sha = text_sha(catalogue_state().texts[0])
    assert encoder.cache.get_many(encoder.key, [item_sha]), "the catalogue's vectors stay"

    # beat sends the task without a job: it queues itself as one, which the dashboard shows
    with django_capture_on_commit_callbacks(execute=True):
        data_prune_task.apply()
    job = JobRun.objects.get(task_name=data_prune_task.name)
    assert job.state == JobRun.State.SUCCEEDED and "jobs" in job.result


def _versions(user: Any, n: int) -> None:
    """``n`` versions written straight to the table (no compaction), one statement each."""
    ProfileVersion.objects.bulk_create(
        ProfileVersion(
            user=user,
            number=k,
            profile={"statements": [{"id": f"s{k}", "text": f"wish {k}"}]},
            fingerprint=f"{k:016d}",
            reason="edit",
            created_by=user,
            critique={"text": f"critique {k}"} if k % 10 == 0 else None,
        )
        for k in range(1, n + 1)
    )


def test_a_long_history_is_exported_a_row_at_a_time_and_whole(
    client: Client, alice: Any, monkeypatch: Any
) -> None:
    from webapp.privacy import services

    monkeypatch.setattr(services, "CHUNK", 7)  # many chunks from a history of 250
    _versions(alice, 250)
    client.force_login(alice)
    response = client.get(reverse("privacy:export"))
    assert response.status_code == 200 and response.streaming
    chunks = [c.decode() for c in response.streaming_content]
    assert len(chunks) > 250, "written a row at a time, not as one body"
    data = json.loads("".join(chunks))
    assert [v["number"] for v in data["profile_versions"]] == list(range(250, 0, -1))
    assert data["profile_versions"][-1]["profile"]["statements"][0]["text"] == "wish 1"
    assert [c["version"] for c in data["critiques"]] == list(range(250, 0, -10))
    assert data == json.loads(json.dumps(services.personal_data_export(user=alice))) | {
        "exported_at": data["exported_at"]
    }
    api = client.get(reverse("api:export"))
    assert (
        api.streaming and json.loads(b"".join(api.streaming_content))["account"]["id"] == alice.pk
    )


def test_the_privacy_page_counts_a_long_history_and_shows_its_newest_rows(
    client: Client, alice: Any
) -> None:
    from webapp.privacy.services import PAGE_ROWS

    _versions(alice, PAGE_ROWS + 30)
    client.force_login(alice)
    html = client.get(reverse("privacy:overview")).content.decode()
    assert f'Profile versions <span class="count">({PAGE_ROWS + 30})' in html
    assert html.count("<h3>Version ") == PAGE_ROWS and f"Version {PAGE_ROWS + 30} " in html
    assert f"The newest {PAGE_ROWS} of {PAGE_ROWS + 30}" in html
    delete = client.get(reverse("privacy:delete")).content.decode()
    assert f"{PAGE_ROWS + 30} profile versions" in delete


def test_the_sweep_deletes_in_batches_and_keeps_the_words_of_every_version(
    alice: Any, make_item: Any, monkeypatch: Any
) -> None:
    from datetime import timedelta

    import numpy as np
    from django.utils import timezone

    from recommender.encoders import text_sha
    from webapp import ml
    from webapp.privacy import services

    monkeypatch.setattr(services, "CHUNK", 3)  # batches and chunks of 3 rows
    item = make_item(title="Alpha Film")
    old = [Explanation(user=alice, item=item, key=f"old{k}", explanation={}) for k in range(10)]
    Explanation.objects.bulk_create(old)
    Explanation.objects.update(created_at=timezone.now() - timedelta(days=365))
    fresh = Explanation.objects.create(user=alice, item=item, key="new", explanation={})
    _versions(alice, 20)
    encoder = ml.encoder()
    words = [f"wish {k}" for k in range(1, 21)] + ["critique 10", "nobody's words"]
    encoder.cache.put_many(encoder.key, {text_sha(w): np.ones(4, np.float32) for w in words})

    pruned = services.data_prune()
    assert pruned["explanations"] == 10
    assert list(Explanation.objects.values_list("pk", flat=True)) == [fresh.pk]
    kept = encoder.cache.get_many(encoder.key, [text_sha(w) for w in words])
    assert set(kept) == {text_sha(w) for w in words[:-1]}


def _sign_ins(username: str, marker: str, address: str) -> None:
    """django-axes' rows about ``username``: a login, a logged failure, a lockout counter."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {"username": username, "ip_address": address, "user_agent": f"{marker}-agent"}
    AccessLog.objects.create(**seen, path_info="/accounts/login/")
    AccessFailureLog.objects.create(**seen, path_info="/accounts/login/", locked_out=True)
    AccessAttempt.objects.create(
        **seen, path_info="/accounts/login/", get_data="", post_data="", failures_since_start=3
    )


def _sign_in_rows(username: str) -> int:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    models = (AccessAttempt, AccessFailureLog, AccessLog)
    return sum(m.objects.filter(username=username).count() for m in models)


def test_sign_ins_are_in_the_export_and_go_with_the_account(
    client: Client, people: dict[str, Any]
) -> None:
    _sign_ins("alice", "alicemark", "10.0.0.1")
    _sign_ins("bob", "zebramark", "10.9.9.9")
    client.force_login(people["alice"])
    data = json.loads(b"".join(client.get(reverse("privacy:export")).streaming_content))
    assert any(a["user_agent"] == "alicemark-agent" for a in data["logins"])
    assert data["login_failures"][0]["address"] == "10.0.0.1"
    assert data["login_failures"][0]["locked_out"] is True
    assert [a["failures"] for a in data["login_attempts"]] == [3]
    assert "zebra" not in json.dumps(data) and "10.9.9.9" not in json.dumps(data)
    html = client.get(reverse("privacy:overview")).content.decode()
    assert "alicemark-agent" in html and "3 wrong passwords" in html and "zebra" not in html

    bobs = _sign_in_rows("bob")
    client.post(reverse("privacy:delete"), {"password": PASSWORD})
    assert not get_user_model().objects.filter(username="alice").exists()
    assert _sign_in_rows("alice") == 0 and _sign_in_rows("bob") == bobs


def test_the_sweep_prunes_old_sign_ins_but_never_lifts_a_lockout_early(
    alice: Any, settings: Any
) -> None:
    from datetime import timedelta

    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.utils import timezone

    from webapp.privacy.services import data_prune

    settings.AXES_LOG_DAYS = 1
    settings.AXES_COOLOFF_TIME = timedelta(days=3)
    now = timezone.now()
    for address, age in (("10.0.0.1", 0), ("10.0.0.2", 2), ("10.0.0.3", 9)):
        _sign_ins("alice", f"aged{age}", address)
        for model in (AccessAttempt, AccessFailureLog, AccessLog):
            model.objects.filter(ip_address=address).update(attempt_time=now - timedelta(days=age))
    pruned = data_prune(now=now)
    assert (pruned["logins"], pruned["login failures"], pruned["login attempts"]) == (2, 2, 1)
    assert set(AccessLog.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}
    assert set(AccessFailureLog.objects.values_list("ip_address", flat=True)) == {"10.0.0.1"}
    # two days old: past AXES_LOG_DAYS, but the counter still locks within the cool-off
    kept = set(AccessAttempt.objects.values_list("ip_address", flat=True))
    assert kept == {"10.0.0.1", "10.0.0.2"}
