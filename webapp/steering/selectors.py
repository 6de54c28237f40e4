"""Reads for the steering pages: the chat's turns with their items."""

from __future__ import annotations

from typing import Any

from webapp.catalogue.models import Item
from webapp.steering.models import Conversation


def conversation_turns(*, user: Any) -> tuple[list[dict[str, Any]], bool]:
    """The chat's turns, each with its items resolved in one query, and whether the chat holds
    wishes that could be kept in the profile.

    Per turn: ``objects``, the items (deleted ones dropped); ``reasons``, why each fits,
    aligned with ``objects`` ("" for turns stored before replies carried reasons); ``cards``,
    the two together as ``{"item", "why"}``.
    """
    chat = Conversation.objects.filter(user=user).first()
    turns = [dict(t) for t in chat.turns] if chat else []
    pks = list({pk for t in turns for pk in t.get("items", ())})
    items = Item.objects.prefetch_related("genres").in_bulk(pks)
    for t in turns:
        ids = t.get("items", [])
        whys = ([*t.get("reasons", ())] + [""] * len(ids))[: len(ids)]
        cards = [
            {"item": items[pk], "why": why}
            for pk, why in zip(ids, whys, strict=True)
            if pk in items
        ]
        t["objects"] = [c["item"] for c in cards]
        t["reasons"] = [c["why"] for c in cards]
        t["cards"] = cards
    return turns, bool(chat and chat.state)
