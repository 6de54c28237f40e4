"""Evaluation requests: real people's movie wishes (INSPIRED, IARD) and paraphrases we wrote.

INSPIRED (Hayati et al., EMNLP 2020) states no licence, so its text stays out of this
repository: ``data/real_requests.jsonl`` holds only our labels, each keyed by an id and a
hash of the turn's text, and the text is read from the raw TSV files at run time. The hash
catches a different copy of the files (or a re-numbered release) instead of silently pairing
labels with the wrong turn. IARD (a subset of ReDial, CC BY 4.0) follows the same pattern
(``data/iard_requests.jsonl``, text from the JSON files at run time): the workplace keeps data
fetched from GitHub out of the repository whatever its licence. It is the held-out set: its
labels were written before the system was run on it, and its test split is run once.
``data/paraphrases.jsonl`` is ours, so it carries its text. See ``data/README.md`` for where
to put the raw files and how the labels were written.
"""

from __future__ import annotations

import csv
import hashlib
import html
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_HERE = Path(__file__).resolve().parent
_REPO = _HERE.parent
LABELS = _HERE / "data" / "real_requests.jsonl"
IARD_LABELS = _HERE / "data" / "iard_requests.jsonl"
# IARD-2: every seeker turn of the partial file's other 214 conversations, labelled (all of it
# held out, split "test") after IARD-1's test split had been run and studied
IARD2_LABELS = _HERE / "data" / "iard2_requests.jsonl"
# Both files of UserSimCRS's IARD folder: the 77 fully annotated conversations, and the
# partially annotated ones (their first 45 in IARD-1, the other 214 in IARD-2). Ids do not overlap.
IARD_FILES = ("formatted_IARD_annotated_gold.json", "formatted_IARD_annotated_partially.json")
# ReDial-T: seeker turns of 350 ReDial test-split conversations that IARD does not hold,
# labelled (all of it held out, split "test") after IARD-2 had been run and studied
REDIAL_LABELS = _HERE / "data" / "redial_requests.jsonl"
REDIAL_FILE = "redial/test.jsonl"
PARAPHRASES = _HERE / "data" / "paraphrases.jsonl"
ENV_VAR = "REQUESTS_CORPUS_DIR"
# Searched in this order after $REQUESTS_CORPUS_DIR, which corpus_dirs() reads at call time
# so a test or a shell can point at another copy without reloading the module.
CORPUS_DIRS = (_REPO / "var/corpora", _REPO.parent / "shared/corpora", Path("/work/corpora"))
SPLITS = ("dev", "test")
_SOURCE = {
    "inspired": "data/dialog_data/{split}.tsv from https://github.com/sweetpeach/Inspired",
    "iard": "data/datasets/iard/{split} from https://github.com/iai-group/UserSimCRS",
    "redial": "data/redial/{split}.jsonl from "
    "https://github.com/AaronHeee/LLMs-as-Zero-Shot-Conversational-RecSys",
}


class CorpusMissing(FileNotFoundError):
    """A raw dataset file the labels point into is not on this machine."""


@dataclass(frozen=True)
class RealRequest:
    """One request and what a careful reader takes it to ask for (see data/README.md)."""

    id: str
    split: str
    text: str
    actionable: bool
    genres: tuple[tuple[str, ...], ...]  # a fitting film has a genre from every group
    not_genres: tuple[str, ...]
    year_min: int | None
    year_max: int | None
    not_years: tuple[int, int] | None
    recent: bool
    films: tuple[str, ...]
    not_films: tuple[str, ...]
    soft: tuple[str, ...]
    note: str = ""


def corpus_dirs() -> list[Path]:
    """Where raw files are looked for, first match wins."""
    env = os.environ.get(ENV_VAR)
    return ([Path(env)] if env else []) + list(CORPUS_DIRS)


def _find(relative: str, source: str, split: str) -> Path:
    """The first copy of ``relative``; ``split`` fills the source's download hint."""
    for base in corpus_dirs():
        if (base / relative).is_file():
            return base / relative
    where = ", ".join(str(d) for d in corpus_dirs())
    raise CorpusMissing(
        f"{relative} is in none of {where} (${ENV_VAR} first when set): "
        f"download {_SOURCE[source].format(split=split)} to <one of them>/{relative}"
    )


@cache
def _inspired_turns(path: Path) -> dict[tuple[str, str], str]:
    """(dialog_id, utt_id) -> text. QUOTE_NONE: the TSV is unquoted, a stray '"' is text."""
    with path.open(encoding="utf-8", newline="") as fh:
        rows = csv.DictReader(fh, delimiter="\t", quoting=csv.QUOTE_NONE)
        return {(r["dialog_id"], r["utt_id"]): r["text"].strip() for r in rows}


def text_hash(text: str) -> str:
    """The label's key to the exact text: the first 10 hex digits of sha1(stripped text)."""
    return hashlib.sha1(text.strip().encode("utf-8")).hexdigest()[:10]


def iard_split(conversation_id: str) -> str:
    """A conversation's split by a hash of its id (sha1: even -> dev, odd -> test), so a
    conversation never straddles the two and no choice of ours decides which is which."""
    return "dev" if int(hashlib.sha1(conversation_id.encode()).hexdigest(), 16) % 2 == 0 else "test"


@cache
def _iard_file_turns(path: Path) -> dict[tuple[str, str], str]:
    """(conversation_id, turn index) -> the USER turn's text, as stored (HTML-escaped)."""
    with path.open(encoding="utf-8") as fh:
        conversations = json.load(fh)
    return {
        (c["conversation_id"], str(i)): t["utterance"].strip()
        for c in conversations
        for i, t in enumerate(c["conversation"])
        if t["participant"] == "USER"
    }


def _iard_turns() -> dict[tuple[str, str], str]:
    turns: dict[tuple[str, str], str] = {}
    for name in IARD_FILES:
        turns.update(_iard_file_turns(_find(f"iard/{name}", "iard", name)))
    return turns


@cache
def redial_dialogues(path: Path) -> dict[str, list[tuple[str, str]]]:
    """dialog_id -> [(role, text)] of a ReDial test conversation, role SEEKER or RECOMMENDER.

    The file (UniCRS's processing of ReDial's test split) holds one record per recommender
    reply: the conversation so far (``context``, a placeholder "" first, a speaker's
    consecutive messages joined) and the reply (``resp``). The longest context plus its reply
    is the conversation up to the recommender's last reply; speakers alternate, so reading
    back from that reply gives each turn's role (checked against IARD's roles on the 38
    conversations both hold: all agree)."""
    longest: dict[str, dict[str, Any]] = {}
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            held = longest.get(record["dialog_id"])
            if held is None or len(record["context"]) > len(held["context"]):
                longest[record["dialog_id"]] = record
    dialogues = {}
    for dialog_id, record in longest.items():
        context = list(record["context"])
        turns = [*(context[1:] if context and context[0] == "" else context), record["resp"]]
        last = len(turns) - 1
        dialogues[dialog_id] = [
            ("SEEKER" if (last - i) % 2 else "RECOMMENDER", text.strip())
            for i, text in enumerate(turns)
        ]
    return dialogues


def _redial_turns() -> dict[tuple[str, str], str]:
    path = _find(REDIAL_FILE, "redial", "test")
    return {
        (dialog_id, str(i)): text
        for dialog_id, turns in redial_dialogues(path).items()
        for i, (role, text) in enumerate(turns)
        if role == "SEEKER"
    }


def _raw_text(request_id: str, expected_hash: str) -> str:
    source, *key = request_id.split("/")
    if source == "redial":
        dialog_id, turn = key
        text = _redial_turns().get((dialog_id, turn))
        where, hint = REDIAL_FILE, "test"
    elif source == "iard":
        conversation_id, turn = key
        text = _iard_turns().get((conversation_id, turn))
        where, hint = "the IARD files", " and ".join(IARD_FILES)
    else:
        split, dialog_id, utt_id = key
        path = _find(f"{source}/{split}.tsv", source, split)
        text = _inspired_turns(path).get((dialog_id, utt_id))
        where, hint = str(path), split
    if text is None or text_hash(text) != expected_hash:
        raise ValueError(
            f"{request_id}: the labelled text is not in {where} (no such turn, or sha1 "
            f"differs); replace with the original {_SOURCE[source].format(split=hint)}"
        )
    # ReDial's web form stored what people typed HTML-escaped ("&quot;", "&gt;"): the hash
    # is of the stored text, the request is what they typed
    return html.unescape(text) if source in ("iard", "redial") else text


def _read_jsonl(path: Path, split: str | None) -> list[dict[str, Any]]:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, not {split!r}")
    with path.open(encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return [r for r in rows if split is None or r["split"] == split]


def _request(row: dict[str, Any], text: str) -> RealRequest:
    not_years = row.get("not_years")
    return RealRequest(
        id=row["id"],
        split=row["split"],
        text=text,
        actionable=bool(row["actionable"]),
        genres=tuple(tuple(group) for group in row["genres"]),
        not_genres=tuple(row["not_genres"]),
        year_min=row["year_min"],
        year_max=row["year_max"],
        not_years=(not_years[0], not_years[1]) if not_years else None,
        recent=bool(row["recent"]),
        films=tuple(row["films"]),
        not_films=tuple(row["not_films"]),
        soft=tuple(row["soft"]),
        note=row.get("note", ""),
    )


def load_real_requests(split: str | None = None) -> list[RealRequest]:
    """Labelled turns of real people, text read from the raw files (CorpusMissing if absent)."""
    rows = _read_jsonl(LABELS, split)
    return [_request(row, _raw_text(row["id"], row["sha1"])) for row in rows]


def load_iard_requests(split: str | None = None) -> list[RealRequest]:
    """Labelled IARD seeker turns, text read from the raw JSON (CorpusMissing if absent)."""
    rows = _read_jsonl(IARD_LABELS, split)
    for row in rows:
        if row["split"] != iard_split(row["id"].split("/")[1]):
            raise ValueError(f"{row['id']}: labelled {row['split']}, its id hashes elsewhere")
    return [_request(row, _raw_text(row["id"], row["sha1"])) for row in rows]


def _held_out_whole(path: Path, name: str, split: str | None) -> list[RealRequest]:
    """A held-out set's labelled turns: every row must be test (the set has no dev split)."""
    rows = _read_jsonl(path, split)
    for row in rows:
        if row["split"] != "test":
            raise ValueError(f"{row['id']}: {name} is held out whole, labelled {row['split']}")
    return [_request(row, _raw_text(row["id"], row["sha1"])) for row in rows]


def load_iard2_requests(split: str | None = None) -> list[RealRequest]:
    """IARD-2, the second held-out set: all of it is test (an empty dev split)."""
    return _held_out_whole(IARD2_LABELS, "IARD-2", split)


def load_redial_requests(split: str | None = None) -> list[RealRequest]:
    """ReDial-T, the third held-out set: all of it is test (an empty dev split)."""
    return _held_out_whole(REDIAL_LABELS, "ReDial-T", split)


def redial_available() -> bool:
    """Whether ReDial's processed test file is on this machine."""
    try:
        _find(REDIAL_FILE, "redial", "test")
    except CorpusMissing:
        return False
    return True


def iard_available() -> bool:
    """Whether both IARD files are on this machine."""
    try:
        for name in IARD_FILES:
            _find(f"iard/{name}", "iard", name)
    except CorpusMissing:
        return False
    return True


def load_paraphrases(split: str | None = None) -> list[RealRequest]:
    """Requests we wrote ourselves, labelled the same way; always available."""
    return [_request(row, row["text"]) for row in _read_jsonl(PARAPHRASES, split)]


def corpus_available() -> bool:
    """Whether every raw file the labels need is on this machine."""
    needed = {tuple(row["id"].split("/")[:2]) for row in _read_jsonl(LABELS, None)}
    try:
        for source, split in needed:
            _find(f"{source}/{split}.tsv", source, split)
    except CorpusMissing:
        return False
    return True
