"""Writes of the steering pages: chat turns, and keeping what the chat learned."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import numpy as np
from django.db import transaction

from explanations.conversation import ChatContext, ConversationState, promote, respond
from webapp import ml
from webapp.catalogue.models import Item
from webapp.catalogue.selectors import history_rows
from webapp.catalogue.state import catalogue_state, item_vectors
from webapp.profiles.models import ProfileVersion, Reason
from webapp.profiles.services import profile_for_update, profile_save
from webapp.ranking.selectors import ranking_for
from webapp.steering.models import Conversation


def _chat_context(user: Any) -> ChatContext:
    state = catalogue_state()
    vectors = item_vectors(state)
    if vectors is None:
        raise ValueError("the chat is getting ready (item vectors are being computed)")
    ranking = ranking_for(user=user, limit=100, explain=False)
    base = np.zeros(len(state.catalogue))
    if ranking.reranked is not None and len(ranking.reranked.items):
        base[:] = float(ranking.reranked.scores.min())
        base[ranking.reranked.items] = ranking.reranked.scores
    retired = Item.objects.filter(is_active=False).values_list("pk", flat=True)
    seen = [r[0] for r in history_rows(user=user)] + list(retired)
    return ChatContext(
        catalogue=state.catalogue,
        index=state.index,
        item_vectors=vectors,
        encode=ml.encoder().encode,
        base_scores=base,
        seen=np.array([i for pk in seen if (i := state.position(pk)) is not None], np.int64),
        profile=ranking.profile,
        reader=ml.genre_reader(tuple(state.catalogue.genre_vocabulary)),
    )


@contextlib.contextmanager
def conversation_locked(user: Any) -> Iterator[Conversation]:
    """The user's chat (created if none), read under its row lock until the block ends.

    A turn reads the state and the turns, answers and writes both back: two tabs doing that
    at once both read turn n, and the later save dropped the other's turn. Under the lock
    the second waits and reads the first one's result. (PostgreSQL: SELECT ... FOR UPDATE;
    SQLite takes its write lock at BEGIN, settings' transaction_mode IMMEDIATE.)
    """
    Conversation.objects.get_or_create(user=user)
    with transaction.atomic():
        yield Conversation.objects.select_for_update().get(user=user)


def conversation_respond(*, user: Any, message: str) -> Conversation:
    """One chat turn; the reply is composed from catalogue facts (no text generation)."""
    context = _chat_context(user)  # reads only: built before the lock is taken
    with conversation_locked(user) as chat:
        reply = respond(ConversationState.from_dict(chat.state), message, context)
        chat.state = reply.state.to_dict()
        bot = {
            "who": "bot",
            "text": reply.text,
            "items": [int(i) for i in reply.item_ids],  # type: ignore[call-overload]
            "reasons": list(reply.reasons),  # why each item fits, aligned with "items"
            "understood": list(reply.understood),  # what the message was read as
        }
        chat.turns = [*chat.turns[-38:], {"who": "you", "text": message, "items": []}, bot]
        chat.save(update_fields=["state", "turns", "updated_at"])
    return chat


def conversation_promote(*, user: Any) -> ProfileVersion:
    """Keep what the chat gathered as a profile version and start the chat afresh; under the
    chat's lock, so a turn another tab adds meanwhile is neither kept half nor wiped."""
    if not Conversation.objects.filter(user=user).exists():
        raise Conversation.DoesNotExist("no chat yet")
    with conversation_locked(user) as chat:
        state = ConversationState.from_dict(chat.state)
        if state.is_empty():
            raise ValueError("the chat has nothing to keep yet")
        with profile_for_update(user) as before:
            version = profile_save(
                user=user,
                profile=promote(state, before, catalogue_state().index),
                reason=Reason.CONVERSATION,
                by=user,
                summary="kept from the chat",
            )
        chat.state, chat.turns = {}, []
        chat.save(update_fields=["state", "turns", "updated_at"])
    return version


def conversation_reset(*, user: Any) -> None:
    Conversation.objects.filter(user=user).update(state={}, turns=[])
