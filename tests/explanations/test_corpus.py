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


# --- IARD (ReDial subset): JSON conversations, split by a hash of the conversation id

IARD_TEXT = "I don't really like horror movies what about &quot;thrillers&quot;"


def iard_label(conversation_id: str, turn: int, text: str) -> dict[str, Any]:
    row = label("0", text, split=corpus.iard_split(conversation_id))
    return {**row, "id": f"iard/{conversation_id}/{turn}"}


def write_iard(root: Path, conversations: dict[str, list[tuple[str, str]]]) -> None:
    """Both files of the IARD folder, in UserSimCRS's format; the second one empty."""
    (root / "iard").mkdir(parents=True)
    data = [
        {
            "conversation_id": cid,
            "conversation": [{"participant": who, "utterance": text} for who, text in turns],
        }
        for cid, turns in conversations.items()
    ]
    gold, partial = corpus.IARD_FILES
    (root / "iard" / gold).write_text(json.dumps(data), encoding="utf-8")
    (root / "iard" / partial).write_text("[]", encoding="utf-8")


@pytest.fixture
def iard_labels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "iard.jsonl"
    path.write_text(json.dumps(iard_label("474", 2, IARD_TEXT)) + "\n", encoding="utf-8")
    monkeypatch.setattr(corpus, "IARD_LABELS", path)
    monkeypatch.setattr(corpus, "CORPUS_DIRS", ())
    return path


def test_iard_turns_are_read_by_conversation_and_turn_and_unescaped(
    tmp_path: Path, iard_labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = tmp_path / "raw"
    turns = [("USER", "Hi"), ("AGENT", "How about It (2017)?"), ("USER", IARD_TEXT)]
    write_iard(raw, {"474": turns})
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(raw))
    (request,) = corpus.load_iard_requests()
    # the file stores what people typed HTML-escaped; the request is what they typed
    assert request.text == 'I don\'t really like horror movies what about "thrillers"'
    assert corpus.iard_available()


def test_an_iard_label_whose_split_is_not_its_ids_hash_is_refused(
    tmp_path: Path, iard_labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = "dev" if corpus.iard_split("474") == "test" else "test"
    iard_labels.write_text(json.dumps({**iard_label("474", 2, IARD_TEXT), "split": other}) + "\n")
    raw = tmp_path / "raw"
    write_iard(raw, {"474": [("USER", "Hi"), ("AGENT", "?"), ("USER", IARD_TEXT)]})
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(raw))
    with pytest.raises(ValueError, match="iard/474/2"):
        corpus.load_iard_requests()


def test_missing_iard_files_say_where_to_put_them(
    tmp_path: Path, iard_labels: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(tmp_path / "nothing-here"))
    assert not corpus.iard_available()
    with pytest.raises(CorpusMissing, match="iai-group/UserSimCRS"):
        corpus.load_iard_requests()


def test_every_committed_iard_label_sits_in_its_conversations_hashed_split() -> None:
    with corpus.IARD_LABELS.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    assert sum(r["actionable"] for r in rows) >= 300
    splits: dict[str, set[str]] = {}
    for row in rows:
        source, conversation_id, turn = row["id"].split("/")
        assert source == "iard" and turn.isdigit(), row["id"]
        assert row["split"] == corpus.iard_split(conversation_id), row["id"]
        assert len(row["sha1"]) == 10 and "text" not in row, row["id"]  # no text committed
        named = {g for group in row["genres"] for g in group} | set(row["not_genres"])
        assert named <= MOVIELENS_GENRES, (row["id"], named - MOVIELENS_GENRES)
        splits.setdefault(conversation_id, set()).add(row["split"])
    assert {s for both in splits.values() for s in both} == {"dev", "test"}


def test_the_evaluation_skips_iard_when_its_files_are_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from explanations.understanding_eval import _load_sets

    monkeypatch.setattr(corpus, "CORPUS_DIRS", ())
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(tmp_path / "nothing-here"))
    sets = _load_sets(["iard", "paraphrases"], "dev")
    assert list(sets) == ["paraphrases"] and sets["paraphrases"]
    assert "iard, iard2: raw files not found" in capsys.readouterr().out


def test_iard2_is_held_out_whole_and_shares_no_conversation_with_iard() -> None:
    def rows(path: Path) -> list[dict[str, Any]]:
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    second, first = rows(corpus.IARD2_LABELS), rows(corpus.IARD_LABELS)
    assert len(second) >= 1000 and sum(r["actionable"] for r in second) >= 300
    assert {r["split"] for r in second} == {"test"}
    assert len({r["id"] for r in second}) == len(second)
    for row in second:
        assert len(row["sha1"]) == 10 and "text" not in row, row["id"]
        named = {g for group in row["genres"] for g in group} | set(row["not_genres"])
        assert named <= MOVIELENS_GENRES, (row["id"], named - MOVIELENS_GENRES)
    conversations = {r["id"].split("/")[1] for r in first}
    assert not conversations & {r["id"].split("/")[1] for r in second}


def test_an_iard2_label_outside_the_test_split_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "iard2.jsonl"
    path.write_text(json.dumps({**iard_label("474", 2, IARD_TEXT), "split": "dev"}) + "\n")
    monkeypatch.setattr(corpus, "IARD2_LABELS", path)
    with pytest.raises(ValueError, match="held out whole"):
        corpus.load_iard2_requests()


def redial_record(dialog: str, context: list[str], resp: str) -> str:
    """One line of UniCRS's processed ReDial test file: the chat so far and the reply."""
    return json.dumps({"dialog_id": dialog, "context": context, "resp": resp, "is_user": 0})


def test_redial_turns_take_their_roles_from_the_recommenders_replies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file has no roles: a record per recommender reply; the longest context plus its
    reply is the chat, and speakers alternate back from the reply."""
    wish = "Hi! I'm looking for a scary movie, not too gory, like It (2017)"
    lines = [
        # the recommender speaks first here: the placeholder "" then nothing
        redial_record("test_1", [""], "Hello, what do you like?"),
        redial_record("test_1", ["", "Hello, what do you like?", wish], "Try Annabelle (2014)"),
        redial_record(
            "test_1",
            ["", "Hello, what do you like?", wish, "Try Annabelle (2014)", "Seen it, thanks"],
            "Then Get Out (2017)",
        ),
        # a seeker opens this one
        redial_record("test_2", ["", "any 80s comedies?"], "Ghostbusters (1984)"),
    ]
    (tmp_path / "redial").mkdir()
    (tmp_path / "redial" / "test.jsonl").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("REQUESTS_CORPUS_DIR", str(tmp_path))
    dialogues = corpus.redial_dialogues(tmp_path / "redial" / "test.jsonl")
    assert [role for role, _ in dialogues["test_1"]] == [
        "RECOMMENDER", "SEEKER", "RECOMMENDER", "SEEKER", "RECOMMENDER"
    ]  # fmt: skip
    assert dialogues["test_2"] == [
        ("SEEKER", "any 80s comedies?"),
        ("RECOMMENDER", "Ghostbusters (1984)"),
    ]

    labels = tmp_path / "redial.jsonl"
    row = {**label("x", wish), "id": "redial/test_1/1", "split": "test"}
    labels.write_text(json.dumps(row) + "\n")
    monkeypatch.setattr(corpus, "REDIAL_LABELS", labels)
    (request,) = corpus.load_redial_requests()
    assert request.text == wish and request.genres == (("Thriller",),)
    # a recommender's turn is not a request: the same id pointing at one is refused
    labels.write_text(json.dumps({**row, "id": "redial/test_1/2"}) + "\n")
    with pytest.raises(ValueError, match="redial/test_1/2"):
        corpus.load_redial_requests()
    labels.write_text(json.dumps({**row, "split": "dev"}) + "\n")
    with pytest.raises(ValueError, match="held out whole"):
        corpus.load_redial_requests()


def test_redial_t_is_held_out_whole_and_shares_no_conversation_with_iard() -> None:
    def rows(path: Path) -> list[dict[str, Any]]:
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    third = rows(corpus.REDIAL_LABELS)
    assert len(third) >= 1000 and sum(r["actionable"] for r in third) >= 300
    assert {r["split"] for r in third} == {"test"}
    assert len({r["id"] for r in third}) == len(third)
    for row in third:
        source, dialog, turn = row["id"].split("/")
        assert source == "redial" and dialog.startswith("test_") and turn.isdigit(), row["id"]
        assert len(row["sha1"]) == 10 and "text" not in row, row["id"]
        named = {g for group in row["genres"] for g in group} | set(row["not_genres"])
        assert named <= MOVIELENS_GENRES, (row["id"], named - MOVIELENS_GENRES)
    iard = {r["id"].split("/")[1] for r in rows(corpus.IARD_LABELS) + rows(corpus.IARD2_LABELS)}
    assert not iard & {r["id"].split("/")[1].removeprefix("test_") for r in third}
