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
from explanations.parsing import genre_groups_in
from explanations.titles import TitleIndex
from recommender.data import Catalogue, IdMap
from tests.explanations.conftest import GENRES


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


# -- explicit constraints are hard ------------------------------------------------------------


def with_unknown_years(ctx: ChatContext) -> ChatContext:
    """The catalogue plus two items of unknown year (year 0, as MovieLens has) that the base
    scores put first, so a chat that admitted them would show them."""
    cat = ctx.catalogue
    films = [
        *zip(cat.ids.ids, cat.titles, cat.years.tolist(), cat.genres, strict=True),
        (901, "unknown", 0, ("Comedy",)),
        (902, "Night Of The Thing", 0, ("Horror", "Sci-Fi")),
    ]
    bigger = Catalogue(
        ids=IdMap.from_iterable(f[0] for f in films),
        titles=tuple(f[1] for f in films),
        years=np.array([f[2] for f in films], dtype=np.int64),
        genres=tuple(f[3] for f in films),
    )
    base = np.r_[np.linspace(1, 0, len(cat)), 5.0, 5.0]
    vectors = np.asarray(ctx.encode(bigger.texts()), dtype=np.float32)
    index = TitleIndex(bigger.titles, bigger.years.tolist())
    return ChatContext(bigger, index, vectors, ctx.encode, base_scores=base)


def test_a_plain_genre_request_returns_only_that_genre(ctx: ChatContext) -> None:
    cat = ctx.catalogue
    asks = {
        "a musical": "Musical",
        "something scary": "Horror",
        "cartoons": "Animation",
        "something for kids": "Children's",
    }
    for message, genre in asks.items():
        reply = respond(ConversationState(), message, ctx)
        assert reply.items and all(genre in cat.genres[i] for i in reply.items), message
    both = respond(ConversationState(), "romantic comedies", ctx)  # each phrase is one group
    assert {cat.titles[i] for i in both.items} == {"Grease", "Annie Hall"}
    violent = respond(ConversationState(), "a violent film", ctx, n=10)  # one phrase, any of
    assert violent.items and all(set(cat.genres[i]) & {"Action", "Crime"} for i in violent.items)


def test_negations_keep_working_beside_the_genres_asked_for(ctx: ChatContext) -> None:
    cat = ctx.catalogue
    reply = respond(ConversationState(), "no musicals, more comedies", ctx, n=10)
    assert reply.items and all(
        "Comedy" in cat.genres[i] and "Musical" not in cat.genres[i] for i in reply.items
    )
    crime = respond(ConversationState(), "thrillers without horror", ctx, n=10)
    assert crime.items and all(
        "Thriller" in cat.genres[i] and "Horror" not in cat.genres[i] for i in crime.items
    )
    # "gory" means Horror to the synonyms; it must not rule out the horror films asked for
    scary = respond(ConversationState(), "something scary but not gory", ctx)
    assert scary.items and all("Horror" in cat.genres[i] for i in scary.items)
    later = respond(ConversationState(), "no horror", ctx)
    again = respond(later.state, "something scary", ctx)  # the later wish wins
    assert again.items and all("Horror" in cat.genres[i] for i in again.items)


def test_a_year_range_never_returns_items_of_unknown_year(ctx: ChatContext) -> None:
    ctx = with_unknown_years(ctx)
    cat = ctx.catalogue
    assert respond(ConversationState(), "comedies", ctx).items[0] == 16  # the base puts it first
    bounds = {
        "comedies from the 80s": (1980, 1989),
        "a 1980 comedy": (1980, 1980),
        "comedies after 1977": (1978, 9999),
        "something from the 70s": (1970, 1979),
        "comedies between 1970 and 1980": (1970, 1980),
    }
    for message, (lo, hi) in bounds.items():
        reply = respond(ConversationState(), message, ctx, n=10)
        assert reply.items, message
        assert all(lo <= cat.years[i] <= hi for i in reply.items), message
    newer = respond(ConversationState(), "something like Alien but newer", ctx, n=10)
    assert newer.items and 17 not in newer.items


def test_like_x_never_returns_x_and_only_films_sharing_a_genre(ctx: ChatContext) -> None:
    cat = ctx.catalogue
    heat = respond(ConversationState(), "films like Heat", ctx, n=10)
    assert heat.items and 7 not in heat.items
    assert all(set(cat.genres[i]) & {"Action", "Crime", "Thriller"} for i in heat.items)
    fargo = respond(heat.state, "similar to Fargo", ctx, n=10)
    assert fargo.items and not {7, 8} & set(fargo.items)  # nor the earlier anchor
    assert all(set(cat.genres[i]) & set(cat.genres[8]) for i in fargo.items)
    older = respond(ConversationState(), "something like Aliens but older", ctx, n=10)
    assert older.items and all(0 < cat.years[i] < 1986 for i in older.items)
    assert all(set(cat.genres[i]) & set(cat.genres[6]) for i in older.items)
    # "I'd like a comedy" is a wish for a comedy, not for films like a film named "a comedy"
    wish = respond(ConversationState(), "I'd like a comedy", ctx)
    assert wish.state.anchor is None and all("Comedy" in cat.genres[i] for i in wish.items)
    for reply in (heat, fargo, older, wish):
        assert not reply_problems(reply, ctx.index)


def test_like_x_combines_with_the_constraints_and_comparatives(ctx: ChatContext) -> None:
    cat = ctx.catalogue
    reply = respond(ConversationState(), "horror films like Alien", ctx, n=10)
    assert {cat.titles[i] for i in reply.items} == {"Shining, The", "Scream"}
    funnier = respond(ConversationState(), "like Alien but funnier", ctx)
    assert funnier.items and 5 not in funnier.items  # a comparative ranks, it does not filter
    assert any(s.text == "funny" for s in funnier.state.statements)
    # with no film beside it, more of a genre is a wish for that genre
    scarier = respond(ConversationState(), "the scarier the better", ctx)
    assert scarier.items and all("Horror" in cat.genres[i] for i in scarier.items)
    later = respond(ConversationState(), "like Heat", ctx)
    decade = respond(later.state, "from the 80s", ctx, n=10)
    assert decade.items and all(1980 <= cat.years[i] <= 1989 for i in decade.items)
    assert all(set(cat.genres[i]) & set(cat.genres[7]) for i in decade.items)


def test_an_impossible_request_returns_nothing_and_says_so(ctx: ChatContext) -> None:
    cases = {
        "a western from the 2020s": "Nothing in the catalogue is a western from the 2020s.",
        "romantic comedies from the 90s": (
            "Nothing in the catalogue is a romantic comedy from the 1990s."
        ),
        "a 1999 horror film": "Nothing in the catalogue is a horror film from 1999.",
        "something like Alien but older": (
            "Nothing in the catalogue is a film older than Alien (1979) and sharing a genre "
            "with it."
        ),
    }
    for message, text in cases.items():
        reply = respond(ConversationState(), message, ctx)
        assert (reply.items, reply.text, reply.clarifying_question) == ((), text, None)
        assert not reply_problems(reply, ctx.index)
    shown = respond(ConversationState(), "romantic comedies", ctx)
    more = respond(shown.state, "more", ctx)
    assert not more.items and "seen or been shown every film" in more.text


def test_each_card_says_why_it_fits_from_catalogue_facts(ctx: ChatContext) -> None:
    cat = ctx.catalogue
    reply = respond(ConversationState(), "a funny animated film from the 90s", ctx)
    assert dict(zip(reply.items, reply.reasons, strict=True))[0] == "a 1995 animated comedy"
    newer = respond(ConversationState(), "like Heat but newer", ctx)
    assert dict(zip(newer.items, newer.reasons, strict=True))[8] == (
        "a 1996 crime thriller, newer than Heat"
    )
    replies = [reply, newer]
    more = ["something for kids", "something like Fargo", "films from the 80s", "a violent film"]
    for message in [*more, "comedies", "like Aliens but older"]:
        replies.append(respond(ConversationState(), message, ctx, n=10))
    for r in replies:
        assert r.items and len(r.reasons) == len(r.items)
        for item, why in zip(r.items, r.reasons, strict=True):
            named = {g for group in genre_groups_in(why.split(",")[0], GENRES)[0] for g in group}
            assert named and named <= set(cat.genres[item]), (why, cat.genres[item])
            assert str(cat.years[item]) in why
    assert respond(ConversationState(), "tell me about Heat", ctx).reasons == ()


def test_old_states_load_and_new_ones_round_trip(ctx: ChatContext) -> None:
    old = {"statements": [], "filters": {"year_min": 1996}, "anchor": 7, "shown": [8], "turns": 2}
    state = ConversationState.from_dict(old)
    assert (state.anchors, state.genre_groups, state.relation) == ((7,), (), None)
    assert 7 not in respond(state, "more", ctx).items
    reply = respond(ConversationState(), "like Heat but newer", ctx)
    reply = respond(reply.state, "and romantic comedies, nothing before 1970", ctx)
    assert reply.state.genre_groups and reply.state.relation == "newer"
    assert ConversationState.from_dict(reply.state.to_dict()) == reply.state


def test_a_new_topic_starts_over_and_a_refinement_adds_up(ctx: ChatContext) -> None:
    cat = ctx.catalogue
    comedies = respond(ConversationState(), "comedies", ctx)
    eighties = respond(comedies.state, "from the 80s", ctx)  # a refinement: still comedies
    assert eighties.items and all(
        "Comedy" in cat.genres[i] and 1980 <= cat.years[i] <= 1989 for i in eighties.items
    )
    horror = respond(eighties.state, "horror films", ctx)  # a new topic: comedies, 80s dropped
    assert horror.items and all("Horror" in cat.genres[i] for i in horror.items)
    assert horror.state.filters.year_min is None and 4 in horror.items  # Scream (1996)
    assert not any("Comedy" in cat.genres[i] for i in horror.items)
    like = respond(ConversationState(), "like Heat", ctx)
    musical = respond(like.state, "a musical", ctx)  # no longer "like Heat"
    assert musical.state.anchor is None
    assert musical.items and all("Musical" in cat.genres[i] for i in musical.items)


def test_promoting_a_chat_keeps_its_wishes_visible(ctx: ChatContext) -> None:
    reply = respond(ConversationState(), "comedies from the 80s", ctx)
    profile = promote(reply.state, profile_from_text(""))
    assert (profile.filters.year_min, profile.filters.year_max) == (1980, 1989)
    assert [s.text for s in profile.statements] == ["comedies"]
    assert profile.filters.include_genres == ()  # a wish in a chat is not a standing filter
    like = respond(ConversationState(), "like Heat but newer", ctx)
    profile = promote(like.state, profile_from_text(""), ctx.index)
    assert [s.text for s in profile.statements] == ["films like Heat"]
    assert profile.filters.year_min == 1996


def test_like_a_film_the_catalogue_lacks_is_answered_with_a_question(ctx: ChatContext) -> None:
    reply = respond(ConversationState(), "something like Ghostbusters", ctx)
    assert reply.items == () and reply.clarifying_question
    assert "Ghostbusters" in reply.text and "could not find" in reply.text
    # a genre after "like" is a genre, not an unknown film
    assert respond(ConversationState(), "I'd like a comedy", ctx).items
