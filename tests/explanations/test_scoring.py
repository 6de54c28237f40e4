from __future__ import annotations

import numpy as np
import pytest

from explanations.generate import profile_from_text
from explanations.profile import Filters, Profile, add_statement, delete_statement, make_statement
from explanations.scoring import (
    CatalogueScores,
    GenreGroups,
    ScoredOnDemand,
    ScoringConfig,
    TextMoments,
    TitleSearch,
    embed_statements,
    profile_rerank,
)
from recommender import ann
from recommender.data import Catalogue
from tests.explanations.conftest import KeywordEncoder

HORROR = {3, 4, 5}


def base(catalogue: Catalogue) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Every item a candidate; horror scores best, so any change is the profile's doing."""
    candidates = np.arange(len(catalogue))
    scores = np.linspace(1.0, 0.0, len(catalogue))
    scores[[3, 4, 5]] += 0.5
    return candidates, scores, {"collaborative": scores * 0.6, "text": scores * 0.4}


def run(catalogue, item_vectors, encode, profile: Profile):  # type: ignore[no-untyped-def]
    candidates, scores, parts = base(catalogue)
    vectors = embed_statements(profile.statements, encode)
    return profile_rerank(candidates, scores, parts, item_vectors, vectors, profile, catalogue)


def test_avoiding_horror_pushes_horror_out_of_the_top(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    plain = run(catalogue, item_vectors, encode, Profile())
    assert set(plain.items[:3].tolist()) == HORROR
    steered = run(catalogue, item_vectors, encode, profile_from_text("avoids horror"))
    assert not HORROR & set(steered.items[:5].tolist())


def test_components_sum_to_the_score_and_statements_to_the_profile_part(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    profile = profile_from_text("loves animated films, less musicals")
    out = run(catalogue, item_vectors, encode, profile)
    total = sum(out.components.values())
    np.testing.assert_allclose(total, out.scores)
    np.testing.assert_allclose(out.contributions.sum(1), out.components["profile"])
    assert out.contribution(int(out.items[0])).keys() == {s.id for s in profile.statements}


def test_one_statement_moves_items_but_keeps_the_collaborative_order_elsewhere(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    candidates, scores, parts = base(catalogue)
    profile = profile_from_text("loves animated films")
    out = profile_rerank(
        candidates,
        scores,
        parts,
        item_vectors,
        embed_statements(profile.statements, encode),
        profile,
        catalogue,
    )
    # the profile part is capped relative to the spread of the hybrid score (a statement the
    # user wrote has the explicit cap)
    cap = ScoringConfig().explicit_cap
    assert np.abs(out.components["profile"]).max() <= cap * scores.std() + 1e-9
    # items the statement scores alike keep their hybrid order
    non_animated = [i for i in out.items.tolist() if "Animation" not in catalogue.genres[i]]
    same = [
        i
        for i in non_animated
        if abs(
            out.contribution(i)[profile.statements[0].id]
            - out.contribution(non_animated[0])[profile.statements[0].id]
        )
        < 1e-9
    ]
    assert same == sorted(same, key=lambda i: -scores[i])
    ranks = {i: r for r, i in enumerate(out.items.tolist())}
    assert max(ranks[i] for i in (0, 1, 2)) < 6  # the three animated films moved up


def test_applying_then_reverting_a_profile_restores_the_exact_ranking(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    before = profile_from_text("slow-burn thrillers")
    first = run(catalogue, item_vectors, encode, before)
    after = add_statement(before, make_statement("horror films", "avoids"))
    changed = run(catalogue, item_vectors, encode, after)
    assert changed.items.tolist() != first.items.tolist()
    reverted = delete_statement(after, after.statements[-1].id)
    again = run(catalogue, item_vectors, encode, reverted)
    assert reverted == before
    np.testing.assert_array_equal(again.items, first.items)
    np.testing.assert_array_equal(again.scores, first.scores)


def test_filters_remove_items_and_say_why(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    profile = Profile(
        filters=Filters(exclude_genres=("Horror",), year_min=1980, exclude_items=(108,))
    )
    out = run(catalogue, item_vectors, encode, profile)
    kept = out.items.tolist()
    assert not HORROR & set(kept)
    assert all(catalogue.years[i] >= 1980 for i in kept)
    assert 7 not in kept and out.removed[7] == "hidden item"
    assert out.removed[3].startswith("excluded genre")


def test_only_new_statement_texts_are_embedded() -> None:
    encode = KeywordEncoder()
    cache: dict[str, np.ndarray] = {}
    profile = profile_from_text("animated films, nothing with musicals")
    embed_statements(profile.statements, encode, cache)
    assert encode.texts_encoded == 2
    profile = add_statement(profile, make_statement("crime films"))
    vectors = embed_statements(profile.statements, encode, cache)
    assert encode.texts_encoded == 3 and vectors.shape[0] == 3


def test_a_genre_statement_raises_exactly_the_items_of_that_genre(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    profile = profile_from_text("loves animated films")
    out = run(catalogue, item_vectors, encode, profile)
    sid = profile.statements[0].id
    parts = {i: out.contribution(i)[sid] for i in out.items.tolist()}
    animated = {i for i in parts if "Animation" in catalogue.genres[i]}
    assert animated == {0, 1, 2}
    assert len({round(parts[i], 9) for i in animated}) == 1  # the fact, not a cosine
    assert len({round(parts[i], 9) for i in set(parts) - animated}) == 1
    # what the person asked for is lifted by a fixed step; the rest keep their hybrid score
    assert min(parts[i] for i in animated) > 0 == max(parts[i] for i in set(parts) - animated)
    assert {i for i in parts if out.matched(i)[sid]} == animated


def test_free_text_matches_only_above_the_z_threshold(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    profile = Profile(statements=(make_statement("Predator"),))  # free text without an index
    candidates, scores, parts = base(catalogue)
    vectors = embed_statements(profile.statements, encode)
    strict = profile_rerank(
        candidates, scores, parts, item_vectors, vectors, profile, catalogue,
        ScoringConfig(free_text_min_z=2.0),
    )  # fmt: skip
    loose = profile_rerank(
        candidates,
        scores,
        parts,
        item_vectors,
        vectors,
        profile,
        catalogue,
        ScoringConfig(free_text_min_z=-10.0),
    )
    assert 0 < strict.matches.sum() < len(catalogue)
    assert loose.matches.all()
    # the calibrated default (95% precision on genre statements) is stricter still
    default = profile_rerank(candidates, scores, parts, item_vectors, vectors, profile, catalogue)
    assert default.matches.sum() <= strict.matches.sum()
    np.testing.assert_array_equal(strict.scores, loose.scores)  # matching never moves scores


def test_like_a_title_is_similarity_to_that_titles_own_vector(
    catalogue, item_vectors, encode, index
) -> None:  # type: ignore[no-untyped-def]
    profile = Profile(statements=(make_statement("films like Predator"),))
    candidates, scores, parts = base(catalogue)
    vectors = embed_statements(profile.statements, encode)
    out = profile_rerank(
        candidates, scores, parts, item_vectors, vectors, profile, catalogue, index=index
    )
    sid = profile.statements[0].id
    assert out.facts_by_id()[sid].titles == (15,)
    matched = {int(i) for i in out.items if out.matched(int(i))[sid]}
    assert matched == {6, 15}  # Aliens has Predator's genres exactly; Predator is itself


# -- retrieval from the whole catalogue, and the two strengths ------------------------------

ANIMATED = {0, 1, 2}  # Toy Story, Aladdin, The Lion King


def whole(
    catalogue: Catalogue,
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], CatalogueScores]:
    """A stored list of the 8 best items and the same model's parts for the whole catalogue,
    where the animated films come just after the stored list (places 9-11)."""
    n = len(catalogue)
    order = [i for i in range(n) if i not in ANIMATED]
    order[8:8] = sorted(ANIMATED)  # best first
    collab = np.zeros(n)
    collab[order] = np.linspace(2.0, 0.0, n)
    seq = collab * 0.5
    total = collab + seq
    top = np.argsort(-total, kind="stable")[:8]
    assert not ANIMATED & set(top.tolist())
    parts = {"collaborative": collab, "sequential": seq}
    stored = {r: v[top] for r, v in parts.items()}
    return top, total[top], stored, CatalogueScores(parts, np.ones(n, dtype=bool))


def scores_all_collab(catalogue: Catalogue) -> np.ndarray:
    return np.asarray(whole(catalogue)[3].components["collaborative"])


def steer(catalogue, item_vectors, encode, profile: Profile, with_catalogue: bool = True):  # type: ignore[no-untyped-def]
    top, scores, stored, scores_all = whole(catalogue)
    vectors = embed_statements(profile.statements, encode)
    return profile_rerank(
        top,
        scores,
        stored,
        item_vectors,
        vectors,
        profile,
        catalogue,
        catalogue_scores=scores_all if with_catalogue else None,
    )


def test_a_users_statement_brings_in_items_the_stored_list_lacks(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    profile = Profile((make_statement("animated films"),))
    out = steer(catalogue, item_vectors, encode, profile)
    assert set(out.items[:3].tolist()) == ANIMATED
    # the retrieved items carry the same model's parts, and every part still sums up
    row = int(np.flatnonzero(out.items == 0)[0])
    assert out.components["collaborative"][row] == scores_all_collab(catalogue)[0]
    np.testing.assert_allclose(sum(out.components.values()), out.scores)
    # without the whole catalogue's scores nothing can be retrieved
    assert not ANIMATED & set(steer(catalogue, item_vectors, encode, profile, False).items.tolist())


def test_generated_statements_never_retrieve_and_stay_gentle(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    generated = Profile((make_statement("animated films", source="generated"),))
    out = steer(catalogue, item_vectors, encode, generated)
    assert not ANIMATED & set(out.items.tolist())
    top, _, _, _ = whole(catalogue)
    assert sorted(out.items.tolist()) == sorted(top.tolist())


def test_the_weight_moves_the_share_monotonically(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    shares = []
    for weight in (0.0, 0.25, 0.5, 1.0, 2.0, 3.0):
        profile = Profile((make_statement("comedies", weight=weight),))
        out = steer(catalogue, item_vectors, encode, profile)
        top = out.items[:5].tolist()
        shares.append(sum("Comedy" in catalogue.genres[i] for i in top))
    assert shares == sorted(shares) and shares[-1] > shares[0]


def test_retrieval_respects_filters_and_avoids(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    profile = Profile(
        (make_statement("animated films"), make_statement("musicals", "avoids")),
        Filters(year_min=1993),
    )
    out = steer(catalogue, item_vectors, encode, profile)
    assert 1 not in out.items.tolist()  # Aladdin (1992) is before the filter's year
    assert int(out.items[0]) == 0  # Toy Story: animated, no musical


def test_more_like_a_title_also_reads_what_the_same_people_watch(
    catalogue, item_vectors, encode, index
) -> None:  # type: ignore[no-untyped-def]
    """Heat's text and genres are close to other thrillers; its audience also watches
    Airplane! (11)."""
    profile = Profile((make_statement("films like Heat"),))
    vectors = embed_statements(profile.statements, encode)
    n = len(catalogue)
    scores = np.zeros(n)
    plain = profile_rerank(
        np.arange(n), scores, {}, item_vectors, vectors, profile, catalogue, index=index
    )
    neighbours = (np.full((n, 1), 11), np.zeros((n, 1), np.float32))
    neighbours[1][7] = 0.9  # Heat (7) -> Airplane! (11)
    steered = profile_rerank(
        np.arange(n), scores, {}, item_vectors, vectors, profile, catalogue, index=index,
        neighbours=neighbours,
    )  # fmt: skip
    rank = {int(i): r for r, i in enumerate(steered.items)}
    before = {int(i): r for r, i in enumerate(plain.items)}
    assert rank[11] < before[11]  # co-watched: up
    # genres count too: the crime thriller Seven (13) before every film sharing none
    unlike = [i for i in range(n) if not set(catalogue.genres[i]) & set(catalogue.genres[7])]
    assert all(rank[13] < rank[i] for i in unlike if i != 11)


def test_free_text_stays_gentle_and_never_retrieves(catalogue, item_vectors, encode) -> None:  # type: ignore[no-untyped-def]
    free = Profile((make_statement("quiet stories about grief"),))
    out = steer(catalogue, item_vectors, encode, free)
    top, _, _, _ = whole(catalogue)
    assert sorted(out.items.tolist()) == sorted(top.tolist())  # nothing brought in


def test_an_explicit_avoid_holds_every_fitting_item_down_by_avoid_z(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    profile = Profile((make_statement("comedies", "avoids"),))
    out = steer(catalogue, item_vectors, encode, profile)
    sid = profile.statements[0].id
    parts = {int(i): out.contribution(int(i))[sid] for i in out.items}
    comedy = {i for i, p in parts.items() if "Comedy" in catalogue.genres[i]}
    assert comedy and len({round(parts[i], 9) for i in comedy}) == 1  # one penalty for all
    assert all(parts[i] == 0 for i in parts if i not in comedy)  # the rest left alone
    spread = whole(catalogue)[3].spread(1e-6)
    assert spread is not None
    c = ScoringConfig()  # avoid_z units of the catalogue's spread, through the soft cap
    limit = c.explicit_cap * spread
    expected = -limit * np.tanh(c.avoid_z * spread / limit)
    assert parts[next(iter(comedy))] == pytest.approx(expected)


def test_a_rare_fact_asked_for_moves_as_far_as_a_common_one(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    # Grease is the only 1970s musical of the catalogue; seven films are comedies
    rare = Profile(statements=(make_statement("70s musicals"),))
    common = Profile(statements=(make_statement("comedies"),))
    grease = catalogue.titles.index("Grease")
    lifts = []
    for profile in (rare, common):
        out = run(catalogue, item_vectors, encode, profile)
        lifts.append(out.contribution(grease)[profile.statements[0].id])
    assert lifts[0] == pytest.approx(lifts[1]) and lifts[0] > 0
    # and the one film that is what was asked for leads the list
    assert run(catalogue, item_vectors, encode, rare).items[0] == grease


def test_text_moments_give_the_same_ranking_without_a_pass_over_the_catalogue(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    profile = Profile(
        (
            make_statement("animated films"),
            make_statement("stories about friendship and toys"),
            make_statement("dark and violent", polarity="avoids"),
            make_statement("a quiet film about loss", source="generated"),
        )
    )
    top, scores, stored, scores_all = whole(catalogue)
    vectors = embed_statements(profile.statements, encode)
    moments = TextMoments.of(item_vectors)
    cosines = np.asarray(item_vectors, np.float64) @ np.asarray(vectors, np.float64).T
    mean, std = moments.cosine_moments(vectors)
    np.testing.assert_allclose(mean, cosines.mean(axis=0), atol=1e-9)
    np.testing.assert_allclose(std, cosines.std(axis=0), atol=1e-7)
    args = (top, scores, stored, item_vectors, vectors, profile, catalogue)
    plain = profile_rerank(*args, catalogue_scores=scores_all)
    fast = profile_rerank(*args, catalogue_scores=scores_all, text_moments=moments)
    np.testing.assert_array_equal(fast.items, plain.items)
    np.testing.assert_allclose(fast.scores, plain.scores, atol=1e-6)
    np.testing.assert_allclose(fast.contributions, plain.contributions, atol=1e-6)
    np.testing.assert_array_equal(fast.matches, plain.matches)


def test_scoring_on_demand_retrieves_what_the_whole_catalogues_parts_do(
    catalogue, item_vectors, encode
) -> None:  # type: ignore[no-untyped-def]
    top, scores, stored, dense = whole(catalogue)
    asked: list[int] = []

    def score(rows: np.ndarray) -> dict[str, np.ndarray]:
        asked.extend(rows.tolist())
        return {r: np.asarray(v, np.float64)[rows] for r, v in dense.components.items()}

    lazy = ScoredOnDemand(dense.eligible, score, dense.spread(0.0))
    for text in ("animated films", "films like Toy Story (1995)", "comedies from the 90s"):
        profile = Profile((make_statement(text), make_statement("dark", polarity="avoids")))
        vectors = embed_statements(profile.statements, encode)
        args = (top, scores, stored, item_vectors, vectors, profile, catalogue)
        plain = profile_rerank(*args, catalogue_scores=dense)
        fast = profile_rerank(*args, catalogue_scores=lazy)
        np.testing.assert_array_equal(fast.items, plain.items)
        np.testing.assert_allclose(fast.scores, plain.scores, atol=1e-9)
    # only items a statement could bring in were scored, never the whole catalogue at once
    assert asked and len(set(asked)) < len(catalogue)


# -- "films like X" from the item vectors' index (recommender.ann) ------------------------


def title_search(catalogue, item_vectors, folder, reach: int) -> TitleSearch:  # type: ignore[no-untyped-def]
    index = ann.open_index(ann.build(item_vectors, folder / "items.usearch"), *item_vectors.shape)
    return TitleSearch(
        index, TextMoments.of(item_vectors), GenreGroups.of(catalogue, item_vectors), reach
    )


@pytest.mark.parametrize("reach", [1, 2, 1000])
def test_a_title_statement_scored_from_the_index_retrieves_what_every_items_cosine_does(
    catalogue, item_vectors, encode, index, tmp_path, reach: int
) -> None:  # type: ignore[no-untyped-def]
    """With flat collaborative scores the statement alone decides what is brought in. A reach
    of 1 or 2 of the 16 items leaves most of the text column unknown: the genre sets that
    could still hold one of the best items are scored whole, so nothing changes."""
    search = title_search(catalogue, item_vectors, tmp_path, reach)
    n = len(catalogue)
    flat = CatalogueScores({"collaborative": np.zeros(n)}, np.ones(n, dtype=bool))
    stored = np.array([9])  # The Sound of Music
    for title in catalogue.titles:
        profile = Profile((make_statement(f"films like {title}"),))
        vectors = embed_statements(profile.statements, encode)
        args = (stored, np.zeros(1), {"collaborative": np.zeros(1)}, item_vectors, vectors)
        kw = {"index": index, "catalogue_scores": flat}
        config = ScoringConfig(retrieve=2)
        plain = profile_rerank(*args, profile, catalogue, config, **kw)
        fast = profile_rerank(*args, profile, catalogue, config, **kw, title_search=search)
        np.testing.assert_array_equal(fast.items, plain.items)
        np.testing.assert_allclose(fast.scores, plain.scores, atol=1e-6)


def test_title_statements_among_others_score_alike_from_the_index(
    catalogue, item_vectors, encode, index, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    search = title_search(catalogue, item_vectors, tmp_path, reach=2)
    n = len(catalogue)
    neighbours = (np.full((n, 1), 11), np.zeros((n, 1), np.float32))
    neighbours[1][7] = 0.9  # Heat (7) -> Airplane! (11)
    top, scores, stored, scores_all = whole(catalogue)
    for texts in (
        ("films like Heat",),
        ("films like Toy Story (1995)", "horror films"),
        ("films like Predator", "dark", "films like Heat"),
    ):
        profile = Profile(tuple(make_statement(t) for t in texts))
        vectors = embed_statements(profile.statements, encode)
        args = (top, scores, stored, item_vectors, vectors, profile, catalogue)
        kw = {"index": index, "catalogue_scores": scores_all, "neighbours": neighbours}
        plain = profile_rerank(*args, **kw)
        fast = profile_rerank(*args, **kw, title_search=search)
        np.testing.assert_array_equal(fast.items, plain.items)
        np.testing.assert_allclose(fast.scores, plain.scores, atol=1e-6)
        np.testing.assert_allclose(fast.contributions, plain.contributions, atol=1e-6)
        np.testing.assert_array_equal(fast.matches, plain.matches)


def test_filter_keep_agrees_with_the_reasons_filter_mask_gives() -> None:
    from explanations.profile import Filters
    from explanations.scoring import filter_keep, filter_mask
    from tests.explanations.conftest import make_catalogue

    cat = make_catalogue()
    items = np.arange(len(cat))
    some = cat.ids.external(int(items[0]))
    for filters in (
        Filters(),
        Filters(include_genres=("Comedy",)),
        Filters(exclude_genres=("Horror", "Drama"), year_min=1990),
        Filters(year_max=1995, exclude_items=(some,)),
        Filters(include_genres=("Not a genre",)),
    ):
        keep = filter_keep(cat, items, filters)
        mask, removed = filter_mask(cat, items, filters)
        assert (keep == mask).all()
        assert set(removed) == set(items[~keep].tolist()), filters
