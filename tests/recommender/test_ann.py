from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from recommender import ann


def unit_rows(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_search_returns_the_highest_cosines_best_first_and_skips_empty_rows() -> None:
    vectors = unit_rows(50)
    vectors[3] = 0.0  # an item with no vector yet
    ids, cosines = ann.ExactIndex(vectors).search(vectors[:2], 5)
    truth = vectors[:2] @ vectors.T
    truth[:, 3] = -np.inf
    np.testing.assert_array_equal(ids, np.argsort(-truth, axis=1)[:, :5])
    np.testing.assert_allclose(cosines, np.sort(truth, axis=1)[:, ::-1][:, :5], atol=1e-6)
    assert ids[0, 0] == 0 and ids[1, 0] == 1  # each finds itself first


def test_the_index_finds_what_exact_search_finds(tmp_path: Path) -> None:
    vectors = unit_rows(2_000)
    path = ann.build(vectors, tmp_path / "items.usearch")
    index = ann.open_index(path, *vectors.shape)
    queries = vectors[:50]
    found, cosines = index.search(queries, 30)
    truth, _ = ann.ExactIndex(vectors).search(queries, 30)
    recall = np.mean([len(set(f) & set(t)) / 30 for f, t in zip(found, truth, strict=True)])
    assert recall >= 0.95
    assert found.shape == (50, 30) and found.dtype == np.int64
    # cosines, not distances: each returned id with its cosine to the query (an approximate
    # index may miss a query's own row now and then: the build is multithreaded)
    found_cosines = np.take_along_axis(queries @ vectors.T, found, axis=1)
    np.testing.assert_allclose(cosines, found_cosines, atol=1e-5)
    assert np.mean(found[:, 0] == truth[:, 0]) >= 0.95


def test_the_index_file_is_memory_mapped_and_shared_by_every_opener(tmp_path: Path) -> None:
    vectors = unit_rows(500)
    path = ann.build(vectors, tmp_path / "items.usearch")
    first, second = ann.open_index(path, *vectors.shape), ann.open_index(path, *vectors.shape)
    mapped = [
        line for line in Path("/proc/self/maps").read_text().splitlines() if str(path) in line
    ]
    assert mapped  # the file's pages are mapped, not read into private memory
    np.testing.assert_array_equal(first.search(vectors[:5], 3)[0], second.search(vectors[:5], 3)[0])


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "other vectors"])
def test_a_missing_or_corrupt_index_is_rebuilt_with_a_log_line_and_exact_search_meanwhile(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    vectors = unit_rows(300)
    path = tmp_path / "items.usearch"
    if damage == "garbage":
        path.write_bytes(b"not an index" * 100)
    elif damage == "truncated":
        ann.build(vectors, path)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif damage == "other vectors":  # readable, but of another catalogue's vectors
        ann.build(unit_rows(300, seed=1), path)
    with caplog.at_level(logging.WARNING, logger="recommender.ann"):
        index = ann.open_or_rebuild(path, vectors, exact_below=0)
    assert "rebuilding it from the item vectors" in caplog.text
    assert isinstance(index, ann.RebuildingIndex)
    # meanwhile (or if the rebuild failed) the answers are exact ones
    np.testing.assert_array_equal(
        index.search(vectors[:3], 5)[0], ann.ExactIndex(vectors).search(vectors[:3], 5)[0]
    )
    assert index.done.wait(60)
    assert isinstance(index.current, ann.HnswIndex)  # then the rebuilt file answers
    assert isinstance(ann.open_or_rebuild(path, vectors, exact_below=0), ann.HnswIndex)


def test_a_small_catalogue_is_searched_exactly_without_an_index_file(tmp_path: Path) -> None:
    index = ann.open_or_rebuild(tmp_path / "none.usearch", unit_rows(100))
    assert isinstance(index, ann.ExactIndex)
    assert not (tmp_path / "none.usearch").exists()


def test_one_process_rebuilds_a_broken_index_and_the_others_pick_up_its_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = unit_rows(300)
    path = tmp_path / "items.usearch"
    Path(f"{path}.building").touch()  # another web process claimed the rebuild
    waiting = ann.open_or_rebuild(path, vectors, exact_below=0)
    assert isinstance(waiting, ann.RebuildingIndex) and not path.exists()  # not built twice
    Path(f"{path}.building").unlink()
    ann.build(vectors, path)  # ...which that process then wrote
    monkeypatch.setattr(ann, "RETRY_SECONDS", 0.0)
    waiting._next_look = 0.0
    waiting.search(vectors[:1], 3)
    assert waiting.done.is_set() and isinstance(waiting.current, ann.HnswIndex)
