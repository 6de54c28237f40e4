import os
from pathlib import Path

import numpy as np
import pytest

from recommender.encoders import EmbeddingCache, TextEncoder, resolve_model, text_sha
from tests.recommender.tiny_bert import tiny_bert

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach a hub

WORDS = [
    "a",
    "an",
    "the",
    "of",
    "and",
    "for",
    "film",
    "films",
    "movie",
    "comedy",
    "light-hearted",
    "horror",
    "dark",
    "frightening",
    "genres",
    "animation",
    "children's",
    "animated",
    "toy",
    "story",
    "scream",
    "drama",
    "romance",
    "action",
    "thriller",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    ",",
    ".",
    ":",
    "(",
    ")",
]


def tiny_encoder(cache_dir: Path | None = None, use_cache: bool = False) -> TextEncoder:
    """A 1-layer, 16-dim BERT with a word-level tokenizer, built in code (no weights)."""
    network, tokenizer = tiny_bert(WORDS, max_positions=64)
    return TextEncoder(
        network=network,
        tokenizer=tokenizer,
        model_key="tiny-bert-test",
        cache_dir=cache_dir,
        use_cache=use_cache,
        batch_size=4,
    )


def test_it_returns_unit_vectors_of_the_model_width(tmp_path: Path) -> None:
    vectors = tiny_encoder(tmp_path).encode(["a comedy film", "a dark horror film", "toy story"])
    assert vectors.shape == (3, 16)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)


def test_padding_does_not_change_a_texts_vector(tmp_path: Path) -> None:
    # mean pooling must ignore padding: alone or batched with a longer text, same vector
    encoder = tiny_encoder(tmp_path)
    alone = encoder.encode_uncached(["comedy"])
    batched = encoder.encode_uncached(["comedy", "a dark frightening horror film of the 1 2 3"])
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-5)


def test_the_cache_only_encodes_new_texts_the_second_time(tmp_path: Path) -> None:
    encoder = tiny_encoder(tmp_path, use_cache=True)
    first = encoder.encode(["a comedy film", "a horror film", "a comedy film"])
    assert encoder.computed == 2  # duplicates are encoded once
    again = tiny_encoder(tmp_path, use_cache=True)  # a new process would start like this
    second = again.encode(["a horror film", "a drama film", "a comedy film"])
    assert again.computed == 1  # only "a drama film" is new
    np.testing.assert_array_equal(second[0], first[1])
    np.testing.assert_array_equal(second[2], first[0])
    assert EmbeddingCache(tmp_path / "embeddings.sqlite").count(again.key) == 3


def test_the_cache_keeps_models_apart(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    cache.put_many("model-a", {text_sha("x"): np.ones(4, np.float32)})
    assert cache.get_many("model-b", [text_sha("x")]) == {}
    np.testing.assert_array_equal(cache.get_many("model-a", [text_sha("x")])[text_sha("x")], 1.0)


def test_a_model_setting_can_be_a_local_folder_or_a_hub_id(tmp_path: Path) -> None:
    assert resolve_model(str(tmp_path)) == (str(tmp_path), f"local:{tmp_path.resolve()}")
    assert resolve_model("sentence-transformers/all-MiniLM-L6-v2") == (
        "sentence-transformers/all-MiniLM-L6-v2",
        "hub:sentence-transformers/all-MiniLM-L6-v2",
    )


def test_importing_the_module_loads_no_model() -> None:
    import subprocess
    import sys

    code = (
        "import sys, recommender.encoders as e; "
        "assert 'torch' not in sys.modules and 'transformers' not in sys.modules; "
        "assert e._cached_encoder.cache_info().currsize == 0"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


@pytest.mark.integration
def test_the_packaged_minilm_puts_a_childrens_query_nearest_the_animated_film(
    tmp_path: Path,
) -> None:
    encoder = TextEncoder(cache_dir=tmp_path)
    query, toy_story, horror = encoder.encode(
        [
            "animated film for children",
            "Toy Story (1995) Genres: Animation, Children's, Comedy.",
            "Nightmare on Elm Street, A (1984) Genres: Horror.",
        ]
    )
    assert encoder.dim == 384
    assert query @ toy_story > query @ horror + 0.1
    # a second encoder over the same cache folder reuses the extraction and the vectors
    again = TextEncoder(cache_dir=tmp_path)
    np.testing.assert_array_equal(again.encode(["animated film for children"])[0], query)
    assert again.computed == 0


def test_fully_cached_texts_never_load_the_model(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path / "embeddings.sqlite")
    vector = np.ones(16, np.float32) / 4.0
    cache.put_many("packaged:all-minilm-l6-v2@0|mean|max_length=128", {text_sha("hello"): vector})
    lazy = TextEncoder(cache_dir=tmp_path)
    lazy._key = "packaged:all-minilm-l6-v2@0"  # pretend wheel version 0
    np.testing.assert_array_equal(lazy.encode(["hello"])[0], vector)
    assert lazy._network is None and lazy.computed == 0
