"""Constrained title generation: only active catalogue titles can come out."""

from __future__ import annotations

import pytest

from recommender.grounding import (
    TitleTrie,
    generate_title,
    generate_titles,
    grounding_prompt,
    match_title,
)
from recommender.rerank import item_title
from tests.recommender.tiny_llm import tiny_catalogue, tiny_llm


def _trie() -> TitleTrie:
    return TitleTrie.from_catalogue(tiny_llm().tokenizer, tiny_catalogue())


def test_the_trie_allows_only_continuations_of_catalogue_titles() -> None:
    trie = _trie()
    cat = tiny_catalogue()
    path = trie.encode(item_title(cat, 3))
    for depth in range(len(path)):
        assert path[depth] in trie.allowed(path[:depth])
    assert trie.lookup(path) == 3
    stranger = trie.tokenizer.encode("Zulu Zulu", add_special_tokens=False)
    assert stranger[0] not in trie.allowed([])  # no title starts with "Zulu"
    assert trie.allowed(stranger) == [trie.end_id]  # an impossible prefix can only end
    assert trie.lookup(path[:-2]) is None  # a strict prefix is not a title


def test_a_retired_item_can_no_longer_be_generated_and_a_new_one_can() -> None:
    trie = _trie()
    cat = tiny_catalogue()
    path = trie.encode(item_title(cat, 5))
    trie.remove(5)
    assert trie.lookup(path) is None and 5 not in trie
    walk: list[int] = []
    for token in path:  # somewhere along the retired path the trie refuses to go on
        if token not in trie.allowed(walk):
            break
        walk.append(token)
    else:
        pytest.fail("the retired title is still fully reachable")
    trie.add(99, "King Lion Blue (1999)")
    new_path = trie.encode("King Lion Blue (1999)")
    assert trie.lookup(new_path) == 99 and len(trie) == len(cat)


def test_removing_one_title_keeps_titles_that_share_its_prefix() -> None:
    trie = _trie()
    cat = tiny_catalogue()
    trie.remove(0)  # "Star ..." shares its first token with items 6, 12, ...
    assert trie.lookup(trie.encode(item_title(cat, 6))) == 6


def test_constrained_generation_always_yields_an_active_item() -> None:
    llm = tiny_llm()
    trie = _trie()
    for retired in range(0, 30, 2):
        trie.remove(retired)
    prompts = [grounding_prompt(llm.tokenizer, [item_title(tiny_catalogue(), i)]) for i in range(6)]
    results = generate_titles(llm, prompts, trie)
    assert all(item is not None and item % 2 == 1 for _, item in results)
    assert generate_title(llm, [], trie) in trie
    beamed = generate_titles(llm, prompts, trie, num_beams=3)  # beams stay inside the trie too
    assert all(item is not None and item % 2 == 1 for _, item in beamed)


def test_free_text_matches_only_exact_titles() -> None:
    titles = {"heat (1995)": 1, "heat": 1}
    assert match_title(" Heat (1995)\nmore text", titles) == 1
    assert match_title("Heat 2", titles) is None and match_title("", titles) is None


@pytest.mark.integration
def test_the_packaged_model_writes_a_real_title_under_the_constraint() -> None:
    from recommender.data import load_movielens
    from recommender.llm import get_llm

    llm = get_llm()
    cat = load_movielens("100k").catalogue
    trie = TitleTrie.from_catalogue(llm.tokenizer, cat)
    item = generate_title(llm, ["Star Wars (1977)", "Return of the Jedi (1983)"], trie)
    assert item is not None and 0 <= item < len(cat)
