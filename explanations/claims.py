"""Claim checks on an LLM explanation: every claim must be in the evidence.

The title check (:func:`explanations.explain.grounding_problems`) is not enough: SmolLM2 writes
"The Rock is a film about a young girl who discovers a secret world" (an invented plot that
names only the right film), "You watched The Rock and The Rock", or a year the evidence does
not have. :func:`claim_problems` refuses, each as "code:detail":

- ``plot``: a plot statement ("is a film about", "tells the story of", "follows a"). An
  explanation says why a film is recommended; a plot summary from a 135M model is invented.
- ``unsupported``: content words that are neither stopwords, nor the small vocabulary of
  explanations (:data:`EXPLANATION_WORDS`: recommend, watched, fans, similar, ...), nor words
  of the evidence (titles, genres and their synonyms, the description, role names). Words of
  the user's statements count only in a clause that attributes them to the user ("you said",
  "your taste for", a quote), so "Titanic won 12 Oscars" from a note cannot come back as the
  product's own claim.
- ``wrong-year``: a year or decade that is not the item's, a history item's, or a cited
  statement's range.
- ``wrong-genre``: a genre (or a synonym: "scary") the item and the cited statements lack.
- ``unbacked-history``: "you watched/rated/liked X" where X is no history evidence item.
- ``repeats-film``: one film named twice; ``unknown-film``: "Title (year)" of a film the
  catalogue does not have; ``echo``: the prompt's field labels; ``loop``: repeated phrases.

Words are compared after a crude suffix strip (watched/watching/watches -> watch) applied to
both sides, which is all a 30-word answer needs.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

from explanations.parsing import GENRE_PHRASE, GENRE_SYNONYMS, genres_in
from explanations.phrasing import GENRE_WORDS
from explanations.titles import TitleIndex

if TYPE_CHECKING:  # explain imports this module
    from explanations.explain import Evidence

GENRE_VOCABULARY = tuple(GENRE_PHRASE)  # MovieLens genres: what the genre check knows


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


STOPWORDS = _wordset(
    """a about above after again against all also am an and any are as at be been before
    being below between both but by can could did do does doing down during each either even
    ever every few for from further had has have having he her here hers him his how i if in
    into is it its itself just me more most much my myself neither no nor not now of off on
    once one ones only onto or other our ours ourselves out over own quite rather really same
    she should so some such than that the their theirs them themselves then there these they
    this those through to too under until up upon us very was we were what when where which
    while who whom whose why will with within without would yet you your yours yourself"""
)
# what any explanation may say without evidence: about recommending, not about the film
EXPLANATION_WORDS = _wordset(
    """recommend recommended recommending recommendation recommendations suggest suggested
    suggestion pick picks picked choice choices choose chose chosen watch watched watching
    watches see seen saw view viewed viewing viewer viewers enjoy enjoyed enjoying enjoys
    enjoyable like liked likes liking love loved loves loving fan fans favourite favourites
    favorite favorites similar similarly close closer closest closely alike resemble
    resembles related relate match matches matched matching fit fits fitting suit suits
    suited taste tastes preference preferences prefer preferred interest interests interested
    because since think thinks believe expect guess hope might may probably likely perhaps
    maybe well especially particularly definitely surely certainly profile history list
    ranking ranked rank ranks rate rated rating ratings score scored high higher highly top
    recent recently latest last next often usually frequently tend tends together people
    others user users audience audiences folks someone anyone everyone film films movie
    movies title titles genre genres style mood kind type sort good great nice worth try give
    chance check shot charm delight appeal please entertain want wants wanted another new
    said say says told tell tells mentioned mention note notes wrote asked ask language model
    reranker reranked moved move moves placed place put based lot lots way find found seem
    seems look looks sound sounds thanks tonight same many also too already reading read
    goes go going pairs pair common linked link description similarity overall"""
)
_DECADE_WORDS = {
    "twenties": 1920, "thirties": 1930, "forties": 1940, "fifties": 1950, "sixties": 1960,
    "seventies": 1970, "eighties": 1980, "nineties": 1990,
}  # fmt: skip
_TOKEN = re.compile(r"[a-z0-9]+(?:['’][a-z]+)*")
_YEAR = re.compile(r"(?<!\d)(1[89]\d\d|20\d\d)(?!\d|['’]?s\b)")  # "1990s" is a decade
_DECADE = re.compile(r"(?<![\w])['’]?((?:19|20)?\d0)['’]?s\b", re.IGNORECASE)
_PLOT = re.compile(
    r"\b(?:is|was)\s+(?:an?|the)\s+(?:[\w'-]+\s+){0,4}(?:film|movie|story|tale|comedy|drama|"
    r"thriller)\s+(?:about|where|in which)\b|\b(?:it|this|which)(?:'s|\s+is)\s+about\b|"
    r"\btells the story\b|\bthe story of\b|\bfollows (?:an?|the|two|three)\b|\bplot\b|"
    r"\bstoryline\b",
    re.IGNORECASE,
)
_HISTORY_CLAIM = re.compile(
    r"\byou(?:['’]ve|\s+have)?\s+(?:already\s+|recently\s+|also\s+|just\s+)?"
    r"(?:watched|rated|liked|loved|enjoyed|saw|seen|viewed)\b",
    re.IGNORECASE,
)
_CLAIM_END = re.compile(
    r"[,.;:!?]|\b(?:so|which|then|because|we|our|but|try|since)\b", re.IGNORECASE
)
_ATTRIBUTION = re.compile(
    r"\byou\s+(?:said|told|like|likes|love|enjoy|prefer|want|asked|mentioned|wrote|"
    r"described)\b|\byour\s+(?:taste|tastes|profile|note|notes|words|preference|preferences|"
    r"request|love)\b|\byou(?:['’]re|\s+are)\s+(?:a\s+|a\s+big\s+)?(?:fan|into)\b|[\"“”«»]",
    re.IGNORECASE,
)
_CLAUSE = re.compile(r"[.!?;:]+")
_PROMPT_ECHO = re.compile(
    r"you watched:|you liked:|recommended:|profile:|about it:|<note>|</note>|ignore previous",
    re.IGNORECASE,
)
_TITLE_WITH_YEAR = re.compile(
    r"((?:[A-Z0-9][\w'’:&.!-]*\s+){0,6}[A-Z0-9][\w'’:&.!-]*)\s*\((\d{4})\)"
)


def stem(word: str) -> str:
    """Crude and symmetric: "watched", "watches", "watching" -> "watch"."""
    word = word.lower().replace("’", "'")
    if "'" in word:
        word = word.split("'", 1)[0]
    if len(word) > 4:
        for suffix, repl in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("ly", "")):
            if word.endswith(suffix):
                return word[: -len(suffix)] + repl
        if word.endswith("s") and not word.endswith("ss"):
            return word[:-1]
    return word


def _stems(text: str) -> set[str]:
    return {stem(t) for t in _TOKEN.findall(text.lower().replace("-", " "))}


_EXPLANATION_STEMS = {stem(w) for w in EXPLANATION_WORDS} | {stem(w) for w in STOPWORDS}


def _genre_words(genres: tuple[str, ...] | list[str]) -> set[str]:
    words: list[str] = []
    for g in genres:
        words += [g, GENRE_PHRASE.get(g, ""), *GENRE_WORDS.get(g, ())]
        words += [phrase for phrase, named in GENRE_SYNONYMS.items() if g in named]
    return _stems(" ".join(words))


def _evidence_stems(evidence: Evidence, index: TitleIndex) -> set[str]:
    """Words the evidence backs as claims about the film (statements excluded)."""
    titles = [evidence.title, *(h.title for h in evidence.history)]
    titles += [index.titles[i] for i in evidence.allowed_items if 0 <= i < len(index)]
    roles = " ".join(evidence.components).replace("_", " ")
    return (
        _stems(" ".join(titles))
        | _genre_words(evidence.genres)
        | _stems(evidence.description)
        | _stems(roles)
    )


def _statement_genres(evidence: Evidence) -> set[str]:
    out: set[str] = set()
    for s in evidence.statements:
        out |= set(s.facts.genres if s.facts else ())
        out |= set(genres_in(s.text, GENRE_VOCABULARY)[0])
    return out


def _years(evidence: Evidence) -> tuple[set[int], set[int]]:
    """(years the text may name, decades it may name)."""
    years = {y for y in (evidence.year, *(h.year for h in evidence.history)) if y > 0}
    decades = {y // 10 * 10 for y in years}
    for s in evidence.statements:
        f = s.facts
        if f is None or not f.has_years:
            continue
        lo = f.year_min if f.year_min is not None else f.year_max
        hi = f.year_max if f.year_max is not None else f.year_min
        assert lo is not None and hi is not None
        years |= {y for y in (f.year_min, f.year_max) if y is not None}
        decades |= set(range(lo // 10 * 10, hi + 1, 10))
    return years, decades


def _year_problems(text: str, evidence: Evidence) -> list[str]:
    years, decades = _years(evidence)
    named: list[str] = []
    for m in _YEAR.finditer(text):
        if int(m.group(1)) not in years:
            named.append(m.group(1))
    for m in _DECADE.finditer(text):
        digits = m.group(1)
        century = "" if len(digits) == 4 else ("20" if digits[0] in "012" else "19")
        decade = int(century + digits)
        if decade not in decades:
            named.append(m.group(0))
    for word, decade in _DECADE_WORDS.items():
        if re.search(rf"\b{word}\b", text, re.IGNORECASE) and decade not in decades:
            named.append(word)
    return [f"wrong-year:{y}" for y in dict.fromkeys(named)]


def _history_claims(text: str, evidence: Evidence, index: TitleIndex) -> list[str]:
    """ "you watched X" where X is no history evidence item (the item itself included)."""
    history = {h.item for h in evidence.history}
    mentions = index.mentions(text)
    problems = []
    for m in _HISTORY_CLAIM.finditer(text):
        end = _CLAIM_END.search(text, m.end())
        stop = end.start() if end else len(text)
        # a title that starts inside the claim counts whole ("2001: A Space Odyssey")
        for mention in mentions:
            if m.end() <= mention.start < stop and not history.intersection(mention.items):
                problems.append(f"unbacked-history:{mention.text}")
    return list(dict.fromkeys(problems))


def _without_titles(text: str, evidence: Evidence, index: TitleIndex) -> str:
    """``text`` with the evidence titles blanked: titles are checked elsewhere, and their
    words ("Secret", "World", "2001") are not claims."""
    allowed = evidence.allowed_items
    spans = sorted((m.start, m.end) for m in index.mentions(text) if allowed & set(m.items))
    out, last = [], 0
    for start, end in spans:
        out.append(text[last:start] + " " * (end - start))
        last = end
    out.append(text[last:])
    return "".join(out)


def _unsupported(text: str, evidence: Evidence, index: TitleIndex) -> list[str]:
    """``text``: the answer without its evidence titles."""
    clean = _YEAR.sub(" ", _DECADE.sub(" ", text))
    backed = _EXPLANATION_STEMS | _evidence_stems(evidence, index)
    backed |= {stem(w) for w in _DECADE_WORDS}
    said = _stems(" ".join(s.text for s in evidence.statements))
    said |= _genre_words(sorted(_statement_genres(evidence)))
    bad: list[str] = []
    for clause in _CLAUSE.split(clean):
        ok = backed | said if _ATTRIBUTION.search(clause) else backed
        for token in _TOKEN.findall(clause.lower().replace("-", " ")):
            if token.replace("’", "'").endswith("n't"):
                continue  # don't, isn't: negations, not content
            if len(token) > 1 and stem(token) not in ok:
                bad.append(token.split("'", 1)[0].split("’", 1)[0])
    return [f"unsupported:{','.join(dict.fromkeys(bad))}"] if bad else []


def claim_problems(text: str, evidence: Evidence, index: TitleIndex) -> list[str]:
    """Why the claims of ``text`` are not backed by ``evidence`` (see the module doc)."""
    problems: list[str] = []
    if m := _PROMPT_ECHO.search(text):
        problems.append(f"echo:{m.group(0)}")
    words = text.lower().split()
    trigrams = [tuple(words[i : i + 3]) for i in range(len(words) - 2)]
    if trigrams and len(set(trigrams)) < 0.8 * len(trigrams):
        problems.append("loop")
    if m := _PLOT.search(text):
        problems.append(f"plot:{m.group(0)}")
    allowed = evidence.allowed_items
    for m in _TITLE_WITH_YEAR.finditer(text):
        named = [x for x in index.mentions(m.group(0)) if set(x.items) & allowed]
        if not named:
            problems.append(f"unknown-film:{m.group(0)}")
    counts = Counter(frozenset(x.items) for x in index.mentions(text))
    for x in index.mentions(text):
        if counts[frozenset(x.items)] > 1:
            problems.append(f"repeats-film:{x.text}")
            counts[frozenset(x.items)] = 0  # once per film
    problems += _history_claims(text, evidence, index)
    untitled = _without_titles(text, evidence, index)
    problems += _year_problems(untitled, evidence)
    facts = set(evidence.genres) | _statement_genres(evidence)
    claimed, _ = genres_in(text, GENRE_VOCABULARY)
    wrong = [g for g in claimed if g not in facts]
    if wrong:
        problems.append(f"wrong-genre:{','.join(wrong)}")
    problems += _unsupported(untitled, evidence, index)
    return problems
