"""Reads for the steering pages: the chat's turns with their items."""

from __future__ import annotations

from typing import Any

from webapp.catalogue.models import Item
from webapp.steering.models import Conversation


def conversation_turns(*, user: Any) -> tuple[list[dict[str, Any]], bool]:
    """The chat's turns, each with its items resolved (``objects``; deleted ones dropped) in
    one query, and whether the chat holds wishes that could be kept in the profile."""
    chat = Conversation.objects.filter(user=user).first()
    turns = [dict(t) for t in chat.turns] if chat else []
    pks = list({pk for t in turns for pk in t["items"]})
    items = Item.objects.prefetch_related("genres").in_bulk(pks)
    for t in turns:
        t["objects"] = [items[pk] for pk in t["items"] if pk in items]
    return turns, bool(chat and chat.state)
