"""The steering measures read the top 10 a person sees; checked on the 16-film catalogue."""

from __future__ import annotations

import numpy as np

from explanations.generate import profile_from_text
from explanations.profile import Profile, make_statement
from explanations.scoring import embed_statements, new_user_base, profile_rerank
from explanations.steering_eval import critique_effects, describe, genre_alike, steering_shares
from recommender.data import Catalogue
from tests.explanations.conftest import KeywordEncoder


def ranker(catalogue: Catalogue, item_vectors: np.ndarray, encode: KeywordEncoder):  # type: ignore[no-untyped-def]
    """Every film a candidate, scored so that horror and thrillers lead."""
    base = np.linspace(1.0, 0.0, len(catalogue))
    base[[3, 4, 5, 13]] += 1.0

    def rank(row: int, profile: Profile) -> np.ndarray:
        vectors = embed_statements(profile.statements, encode)
        items = np.arange(len(catalogue))
        out = profile_rerank(
            items, base, {"collaborative": base}, item_vectors, vectors, profile, catalogue
        )
        return out.items

    return rank


def test_shares_read_the_top_10_and_grow_with_the_weight(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    rank = ranker(catalogue, item_vectors, encode)
    report = steering_shares(rank, [0], {0: Profile()}, catalogue, weights=(0.5, 1.0, 3.0))
    animation = report["per_genre"]["Animation"]
    shares = list(animation["share_by_weight"].values())
    assert shares == sorted(shares)
    assert animation["share_before"] <= shares[0]
    # 3 animated films of 16: the top 10 can hold at most 30% of them
    assert animation["share_by_weight"]["3.0"] == 0.3
    assert animation["avoid_share"] == 0.0
    assert report["user_genre_pairs_where_a_higher_weight_lowered_the_share"].startswith("0/")


def test_more_like_this_counts_films_sharing_its_genres(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    rank = ranker(catalogue, item_vectors, encode)
    assert genre_alike(catalogue, 0) == {1, 2, 14}  # Toy Story ~ Aladdin, Lion King, Babe
    report = critique_effects(rank, [0], {0: Profile()}, catalogue, lambda item: set(), place=0)
    more = report["more_like_this"]
    assert more["genre_alike_in_top10_after"] >= more["genre_alike_in_top10_before"]
    lv = report["less_violent_more_comedies"]
    assert lv["violent_share_after"] < lv["violent_share_before"]
    assert lv["comedy_share_after"] > lv["comedy_share_before"]


def test_the_description_names_genres_and_a_standing_out_decade_never_titles(
    catalogue: Catalogue,
) -> None:
    items = np.array([0, 1, 2, 14])  # the animated/family films, liked
    text = describe(catalogue, items, np.array([5.0, 5.0, 4.0, 5.0]))
    assert text.startswith("I love ") and "animated films" in text
    assert not any(t.split(",")[0] in text for t in catalogue.titles)
    profile = profile_from_text(text)
    assert profile.filters.is_empty()  # a taste, not a rule: "mostly" is no filter


def test_a_new_users_base_is_what_the_named_genres_fans_watch(catalogue: Catalogue) -> None:
    counts = np.arange(len(catalogue), dtype=np.float64)  # the last film is the most watched
    fans = np.zeros((len(catalogue.genre_vocabulary), len(catalogue)))
    fans[list(catalogue.genre_vocabulary).index("Horror"), 4] = 9  # horror fans love Scream
    profile = Profile((make_statement("horror films"), make_statement("slow films")))
    role, base, covered = new_user_base(profile, catalogue, counts, fans)
    assert role == "fans" and int(np.argmax(base)) == 4
    assert covered == {profile.statements[0].id}  # the free-text one keeps its own weight
    role, base, covered = new_user_base(Profile(), catalogue, counts, fans)
    assert role == "popularity" and int(np.argmax(base)) == len(catalogue) - 1 and not covered


def test_soft_year_wishes_are_statements_hard_ones_filters() -> None:
    soft = profile_from_text("I love comedies. Mostly films from the 80s.")
    assert soft.filters.is_empty()
    assert [s.text for s in soft.statements] == ["comedies", "films from the 1980s"]
    hard = profile_from_text("comedies, nothing before 1980")
    assert hard.filters.year_min == 1980 and [s.text for s in hard.statements] == ["comedies"]
