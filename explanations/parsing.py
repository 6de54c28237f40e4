"""Rule-based reading of short preference texts: clauses, polarity, genres, years.

Used by cold-start profiles ("slow-burn thrillers, nothing with musicals"), list critiques
("less violent, more comedies", "nothing before 1980"), the chat service, and to split an
LLM's one-sentence profile into statements. Rules rather than a model because these texts
are short, the vocabulary is small, and the user must be able to predict what a sentence does.

A text is cut into clauses at commas, semicolons, "and", "but", "or". Each clause gets:

- a polarity: "avoids" after a negation cue ("no", "not", "nothing with", "avoid", "hate",
  "less", "fewer", "without", ...), else "likes". A clause with no cue inherits the previous
  clause's polarity after "and" or a comma ("no horror or gore"), and takes the opposite one
  after "but" ("no horror but thrillers"), though "but" turns a "yes" into a "no" only when
  the "yes" was said with a cue ("I love comedies but not slapstick"; "That might work. But
  they are more into cartoons" is no "no"), and "but also" adds. A new sentence starts
  afresh: "Not keen on those. Something more recent?" asks for recent films.
- a strength: "hard" for absolute cues (no, nothing, never, without, none, only), "soft" for
  everything else ("less", "hate", "love", "more"). Hard genre and year clauses become filters
  in critiques; soft ones become weighted statements.
- genres: words matched against the catalogue's genre vocabulary, with the synonyms in
  :data:`GENRE_SYNONYMS`. "violent" maps to Action, Crime and War: the MovieLens genres whose
  films are violent as a rule. Thriller is left out on purpose (many thrillers are not violent),
  and so is Horror ("scary" covers it). A synonym only maps to genres the vocabulary has.
- years: "before 1980", "after 1990", "since 1995", "newer than 1990", "older than 1970",
  "between 1980 and 1990", "the 90s" / "1990s". Under a negation the bound flips: "nothing
  before 1980" means from 1980 on.

:func:`parse_request` reads a chat message as constraints rather than tastes: each genre
*phrase* the user asks for is one group an item must meet ("romantic comedies" is Romance and
Comedy; "violent" is one phrase, so any of Action, Crime or War will do), and a bare year ("a
1985 comedy") is that year only.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

Strength = Literal["hard", "soft"]

# phrase (lower case) -> MovieLens genres. Multi-word phrases are matched before single words.
GENRE_SYNONYMS: dict[str, tuple[str, ...]] = {
    "action": ("Action",),
    "action films": ("Action",),
    "adventure": ("Adventure",),
    "adventures": ("Adventure",),
    "animation": ("Animation",),
    "animated": ("Animation",),
    "cartoon": ("Animation",),
    "cartoons": ("Animation",),
    "anime": ("Animation",),
    "children's": ("Children's",),
    "children": ("Children's",),
    "kids": ("Children's",),
    "family": ("Children's",),
    "comedy": ("Comedy",),
    "comedies": ("Comedy",),
    "funny": ("Comedy",),
    "comedic": ("Comedy",),
    "humour": ("Comedy",),
    "humor": ("Comedy",),
    "crime": ("Crime",),
    "gangster": ("Crime",),
    "heist": ("Crime",),
    "documentary": ("Documentary",),
    "documentaries": ("Documentary",),
    "drama": ("Drama",),
    "dramas": ("Drama",),
    "dramatic": ("Drama",),  # "dramatic thrillers": how the product writes Drama as a modifier
    "fantasy": ("Fantasy",),
    "film-noir": ("Film-Noir",),
    "film noir": ("Film-Noir",),
    "noir": ("Film-Noir",),
    "horror": ("Horror",),
    "scary": ("Horror",),
    "frightening": ("Horror",),
    "creepy": ("Horror",),
    "slasher": ("Horror",),
    "slashers": ("Horror",),
    "musical": ("Musical",),
    "musicals": ("Musical",),
    "mystery": ("Mystery",),
    "mysteries": ("Mystery",),
    "whodunit": ("Mystery",),
    "whodunits": ("Mystery",),
    "romance": ("Romance",),
    "romantic": ("Romance",),
    "romances": ("Romance",),
    "love stories": ("Romance",),
    "sci-fi": ("Sci-Fi",),
    "scifi": ("Sci-Fi",),
    "science fiction": ("Sci-Fi",),
    "science-fiction": ("Sci-Fi",),
    "thriller": ("Thriller",),
    "thrillers": ("Thriller",),
    "suspense": ("Thriller",),
    "war": ("War",),
    "war films": ("War",),
    "western": ("Western",),
    "westerns": ("Western",),
    "cowboy": ("Western",),
    "violent": ("Action", "Crime", "War"),
    "violence": ("Action", "Crime", "War"),
    "gory": ("Horror",),
    "gore": ("Horror",),
}

# genre -> the phrase a statement uses for it (embedded by MiniLM, shown to the user)
GENRE_PHRASE: dict[str, str] = {
    "Action": "action films",
    "Adventure": "adventure films",
    "Animation": "animated films",
    "Children's": "children's and family films",
    "Comedy": "comedies",
    "Crime": "crime films",
    "Documentary": "documentaries",
    "Drama": "dramas",
    "Fantasy": "fantasy films",
    "Film-Noir": "film noir",
    "Horror": "horror films",
    "Musical": "musicals",
    "Mystery": "mysteries",
    "Romance": "romantic films",
    "Sci-Fi": "science fiction",
    "Thriller": "thrillers",
    "War": "war films",
    "Western": "westerns",
}

# Longest cues first, so "nothing with" wins over "nothing" and "don't like" over "like".
_HARD_NEG = (
    "i don't want any", "i do not want any", "nothing with", "nothing that is", "nothing too",
    "nothing", "no more", "none of", "not any", "never", "without", "no", "anything but",
    "everything but", "anything except", "everything except",
    "don't show me", "do not show me", "don't want", "do not want", "not",
)  # fmt: skip
_SOFT_NEG = (
    "can't stand", "cannot stand", "can not stand", "don't like", "do not like", "doesn't like",
    "does not like", "don't enjoy", "not into", "isn't into", "not a fan of", "stay away from",
    "steer clear of", "avoids", "avoid", "avoiding", "hates", "hate", "dislikes", "dislike",
    "less", "fewer", "fewer of", "less of", "skip", "skips", "tired of", "bored by", "sick of",
    "no need of", "no need for", "not in the mood for", "not interested in", "not big on",
    "not a big fan of", "not much of a fan of", "not really into", "not too keen on",
    "not keen on", "i'm not into", "hated", "disliked", "didn't like", "did not like",
    "don't care for", "do not care for", "not crazy about", "don't love", "can't do",
)  # fmt: skip
# cues that only turn a genre down in a ranking ("less musicals"); the other soft negations
# ("I don't like horror") rule the genre out of a chat request
_RANK_DOWN = frozenset(["less", "fewer", "fewer of", "less of"])
_HARD_POS = ("only", "just")
_SOFT_POS = (
    "is drawn to", "drawn to", "has a soft spot for", "a soft spot for", "a fan of", "fan of",
    "is into", "into", "loves", "love", "likes", "like", "enjoys", "enjoy", "prefers", "prefer",
    "adores", "adore", "more of", "more", "favours", "favors", "want", "wants", "need", "needs",
    "could use", "give me",
    "show me", "mostly", "especially", "really likes", "gravitates towards", "gravitates toward",
    "appreciates", "appreciate", "is fond of", "fond of",
)  # fmt: skip
_LEAD = re.compile(
    r"^(?:(?:the user|this user|user|they|they're|they are|we|we're|we are|he|she|i'm|i am|i|"
    r"also|really|and|but|or|do|does|"
    r"please|just|generally|usually|tends to|seems to|definitely|absolutely|so|well|then|"
    r"actually|honestly)\s+)+",
    re.IGNORECASE,
)
_FILLER = re.compile(
    r"^(?:(?:a|an|the|any|anything|something|some|with|films with|movies with|films|movies|of|"
    r"that are|that is|which are|too|so|very|kind of|sort of)\s+)+",
    re.IGNORECASE,
)
_TRAIL = re.compile(r"\s+(?:please|thanks|thank you|pls|ok|okay|either|too)$", re.IGNORECASE)
# "what about" / "how about" / "instead" turn to something else, as "but" does: "I don't
# really like horror what about thrillers" is a "no" to horror and a "yes" to thrillers;
# "anything but horror" is one cue, not a clause and a turn
_SPLIT = re.compile(
    r"\s*(?:[,;.!?]|\s(?:and|but(?<!anything but)(?<!everything but)|or|though|although|yet|"
    r"except(?<!anything except)(?<!everything except)|whereas|while|what about|"
    r"how about|instead|rather)\s|&)\s*",
    re.IGNORECASE,
)
_CONTRAST = frozenset(
    ["but", "though", "although", "yet", "except", "whereas", "while", "what about",
     "how about", "instead", "rather"]
)  # fmt: skip
_STOP = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "of",
        "in",
        "on",
        "at",
        "to",
        "from",
        "for",
        "with",
        "by",
        "about",
        "that",
        "this",
        "those",
        "these",
        "it",
        "its",
        "is",
        "are",
        "be",
        "some",
        "any",
        "more",
        "less",
        "very",
        "so",
        "too",
        "really",
        "just",
        "also",
        # what is left of "I don't watch westerns much", "no horror anymore"
        "much",
        "anymore",
        "either",
        "often",
        "lately",
        "ever",
    ]
)
# "what about" / "how about" opening a clause after a comma or a full stop still turn to
# something else ("I don't like horror, what about thrillers?"); "but" there is left as it
# was, since "comedies, but also horror" adds to the list
_PROPOSE = frozenset(["what about", "how about"])
_CONTRAST_LEAD = re.compile(r"^(what about|how about)\s+", re.IGNORECASE)
_JUST_LEAD = re.compile(r"^(?:(?:and|but|i|we)\s+)*(?:just|only)\s+(?:a|an|some|the)\b", re.I)
# "but" opening a clause after a comma turns, as without the comma; "but also" adds
_TURN_LEAD = re.compile(r"^(but|though|although|yet|whereas)\s+(?!also\b|too\b)", re.IGNORECASE)
_TRAILING = re.compile(
    r"\s+(?:(?P<pos>(?:is|are)\s+(?:one of\s+)?(?:my|our)\s+(?:favou?rites?|thing|jam|go-to)|"
    r"(?:is|are)\s+(?:so\s+|really\s+|always\s+)?(?:great|awesome|amazing|the best|fun|cool|"
    r"good|fine|ok|okay))|"
    r"(?P<neg>(?:is|are)(?:n't| not)\s+(?:really\s+)?(?:my thing|for me|my cup of tea|"
    r"my favou?rites?)|(?:is|are|get|gets)\s+(?:so\s+|too\s+|really\s+|kind of\s+|pretty\s+)?"
    r"(?:boring|dull|awful|terrible|overrated|lame|annoying|stupid|cheesy|tedious)|"
    r"(?:freak|freaks|creep|creeps|gross|grosses)\s+me\s+out|(?:bore|bores)\s+me))\b.*$",
    re.IGNORECASE,
)
_BETWEEN = re.compile(r"between\s+(\d{4})\s+and\s+(\d{4})", re.IGNORECASE)


@dataclass(frozen=True)
class Clause:
    text: str  # the clause as written
    topic: str  # the clause without its cue words: what a statement embeds
    polarity: Literal["likes", "avoids"]
    strength: Strength
    explicit: bool  # had its own polarity cue (else inherited)
    genres: tuple[str, ...] = ()
    year_min: int | None = None
    year_max: int | None = None
    rest: str = ""  # the topic minus genre and year words: non-empty = free-text meaning
    joiner: str = ","  # the word that joined it to the previous clause ("and", "or", "but", ",")
    cue: str = ""  # the polarity cue it had ("" when inherited)

    @property
    def has_years(self) -> bool:
        return self.year_min is not None or self.year_max is not None


def _cue(text: str, cues: Sequence[str]) -> str | None:
    low = text.lower()
    for cue in sorted(cues, key=len, reverse=True):
        if low == cue or low.startswith(cue + " "):
            return cue
    return None


def genre_groups_in(
    text: str, vocabulary: Sequence[str]
) -> tuple[tuple[tuple[str, ...], ...], str]:
    """(one group of genres per genre phrase in ``text``, the text without those phrases).

    "violent romantic comedies" -> ((Action, Crime, War), (Romance,), (Comedy,)): a phrase
    naming several genres ("violent") is met by any of them. Only genres in ``vocabulary``."""
    vocab = set(vocabulary)
    low = " " + text.lower() + " "
    groups: list[tuple[str, ...]] = []
    # hyphenated chains of short parts are one word ("who-dun-it", "sci-fi")
    low = re.sub(r"\b[a-z]{1,3}(?:-[a-z]{1,3})+\b", lambda m: m.group(0).replace("-", ""), low)
    for phrase in sorted(GENRE_SYNONYMS, key=len, reverse=True):
        pattern = r"(?<![\w-])" + re.escape(phrase) + r"s?(?![\w-])"
        if re.search(pattern, low):
            genres = tuple(g for g in GENRE_SYNONYMS[phrase] if g in vocab)
            if genres:
                groups.append(genres)
                low = re.sub(pattern, " ", low)
    for g in vocabulary:  # the vocabulary's own spelling, e.g. a custom catalogue genre
        pattern = r"(?<![\w-])" + re.escape(g.lower()) + r"s?(?![\w-])"
        if re.search(pattern, low):
            groups.append((g,))
            low = re.sub(pattern, " ", low)
    return tuple(dict.fromkeys(groups)), " ".join(low.split())


def genres_in(text: str, vocabulary: Sequence[str]) -> tuple[tuple[str, ...], str]:
    """(genres mentioned, the text with those words removed). Only genres in ``vocabulary``."""
    groups, rest = genre_groups_in(text, vocabulary)
    return tuple(dict.fromkeys(g for group in groups for g in group)), rest


def _decade(word: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"(?:the\s+)?(?:(19|20)?(\d)0)'?s", word.strip().lower())
    if not m:
        return None
    century = m.group(1) or ("20" if m.group(2) in "012" else "19")
    start = int(century + m.group(2) + "0")
    return start, start + 9


def years_in(text: str, negated: bool) -> tuple[int | None, int | None, str]:
    """(year_min, year_max, text without the year phrase). Bounds are inclusive."""
    low = text.lower()
    m = _BETWEEN.search(low)
    if m:
        a, b = sorted((int(m.group(1)), int(m.group(2))))
        return a, b, (low[: m.start()] + low[m.end() :]).strip()
    m = re.search(
        r"(before|older than|earlier than|pre-?|prior to|until|up to|after|newer than|later than|"
        r"since|from|post-?)\s*(\d{4})(?:\s+on(?:wards?)?\b)?",
        low,
    )
    if m:
        word, year = m.group(1).strip().rstrip("-"), int(m.group(2))
        before = word in {
            "before",
            "older than",
            "earlier than",
            "pre",
            "prior to",
            "until",
            "up to",
        }
        rest = (low[: m.start()] + low[m.end() :]).strip()
        inclusive = word in {"since", "from", "until", "up to"}
        if before:
            bound = year if inclusive else year - 1
            # "nothing before 1980" keeps 1980 on; "before 1980" keeps up to 1979
            return (year, None, rest) if negated else (None, bound, rest)
        bound = year if inclusive else year + 1
        return (None, year, rest) if negated else (bound, None, rest)
    m = re.search(r"(?:(?:from|in|of)\s+)?((?:the\s+)?(?:19|20)?\d0'?s)\b", low)
    if m and not negated:
        decade = _decade(m.group(1))
        if decade:
            return decade[0], decade[1], (low[: m.start()] + low[m.end() :]).strip()
    return None, None, text


def _clean(topic: str) -> str:
    topic = _FILLER.sub("", topic.strip())
    topic = _TRAIL.sub("", topic)
    return topic.strip(" .,:;!?-\"'")


def _leftover(text: str) -> str:
    """What a clause says beyond its genre and year words ("" when only filler is left)."""
    rest = _clean(re.sub(r"\b(?:films?|movies?|ones|stuff|kind|genre|please)\b", " ", text))
    return "" if all(w in _STOP for w in rest.lower().split()) else rest


# "both scary and funny" is one wish for films that are both: the "and" joins no clauses
# ("that's both", "is both"); "I like both comedy and horror" likes each, a list
_BOTH = re.compile(r"(?<=(?:'s|is|be) )both\s+([\w'-]+(?:\s+[\w'-]+)?)\s+and\s+", re.IGNORECASE)


_Polarity = tuple[Literal["likes", "avoids"], Strength, bool]  # (..., said with a cue)
_SENTENCE_END = frozenset([".", "!", "?"])
# "but also" / "but still" add to what was said ("laugh, but also be entertained by action")
_ADDITIVE = re.compile(r"^(?:also|too|still|as well)\b", re.IGNORECASE)


def _parts(text: str) -> list[tuple[str, str]]:
    """(the joiner before it, the clause) for each clause of ``text``."""
    protected = _BETWEEN.sub(lambda m: f"between {m.group(1)} to {m.group(2)}", text)
    protected = _BOTH.sub(r"\1 ", protected)
    parts: list[tuple[str, str]] = []
    pos, joiner = 0, ","
    for m in _SPLIT.finditer(protected):
        parts.append((joiner, protected[pos : m.start()]))
        joiner, pos = m.group(0).strip().lower() or ",", m.end()
    parts.append((joiner, protected[pos:]))
    return parts


def _cued(
    body: str, joiner: str, previous: _Polarity | None, just: bool
) -> tuple[Literal["likes", "avoids"], Strength, bool, str | None]:
    """(polarity, strength, explicit, cue) of a clause: its own cue, else what "just", a
    "what about", a contrast or the clause before it says."""
    for cues, polarity, strength in (
        (_HARD_NEG, "avoids", "hard"),
        (_SOFT_NEG, "avoids", "soft"),
        (_HARD_POS, "likes", "hard"),
        (_SOFT_POS, "likes", "soft"),
    ):
        if cue := _cue(body, cues):
            return polarity, strength, True, cue  # type: ignore[return-value]
    if just:
        return "likes", "soft", True, None
    if joiner in _PROPOSE:  # "what about thrillers?" asks for them, after a yes or a no
        return "likes", "soft", False, None
    if previous is not None and joiner in _CONTRAST and (previous[0] == "avoids" or previous[2]):
        return ("likes" if previous[0] == "avoids" else "avoids"), "soft", False, None
    if previous is not None and joiner not in _CONTRAST:
        return previous[0], previous[1], False, None
    return "likes", "soft", False, None


# A negation inside a clause scopes over what follows it, as in NegEx ("maybe something not
# animated", "as long as it is not horror", "I really don't watch westerns"), and a cue after
# other words is still the clause's cue ("particularly I like thrillers"): the last cue before
# the clause's first genre word decides, not only a cue at its start.
_NEGATOR = re.compile(
    r"\b(?:(?:do|does|did|can|could|would|will|should|is|are|was|were|wo)(?:n't|\s+not)|"
    r"cannot|can not|never|not|no|nothing)\b",
    re.IGNORECASE,
)
# a negation of something other than taste: "not seen", "don't mind", "not sure", "no idea"
_NOT_TASTE = re.compile(
    r"\s+(?:(?:really|even|actually|ever|yet|have|had)\s+)*(?:seen|watched|heard|"
    r"sure(?!\s+(?:if|whether|about|i|we)\b)|only|just|"
    r"mind|know|bad|been|yet|matter|need|have|worry|problem|idea|doubt|wait|care(?!\s+for)|call|"
    r"one of|more than|less than|so much|that much|too sure|much of a problem|sound|"
    r"sounds|seem|seems|look|looks|mean|think so|remember|recall|better|beats|stop|stopped|"
    r"important|a big deal|necessary|required|picky)\b",
    re.IGNORECASE,
)
# "I don't think I want anything scary": the negation covers the wish that follows
_NEG_RAISING = re.compile(r"\s+(?:really\s+)?(?:think|believe|guess|feel like|suppose)\b", re.I)
_ADVERBS = (
    r"(?:\s+(?:really|even|ever|actually|usually|generally|typically|much|particularly|too|very|"
    r"so|overly|like|want to|wanna|to))*"
)
# a taste verb after the negation belongs to it ("don't watch", "can't stand", "not into")
_NEGATED_VERB = re.compile(
    _ADVERBS + r"\s+(?:like|love|enjoy|watch|want|care for|stand|handle|do|dig|go for|get into|"
    r"into|a fan of|looking for|look for|in the mood for|interested in|need|prefer|see)\b",
    re.IGNORECASE,
)
# a new predication ("no, I love comic book movies"; "but particularly I like thrillers")
_SUBJECT_CUE = re.compile(
    r"\b(?:i|we|i'd|we'd|i'm|we're|i would|we would)\s+(?:(?:really|also|especially|"
    r"particularly|mostly|just|do|still|definitely|would)\s+)*(?:like|love|enjoy|prefer|want|"
    r"adore|need|could use|am after|'m after|am into|are into|dig|am interested in|"
    r"are interested in|am looking for|are looking "
    r"for|am in the mood for|'m into|'m looking for|'m in the mood for|'m interested in)\b"
    r"|\b(?:particularly|especially|mostly|preferably|ideally)\b"
    r"|\b(?:would|'d)\s+(?:rather\s+)?(?:prefer|like|love|enjoy)\b"
    r"|\b(?:could|would|'d)\s+(?:also\s+|really\s+)?(?:go for|do with|use)\b"
    r"|\bfavou?rites?\s+(?:genres?\s+)?(?:are|is|would be|include)\b",
    re.IGNORECASE,
)


_ACCEPTANCE = re.compile(
    r"^(?:(?:i|we)\s+)?(?:don't|do not|wouldn't really)\s+mind\b|^(?:(?:i'm|i am|we're|we are)\s+)?"
    r"(?:fine|ok|okay|open|good)\s+(?:with|to)\b",
    re.IGNORECASE,
)
_YOU_BEFORE = re.compile(r"\byou(?:'re|\s+are|\s+do|'d|\s+would)?\s*$", re.IGNORECASE)
_NEW_SUBJECT = re.compile(
    r"^(?:i|we|they|my|our|he|she)\s+(?!(?:don't|do not|never|can't|cannot|won't|hate|dislike|"
    r"avoid)\b)\w+",
    re.IGNORECASE,
)
_ANSWER_NO = re.compile(r"\s+(?:i|we|i'm|i'd|i've|it|that|thanks|thank)\b", re.IGNORECASE)
# a dislike said in words after others ("let's stay away from romances", "I'm so tired of
# superhero films"): the several-word cues of _SOFT_NEG and the verbs of dislike
_DISLIKE_PHRASE = re.compile(
    r"\b(?:"
    + "|".join(
        re.escape(c)
        for c in sorted(_SOFT_NEG, key=len, reverse=True)
        if " " in c and "n't" not in c
    )
    + r"|hate|hated|hates|dislike|disliked|dislikes|avoid|avoiding)\b",
    re.IGNORECASE,
)


@lru_cache(maxsize=16)
def _genre_word(vocabulary: tuple[str, ...]) -> re.Pattern[str]:
    words = {*GENRE_SYNONYMS, *(g.lower() for g in vocabulary)}
    alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternation})s?(?![\w-])", re.IGNORECASE)


def _inner_cue(body: str, vocabulary: Sequence[str]) -> tuple[_Polarity, int, int] | None:
    """((polarity, strength, True), start, end) of the cue that governs a clause with none at
    its start: the last one before its first genre word (see above); None when it has none."""
    first = _genre_word(tuple(vocabulary)).search(body)
    limit = first.start() if first else len(body)
    events: list[tuple[int, int, _Polarity, bool]] = []  # (start, end, polarity, neg-raising)
    for m in _NEGATOR.finditer(body, 0, limit):
        after = body[m.end() :]
        if _NOT_TASTE.match(after) or _YOU_BEFORE.search(body, 0, m.start()):
            continue  # no taste, or the other person's ("if you're not into sci-fi")
        if raised := _NEG_RAISING.match(after):
            events.append((m.start(), m.end() + raised.end(), ("avoids", "soft", True), True))
        elif verb := _NEGATED_VERB.match(after):
            events.append((m.start(), m.end() + verb.end(), ("avoids", "soft", True), False))
        else:
            events.append((m.start(), m.end(), ("avoids", "hard", True), False))
    for m in _SUBJECT_CUE.finditer(body, 0, limit):
        events.append((m.start(), m.end(), ("likes", "soft", True), False))
    for m in _DISLIKE_PHRASE.finditer(body, 0, limit):
        if not _YOU_BEFORE.search(body, 0, m.start()):
            events.append((m.start(), m.end(), ("avoids", "soft", True), False))
    chosen: tuple[_Polarity, int, int] | None = None
    raised_before = False
    for start, end, polarity, raising in sorted(events):
        if chosen is not None and start < chosen[2]:
            continue  # inside the span of the cue before it ("don't like" holds "like")
        if polarity[0] == "likes" and raised_before:
            chosen = (chosen[0], start, end) if chosen else None  # still under "don't think"
            continue
        raised_before = raised_before or raising
        chosen = (polarity, start, end)
    return chosen


def _topic(body: str, cue: str | None, polarity: str) -> tuple[str, Literal["likes", "avoids"]]:
    """The clause without its cue; a second cue after the first ("really don't like", "love
    more") is folded in."""
    topic = body[len(cue) :] if cue else body
    for cues, pol in ((_SOFT_NEG, "avoids"), (_HARD_NEG, "avoids"), (_SOFT_POS, None)):
        if (again := _cue(topic.strip(), cues)) and len(again) > 1:
            topic = topic.strip()[len(again) :]
            if pol == "avoids":
                polarity = "avoids"
    return _clean(topic), polarity  # type: ignore[return-value]


def split_clauses(text: str, vocabulary: Sequence[str] = ()) -> list[Clause]:
    """Clauses of ``text`` with polarity, strength, genres and years (see module doc)."""
    clauses: list[Clause] = []
    previous: _Polarity | None = None
    for joiner, raw in _parts(text):
        raw = raw.strip()
        if lead := _CONTRAST_LEAD.match(raw):
            joiner, raw = lead.group(1).lower(), raw[lead.end() :]
        elif turn := _TURN_LEAD.match(raw):  # "I don't like horror, but sci-fi is great"
            joiner, raw = turn.group(1).lower(), raw[turn.end() :]
        # "just" / "only" after a no is a yes ("no musicals, just a fun comedy"), which the
        # leading filler words below would otherwise drop
        just = bool(_JUST_LEAD.match(raw))
        body = _LEAD.sub("", raw).strip()
        body = re.sub(r"between (\d{4}) to (\d{4})", r"between \1 and \2", body)
        if not body:
            continue
        if joiner in _SENTENCE_END or _NEW_SUBJECT.match(raw):
            # a new sentence, or a clause with its own subject ("no horror please, we have
            # kids"): no polarity carried over
            previous = None
        elif joiner in _CONTRAST and _ADDITIVE.match(raw):
            joiner = "and"
        polarity, strength, explicit, cue = _cued(body, joiner, previous, just)
        if cue == "no" and _ANSWER_NO.match(body[2:]):
            # "no I love comic book movies": a "no" answering the question before, then
            # the clause's own words
            body = body[2:].strip()
            polarity, strength, explicit, cue = _cued(body, joiner, previous, just)
        if _ACCEPTANCE.match(body):
            previous = None  # "I don't mind older movies": fine with them, not asking for them
            continue
        if cue in ("not", "no", "never") and _NOT_TASTE.match(body[len(cue) :]):
            previous = None  # "not sure yet", "no idea": no taste said, nothing to pass on
            continue
        if cue is None and (inner := _inner_cue(body, vocabulary)) is not None:
            (polarity, strength, explicit), start, end = inner
            body = body[start:]
            cue = body[: end - start]
        if cue is None and (tail := _TRAILING.search(body)):  # "comedy is my favourite"
            polarity = "likes" if tail.group("pos") else "avoids"
            strength, explicit, body = "soft", True, body[: tail.start()]
        topic, polarity = _topic(body, cue, polarity)
        y_min, y_max, without_years = years_in(topic, negated=polarity == "avoids")
        genres, rest = genres_in(without_years, vocabulary) if vocabulary else ((), without_years)
        rest = _leftover(rest)
        if not topic and not genres and y_min is None and y_max is None:
            continue
        clauses.append(
            Clause(raw, topic or body, polarity, strength, explicit, genres, y_min, y_max, rest,
                   joiner, (cue or "").lower())
        )  # fmt: skip
        # a year-only clause is not the head of a list: "nothing after 2000, and funny" must
        # not hand its negation to "funny"
        year_only = (y_min is not None or y_max is not None) and not genres and not rest
        previous = None if year_only else (polarity, strength, explicit)
    return clauses


@dataclass
class ParsedPreferences:
    """What a preference text asks for, before it is written into a profile."""

    statements: list[tuple[str, Literal["likes", "avoids"]]] = field(default_factory=list)
    include_genres: list[str] = field(default_factory=list)
    exclude_genres: list[str] = field(default_factory=list)
    year_min: int | None = None
    year_max: int | None = None


def parse_preferences(
    text: str, vocabulary: Sequence[str], hard_genre_filters: bool = True
) -> ParsedPreferences:
    """Clauses -> statements and filters.

    - year phrases -> year bounds (always a filter: a year is a fact, not a taste);
    - with ``hard_genre_filters``: "no/nothing/never X" on a recognised genre -> exclude filter,
      "only X" -> include filter; "less/more/love/hate X" -> a statement about X;
    - whatever a clause says beyond genres and years -> a free-text statement.
    """
    out = ParsedPreferences()
    for c in split_clauses(text, vocabulary):
        if c.year_min is not None:
            out.year_min = c.year_min
        if c.year_max is not None:
            out.year_max = c.year_max
        # "no rom-coms" rules out films that are both, which no genre filter can say: it
        # stays a statement (a strong "avoids" holds exactly those films down)
        compound = len(genre_groups_in(c.topic, vocabulary)[0]) > 1
        if c.genres and hard_genre_filters and c.strength == "hard" and not compound:
            target = out.exclude_genres if c.polarity == "avoids" else out.include_genres
            target.extend(g for g in c.genres if g not in target)
            if c.rest:
                out.statements.append((c.rest, c.polarity))
            continue
        if c.genres and not c.rest:
            topic = genre_words(c.genres)
            if c.topic and not c.has_years:
                topic = c.topic  # keep the user's wording ("slow-burn thrillers")
            out.statements.append((topic, c.polarity))
        elif c.rest or (c.topic and not c.has_years):
            text_ = c.topic
            if c.has_years:  # the years are a statement of their own: "fun comedies" is left
                text_ = f"{c.rest} {genre_words(c.genres)}".strip()
            if text_:
                out.statements.append((text_, c.polarity))
    return out


@dataclass(frozen=True)
class ParsedRequest:
    """A chat message read as constraints (:func:`parse_request`)."""

    genre_groups: tuple[tuple[str, ...], ...] = ()  # an item must have a genre of every group
    only_genres: tuple[str, ...] = ()  # "only westerns": also a filter if the chat is kept
    exclude_genres: tuple[str, ...] = ()
    year_min: int | None = None  # inclusive
    year_max: int | None = None
    statements: tuple[tuple[str, Literal["likes", "avoids"]], ...] = ()


# "crime films without horror" is one clause to the splitter; the negation inside it must not
# make Horror a genre the user asks for, so it becomes a clause of its own
_INNER_NEGATION = re.compile(
    r"\s+(?:without|with no|excluding|minus|other than|apart from|"
    r"(?:that|which|who)(?:'s|\s+is|\s+are|'re)\s+not|(?:that|which)\s+(?:isn't|aren't))\s+",
    re.IGNORECASE,
)
# In a request "from 1985" names that year ("a comedy from 1985"), and "from 1985 to 1990" a
# range; :func:`years_in` reads "from 1985" as "from 1985 on", as a profile statement means.
_FROM_TO = re.compile(r"\bfrom\s+(\d{4})\s*(?:to|until|-|–)\s*(\d{4})\b", re.IGNORECASE)
_FROM_YEAR = re.compile(r"\bfrom\s+(\d{4})\b(?!\s+on)", re.IGNORECASE)
# "love" is a cue ("I love thrillers"), so the cue reader would leave "stories" of a request
# for love stories
_LOVE_STORIES = re.compile(r"\blove stor(?:y|ies)\b", re.IGNORECASE)
# a year on its own ("a 1985 comedy", "films of 1985"), once ranges and decades are read
# A year is a time phrase only in a time context ("in 1985", "a 1985 comedy", "1985 films"):
# "Dracula 2000" is a title, not a year
_SINGLE_YEAR = re.compile(
    r"(?:\b(?:in|of|from|released in|made in|around|circa)\s+|\b(?:a|an|the)\s+)"
    r"((?:18|19|20)\d\d)(?![\w'’-])|(?<![A-Za-z] )(?<![\w-])((?:18|19|20)\d\d)(?=\s+[a-z])",
    re.IGNORECASE,
)


# "a drama, with some comedy": a clause that opens with "with" qualifies the film before it,
# so its genres apply too (a list of alternatives would read "a drama or a comedy")
_WITH_LEAD = re.compile(r"^with\b", re.IGNORECASE)


# "a rom-com or a mystery or a western or ..." multiplies out; past this many groups the
# alternatives are read as one group of all their genres (wider, never narrower)
MAX_GROUPS = 8


def either(a: Sequence[tuple[str, ...]], b: Sequence[tuple[str, ...]]) -> list[tuple[str, ...]]:
    """The groups an item must meet to be one alternative *or* the other, each alternative
    being groups that all apply: "a rom-com or a mystery" is (Romance and Comedy) or Mystery,
    that is (Romance or Mystery) and (Comedy or Mystery). A group implied by another is
    dropped, so "romance or rom-coms" stays Romance (the wider alternative)."""
    product = [tuple(dict.fromkeys((*x, *y))) for x in a for y in b]
    if len(product) > MAX_GROUPS:
        return [tuple(dict.fromkeys(g for grp in (*a, *b) for g in grp))]
    kept = [
        g
        for i, g in enumerate(product)
        if not any(set(o) < set(g) or (set(o) == set(g) and j < i) for j, o in enumerate(product))
    ]
    return kept


def genre_words(genres: Sequence[str]) -> str:
    """How a clause of genres is written back as a statement ("thrillers and westerns"):
    onboarding matches these words to keep a clause's genres and decade one statement."""
    return " and ".join(GENRE_PHRASE.get(g, g) for g in genres)


_FILM_NOUN = re.compile(r"\b(?:movies?|films?|flicks?)\b", re.IGNORECASE)
# "a kids movie" ending a piece of text: an article, at most two words, then the noun
_OWN_ARTICLE = re.compile(r"\b(?:a|an|another)\s+(?:[\w'-]+\s+){1,2}$", re.IGNORECASE)
_QUALIFIES = re.compile(r"^\s*(?:that|which|who|with|also|but also|and also)\b", re.IGNORECASE)


def _separate_films(body: str, vocabulary: Sequence[str]) -> list[tuple[str, ...]] | None:
    """The groups of "a kids movie followed by a horror flick": two films, each with its own
    article and genre, are alternatives, not one film of both genres ("a horror movie that is
    also a comedy" and "a scary comedy film" stay one film). None when it is one film."""
    pieces = _FILM_NOUN.split(body)[:-1]  # the text before each film noun
    films = []
    for k, piece in enumerate(pieces):
        groups, _ = genre_groups_in(piece, vocabulary)
        if not groups:
            continue  # "all kinds of movies": no kind named
        tail = _OWN_ARTICLE.search(piece)
        if tail is None or (k and _QUALIFIES.match(piece)):
            return None
        if genre_groups_in(tail.group(0), vocabulary)[0] != groups:
            return None  # genre words away from the noun: not "a <genre> movie"
        films.append(groups)
    if len(films) < 2:
        return None
    out: list[tuple[str, ...]] = list(films[0])
    for groups in films[1:]:
        out = either(out, groups)
    return out


def _clause_facts(
    c: Clause, vocabulary: Sequence[str]
) -> tuple[int | None, int | None, str, list[tuple[str, ...]], str]:
    """(year_min, year_max, body without year words, genre groups, leftover words) of a
    request's clause; a bare year in a "likes" clause is that year only ("a 1985 comedy")."""
    lo, hi, body = years_in(c.topic, negated=c.polarity == "avoids")
    clause_groups, rest = genre_groups_in(body, vocabulary)
    if len(clause_groups) > 1 and (films := _separate_films(body, vocabulary)):
        clause_groups = tuple(films)
    single = _SINGLE_YEAR.search(body) if c.polarity == "likes" else None
    if lo is None and hi is None and single:
        lo = hi = int(single.group(1) or single.group(2))
        body = (body[: single.start()] + body[single.end() :]).strip()
        rest = _SINGLE_YEAR.sub(" ", rest)
    return lo, hi, body, list(clause_groups), _leftover(rest)


_Bounds = tuple[int | None, int | None, int | None, int | None]


def _merged_years(
    joiner: str, lo: int | None, hi: int | None, year_min: int | None, year_max: int | None
) -> _Bounds:
    """(lo, hi, year_min, year_max) once a clause's bounds meet the message's so far. A later
    bound that contradicts an earlier one after a contrast is a change of mind ("the classics
    are better, but I would like something new"): the later one stands; said as an addition
    ("I enjoy classic films but also new ones") neither is a wish; two ranges as alternatives
    ("from the 50s or 60s") are their span."""
    turned = joiner in _CONTRAST
    ranges = None not in (lo, hi, year_min, year_max)
    if joiner in ("or", ",", "and", "&") and ranges:
        lo, hi = min(lo, year_min), max(hi, year_max)  # type: ignore[type-var]
    if lo is not None and year_max is not None and lo > year_max:
        year_max = None
        year_min, lo = (year_min, lo) if turned else (None, None)
    if hi is not None and year_min is not None and hi < year_min:
        year_min = None
        year_max, hi = (year_max, hi) if turned else (None, None)
    return lo, hi, year_min, year_max


def parse_request(text: str, vocabulary: Sequence[str]) -> ParsedRequest:
    """What a chat message asks for: genre groups, exclusions, a year range, statements.

    - every genre phrase of a "likes" clause is a group ("a funny animated film" -> Comedy
      and Animation); clauses joined by "or" share one group ("comedies or dramas");
    - "no/nothing/not X" on a genre excludes it, "less X" is an "avoids" statement, as in
      :func:`parse_preferences`; an exclusion never removes a genre the same message asks for
      ("something scary but not gory": Horror, and "gory" ranks down as a statement);
    - year phrases as in :func:`years_in`, plus a bare year meaning that year only;
    - the user's words beyond genres and years (or the genre words themselves) are statements,
      so ranking inside the constraints still follows the wording ("slow-burn thrillers").
    """
    groups: list[tuple[str, ...]] = []
    only: list[str] = []
    exclude: list[str] = []
    year_min: int | None = None
    year_max: int | None = None
    statements: list[tuple[str, Literal["likes", "avoids"]]] = []
    softened: list[tuple[tuple[str, ...], str]] = []  # (excluded genres, the clause's words)
    previous_groups: list[tuple[str, ...]] = []  # the last "likes" clause's groups, for "or"
    text = _LOVE_STORIES.sub("romances", text)
    text = _FROM_TO.sub(r"between \1 and \2", text)
    text = _FROM_YEAR.sub(r"of \1", text)
    for c in split_clauses(_INNER_NEGATION.sub(", without ", text), vocabulary):
        lo, hi, body, clause_groups, rest = _clause_facts(c, vocabulary)
        lo, hi, year_min, year_max = _merged_years(c.joiner, lo, hi, year_min, year_max)
        year_min = lo if lo is not None else year_min
        year_max = hi if hi is not None else year_max
        if clause_groups and c.polarity == "likes":
            # "horror, romance, comedy" and "comedies or dramas" list alternatives: a film
            # of any of them will do; genre words inside one clause ("crime dramas") all apply
            alternative = c.joiner in {"or", ",", "and", "&"} or c.joiner in _PROPOSE
            if alternative and previous_groups and not _WITH_LEAD.match(c.text):
                merged_groups = either(previous_groups, clause_groups)
                groups[-len(previous_groups) :] = merged_groups
                previous_groups = merged_groups
            else:
                groups.extend(clause_groups)
                previous_groups = list(clause_groups)
            if c.strength == "hard":
                only.extend(g for grp in clause_groups for g in grp)
            wording = _clean(body) or genre_words(clause_groups[0])
            statements.append((wording, "likes"))
            continue
        previous_groups = []
        genres = tuple(g for grp in clause_groups for g in grp)
        rules_out = c.strength == "hard" or (c.polarity == "avoids" and c.explicit
                                             and c.cue not in _RANK_DOWN)  # fmt: skip
        if genres and rules_out:  # "no musicals", "not too violent", "I don't like horror"
            exclude.extend(genres)
            softened.append((genres, c.topic))
            if rest:
                statements.append((rest, c.polarity))
        elif genres and not rest:  # "less musicals"
            has_years = lo is not None or hi is not None
            wording = genre_words(genres) if has_years else c.topic
            statements.append((wording, c.polarity))
        elif rest or (c.topic and lo is None and hi is None):
            wording = rest if lo is not None or hi is not None else _clean(body) or c.topic
            if wording:
                statements.append((wording, c.polarity))
    asked = {g for grp in groups for g in grp}
    statements += [(words, "avoids") for genres, words in softened if asked & set(genres) and words]
    return ParsedRequest(
        genre_groups=tuple(dict.fromkeys(groups)),
        only_genres=tuple(dict.fromkeys(only)),
        exclude_genres=tuple(g for g in dict.fromkeys(exclude) if g not in asked),
        year_min=year_min,
        year_max=year_max,
        statements=tuple(dict.fromkeys(statements)),
    )
