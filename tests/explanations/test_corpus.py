"""The request corpora: labels in the repository, real text read from raw files at run time.

The raw INSPIRED files are never in the repository, so these tests write a tiny stand-in
TSV and a labels file of their own in a temp folder and point the loader at them; the
committed paraphrases are read as they are.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from explanations import corpus
from explanations.corpus import CorpusMissing, load_paraphrases, load_real_requests, text_hash

# MovieLens's genre vocabulary, as data/README.md lists it for the labels
MOVIELENS_GENRES = frozenset(
    ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
     "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
     "Thriller", "War", "Western"]
)  # fmt: skip
DIALOG = "20191202-000000_1_live.pkl"
# a stray '"' is text in the unquoted TSV, as in the real files
TEXT = 'I don\'t really like horror movies what about thrillers like "Seven"'


def label(utt: str, text: str, **fields: Any) -> dict[str, Any]:
    """One label row of the committed schema, keyed to ``text`` by its hash."""
    return {
        "id": f"inspired/dev/{DIALOG}/{utt}",
        "sha1": text_hash(text),
        "split": "dev",
        "actionable": True,
        "genres": [["Thriller"]],
        "not_genres": ["Horror"],
        "year_min": None,
        "year_max": None,
        "not_years": None,
        "recent": False,
        "films": ["Seven (1995)"],
        "not_films": [],
        "soft": [],
        **fields,
    }


def write_corpus(root: Path, rows: list[tuple[str, str, str]]) -> None:
    """``root``/inspired/dev.tsv with the real files' columns (speaker and extras included)."""
    (root / "inspired").mkdir(parents=True)
    lines = ["dialog_id\tutt_id\tspeaker\ttext\tmovies"]
    lines += [f"{DIALOG}\t{utt}\t{who}\t{text}\t" for utt, who, text in rows]
    (root / "inspired" / "dev.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A labels file of our own in place of the committed one (the loader reads LABELS at
    call time), and no fallback folders, so a real corpus on this machine changes nothing."""
    path = tmp_path / "labels.jsonl"
    path.write_text(json.dumps(label("3", TEXT)) + "\n", encoding="utf-8")
    monkeypatch.setattr(corpus, "LABELS", path)
    monkeypatch.setattr(corpus, "CORPUS_DIRS", ())
    return path


def test_the_loader_reads_the_labelled_text_from_the_raw_file(
    tmp_path: Path, labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    write_corpus(raw, [("2", "RECOMMENDER", "hi! what do you like?"), ("3", "SEEKER", TEXT)])
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(raw))
    (request,) = load_real_requests("dev")
    assert request.text == TEXT
    assert request.genres == (("Thriller",),) and request.not_genres == ("Horror",)
    assert load_real_requests("test") == []  # no test label here, and no test file needed
    assert corpus.corpus_available()


@pytest.mark.parametrize(
    "turns",
    [
        # another copy of the files (or a re-numbered release): same turn id, other words
        [("3", "SEEKER", TEXT.replace("thrillers", "comedies"))],
        # the labelled turn is not in the file at all
        [("2", "SEEKER", TEXT)],
    ],
    ids=["changed text", "missing turn"],
)
def test_a_file_that_does_not_hold_the_labelled_text_is_refused_naming_the_turn(
    tmp_path: Path, labels: Path, monkeypatch: pytest.MonkeyPatch, turns: list[tuple[str, str, str]]
) -> None:
    raw = tmp_path / "raw"
    write_corpus(raw, turns)
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(raw))
    with pytest.raises(ValueError, match=f"inspired/dev/{DIALOG}/3"):
        load_real_requests()


def test_a_missing_file_says_where_to_put_it(
    tmp_path: Path, labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "nothing-here"
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(empty))
    assert not corpus.corpus_available()
    with pytest.raises(CorpusMissing) as raised:
        load_real_requests()
    message = str(raised.value)
    assert "inspired/dev.tsv" in message and str(empty) in message
    assert "REQUESTS_CORPUS_DIR" in message and "sweetpeach/Inspired" in message


def test_an_unknown_split_is_refused(labels: Path) -> None:
    with pytest.raises(ValueError, match="split"):
        load_real_requests("train")


def test_the_committed_paraphrases_load_with_a_text_a_split_and_movielens_genres() -> None:
    rows = load_paraphrases()
    assert rows and len({r.id for r in rows}) == len(rows)
    for r in rows:
        assert r.text.strip(), r.id
        assert r.split in ("dev", "test"), r.id
        named = {g for group in r.genres for g in group} | set(r.not_genres)
        assert named <= MOVIELENS_GENRES, (r.id, named - MOVIELENS_GENRES)
        if r.year_min is not None and r.year_max is not None:
            assert r.year_min <= r.year_max, r.id
    assert {r.split for r in rows} == {"dev", "test"}
    assert len(load_paraphrases("dev")) + len(load_paraphrases("test")) == len(rows)


def test_every_committed_label_points_into_its_own_split() -> None:
    # the loader finds a turn's file by the split inside its id: the two must agree
    with corpus.LABELS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    assert rows
    for row in rows:
        source, split, _, _ = row["id"].split("/")
        assert (source, split) == ("inspired", row["split"]), row["id"]
        assert len(row["sha1"]) == 10 and "text" not in row, row["id"]  # no text committed
