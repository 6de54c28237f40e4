from __future__ import annotations

import numpy as np
import pytest

from explanations.conversation import (
    ChatContext,
    ConversationState,
    promote,
    reply_problems,
    respond,
)
from explanations.generate import profile_from_text


@pytest.fixture
def ctx(catalogue, index, item_vectors, encode) -> ChatContext:  # type: ignore[no-untyped-def]
    return ChatContext(
        catalogue, index, item_vectors, encode, base_scores=np.linspace(1, 0, len(catalogue))
    )


def test_a_vague_request_gets_a_clarifying_question(ctx: ChatContext) -> None:
    for message in ("something good", "recommend me a movie", "what should I watch tonight?"):
        reply = respond(ConversationState(), message, ctx)
        assert reply.clarifying_question and not reply.items


def test_like_alien_but_newer_uses_the_anchor_and_a_year_filter(ctx: ChatContext) -> None:
    reply = respond(ConversationState(), "something like Alien but newer", ctx, n=3)
    cat = ctx.catalogue
    assert reply.items and 5 not in reply.items
    assert all(cat.years[i] > 1979 for i in reply.items)
    assert all(set(cat.genres[i]) & {"Horror", "Sci-Fi"} for i in reply.items)  # Alien's kind
    assert not reply_problems(reply, ctx.index)


def test_questions_about_items_are_answered_from_facts(ctx: ChatContext) -> None:
    reply = respond(ConversationState(), "tell me about heat", ctx)
    assert reply.text.startswith("Heat (1995) is a Action/Crime/Thriller film")
    assert not reply_problems(reply, ctx.index)
    profile = profile_from_text("avoids horror")
    why = respond(
        ConversationState(),
        "why not The Shining?",
        ChatContext(**{**ctx.__dict__, "profile": profile}),
    )
    assert "avoid" in why.text and not reply_problems(why, ctx.index)


def test_preferences_accumulate_and_can_be_promoted(ctx: ChatContext) -> None:
    state = ConversationState()
    reply = respond(state, "funny animated films", ctx, n=3)
    assert set(reply.items) <= {0, 1, 2, 14, 10, 11, 12}
    reply = respond(reply.state, "nothing before 1990", ctx, n=3)
    assert all(ctx.catalogue.years[i] >= 1990 for i in reply.items)
    profile = promote(reply.state, profile_from_text(""))
    assert profile.filters.year_min == 1990 and profile.statements
    again = ConversationState.from_dict(reply.state.to_dict())
    assert again == reply.state
    for r in (reply,):
        assert not reply_problems(r, ctx.index)
