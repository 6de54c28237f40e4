"""Per-user limits on the work the profile pages and the API make the web process do
(PREVIEW_RATE, EDIT_RATE), and a preview that never writes to the shared vector cache."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from recommender.encoders import text_sha
from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    fan_fixture,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp import ml
from webapp.profiles import selectors, services
from webapp.profiles.models import ProfileVersion
from webapp.steering.views import TOO_MANY

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def _versions(user: Any) -> int:
    return ProfileVersion.objects.filter(user=user).count()


@pytest.mark.usefixtures("tiny_models")
def test_previews_over_the_rate_are_refused_and_say_so(
    client: Client, fan: Any, settings: Any
) -> None:
    services.profile_edit(user=fan, by=fan, action="add", text="funny films")
    settings.PREVIEW_RATE = "2/min"
    url = reverse("profile_preview")
    assert client.post(url, {"text": "  "}, **HTMX).status_code == 200  # no work: not counted
    for text in ("scary films", "scary films with ghosts"):
        assert client.post(url, {"text": text}, **HTMX).status_code == 200
    refused = client.post(url, {"text": "scary films with ghosts at night"}, **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert html.lstrip().startswith('<section id="preview"') and TOO_MANY in html
    assert 'data-testid="preview-row"' in html  # the saved list stays on show
    # without JavaScript: the whole page, with what was typed kept in the new-statement box
    sid = selectors.current_profile(user=fan).statements[0].id  # type: ignore[union-attr]
    typed = {"sid": sid, "text": "zany westerns", "polarity": "likes", "action": "preview"}
    page = client.post(url, typed)
    html = page.content.decode()
    assert page.status_code == 429 and TOO_MANY in html and 'value="zany westerns"' in html


@pytest.mark.usefixtures("tiny_models")
def test_a_preview_caches_no_vector_and_a_saved_edit_does(
    client: Client, fan: Any, monkeypatch: Any
) -> None:
    services.profile_edit(user=fan, by=fan, action="add", text="funny films")
    store = ml.encoder().cache
    assert client.get(reverse("profile")).status_code == 200  # the saved profile is cached
    written: list[str] = []
    put_many = store.put_many

    def spy(model: str, items: dict[str, Any]) -> None:
        written.extend(items)
        put_many(model, items)

    monkeypatch.setattr(store, "put_many", spy)
    typed = "zq spooky haunted preview words"
    response = client.post(reverse("profile_preview"), {"text": typed}, **HTMX)
    assert response.status_code == 200 and 'data-testid="preview-row"' in response.content.decode()
    assert written == [], "a preview wrote vectors to the shared cache"
    assert not store.get_many(ml.encoder().key, [text_sha(typed)])

    saved = {"text": typed, "polarity": "likes"}
    assert client.post(reverse("profile_statement_add"), saved, follow=True).status_code == 200
    assert text_sha(typed) in written, "a saved statement's vector is cached"


def test_edits_over_the_rate_are_refused_keeping_what_was_typed(
    client: Client, alice: Any, make_item: Any, settings: Any
) -> None:
    make_item(title="Airplane!", genres=("Comedy",))
    settings.EDIT_RATE = "2/min"
    client.force_login(alice)
    add = reverse("profile_statement_add")
    for text in ("slow westerns", "space operas"):
        assert client.post(add, {"text": text, "polarity": "likes"}).status_code == 302
    refused = client.post(add, {"text": "heist films", "polarity": "avoids"}, **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert 'id="editor"' in html and TOO_MANY in html and 'value="heist films"' in html
    assert _versions(alice) == 2

    sid = selectors.current_profile(user=alice).statements[0].id  # type: ignore[union-attr]
    typed = {"text": "slow dark westerns", "polarity": "likes", "weight": "2", "action": "save"}
    edit = client.post(reverse("profile_statement_update", args=[sid]), typed)
    assert edit.status_code == 429 and 'value="slow dark westerns"' in edit.content.decode()
    revert = client.post(reverse("profile_revert", args=[1]), **HTMX)
    assert revert.status_code == 429 and TOO_MANY in revert.content.decode()
    critique = client.post(reverse("profile_critique_list"), {"text": "more comedies"}, **HTMX)
    assert critique.status_code == 429 and 'value="more comedies"' in critique.content.decode()
    start = client.post(reverse("profile_start"), {"text": "funny animated films"})
    assert start.status_code == 429 and "funny animated films" in start.content.decode()
    assert _versions(alice) == 2, "nothing refused was saved"


def test_the_pages_let_htmx_show_a_refusal() -> None:
    from django.template.loader import get_template

    html = get_template("base.html").template.source
    assert '{"code": "429", "swap": true}' in html


def _rates(settings: Any, **rates: str) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], **rates},
    }


def test_the_apis_profile_writes_share_the_edit_rate_and_reads_are_free(
    alice: Any, django_user_model: Any, make_item: Any, settings: Any
) -> None:
    make_item(title="Airplane!", genres=("Comedy",))
    _rates(settings, edit="3/min")
    api = APIClient()
    api.force_authenticate(alice)
    v1 = "/api/v1/me"
    assert api.post(f"{v1}/profile/statements/", {"text": "westerns"}).status_code == 201
    assert api.put(f"{v1}/profile/filters/", {}).status_code == 200
    assert api.post(f"{v1}/critiques/list/", {"text": "more comedies"}).status_code == 201
    refused = api.post(f"{v1}/profile/statements/", {"text": "space operas"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert api.put(f"{v1}/profile/", {"statements": []}).status_code == 429
    assert api.post(f"{v1}/profile/versions/1/revert/").status_code == 429
    for path in ("profile/", "profile/versions/", "conversation/"):
        assert api.get(f"{v1}/{path}").status_code == 200, path  # reading is not editing
    bob = APIClient()
    bob.force_authenticate(django_user_model.objects.create_user("bob"))
    assert bob.post(f"{v1}/profile/statements/", {"text": "westerns"}).status_code == 201
    services.profile_edit(user=alice, by=alice, action="add", text="the service is not limited")


def test_interactions_and_the_chat_reset_count_against_the_edit_rate_in_the_api(
    alice: Any, django_user_model: Any, make_item: Any, settings: Any
) -> None:
    from webapp.catalogue.models import Interaction
    from webapp.steering.models import Conversation

    films = [make_item(title=f"Film {k}") for k in range(4)]
    _rates(settings, edit="3/min")
    api = APIClient()
    api.force_authenticate(alice)
    v1 = "/api/v1/me"
    assert api.post(f"{v1}/interactions/", {"item": films[0].pk, "kind": "like"}).status_code == 201
    liked = Interaction.objects.get(user=alice)
    assert api.delete(f"{v1}/interactions/{liked.pk}/").status_code == 204
    Conversation.objects.create(user=alice, turns=[{"who": "you", "text": "hi", "items": []}])
    assert api.delete(f"{v1}/conversation/").status_code == 204
    refused = api.post(f"{v1}/interactions/", {"item": films[1].pk, "kind": "like"})
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    Conversation.objects.filter(user=alice).update(turns=[{"who": "you", "text": "hi"}])
    assert api.delete(f"{v1}/conversation/").status_code == 429
    assert not Interaction.objects.filter(user=alice).exists()  # nothing written when refused
    assert Conversation.objects.get(user=alice).turns  # nor reset
    for path in ("interactions/", "conversation/"):
        assert api.get(f"{v1}/{path}").status_code == 200, path  # reading is free
    bob = APIClient()  # counted per user
    bob.force_authenticate(django_user_model.objects.create_user("bob"))
    assert bob.post(f"{v1}/interactions/", {"item": films[1].pk, "kind": "like"}).status_code == 201


def test_likes_ratings_and_the_chat_reset_on_the_pages_count_against_the_edit_rate(
    client: Client, alice: Any, make_item: Any, settings: Any
) -> None:
    from webapp.catalogue.models import Interaction
    from webapp.steering.models import Conversation

    film = make_item(title="Airplane!")
    settings.EDIT_RATE = "2/min"
    client.force_login(alice)
    assert client.post(reverse("item_like", args=[film.pk]), **HTMX).status_code == 200
    assert (
        client.post(reverse("item_rate", args=[film.pk]), {"value": 4}, **HTMX).status_code == 200
    )
    refused = client.post(reverse("item_dislike", args=[film.pk]), **HTMX)
    html = refused.content.decode()
    assert refused.status_code == 429 and int(refused["Retry-After"]) > 0
    assert TOO_MANY in html and 'data-testid="like"' in html  # the controls, as they stand
    kinds = set(Interaction.objects.filter(user=alice).values_list("kind", flat=True))
    assert kinds == {"like", "rating"}  # the dislike was not written
    Conversation.objects.create(user=alice, turns=[{"who": "you", "text": "hi", "items": []}])
    page = client.post(reverse("profile_chat_reset"), follow=True)
    assert TOO_MANY in page.content.decode()
    assert Conversation.objects.get(user=alice).turns  # not reset


@pytest.mark.usefixtures("tiny_models")
def test_previews_sent_all_at_once_are_refused_past_a_burst(
    client: Client, fan: Any, settings: Any
) -> None:
    from webapp.steering.views import PREVIEW_BURST

    services.profile_edit(user=fan, by=fan, action="add", text="funny films")
    settings.PREVIEW_RATE = "30/min"
    url = reverse("profile_preview")
    for i in range(PREVIEW_BURST):
        assert client.post(url, {"text": f"scary films {i}"}, **HTMX).status_code == 200
    refused = client.post(url, {"text": "scary films again"}, **HTMX)  # 6 of 30, at once
    assert refused.status_code == 429 and TOO_MANY in refused.content.decode()


@pytest.mark.usefixtures("tiny_models")
def test_a_flood_of_previews_and_edits_is_refused_without_re_ranking(
    fan: Any, settings: Any
) -> None:
    from webapp.ratelimit import REFUSALS_SHOWN

    services.profile_edit(user=fan, by=fan, action="add", text="funny films")
    settings.PREVIEW_RATE = settings.EDIT_RATE = "1/min"
    for url, text in (("profile_preview", "ghosts"), ("profile_statement_add", "westerns")):
        client = Client()  # a session each: a flooding session's writes are all refused
        client.force_login(fan)
        send = lambda: client.post(reverse(url), {"text": text}, **HTMX)  # noqa: B023, E731
        assert send().status_code in (200, 302)
        for _ in range(REFUSALS_SHOWN):  # a person sees why, with the list or editor kept
            shown = send()
            assert shown.status_code == 429 and TOO_MANY in shown.content.decode()
        bare = send()  # a script: nothing ranked or rendered for it
        assert bare.status_code == 429 and bare["Content-Type"].startswith("text/plain")
        assert b"preview-row" not in bare.content and int(bare["Retry-After"]) > 0
    assert _versions(fan) == 2, "nothing refused was saved"


def test_profile_writes_sent_all_at_once_are_refused_past_a_burst(
    client: Client, alice: Any, make_item: Any, settings: Any
) -> None:
    make_item(title="Airplane!", genres=("Comedy",))
    settings.EDIT_RATE = "60/min"  # a sixth of it at once: 10
    client.force_login(alice)
    add = reverse("profile_statement_add")
    words = ["slow", "fast", "dark", "bright", "funny", "sad", "old", "new", "loud", "quiet"]
    for word in words:
        assert client.post(add, {"text": f"{word} westerns"}).status_code == 302
    refused = client.post(add, {"text": "heist films"}, **HTMX)  # 11 of 60, at once
    assert refused.status_code == 429 and TOO_MANY in refused.content.decode()
    assert _versions(alice) == len(words)


@pytest.mark.usefixtures("tiny_models")
def test_a_flooding_session_is_refused_before_it_is_read(
    client: Client, fan: Any, settings: Any, django_assert_num_queries: Any
) -> None:
    from webapp.ratelimit import REFUSALS_SHOWN

    services.profile_edit(user=fan, by=fan, action="add", text="funny films")
    settings.PREVIEW_RATE = "1/min"
    for _ in range(1 + REFUSALS_SHOWN + 1):  # allowed, refusals shown, then the flood's first
        client.post(reverse("profile_preview"), {"text": "ghosts"}, **HTMX)
    with django_assert_num_queries(0):  # no session, user or profile read: one cache read
        gated = client.post(reverse("profile_statement_add"), {"text": "westerns"}, **HTMX)
    assert gated.status_code == 429 and gated["Content-Type"].startswith("text/plain")
    assert int(gated["Retry-After"]) == 60
    assert client.get(reverse("profile")).status_code == 200  # reading is never refused
    assert _versions(fan) == 1
