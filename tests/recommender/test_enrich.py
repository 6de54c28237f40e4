"""Catalogue enrichment: parsing and cleaning the model's text, deterministic batches."""

from __future__ import annotations

from recommender.enrich import (
    MAX_DESCRIPTION_CHARS,
    ItemText,
    build_messages,
    describe_items,
    parse_keywords,
    parse_output,
)
from tests.recommender.tiny_llm import tiny_llm

HEAT = ItemText("Heat", 1995, ("Action", "Crime"))


def test_a_well_formed_answer_is_parsed() -> None:
    out = parse_output(
        "Description: A thief and a detective circle each other in Los Angeles.\nKeywords: heist, Crime, obsession, Los Angeles",
        HEAT,
    )
    assert out.ok and out.description.startswith("A thief")
    assert out.keywords == ("heist", "crime", "obsession", "los angeles")


def test_only_two_sentences_are_kept_and_length_is_capped() -> None:
    out = parse_output("Description: One. Two! Three? Four.\nKeywords: aaa, bbb, ccc", HEAT)
    assert out.description == "One. Two!"
    long = parse_output(
        "Description: " + " ".join(f"word{i}" for i in range(200)) + "\nKeywords: a, b, c", HEAT
    )
    assert len(long.description) <= MAX_DESCRIPTION_CHARS + 1


def test_a_prompt_echo_is_rejected() -> None:
    assert not parse_output("Title: Heat\nYear: 1995", HEAT).ok
    assert not parse_output("Description: Heat.\nKeywords: a, b, c", HEAT).ok
    assert not parse_output("", HEAT).ok


def test_a_degenerate_loop_is_rejected() -> None:
    assert not parse_output(
        "Description: A cleric is a cleric is a cleric is a cleric is a cleric.\nKeywords: a, b, c",
        HEAT,
    ).ok


def test_an_unlabelled_first_line_is_taken_as_the_description() -> None:
    out = parse_output("A crime saga about a crew of thieves.", HEAT)
    assert out.ok and out.keywords == ()


def test_keywords_are_deduplicated_short_and_at_most_six() -> None:
    assert parse_keywords(
        "aaa, AAA, bbb; ccc, the, ddd, eee, fff, ggg, far too many words here"
    ) == (
        "aaa",
        "bbb",
        "ccc",
        "ddd",
        "eee",
        "fff",
    )


def test_the_prompt_carries_one_worked_example() -> None:
    roles = [m["role"] for m in build_messages(HEAT)]
    assert roles == ["system", "user", "assistant", "user"]


def test_describe_items_returns_one_result_per_item_deterministically() -> None:
    llm = tiny_llm()
    items = [HEAT, ItemText("Star Alpha Delta", 1990, ("Drama",)), ItemText("Blue", None, ())]
    first = describe_items(llm, items, batch_size=2, max_new_tokens=8)
    second = describe_items(llm, items, batch_size=3, max_new_tokens=8)
    assert len(first) == 3
    assert [g.raw for g in first] == [g.raw for g in second]  # batching does not change text
