"""The item page's "is it for you?" and similar films, and the chat's item cards that can be
liked or rated in place."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.html import escape

from tests.webapp.profiles_support import (  # noqa: F401 (fixtures)
    fan_fixture,
    tastes_fixture,
    tiny_model_folders_fixture,
    tiny_models_fixture,
)
from webapp.catalogue.models import Interaction
from webapp.profiles import services
from webapp.ranking import selectors as ranking_selectors

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("tiny_models")]
HTMX = {"HTTP_HX_REQUEST": "true"}


def _why(page: str) -> str:
    return page.split('data-testid="item-why"')[1].split("</section>")[0]


def test_a_recommended_item_says_where_it_ranks_and_why(client: Client, fan: Any) -> None:
    services.profile_edit(user=fan, by=fan, action="add", text="scary films", polarity="likes")
    entries = ranking_selectors.ranking_for(user=fan, limit=3).entries
    third = entries[2]
    why = _why(client.get(reverse("item_detail", args=[third["item"].pk])).content.decode())
    assert "<strong>#3</strong>" in why and 'data-testid="explanation"' in why
    assert escape(third["explanation"]["text"]) in why
    verdict = ranking_selectors.item_verdict(user=fan, item=third["item"])
    assert verdict["entry"]["score"] == third["score"]  # the very ranking the home page shows
    # any statement moves every candidate a little, so the one statement is named
    assert [m["statement"].text for m in verdict["statements"]] == ["scary films"]
    assert "Likes: scary films" in why and "Your profile moves it" in why


def test_the_item_page_ranks_the_list_once(
    client: Client, fan: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    third = ranking_selectors.ranking_for(user=fan, limit=3).entries[2]["item"]
    calls: list[int] = []
    real = ranking_selectors.profile_rerank

    def counted(*args: Any, **kwargs: Any) -> Any:  # the real ranking, counted
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(ranking_selectors, "profile_rerank", counted)
    client.force_login(fan)
    page = client.get(reverse("item_detail", args=[third.pk])).content.decode()
    assert "<strong>#3</strong>" in _why(page)
    assert len(calls) <= 1, "the item's place is read off the ranking just made"


def test_an_item_a_filter_removes_says_which_filter(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    target = tastes["horrors"][2]
    services.critique_item_apply(user=fan, item=target, kind="not_for_me")
    why = _why(client.get(reverse("item_detail", args=[target.pk])).content.decode())
    assert "a filter on" in why and "hidden item" in why


def test_an_item_i_rated_is_not_recommended_again(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    seen = next(
        i for i in tastes["comedies"] if Interaction.objects.filter(user=fan, item=i).exists()
    )
    page = client.get(reverse("item_detail", args=[seen.pk])).content.decode()
    assert "You have rated it" in _why(page) and 'data-testid="my-rating"' in page


def test_similar_items_are_other_active_items_closest_in_text(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    item, retired = tastes["comedies"][0], tastes["comedies"][1]
    retired.is_active = False
    retired.save()
    similar = ranking_selectors.similar_items(item=item, limit=6)
    assert len(similar) == 6 and item not in similar and retired not in similar
    page = client.get(reverse("item_detail", args=[item.pk])).content.decode()
    assert page.count('data-testid="similar-item"') == 6


def test_before_vectors_exist_similar_items_share_genres(
    client: Client, tastes: dict[str, Any]
) -> None:
    # the known answer without vectors: the other comedies, most rated first
    item = tastes["comedies"][0]
    similar = ranking_selectors.similar_items(item=item, limit=4)
    assert {g.name for s in similar for g in s.genres.all()} == {"Comedy"}
    assert item not in similar


def test_visitors_see_the_item_but_no_verdict(client: Client, tastes: dict[str, Any]) -> None:
    page = client.get(reverse("item_detail", args=[tastes["comedies"][0].pk])).content.decode()
    assert 'data-testid="item-why"' not in page and "to like or rate this" in page


def test_chat_replies_are_item_cards_that_can_be_liked_in_place(
    client: Client, fan: Any, tastes: dict[str, Any]
) -> None:
    thread = client.post(
        reverse("profile_chat"), {"message": "something scary"}, **HTMX
    ).content.decode()
    assert 'data-testid="chat-input"' in thread and 'data-testid="item-card"' in thread
    pk = int(thread.split('data-testid="item-card" data-item-id="')[1].split('"')[0])
    card = client.post(
        reverse("item_like", args=[pk]), {"fragment": "card", "next": "/profile/chat/"}, **HTMX
    ).content.decode()
    assert card.lstrip().startswith(f'<article class="card item item-card" id="card-{pk}"')
    assert "Liked" in card and 'aria-pressed="true"' in card and 'value="/profile/chat/"' in card
    assert Interaction.objects.filter(user=fan, item_id=pk, kind="like").exists()
    page = client.get(reverse("profile_chat")).content.decode()
    assert f'id="card-{pk}"' in page and "Liked" in page  # the thread shows what I did
    # without JavaScript the card's forms come back to the chat, never to another site
    response = client.post(
        reverse("item_rate", args=[pk]), {"value": "4", "next": "/profile/chat/"}
    )
    assert response["Location"] == "/profile/chat/"
    response = client.post(
        reverse("item_rate", args=[pk]), {"value": "4", "next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("item_detail", args=[pk])


def test_a_chat_message_that_fails_keeps_what_was_typed(client: Client, fan: Any) -> None:
    long = "x" * 301
    response = client.post(reverse("profile_chat"), {"message": long})
    page = response.content.decode()
    assert response.status_code == 422 and f'value="{long}"' in page
    assert 'data-testid="chat-error"' in page
