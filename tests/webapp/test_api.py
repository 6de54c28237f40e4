"""The REST API through DRF's test client: every endpoint, both kinds of authentication,
one user never reaching another's data, pagination, throttling, field-named errors, and
an OpenAPI schema with offline docs. Real services and tiny real models, no mocks."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.http import HttpRequest
from django.urls import reverse
from drf_spectacular.drainage import GENERATOR_STATS
from rest_framework.test import APIClient

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    HORRORS,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp import ml
from webapp.catalogue import services as catalogue_services
from webapp.catalogue.models import Interaction, Item
from webapp.env import env_rate
from webapp.jobs.models import JobRun
from webapp.profiles import selectors, services
from webapp.profiles.models import ProfileVersion
from webapp.ranking import selectors as ranking_selectors
from webapp.ranking import services as ranking_services
from webapp.ranking.models import Explanation
from webapp.steering import selectors as steering_selectors
from webapp.steering import services as steering_services

pytestmark = pytest.mark.django_db
V1 = "/api/v1"


@pytest.fixture
def api() -> APIClient:
    return APIClient()


@pytest.fixture
def bob(db: None) -> Any:
    return get_user_model().objects.create_user("bob", password="another fine password")


@pytest.fixture
def fan(api: APIClient, tastes: dict[str, Any], tiny_models: Any) -> Any:
    """A comedy fan with a stored list, signed in by session; the catalogue is embedded."""
    user = tastes["fans"]["comedy"][0]
    catalogue_services.item_vectors_compute(encoder=ml.encoder())  # what the worker did earlier
    api.force_login(user)
    return user


def _as(user: Any) -> APIClient:
    other = APIClient()
    other.force_login(user)
    return other


def _titles(response: Any) -> list[str]:
    return [r["item"]["title"] for r in response.json()["results"]]


def _home_order(api: APIClient) -> list[str]:
    """The home page's cards in rank order (the page groups them in rows by reason)."""
    page = api.get(reverse("home")).content.decode()
    cards = re.findall(r'data-rank="(\d+)">.*?<strong>(.*?)</strong>', page, re.S)
    return [title for _, title in sorted(cards, key=lambda c: int(c[0]))]


# -- catalogue ------------------------------------------------------------------------------


def test_items_are_public_paginated_searchable_and_filterable(
    api: APIClient, make_item: Any
) -> None:
    for k in range(25):
        make_item(title=f"Space Film {k}", genres=("Sci-Fi",) if k % 2 else ("Drama",))
    make_item(title="Space Film retired", is_active=False)
    first = api.get(f"{V1}/items/").json()
    assert first["count"] == 25 and len(first["results"]) == 20
    assert first["next"].endswith("/api/v1/items/?page=2") and first["previous"] is None
    assert set(first["results"][0]) >= {"id", "title", "year", "genres", "description"}
    assert len(api.get(f"{V1}/items/?page=2").json()["results"]) == 5
    assert len(api.get(f"{V1}/items/?page_size=7").json()["results"]) == 7
    make_item(title="Filler", year=2001)  # 106 active items; a page holds at most 100
    for k in range(80):
        make_item(title=f"Filler {k}", year=2000)
    too_big = api.get(f"{V1}/items/?page_size=1000")  # the schema's maximum is 100
    assert too_big.status_code == 400 and "1 to 100" in too_big.json()["page_size"][0]
    assert len(api.get(f"{V1}/items/?page_size=100").json()["results"]) == 100
    found = api.get(f"{V1}/items/", {"q": "space 1", "genre": "Sci-Fi"}).json()
    titles = {r["title"] for r in found["results"]}
    assert titles == {f"Space Film {k}" for k in (1, 11, 13, 15, 17, 19, 21)}
    missing = api.get(f"{V1}/items/?page=99")
    assert missing.status_code == 404 and "detail" in missing.json()
    assert api.get(f"{V1}/items/", {"q": "x" * 101}).json() == {
        "q": ["Ensure this field has no more than 100 characters."]
    }


def test_an_item_shows_what_i_did_with_it_and_nothing_of_others(
    api: APIClient, make_item: Any, alice: Any, bob: Any
) -> None:
    item = make_item(title="Heat", genres=("Crime", "Thriller"), description="A heist.")
    api.force_login(bob)
    api.post(f"{V1}/me/interactions/", {"item": item.pk, "kind": "rating", "value": 2})
    api.force_login(alice)
    api.post(f"{V1}/me/interactions/", {"item": item.pk, "kind": "like"})
    data = api.get(f"{V1}/items/{item.pk}/").json()
    assert data["genres"] == ["Crime", "Thriller"] and data["description"] == "A heist."
    assert data["state"] == {"liked": True, "disliked": False, "rating": None}
    anonymous = APIClient().get(f"{V1}/items/{item.pk}/").json()
    assert anonymous["state"] == {"liked": False, "disliked": False, "rating": None}
    assert api.get(f"{V1}/items/999999/").status_code == 404
    genres = APIClient().get(f"{V1}/genres/").json()
    assert genres == [{"name": "Crime"}, {"name": "Thriller"}]


# -- authentication -------------------------------------------------------------------------


def test_a_token_from_username_and_password_authenticates_until_revoked(
    api: APIClient, alice: Any
) -> None:
    wrong = api.post(f"{V1}/auth/token/", {"username": "alice", "password": "nope"})
    assert wrong.status_code == 400 and "Unable to log in" in wrong.json()["non_field_errors"][0]
    assert api.post(f"{V1}/auth/token/", {"username": "alice"}).json() == {
        "password": ["This field is required."]
    }
    response = api.post(
        f"{V1}/auth/token/",
        {"username": "alice", "password": "correct horse battery"},
        format="json",
    )
    token = response.json()["token"]
    unauthenticated = api.get(f"{V1}/me/profile/")
    assert unauthenticated.status_code == 401 and unauthenticated["WWW-Authenticate"] == "Token"
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get(f"{V1}/me/profile/").json()["version"] == 0
    assert api.post(f"{V1}/me/profile/statements/", {"text": "heists"}).status_code == 201
    assert api.delete(f"{V1}/auth/token/").status_code == 204
    revoked = api.get(f"{V1}/me/profile/")
    assert revoked.status_code == 401 and revoked.json() == {"detail": "Invalid token."}


def test_a_session_works_and_its_writes_need_the_csrf_token(alice: Any) -> None:
    api = APIClient(enforce_csrf_checks=True)
    # django-axes needs the request to count failures: the test client gives it a bare one
    assert api.login(request=HttpRequest(), username="alice", password="correct horse battery")
    assert api.get(f"{V1}/me/interactions/").status_code == 200
    refused = api.post(f"{V1}/me/profile/statements/", {"text": "heists"})
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    api.get(reverse("login"))  # any page sets the CSRF cookie
    token = api.cookies["csrftoken"].value
    ok = api.post(f"{V1}/me/profile/statements/", {"text": "heists"}, HTTP_X_CSRFTOKEN=token)
    assert ok.status_code == 201


def test_every_personal_endpoint_refuses_anonymous_requests(api: APIClient) -> None:
    calls = [
        ("get", "me/recommendations/"), ("get", "me/profile/"), ("put", "me/profile/"),
        ("post", "me/profile/statements/"), ("patch", "me/profile/statements/s1/"),
        ("delete", "me/profile/statements/s1/"), ("get", "me/profile/versions/"),
        ("post", "me/profile/versions/1/revert/"), ("post", "me/profile/regenerate/"),
        ("put", "me/profile/filters/"),
        ("get", "me/jobs/1/"), ("get", "me/interactions/"), ("post", "me/interactions/"),
        ("get", "me/interactions/1/"), ("delete", "me/interactions/1/"),
        ("post", "me/critiques/items/"), ("post", "me/critiques/list/"),
        ("post", "me/critiques/1/undo/"), ("get", "me/conversation/"),
        ("delete", "me/conversation/"), ("post", "me/conversation/messages/"),
        ("post", "me/conversation/keep/"), ("delete", "auth/token/"),
    ]  # fmt: skip
    for method, path in calls:
        response = getattr(api, method)(f"{V1}/{path}")
        assert response.status_code == 401, (method, path)
        assert response.json()["detail"] == "Authentication credentials were not provided."


# -- interactions ---------------------------------------------------------------------------


def test_interactions_are_created_changed_listed_and_deleted(
    api: APIClient, make_item: Any, alice: Any
) -> None:
    heat, alien = make_item(title="Heat"), make_item(title="Alien")
    retired = make_item(title="Old", is_active=False)
    api.force_login(alice)
    url = f"{V1}/me/interactions/"
    created = api.post(url, {"item": heat.pk, "kind": "like"})
    assert created.status_code == 201 and created.json()["item"]["title"] == "Heat"
    again = api.post(url, {"item": heat.pk, "kind": "like"})  # idempotent, unlike the toggle
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert api.post(url, {"item": heat.pk, "kind": "dislike"}).status_code == 201
    assert list(Interaction.objects.filter(user=alice).values_list("kind", flat=True)) == [
        "dislike"
    ]
    assert api.post(url, {"item": alien.pk, "kind": "rating", "value": 4}).status_code == 201
    changed = api.post(url, {"item": alien.pk, "kind": "rating", "value": 5}, format="json")
    assert changed.status_code == 200 and changed.json()["value"] == 5.0
    assert api.post(url, {"item": alien.pk, "kind": "rating"}).json() == {
        "value": ["A rating needs a value from 1 to 5."]
    }
    assert api.post(url, {"item": alien.pk, "kind": "rating", "value": 6}).json() == {
        "value": ["Ensure this value is less than or equal to 5."]
    }
    assert api.post(url, {"item": alien.pk, "kind": "like", "value": 3}).json() == {
        "value": ["Only a rating takes a value."]
    }
    bad = api.post(url, {"item": retired.pk, "kind": "wave"}).json()
    assert set(bad) == {"item", "kind"} and "does not exist" in bad["item"][0]
    assert '"wave" is not a valid choice.' in bad["kind"][0]
    listed = api.get(url).json()
    assert listed["count"] == 2 and [r["kind"] for r in listed["results"]] == ["rating", "dislike"]
    assert api.get(url, {"kind": "dislike"}).json()["count"] == 1
    assert "kind" in api.get(url, {"kind": "nonsense"}).json()
    pk = listed["results"][0]["id"]
    assert api.get(f"{url}{pk}/").json()["kind"] == "rating"
    assert api.delete(f"{url}{pk}/").status_code == 204
    assert api.get(f"{url}{pk}/").status_code == 404
    assert api.get(url).json()["count"] == 1


# -- recommendations ------------------------------------------------------------------------


def test_my_recommendations_are_the_home_pages_list_with_their_explanations(
    api: APIClient, fan: Any
) -> None:
    api.post(f"{V1}/me/profile/statements/", {"text": "scary films", "polarity": "likes"})
    response = api.get(f"{V1}/me/recommendations/")
    data = response.json()
    assert _titles(response) == _home_order(api)  # same list, same order as the page
    ranking = ranking_selectors.ranking_for(user=fan, limit=20, explain=False)
    assert [r["score"] for r in data["results"]] == [e["score"] for e in ranking.entries]
    assert [r["rank"] for r in data["results"]] == list(range(1, len(ranking.entries) + 1))
    assert data["model_version"] == ranking.model_version and data["vectors_ready"] is True
    assert data["profile_fingerprint"] == selectors.current_version(user=fan).fingerprint  # type: ignore[union-attr]
    first = data["results"][0]
    # the taste the comedy fan just wrote leads their list (a stated taste fills the list)
    title = first["item"]["title"]
    assert title in HORRORS
    assert first["components"] and set(first["components"]) >= {"profile"}
    # the evidence-built sentence is the explanation (no LLM by default): final, not pending
    said = first["explanation"]["text"]
    assert said.startswith(f"{title} (1975):") and "scary films" in said and "horror" in said
    assert first["explanation"]["source"] == "template"
    assert not first["explanation"]["pending"]
    evidence = first["evidence"]
    assert evidence["item_id"] == first["item"]["id"] and evidence["title"]
    assert evidence["components"] == pytest.approx(first["components"])
    cited = {s["text"] for r in data["results"] for s in r["evidence"]["statements"]}
    assert cited == {"scary films"}  # the statement that moved the horror films up
    assert len(api.get(f"{V1}/me/recommendations/?limit=3").json()["results"]) == 3
    assert api.get(f"{V1}/me/recommendations/?limit=500").json() == {
        "limit": ["Ensure this value is less than or equal to 100."]
    }


def test_a_cached_explanation_is_served_with_the_evidence_it_was_written_from(
    api: APIClient, fan: Any, settings: Any
) -> None:
    settings.EXPLANATIONS_LLM = True  # the LLM words explanations on a worker
    # what the worker's refresh does (template text here: no LLM is loaded)
    assert ranking_services.explanations_refresh(user=fan, llm_loader=lambda: None, limit=2) == 2
    results = api.get(f"{V1}/me/recommendations/").json()["results"]
    stored = Explanation.objects.get(user=fan, item_id=results[0]["item"]["id"])
    assert results[0]["explanation"]["text"] == stored.explanation["text"]
    assert results[0]["explanation"]["pending"] is False
    assert results[0]["evidence"]["components"] == stored.evidence["components"]
    assert results[0]["evidence"]["item_id"] == results[0]["item"]["id"]
    assert results[2]["explanation"]["pending"] is True  # only the top two were refreshed


# -- profile --------------------------------------------------------------------------------


def test_statements_are_added_patched_deleted_and_replaced(api: APIClient, fan: Any) -> None:
    empty = api.get(f"{V1}/me/profile/").json()
    assert empty["version"] == 0 and empty["statements"] == []
    added = api.post(f"{V1}/me/profile/statements/", {"text": "slapstick"})
    assert added.status_code == 201 and added.json()["version"] == 1
    sid = added.json()["statements"][0]["id"]
    patched = api.patch(
        f"{V1}/me/profile/statements/{sid}/",
        {"text": "silly slapstick", "polarity": "avoids", "weight": 2.5, "pinned": True},
        format="json",
    ).json()
    s = patched["statements"][0]
    assert (s["id"], s["text"], s["polarity"], s["weight"], s["pinned"]) == (
        sid, "silly slapstick", "avoids", 2.5, True,
    )  # fmt: skip
    assert patched["version"] == 2  # four changes, one version
    assert patched["summary"] == "text, polarity, weight, pinned"
    replaced = api.put(
        f"{V1}/me/profile/",
        {"statements": [{"text": "heist films", "weight": 0.5}, {"id": sid, "weight": 1.0}]},
        format="json",
    ).json()
    assert [(x["text"], x["weight"]) for x in replaced["statements"]] == [
        ("heist films", 0.5),
        ("silly slapstick", 1.0),
    ]
    assert replaced["statements"][1]["pinned"] is True and replaced["version"] == 3
    assert api.delete(f"{V1}/me/profile/statements/{sid}/").status_code == 204
    current = api.get(f"{V1}/me/profile/").json()
    assert [x["text"] for x in current["statements"]] == ["heist films"]
    assert current["version"] == 4 and current["reason"] == "edit"
    assert set(current["filters"]) == {
        "include_genres", "exclude_genres", "year_min", "year_max", "exclude_items",
    }  # fmt: skip
    versions = ProfileVersion.objects.filter(user=fan)
    assert versions.count() == 4 and {v.created_by for v in versions} == {fan}


def test_profile_errors_name_the_field_and_change_nothing(api: APIClient, fan: Any) -> None:
    sid = api.post(f"{V1}/me/profile/statements/", {"text": "slapstick"}).json()["statements"][0][
        "id"
    ]
    url = f"{V1}/me/profile/statements/{sid}/"
    assert api.patch(url, {"weight": 9}, format="json").json() == {
        "weight": ["Ensure this value is less than or equal to 3.0."]
    }
    assert api.patch(url, {"text": "x" * 250}, format="json").json() == {
        "text": ["Ensure this field has no more than 200 characters."]
    }
    assert api.patch(url, {"polarity": "loves"}, format="json").json() == {
        "polarity": ['"loves" is not a valid choice.']
    }
    # an empty merge patch changes nothing and writes no version
    before = api.get(f"{V1}/me/profile/").json()
    assert api.patch(url, {}, format="json").json() == before
    assert api.post(f"{V1}/me/profile/statements/", {"text": 7}).json() == {
        "text": ["Not a valid string."]
    }
    assert api.post(f"{V1}/me/profile/statements/", {"text": "  "}).json() == {
        "text": ["This field may not be blank."]
    }
    missing = api.patch(f"{V1}/me/profile/statements/s0000000000/", {"pinned": True}, format="json")
    assert missing.status_code == 404 and "s0000000000" in missing.json()["detail"]
    assert api.delete(f"{V1}/me/profile/statements/s0000000000/").status_code == 404
    put = f"{V1}/me/profile/"
    assert api.put(put, {"statements": [{"weight": 1}]}, format="json").json() == {
        "statements": {"0": {"text": ["A new statement needs text."]}}
    }
    twice = {"statements": [{"id": sid}, {"id": sid}]}
    assert api.put(put, twice, format="json").json() == {
        "statements": ["Each statement id may appear only once."]
    }
    unknown = {"statements": [{"id": "s0000000000", "text": "x"}]}
    assert api.put(put, unknown, format="json").json() == {
        "statements": ["No statement s0000000000 in your profile."]
    }
    assert api.put(put, {}, format="json").json() == {"statements": ["This field is required."]}
    assert ProfileVersion.objects.filter(user=fan).count() == 1


def test_versions_are_listed_with_diffs_page_by_page_and_can_be_reverted(
    api: APIClient, fan: Any
) -> None:
    for text in ("slapstick", "heists", "romance"):
        api.post(f"{V1}/me/profile/statements/", {"text": text})
    page = api.get(f"{V1}/me/profile/versions/?page_size=2").json()
    assert page["count"] == 3 and page["next"] and page["previous"] is None
    newest = page["results"][0]
    assert newest["version"]["number"] == 3 and newest["version"]["created_by"] == fan.username
    assert [s["text"] for s in newest["diff"]["added"]] == ["romance"]
    oldest = api.get(f"{V1}/me/profile/versions/?page_size=2&page=2").json()["results"]
    assert [e["version"]["number"] for e in oldest] == [1]
    assert [s["text"] for s in oldest[0]["diff"]["added"]] == ["slapstick"]  # from nothing
    reverted = api.post(f"{V1}/me/profile/versions/1/revert/")
    assert reverted.status_code == 200
    assert [s["text"] for s in reverted.json()["statements"]] == ["slapstick"]
    assert reverted.json()["version"] == 4 and reverted.json()["reason"] == "revert"
    assert api.post(f"{V1}/me/profile/versions/99/revert/").status_code == 404


def test_regenerating_queues_a_job_i_can_follow(
    api: APIClient, fan: Any, bob: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks() as sent:
        response = api.post(f"{V1}/me/profile/regenerate/")
    assert response.status_code == 202 and response.json()["state"] == "queued"
    job = response.json()["id"]
    assert len(sent) == 1
    sent[0]()  # the worker runs it (eagerly, with the tiny LLM)
    done = api.get(f"{V1}/me/jobs/{job}/").json()
    assert done["state"] == "succeeded" and done["result"]["version"] == 1
    assert api.get(f"{V1}/me/profile/").json()["reason"] == "generated"
    assert _as(bob).get(f"{V1}/me/jobs/{job}/").status_code == 404


def test_filters_can_be_set_and_cleared_and_bad_ones_are_named(
    api: APIClient, fan: Any, tastes: dict[str, Any]
) -> None:
    before = _titles(api.get(f"{V1}/me/recommendations/"))
    assert any(t in before for t in (i.title for i in tastes["horrors"]))
    unseen = tastes["comedies"][0]  # the one comedy this fan has not rated (1975)
    response = api.put(f"{V1}/me/profile/filters/", {"exclude_genres": ["Horror"]}, format="json")
    assert response.status_code == 200
    assert response.json()["filters"] == {
        "include_genres": [], "exclude_genres": ["Horror"], "year_min": None,
        "year_max": None, "exclude_items": [],
    }  # fmt: skip
    assert _titles(api.get(f"{V1}/me/recommendations/")) == [unseen.title]
    # a PUT replaces every filter: Horror is back, the one comedy hidden by id
    assert api.put(f"{V1}/me/profile/filters/", {"exclude_items": [unseen.pk]}).status_code == 200
    titles = _titles(api.get(f"{V1}/me/recommendations/"))
    assert titles and unseen.title not in titles
    assert api.put(f"{V1}/me/profile/filters/", {"year_min": 1976}).status_code == 200
    results = api.get(f"{V1}/me/recommendations/").json()["results"]
    assert results and all(r["item"]["year"] >= 1976 for r in results)
    version = api.get(f"{V1}/me/profile/").json()["version"]

    bad = api.put(
        f"{V1}/me/profile/filters/",
        {"include_genres": ["Horror", "Westerns?"], "year_min": 1990, "year_max": 1980,
         "exclude_items": [999_999]},
        format="json",
    )  # fmt: skip
    assert bad.status_code == 400
    assert "Westerns?" in bad.json()["include_genres"][0]
    assert "999999" in bad.json()["exclude_items"][0]
    assert api.get(f"{V1}/me/profile/").json()["version"] == version  # nothing saved
    order = api.put(f"{V1}/me/profile/filters/", {"year_min": 1990, "year_max": 1980})
    assert order.status_code == 400 and "year_max" in order.json()

    cleared = api.put(f"{V1}/me/profile/filters/", {}, format="json")
    assert cleared.status_code == 200 and cleared.json()["filters"]["exclude_genres"] == []
    assert cleared.json()["version"] == version + 1


def test_regenerating_without_any_history_is_refused_and_queues_nothing(api: APIClient) -> None:
    newcomer = get_user_model().objects.create_user("newcomer", password="pw-long-enough-1")
    response = _as(newcomer).post(f"{V1}/me/profile/regenerate/")
    assert response.status_code == 409 and "rate or like" in response.json()["detail"]
    assert not JobRun.objects.filter(requested_by=newcomer).exists()


# -- critiques ------------------------------------------------------------------------------


def test_item_and_list_critiques_rerank_and_can_be_undone(
    api: APIClient, fan: Any, tastes: dict[str, Any]
) -> None:
    scream = tastes["horrors"][2]
    assert "Scream" in _titles(api.get(f"{V1}/me/recommendations/"))
    response = api.post(
        f"{V1}/me/critiques/items/", {"item": scream.pk, "kind": "not_for_me", "reason": "too gory"}
    )
    assert response.status_code == 201
    critique = response.json()
    assert critique["reason"] == "critique" and critique["critique"]["filters_added"][
        "exclude_items"
    ] == [scream.pk]
    assert "Scream" not in _titles(api.get(f"{V1}/me/recommendations/"))
    assert "gory" in [s["text"] for s in api.get(f"{V1}/me/profile/").json()["statements"]]
    undone = api.post(f"{V1}/me/critiques/{critique['number']}/undo/")
    assert undone.status_code == 200 and undone.json()["reason"] == "undo"
    assert "Scream" in _titles(api.get(f"{V1}/me/recommendations/"))
    twice = api.post(f"{V1}/me/critiques/{critique['number']}/undo/")
    assert twice.status_code == 409 and "already undone" in twice.json()["detail"]
    assert api.post(f"{V1}/me/critiques/{undone.json()['number']}/undo/").status_code == 404
    vague = api.post(f"{V1}/me/critiques/list/", {"text": "more"})
    assert vague.status_code == 400 and "could not tell what to change" in vague.json()["text"][0]
    listed = api.post(f"{V1}/me/critiques/list/", {"text": "no horror"})
    assert listed.status_code == 201
    titles = _titles(api.get(f"{V1}/me/recommendations/"))
    assert titles and not {h.title for h in tastes["horrors"]} & set(titles)
    bad = api.post(f"{V1}/me/critiques/items/", {"item": 999999, "kind": "meh"}).json()
    assert set(bad) == {"item", "kind"}


# -- conversation ---------------------------------------------------------------------------


def test_the_chat_waits_for_the_catalogue_vectors(
    api: APIClient, tastes: dict[str, Any], tiny_models: Any
) -> None:
    api.force_login(tastes["fans"]["comedy"][0])
    response = api.post(f"{V1}/me/conversation/messages/", {"message": "something funny"})
    assert response.status_code == 503 and "getting ready" in response.json()["detail"]


def test_the_chat_answers_with_item_cards_and_can_be_kept_or_reset(
    api: APIClient, fan: Any
) -> None:
    url = f"{V1}/me/conversation/"
    assert api.get(url).json() == {"turns": [], "has_state": False}
    assert api.post(f"{url}keep/").status_code == 409  # no chat yet
    reply = api.post(f"{url}messages/", {"message": "tell me about Alien"})
    assert reply.status_code == 201
    last = reply.json()["turns"][-1]
    assert last["who"] == "bot" and "Alien (1975) is a Horror film" in last["text"]
    api.post(f"{url}messages/", {"message": "something scary from the 80s"})
    thread = api.get(url).json()
    assert len(thread["turns"]) == 4 and thread["has_state"] is True
    cards = thread["turns"][-1]["items"]
    # an explicit genre and decade are hard: every card is a horror film of the 80s, and
    # says so in its own few words
    assert cards and all(1980 <= c["year"] <= 1989 and "Horror" in c["genres"] for c in cards)
    assert all(str(c["year"]) in c["why"] and "horror" in c["why"].lower() for c in cards)
    kept = api.post(f"{url}keep/")
    assert kept.status_code == 200 and kept.json()["reason"] == "conversation"
    assert selectors.current_profile(user=fan).filters.year_min == 1980  # type: ignore[union-attr]
    api.post(f"{url}messages/", {"message": "tell me about Alien"})
    assert api.delete(url).status_code == 204
    assert api.get(url).json() == {"turns": [], "has_state": False}
    assert api.post(f"{url}messages/", {"message": ""}).json() == {
        "message": ["This field may not be blank."]
    }


def test_a_chat_reply_says_what_it_read_and_names_a_film_it_lacks(
    api: APIClient, fan: Any, make_item: Any
) -> None:
    url = f"{V1}/me/conversation/"
    # the two-taste catalogue has no thriller: three, so "what about thrillers" can be met
    for k, title in enumerate(("Seven (Se7en)", "Fugitive, The", "Usual Suspects, The")):
        make_item(title=title, year=1993 + k, genres=("Crime", "Thriller"))
    catalogue_services.item_vectors_compute(encoder=ml.encoder())  # the worker's job
    said = "I don't really like horror movies what about thrillers"
    reply = api.post(f"{url}messages/", {"message": said})
    assert reply.status_code == 201
    you, bot = reply.json()["turns"][-2:]
    assert you["understood"] == []  # only replies say what they read
    assert "thrillers" in bot["understood"]
    assert any(chip.startswith("not horror") for chip in bot["understood"]), bot["understood"]
    cards = bot["items"]
    assert cards and all("Thriller" in c["genres"] and "Horror" not in c["genres"] for c in cards)
    # a film the catalogue lacks, written with its year: named back, and 2009 is no wish
    moon = api.post(f"{url}messages/", {"message": "something like Moon (2009)"})
    assert moon.status_code == 201
    bot = moon.json()["turns"][-1]
    assert "Moon (2009)" in bot["text"] and not bot["items"]
    assert "not in the catalogue: “Moon (2009)”" in bot["understood"]
    # and the chat goes on answering
    after = api.post(f"{url}messages/", {"message": "a comedy"})
    assert after.status_code == 201
    cards = after.json()["turns"][-1]["items"]
    assert cards and all("Comedy" in c["genres"] for c in cards)
    assert len(api.get(url).json()["turns"]) == 6


# -- isolation ------------------------------------------------------------------------------


def test_one_user_never_sees_or_changes_anothers_data(
    api: APIClient, fan: Any, tastes: dict[str, Any]
) -> None:
    other = tastes["fans"]["horror"][0]
    services.profile_edit(user=other, by=other, action="add", text="secret taste")
    services.critique_item_apply(user=other, item=tastes["comedies"][0], kind="less")
    steering_services.conversation_respond(user=other, message="tell me about Alien")
    their_sid = selectors.current_profile(user=other).statements[0].id  # type: ignore[union-attr]
    their_rating = Interaction.objects.filter(user=other).first()
    their_job = JobRun.objects.create(task_name="x", requested_by=other)
    assert "secret taste" not in str(api.get(f"{V1}/me/profile/").json())
    assert api.get(f"{V1}/me/profile/versions/").json()["count"] == 0
    assert api.post(f"{V1}/me/profile/versions/1/revert/").status_code == 404
    assert api.post(f"{V1}/me/critiques/2/undo/").status_code == 404
    assert (
        api.patch(
            f"{V1}/me/profile/statements/{their_sid}/", {"pinned": True}, format="json"
        ).status_code
        == 404
    )
    assert api.delete(f"{V1}/me/profile/statements/{their_sid}/").status_code == 404
    assert api.get(f"{V1}/me/interactions/{their_rating.pk}/").status_code == 404  # type: ignore[union-attr]
    assert api.delete(f"{V1}/me/interactions/{their_rating.pk}/").status_code == 404  # type: ignore[union-attr]
    assert all(
        r["id"] != their_rating.pk  # type: ignore[union-attr]
        for r in api.get(f"{V1}/me/interactions/?page_size=100").json()["results"]
    )
    assert api.get(f"{V1}/me/jobs/{their_job.pk}/").status_code == 404
    assert api.get(f"{V1}/me/conversation/").json()["turns"] == []
    api.delete(f"{V1}/me/conversation/")
    assert steering_selectors.conversation_turns(user=other)[0]  # their chat is untouched
    assert len(selectors.current_profile(user=other).statements) == 2  # type: ignore[union-attr]
    assert Interaction.objects.filter(pk=their_rating.pk).exists()  # type: ignore[union-attr]


# -- throttling -----------------------------------------------------------------------------


def _rates(settings: Any, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_llm_endpoints_have_their_own_tighter_rate(
    api: APIClient, fan: Any, settings: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _rates(settings, llm="2/min")
    for _ in range(2):
        assert api.post(f"{V1}/me/conversation/messages/", {"message": "hi"}).status_code == 201
    refused = api.post(f"{V1}/me/conversation/messages/", {"message": "hi"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert "throttled" in refused.json()["detail"]
    with django_capture_on_commit_callbacks():
        assert api.post(f"{V1}/me/profile/regenerate/").status_code == 429  # same scope
    # reading the chat, or any other endpoint, is not LLM work
    assert api.get(f"{V1}/me/conversation/").status_code == 200
    assert api.post(f"{V1}/me/critiques/list/", {"text": "no horror"}).status_code == 201


def test_anonymous_and_signed_in_rates_apply_per_client(
    api: APIClient, settings: Any, alice: Any, bob: Any
) -> None:
    _rates(settings, anon="3/min", user="4/min")
    for _ in range(3):
        assert api.get(f"{V1}/items/").status_code == 200
    assert api.get(f"{V1}/items/").status_code == 429
    wrong = {"username": "alice", "password": "guess"}
    assert api.post(f"{V1}/auth/token/", wrong).status_code == 429  # guessing counts too
    signed_in = _as(alice)
    for _ in range(4):
        assert signed_in.get(f"{V1}/me/interactions/").status_code == 200
    assert signed_in.get(f"{V1}/items/").status_code == 429
    assert _as(bob).get(f"{V1}/items/").status_code == 200  # bob has his own budget


def test_a_malformed_rate_stops_start_up_naming_the_variable(monkeypatch: Any) -> None:
    monkeypatch.setenv("API_LLM_THROTTLE", "30 per minute")
    with pytest.raises(ImproperlyConfigured, match="API_LLM_THROTTLE='30 per minute'"):
        env_rate("API_LLM_THROTTLE", "30/min")
    monkeypatch.setenv("API_LLM_THROTTLE", "5/Hour")
    assert env_rate("API_LLM_THROTTLE", "30/min") == "5/hour"
    monkeypatch.delenv("API_LLM_THROTTLE")
    assert env_rate("API_LLM_THROTTLE", "30/min") == "30/min"


# -- schema, docs, errors -------------------------------------------------------------------


def test_the_openapi_schema_validates_without_a_single_warning(tmp_path: Path) -> None:
    GENERATOR_STATS.reset()
    errors = io.StringIO()
    out = tmp_path / "schema.yaml"
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(out), stderr=errors
    )  # raises on any warning or an invalid schema
    assert errors.getvalue() == "" and not GENERATOR_STATS
    schema = out.read_text()
    for path in ("/api/v1/me/recommendations/", "/api/v1/me/conversation/messages/"):
        assert f"{path}:" in schema


def test_the_schema_is_served(api: APIClient) -> None:
    response = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.") and "/api/v1/items/" in schema["paths"]
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


@pytest.mark.parametrize("page", ["/api/docs/", "/api/redoc/"])
def test_the_docs_pages_load_only_local_assets(api: APIClient, page: str) -> None:
    response = api.get(page)
    assert response.status_code == 200
    html = response.content.decode()
    assert "https://" not in html and "http://" not in html and "cdn" not in html.lower()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assets += re.findall(r'["\'](/static/[^"\']+)["\']', html)
    static = {a for a in assets if a.startswith("/static/")}
    assert static, "the page loads its scripts from our static files"
    for asset in static:
        assert finders.find(asset.removeprefix("/static/")), asset
    assert "/api/schema/" in html


def test_unknown_api_paths_answer_json_and_hint_at_a_missing_slash(api: APIClient) -> None:
    response = api.get(f"{V1}/nothing-here/")
    assert response.status_code == 404
    assert response.json() == {"detail": "No API endpoint at /api/v1/nothing-here/."}
    hint = api.get(f"{V1}/items").json()["detail"]
    assert hint == "No API endpoint at /api/v1/items. Did you mean /api/v1/items/ ?"


def test_a_text_only_edit_is_summarised_as_a_text_edit(api: APIClient, fan: Any) -> None:
    sid = api.post(f"{V1}/me/profile/statements/", {"text": "heists"}).json()["statements"][0]["id"]
    patched = api.patch(
        f"{V1}/me/profile/statements/{sid}/",
        {"text": "clever heists", "polarity": "likes", "weight": 1.0, "pinned": False},
        format="json",
    ).json()
    assert patched["summary"] == "text"  # the unchanged fields a form also posts are not named


def test_the_export_holds_my_data_and_only_mine(api: APIClient, fan: Any, bob: Any) -> None:
    api.post(f"{V1}/me/profile/statements/", {"text": "deadpan comedies"})
    mine = api.get(f"{V1}/me/export/")
    assert mine.status_code == 200 and mine.streaming  # a row at a time, as the page's
    body = json.loads(b"".join(mine.streaming_content))
    assert body["account"]["username"] == fan.username
    assert "deadpan comedies" in str(body)
    assert "bob" not in str(body["account"]) and "password" not in str(body["account"])
    api.logout()
    assert api.get(f"{V1}/me/export/").status_code == 401


def test_limits_answer_a_clear_400_and_change_nothing(api: APIClient, fan: Any) -> None:
    from explanations.profile import MAX_STATEMENTS

    before = ProfileVersion.objects.filter(user=fan).count()
    huge = api.post(f"{V1}/me/profile/statements/", {"text": "x" * 100_000}, format="json")
    assert huge.status_code == 400 and "text" in huge.json()
    many = api.put(
        f"{V1}/me/profile/filters/", {"exclude_items": list(range(1, 100_001))}, format="json"
    )
    assert many.status_code == 400 and "exclude_items" in many.json()
    million = api.put(
        f"{V1}/me/profile/filters/", {"exclude_items": list(range(1, 1_000_001))}, format="json"
    )
    assert million.status_code in (400, 413) and million["Content-Type"] == "application/json"
    assert ProfileVersion.objects.filter(user=fan).count() == before
    item = Item.objects.filter(is_active=True).first()
    ratings = Interaction.objects.filter(user=fan).count()
    for bad in (0, 6, 4.5, "abc", None, True, 10**30):
        rated = api.post(
            f"{V1}/me/interactions/", {"item": item.pk, "kind": "rating", "value": bad}
        )
        assert rated.status_code == 400 and "value" in rated.json(), (bad, rated.json())
    assert Interaction.objects.filter(user=fan).count() == ratings
    statements = [{"text": f"wish {k}"} for k in range(MAX_STATEMENTS + 1)]
    full = api.put(f"{V1}/me/profile/", {"statements": statements}, format="json")
    assert full.status_code == 400 and str(MAX_STATEMENTS) in str(full.json())
    assert ProfileVersion.objects.filter(user=fan).count() == before


def test_a_refused_csrf_check_under_the_api_is_json(fan: Any) -> None:
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    browser.force_login(fan)
    for path in (f"{V1}/no/such/endpoint/", f"{V1}/me/profile/statements/"):
        response = browser.post(path, {"text": "x"})
        assert response.status_code == 403 and response["Content-Type"] == "application/json"
        assert response.json()["detail"].startswith("CSRF Failed")
    page = browser.post("/profile/statements/add/", {"text": "x"})
    assert page.status_code == 403 and "text/html" in page["Content-Type"]


def test_password_guessing_is_locked_out_on_every_login_but_not_the_owner_elsewhere(
    alice: Any, settings: Any
) -> None:
    """django-axes: LOGIN_FAILURE_LIMIT wrong passwords for one (username, address) lock that
    pair out of the site's form, the admin and the token endpoint, for the cool-off time."""
    from django.test import Client

    # the guesses come at once: the attempt rate's burst is not what this is about
    settings.LOGIN_ATTEMPT_RATE = "1000/min"

    right = "correct horse battery"
    site = Client(REMOTE_ADDR="10.0.0.66")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        site.post("/accounts/login/", {"username": "alice", "password": "guess"})
    locked = site.post("/accounts/login/", {"username": "alice", "password": right})
    assert locked.status_code == 429 and "_auth_user_id" not in site.session
    assert "Try again in 15 minutes" in locked.content.decode()
    api = APIClient(REMOTE_ADDR="10.0.0.66")
    token = api.post(f"{V1}/auth/token/", {"username": "alice", "password": right})
    assert token.status_code == 429 and "try again in" in token.json()["detail"]
    admin = site.post("/admin/login/", {"username": "alice", "password": right})
    assert admin.status_code == 429
    # the owner, from their own address, still gets in
    home = APIClient(REMOTE_ADDR="10.0.0.7")
    assert (
        "token" in home.post(f"{V1}/auth/token/", {"username": "alice", "password": right}).json()
    )


def test_a_client_cannot_pick_its_throttle_bucket_with_x_forwarded_for(db: Any) -> None:
    from rest_framework.request import Request

    from webapp.api.throttles import AnonThrottle

    throttle = AnonThrottle()
    request = APIClient().get("/").wsgi_request  # any request object with META
    request.META.update({"REMOTE_ADDR": "10.1.1.1", "HTTP_X_FORWARDED_FOR": "6.6.6.6"})
    assert throttle.get_ident(Request(request)) == "10.1.1.1"


def test_an_old_token_expires_and_a_new_post_gives_a_fresh_one(api: APIClient, alice: Any) -> None:
    from datetime import timedelta

    from django.conf import settings
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    right = {"username": "alice", "password": "correct horse battery"}
    old = api.post(f"{V1}/auth/token/", right).json()["token"]
    Token.objects.filter(key=old).update(
        created=timezone.now() - timedelta(days=settings.API_TOKEN_DAYS + 1)
    )
    api.credentials(HTTP_AUTHORIZATION=f"Token {old}")
    expired = api.get(f"{V1}/me/profile/")
    assert expired.status_code == 401 and "expired" in expired.json()["detail"]
    api.credentials()
    new = api.post(f"{V1}/auth/token/", right).json()["token"]
    assert new != old
    api.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert api.get(f"{V1}/me/profile/").status_code == 200


@pytest.mark.django_db
def test_a_request_django_refuses_before_any_view_answers_json_under_the_api(
    client: Any,
) -> None:
    body = "&".join(f"f{k}=1" for k in range(1001))  # over DATA_UPLOAD_MAX_NUMBER_FIELDS
    kind = "application/x-www-form-urlencoded"
    refused = client.post(f"{V1}/auth/token/", body, content_type=kind)
    assert refused.status_code == 400 and refused["Content-Type"] == "application/json"
    assert "DATA_UPLOAD_MAX_NUMBER_FIELDS" in refused.json()["detail"]
    page = client.post("/accounts/login/", body, content_type=kind)
    assert page.status_code == 400 and page["Content-Type"].startswith("text/html")


def test_recommendations_come_with_the_pages_rows(api: APIClient, fan: Any) -> None:
    api.post(f"{V1}/me/profile/statements/", {"text": "scary films", "polarity": "likes"})
    data = api.get(f"{V1}/me/recommendations/").json()
    ranks = sorted(r for section in data["sections"] for r in section["ranks"])
    assert ranks == list(range(1, len(data["results"]) + 1))  # every card in one row
    first = data["sections"][0]
    assert first["heading"] == "Because you like “scary films”" and 1 in first["ranks"]


def test_a_huge_body_is_refused_before_it_is_parsed(api: APIClient, fan: Any) -> None:
    body = '{"text": "' + "x" * (3 * 1024 * 1024) + '", "polarity": "likes"}'
    response = api.generic(
        "POST", f"{V1}/me/profile/statements/", body, content_type="application/json"
    )
    assert response.status_code in (400, 413)
    assert selectors.current_version(user=fan) is None  # nothing was written


def test_every_limit_a_client_tries_leaves_no_cache_entry_of_its_own(
    api: APIClient, fan: Any
) -> None:
    from django.core.cache import cache

    from webapp.ranking.selectors import CACHED_LIMITS, ranking_cache_key

    cache.clear()
    for limit in range(1, 31):
        assert api.get(f"{V1}/me/recommendations/?limit={limit}").status_code == 200
    kept = [n for n in range(0, 101) for e in (0, 1) if cache.get(ranking_cache_key(fan.pk, n, e))]
    assert set(kept) <= CACHED_LIMITS and len(kept) <= 2 * len(CACHED_LIMITS)
