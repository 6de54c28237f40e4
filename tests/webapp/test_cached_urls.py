"""``{% cached_url %}`` writes exactly what ``{% url %}`` writes, reversing once per page."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from django.template import engines
from django.urls import NoReverseMatch, clear_script_prefix, set_script_prefix


def render(source: str, **context: Any) -> str:
    return engines["django"].from_string("{% load cached_urls %}" + source).render(context)


@pytest.fixture
def mounted() -> Iterator[None]:
    set_script_prefix("/sub&path/")  # the site served under a prefix, one needing escaping
    yield
    clear_script_prefix()


@pytest.mark.parametrize("prefixed", [False, True])
def test_it_writes_what_the_url_tag_writes(prefixed: bool, request: Any) -> None:
    if prefixed:
        request.getfixturevalue("mounted")
    loop = "{% for pk in pks %}[{% TAG 'item_detail' pk %}|{% TAG 'profile' %}]{% endfor %}"
    pks = [1, 42, 0, 10**12]
    expected = render(loop.replace("TAG", "url"), pks=pks)
    assert render(loop.replace("TAG", "cached_url"), pks=pks) == expected
    assert ("/sub&amp;path/items/42/" in expected) is prefixed


def test_it_reverses_each_name_once_per_page() -> None:
    from webapp.recommendations.templatetags import cached_urls

    with mock.patch.object(cached_urls, "reverse", wraps=cached_urls.reverse) as reverse:
        page = render(
            "{% for pk in pks %}{% cached_url 'item_detail' pk %} {% endfor %}", pks=[3, 4, 5]
        )
    assert page == "/items/3/ /items/4/ /items/5/ "
    assert reverse.call_count == 1


def test_a_key_that_is_not_a_plain_int_goes_through_reverse() -> None:
    assert render("{% cached_url 'item_detail' pk %}", pk="7") == "/items/7/"
    with pytest.raises(NoReverseMatch):
        render("{% cached_url 'item_detail' pk %}", pk="seven")
    with pytest.raises(NoReverseMatch):
        render("{% cached_url 'item_detail' pk %}", pk=-1)
