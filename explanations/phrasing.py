"""Words for explanations: genre phrases a person would write, safe quotes, lists, variety.

"Face/Off (1997) is a Action/Sci-Fi/Thriller film" is what joining catalogue labels gives;
"Face/Off (1997), an action sci-fi thriller" is what a person writes. :func:`genre_phrase`
picks a head noun by a fixed priority (thriller, comedy, drama, ...), puts at most two other
genres in front of it as modifiers, in the order English puts them ("romantic" before
"animated" before "family" before the rest), and chooses "a" or "an".

User-written text is only ever shown as a quote attributed to the user; :func:`quotable`
makes it safe to quote: links removed, length capped, and no quote at all of a text that names
a film outside the evidence.
"""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Hashable, Iterable, Sequence

from explanations.titles import TitleIndex, ungrounded

# genre -> (modifier, singular noun, plural noun)
GENRE_WORDS: dict[str, tuple[str, str, str]] = {
    "Action": ("action", "action film", "action films"),
    "Adventure": ("adventure", "adventure film", "adventure films"),
    "Animation": ("animated", "animated film", "animated films"),
    "Children's": ("family", "family film", "family films"),
    "Comedy": ("comedy", "comedy", "comedies"),
    "Crime": ("crime", "crime film", "crime films"),
    "Documentary": ("documentary", "documentary", "documentaries"),
    "Drama": ("dramatic", "drama", "dramas"),
    "Fantasy": ("fantasy", "fantasy film", "fantasy films"),
    "Film-Noir": ("noir", "film noir", "noir films"),
    "Horror": ("horror", "horror film", "horror films"),
    "Musical": ("musical", "musical", "musicals"),
    "Mystery": ("mystery", "mystery", "mysteries"),
    "Romance": ("romantic", "romance", "romances"),
    "Sci-Fi": ("sci-fi", "sci-fi film", "sci-fi films"),
    "Thriller": ("thriller", "thriller", "thrillers"),
    "War": ("war", "war film", "war films"),
    "Western": ("western", "western", "westerns"),
}
# which genre names the thing when a film has several: "an action sci-fi thriller"
_HEAD_PRIORITY = (
    "Thriller", "Comedy", "Drama", "Western", "Musical", "Documentary", "Mystery", "Horror",
    "Romance", "War", "Adventure", "Action", "Sci-Fi", "Fantasy", "Crime", "Children's",
    "Animation", "Film-Noir",
)  # fmt: skip
# adjective order: qualities ("romantic", "dramatic") first, then "animated", then "family"
_MODIFIER_RANK = {"Romance": 0, "Drama": 0, "Animation": 1, "Children's": 2}
MAX_GENRE_WORDS = 3

_URL = re.compile(
    r"(?:https?://|www\.)\S+"  # http(s) and www. links
    r"|\b(?:javascript|data|vbscript|file):\S*"  # script and data URIs
    r"|\S*@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|\b[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b(?:/\S*)?",  # host names of any TLD, with a path
    re.IGNORECASE,
)
_QUOTE_CHARS = re.compile(r"[\"“”«»<>*`]")
# markup a curated description may carry (pasted from a web page or a wiki): comments and
# script/style blocks go whole, other tags go leaving their text, a Markdown link or image
# leaves its words, so no address or tag reaches a prompt (a <note> in a description would
# pose as the user's own words)
_MARKUP = re.compile(
    r"<!--.*?(?:-->|$)|<(script|style)\b.*?(?:</\1\s*>|$)|</?[a-z!?][^<>]*(?:>|$)",
    re.IGNORECASE | re.DOTALL,
)
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)?")
_SPACE_BEFORE_STOP = re.compile(r"\s+([.,;:!?])")
MAX_QUOTE_CHARS = 60


def _words(genre: str) -> tuple[str, str, str]:
    low = genre.lower()
    return GENRE_WORDS.get(genre, (low, f"{low} film", f"{low} films"))


def article(phrase: str) -> str:
    return "an" if phrase[:1].lower() in "aeiou" else "a"


def genre_noun(genres: Sequence[str], plural: bool = False) -> str:
    """ "action sci-fi thriller" (no article); "" without genres. At most three genre words."""
    genres = list(dict.fromkeys(genres))
    if not genres:
        return ""
    rank = {g: i for i, g in enumerate(_HEAD_PRIORITY)}
    head_genre = min(genres, key=lambda g: (rank.get(g, len(rank)), genres.index(g)))
    rest = [g for g in genres if g != head_genre]
    noun, used = _words(head_genre)[2 if plural else 1], 1
    if head_genre == "Comedy" and "Drama" in rest:  # "a comedy drama", not "a dramatic comedy"
        noun, used = ("comedy dramas" if plural else "comedy drama"), 2
        rest.remove("Drama")
    modifiers = rest[: MAX_GENRE_WORDS - used]
    modifiers.sort(key=lambda g: (_MODIFIER_RANK.get(g, 3), genres.index(g)))
    return " ".join([*(_words(g)[0] for g in modifiers), noun])


def genre_phrase(genres: Sequence[str]) -> str:
    """ "an action sci-fi thriller", "a family comedy drama"; "" without genres."""
    noun = genre_noun(genres)
    return f"{article(noun)} {noun}" if noun else ""


def genre_plural(genres: Sequence[str]) -> str:
    """ "animated films", "comedies and westerns": how the product names a genre taste."""
    return join([_words(g)[2] for g in dict.fromkeys(genres)])


def join(names: Sequence[str]) -> str:
    """ "A", "A and B", "A, B and C"; repeated names are said once."""
    names = list(dict.fromkeys(names))
    if not names:
        return ""
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def quotable(text: str, index: TitleIndex, allowed: Iterable[int]) -> str:
    """``text`` as it may be quoted back to its writer: links and quote marks removed, at most
    ``MAX_QUOTE_CHARS`` (cut at a word). "" if nothing is left, or if it names a film that is
    not evidence: an explanation may not name it, and "a title won 12 Oscars" is no quote."""
    if ungrounded(index, text, allowed):
        return ""
    text = unlinked(text)
    if len(text) > MAX_QUOTE_CHARS:
        cut = text[:MAX_QUOTE_CHARS].rsplit(" ", 1)[0].rstrip(" ,;:-")
        text = cut + "…"
    return text


def unlinked(text: str) -> str:
    """``text`` with links and quote marks removed, whitespace collapsed: what a reply may
    quote of a text that is not its own (a catalogue description, the user's words)."""
    return " ".join(_QUOTE_CHARS.sub("", _URL.sub(" ", text)).split()).strip(" ,;:-")


def unmarked(text: str) -> str:
    """A catalogue text as it may enter an LLM prompt: entities decoded, then markup (tags,
    comments, Markdown links and images) and links removed (:func:`unlinked`), so the model
    reads neither an address it could repeat nor a tag it could take for the prompt's own."""
    text = html.unescape(text)  # "&lt;a href=...&gt;" is a tag once decoded
    text = unlinked(_MD_LINK.sub(r"\1", _MARKUP.sub(" ", text)))
    return _SPACE_BEFORE_STOP.sub(r"\1", text)  # "a <b>heist</b>." -> "a heist ." -> "a heist."


def pick(key: Hashable, salt: str, n: int) -> int:
    """A stable choice among ``n`` phrasings: the same card always reads the same, and the
    cards of one list (different keys) do not all share one shape."""
    digest = hashlib.sha256(f"{key}|{salt}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % max(n, 1)


def lower_first(sentence: str) -> str:
    """For a sentence that continues after a colon (ours all start with a common word)."""
    return sentence[:1].lower() + sentence[1:]
