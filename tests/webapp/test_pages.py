from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from webapp.catalogue.models import Interaction

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def test_signup_logs_the_new_user_in(client: Client) -> None:
    response = client.post(
        reverse("signup"),
        {
            "username": "newbie",
            "password1": "a long passphrase 42",
            "password2": "a long passphrase 42",
        },
    )
    assert response.status_code == 302
    assert client.get(reverse("history")).status_code == 200


def test_a_bad_signup_keeps_what_the_user_typed(client: Client) -> None:
    response = client.post(
        reverse("signup"), {"username": "keepme", "password1": "x", "password2": "y"}
    )
    assert response.status_code == 200
    assert 'value="keepme"' in response.content.decode()
    assert "didn’t match" in response.content.decode()


def test_browse_searches_filters_and_paginates(client: Client, make_item: Any) -> None:
    make_item(title="Alien", genres=("Horror", "Sci-Fi"))
    make_item(title="Aliens", year=1986, genres=("Action", "Sci-Fi"))
    make_item(title="Toy Story", genres=("Animation",))
    for n in range(30):
        make_item(title=f"Filler {n:02d}", year=2000)

    page = client.get(reverse("item_list"), {"q": "alien"}).content.decode()
    assert "Alien" in page and "Aliens" in page and "Toy Story" not in page
    page = client.get(reverse("item_list"), {"q": "alien", "genre": "Horror"}).content.decode()
    assert "Aliens" not in page and "Alien" in page
    first = client.get(reverse("item_list")).content.decode()
    assert "Page 1 of 2" in first and "33 items" in first
    second = client.get(reverse("item_list"), {"page": 2}).content.decode()
    assert "Page 2 of 2" in second


def test_search_as_you_type_gets_only_the_results_fragment(client: Client, make_item: Any) -> None:
    make_item(title="Alien")
    fragment = client.get(reverse("item_list"), {"q": "ali"}, **HX).content.decode()
    assert fragment.lstrip().startswith('<div id="results">')
    assert "<html" not in fragment and "Alien" in fragment


def test_retired_items_leave_the_listing_but_keep_their_page(
    client: Client, make_item: Any
) -> None:
    item = make_item(title="Gone Film", is_active=False)
    assert "Gone Film" not in client.get(reverse("item_list")).content.decode()
    page = client.get(reverse("item_detail", args=[item.pk])).content.decode()
    assert "retired" in page


def test_liking_through_the_page_creates_exactly_one_interaction(
    client: Client, alice: Any, make_item: Any
) -> None:
    item = make_item()
    client.force_login(alice)
    response = client.post(reverse("item_like", args=[item.pk]), **HX)
    assert response.status_code == 200
    assert 'id="actions"' in response.content.decode() and "Liked" in response.content.decode()
    assert "<html" not in response.content.decode()  # a fragment: no page reload
    assert Interaction.objects.filter(user=alice, item=item).count() == 1
    assert Interaction.objects.get(user=alice, item=item).kind == "like"


def test_liking_again_takes_the_like_back(client: Client, alice: Any, make_item: Any) -> None:
    item = make_item()
    client.force_login(alice)
    client.post(reverse("item_like", args=[item.pk]), **HX)
    client.post(reverse("item_like", args=[item.pk]), **HX)
    assert not Interaction.objects.filter(user=alice, item=item).exists()


def test_a_dislike_replaces_a_like(client: Client, alice: Any, make_item: Any) -> None:
    item = make_item()
    client.force_login(alice)
    client.post(reverse("item_like", args=[item.pk]), **HX)
    client.post(reverse("item_dislike", args=[item.pk]), **HX)
    assert list(Interaction.objects.filter(user=alice).values_list("kind", flat=True)) == [
        "dislike"
    ]


def test_rating_sets_and_changes_one_rating(client: Client, alice: Any, make_item: Any) -> None:
    item = make_item()
    client.force_login(alice)
    client.post(reverse("item_rate", args=[item.pk]), {"value": "4"}, **HX)
    client.post(reverse("item_rate", args=[item.pk]), {"value": "2"}, **HX)
    assert list(Interaction.objects.filter(user=alice).values_list("kind", "value")) == [
        ("rating", 2.0)
    ]
    for bad in ("9", "0", "4.7", "4.5", "abc", "nan", ""):  # whole stars only, shown as stored
        response = client.post(reverse("item_rate", args=[item.pk]), {"value": bad}, **HX)
        assert response.status_code == 400, bad
    assert list(Interaction.objects.filter(user=alice).values_list("value", flat=True)) == [2.0]


def test_without_javascript_a_like_redirects_back_to_the_item(
    client: Client, alice: Any, make_item: Any
) -> None:
    item = make_item()
    client.force_login(alice)
    response = client.post(reverse("item_like", args=[item.pk]))
    assert response.status_code == 302 and response["Location"] == reverse(
        "item_detail", args=[item.pk]
    )


def test_anonymous_visitors_are_sent_to_log_in_before_liking(
    client: Client, make_item: Any
) -> None:
    item = make_item()
    response = client.post(reverse("item_like", args=[item.pk]))
    assert response.status_code == 302 and reverse("login") in response["Location"]
    assert not Interaction.objects.exists()


def test_history_lists_only_my_interactions(
    client: Client, alice: Any, make_item: Any, django_user_model: Any
) -> None:
    mine, theirs = make_item(title="Mine"), make_item(title="Theirs")
    bob = django_user_model.objects.create_user("bob", password="pw pw pw pw")
    client.force_login(bob)
    client.post(reverse("item_like", args=[theirs.pk]), **HX)
    client.force_login(alice)
    client.post(reverse("item_rate", args=[mine.pk]), {"value": "5"}, **HX)
    page = client.get(reverse("history")).content.decode()
    assert "Mine" in page and "rated 5/5" in page and "Theirs" not in page


def test_health_check_reports_the_database(client: Client) -> None:
    assert client.get(reverse("healthz")).json()["status"] == "ok"
