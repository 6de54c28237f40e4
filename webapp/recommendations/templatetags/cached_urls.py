"""``{% cached_url %}``: ``{% url %}`` for pages that link the same views for many items.

The home page's cards hold ~100 links that differ only by a primary key, and each ``{% url %}``
runs the full ``reverse`` (resolver lookups, regex checks, quoting): a third of the page's
rendering time. This tag reverses each URL name once per page render, with a sentinel in
place of the key, and substitutes the key into that cached string for every later card.
"""

from __future__ import annotations

from typing import Any

from django import template
from django.template.base import FilterExpression, Node, Parser, Token
from django.urls import reverse
from django.utils.html import conditional_escape

register = template.Library()

# Reversed in place of the key; a digit run no route of ours holds anywhere else.
_SENTINEL = 8_086_420_975_319
_CACHE = "cached_urls"  # the render context key: its dicts live for one page render


def _current_app(context: template.Context) -> str | None:
    # the same choice ``{% url %}`` makes, so namespaced names resolve alike
    request = getattr(context, "request", None)
    try:
        return request.current_app  # type: ignore[union-attr]
    except AttributeError:
        try:
            return request.resolver_match.namespace  # type: ignore[union-attr]
        except AttributeError:
            return None


class CachedURLNode(Node):
    child_nodelists = ()

    def __init__(self, name: str, key: FilterExpression | None) -> None:
        self.name, self.key = name, key

    def _reversed(self, context: template.Context) -> Any:
        """This page's cached form of the URL: the whole string (no key), a (head, tail)
        pair around the key, or None when the sentinel does not split it cleanly."""
        # the render context's outermost scope: a partial pushes a fresh scope per card
        outermost = context.render_context.dicts[0]
        cache = outermost.get(_CACHE)
        if cache is None:
            cache = outermost[_CACHE] = {}
        if self.name not in cache:
            app = _current_app(context)
            if self.key is None:
                cache[self.name] = reverse(self.name, current_app=app)
            else:
                parts = reverse(self.name, args=[_SENTINEL], current_app=app).split(str(_SENTINEL))
                cache[self.name] = (parts[0], parts[1]) if len(parts) == 2 else None
        return cache[self.name]

    def render(self, context: template.Context) -> str:
        found = self._reversed(context)
        if self.key is None:
            url = found
        else:
            pk = self.key.resolve(context)
            # only a plain non-negative int is known to pass the route's converter unchanged;
            # anything else goes through ``reverse`` (and fails there as ``{% url %}`` would)
            if found is not None and type(pk) is int and pk >= 0:
                url = f"{found[0]}{pk}{found[1]}"
            else:
                url = reverse(self.name, args=[pk], current_app=_current_app(context))
        return conditional_escape(url) if context.autoescape else url


@register.tag
def cached_url(parser: Parser, token: Token) -> CachedURLNode:
    """``{% cached_url 'item_detail' item.pk %}`` or ``{% cached_url 'profile' %}``: the URL
    name is a quoted literal, and the one optional argument a primary key."""
    bits = token.split_contents()
    if len(bits) not in (2, 3) or bits[1][:1] not in "'\"" or bits[1][-1] != bits[1][0]:
        raise template.TemplateSyntaxError(
            f"{bits[0]} takes a quoted URL name and at most one primary key"
        )
    key = parser.compile_filter(bits[2]) if len(bits) == 3 else None
    return CachedURLNode(bits[1][1:-1], key)
