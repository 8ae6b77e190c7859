"""CN23-style declarations for synthetic parcels, written to obey the planner's misdeclaration flags.

The planner (``nii.synth.contents``) decides per item whether it is declared, misdescribed,
undervalued or declared with another quantity; this module only writes what those flags say, in
the wording real senders use: four languages, synonyms, typos, blank HS codes, vague terms.
All words, HS codes, value ranges, countries and rates live in ``vocabulary.yaml``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypeVar

import numpy as np
import yaml
from rapidfuzz import fuzz

from nii.errors import ConfigError, DeclarationError
from nii.matching.declaration import Declaration, DeclaredLine, parse_declaration
from nii.synth.contents import ContentItem
from nii.types import CLASS_NAMES, GOODS_KINDS

LANGUAGES: tuple[str, ...] = ("en", "fr", "es", "de")
MATCH_THRESHOLD = 80.0  # rapidfuzz ratio at or above which a description counts as naming a kind

_VOCABULARY_PATH = Path(__file__).parent / "vocabulary.yaml"
_LANGUAGE_WEIGHTS = (0.55, 0.15, 0.15, 0.15)  # English dominates e-commerce declarations
_MIXED_LANGUAGE_SHARE = 0.15  # parcels whose lines each pick their own language
_TYPO_SHARE = 0.10
_BLANK_HS_SHARE = 0.15
_VAGUE_SHARE = 0.4  # misdescribed lines that use a vague term rather than a specific lie
_ZERO_OR_ONE_SHARE = 0.25  # undervalued lines declared at exactly 0 or 1 currency unit
_FOREIGN_ORIGIN_SHARE = 0.15  # lines made elsewhere than the sender's country
_WEIGHT_ERROR = 0.10  # declared net weight is within +-10 % of the true mass
_CATEGORY_WEIGHTS = {"gift": 0.45, "sale_of_goods": 0.45, "commercial_sample": 0.06, "returned_goods": 0.04}

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Lie:
    """Other goods a sender may claim instead of the true ones."""

    descriptions: Mapping[str, str]  # language -> description
    hs_code: str | None
    kind: str | None  # the taxonomy kind the lie names, if any


@dataclass(frozen=True, slots=True)
class Vocabulary:
    descriptions: Mapping[str, Mapping[str, tuple[str, ...]]]  # kind -> language -> descriptions
    hs_codes: Mapping[str, tuple[str, ...]]  # kind -> HS6 codes
    value_usd: Mapping[str, tuple[float, float]]  # kind -> unit value range, USD
    vague: Mapping[str, tuple[str, ...]]  # language -> vague terms
    lies: Mapping[str, tuple[Lie, ...]]  # true kind -> lies
    usd_per: Mapping[str, float]  # currency -> USD per unit
    senders: Mapping[str, tuple[float, tuple[str, ...]]]  # country -> (weight, currencies)
    recipients: Mapping[str, float]  # country -> weight
    origins: tuple[str, ...]

    def all_descriptions(self, kind: str) -> tuple[str, ...]:
        return tuple(d for language in LANGUAGES for d in self.descriptions[kind][language])


@cache
def load_vocabulary(path: Path = _VOCABULARY_PATH) -> Vocabulary:
    """Read and check vocabulary.yaml: every detector class and goods kind must be covered."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        kinds = raw["kinds"]
        missing = [k for k in (*CLASS_NAMES, *GOODS_KINDS) if k not in kinds or k not in raw["lies"]]
        if missing:
            raise ConfigError(f"{path}: kinds {missing} lack descriptions or lies; add them")
        return Vocabulary(
            descriptions={k: {lang: tuple(v[lang]) for lang in LANGUAGES} for k, v in kinds.items()},
            hs_codes={k: tuple(v["hs"]) for k, v in kinds.items()},
            value_usd={k: (float(v["value_usd"][0]), float(v["value_usd"][1])) for k, v in kinds.items()},
            vague={lang: tuple(raw["vague"][lang]) for lang in LANGUAGES},
            lies={
                k: tuple(Lie({lang: x[lang] for lang in LANGUAGES}, x["hs"], x.get("kind")) for x in lies)
                for k, lies in raw["lies"].items()
            },
            usd_per={c: float(r) for c, r in raw["currencies"].items()},
            senders={c: (float(s["weight"]), tuple(s["currencies"])) for c, s in raw["senders"].items()},
            recipients={c: float(w) for c, w in raw["recipients"].items()},
            origins=tuple(raw["origins"]),
        )
    except (OSError, yaml.YAMLError, KeyError, TypeError, IndexError) as exc:
        raise ConfigError(f"{path}: cannot read the declaration vocabulary ({exc!r}); fix the file") from exc


REFERENCE_VALUE_USD: Mapping[str, tuple[float, float]] = load_vocabulary().value_usd
USD_PER: Mapping[str, float] = load_vocabulary().usd_per


def description_score(description: str, kind: str) -> float:
    """Best rapidfuzz ratio (0-100) of a description against the vocabulary of one kind."""
    text = description.casefold()
    return max(fuzz.ratio(text, d.casefold()) for d in load_vocabulary().all_descriptions(kind))


def make_declaration(contents: Sequence[ContentItem], rng: np.random.Generator) -> Declaration:
    """Write the declaration of a parcel holding `contents`, obeying every item's flags."""
    return make_declaration_with_sources(contents, rng)[0]


def make_declaration_with_sources(
    contents: Sequence[ContentItem], rng: np.random.Generator
) -> tuple[Declaration, tuple[int, ...]]:
    """As `make_declaration`, plus for each line the index in `contents` of the item it covers."""
    if not contents:
        raise DeclarationError("cannot declare an empty parcel: give at least one ContentItem")
    undeclared = {item.kind for item in contents if not item.declared}
    clash = sorted(undeclared & {item.kind for item in contents if item.declared})
    if clash:
        raise DeclarationError(
            f"kinds {clash} are both declared and undeclared in one parcel, so no line could describe "
            "one without covering the other; merge the items or use declared_quantity"
        )
    vocab = load_vocabulary()
    sender = _pick_weighted(rng, {c: w for c, (w, _) in vocab.senders.items()})
    recipients = {c: w for c, w in vocab.recipients.items() if c != sender}  # international mail only
    recipient = _pick_weighted(rng, recipients)
    currency = _pick(rng, vocab.senders[sender][1])
    parcel_language = LANGUAGES[int(rng.choice(len(LANGUAGES), p=_LANGUAGE_WEIGHTS))]
    mixed = rng.random() < _MIXED_LANGUAGE_SHARE

    sources = [i for i, item in enumerate(contents) if item.declared]
    sources = [sources[int(j)] for j in rng.permutation(len(sources))]
    lines = []
    for index in sources:
        language = _pick(rng, LANGUAGES) if mixed else parcel_language
        lines.append(_write_line(contents[index], language, sender, currency, undeclared, rng))
    written = Declaration(_category(contents, rng), sender, recipient, currency, tuple(lines))
    # Through the reader's boundary schema: a synthetic declaration is exactly what a station may send.
    return parse_declaration(written.to_json(), source="synthetic declaration"), tuple(sources)


def _write_line(
    item: ContentItem,
    language: str,
    sender: str,
    currency: str,
    undeclared: set[str],
    rng: np.random.Generator,
) -> DeclaredLine:
    vocab = load_vocabulary()
    if item.misdescribed:
        # A lie may not name an undeclared kind of this parcel, or it would declare that kind.
        lies = [lie for lie in vocab.lies[item.kind] if lie.kind not in undeclared and lie.kind != item.kind]
        if lies and rng.random() >= _VAGUE_SHARE:
            lie = _pick(rng, lies)
            description, hs_code = lie.descriptions[language], lie.hs_code
        else:
            description, hs_code = _pick(rng, vocab.vague[language]), None
    else:
        description = _pick(rng, vocab.descriptions[item.kind][language])
        if rng.random() < _TYPO_SHARE:
            description = _typo(description, item.kind, rng)
        hs_code = _pick(rng, vocab.hs_codes[item.kind])
    if hs_code is not None and rng.random() < _BLANK_HS_SHARE:
        hs_code = None

    quantity = item.declared_quantity if item.declared_quantity is not None else item.quantity
    weight_kg = max(0.01, round(item.mass_kg * rng.uniform(1 - _WEIGHT_ERROR, 1 + _WEIGHT_ERROR), 2))
    origin = _pick(rng, vocab.origins) if rng.random() < _FOREIGN_ORIGIN_SHARE else sender
    value = _value(item.kind, quantity, item.undervalued, currency, rng)
    return DeclaredLine(description, quantity, weight_kg, value, currency, hs_code, origin)


def _value(kind: str, quantity: int, undervalued: bool, currency: str, rng: np.random.Generator) -> float:
    low, high = REFERENCE_VALUE_USD[kind]
    usd_per = USD_PER[currency]
    if not undervalued:
        unit_usd = math.exp(rng.uniform(math.log(low), math.log(high)))  # prices spread over decades
        return round(quantity * unit_usd / usd_per, 2)
    # 0 or 1 only where one currency unit is itself far below the goods' value.
    if rng.random() < _ZERO_OR_ONE_SHARE and usd_per < 0.15 * low:
        return float(rng.integers(0, 2))
    # Floor, not round, so that the value stays under 15 % of the reference low bound.
    return math.floor(rng.uniform(0.01, 0.15) * low / usd_per * 100) / 100


def _typo(description: str, kind: str, rng: np.random.Generator) -> str:
    """Swap or drop one letter, unless that makes the words closer to another kind or far from their own."""
    positions = [i for i in range(1, len(description) - 1) if description[i].isalpha()]
    if len(positions) < 4:
        return description
    i = _pick(rng, positions)
    if rng.random() < 0.5:
        typo = description[:i] + description[i + 1] + description[i] + description[i + 2 :]
    else:
        typo = description[:i] + description[i + 1 :]
    others = (k for k in load_vocabulary().descriptions if k != kind)
    if description_score(typo, kind) < MATCH_THRESHOLD or any(
        description_score(typo, k) >= MATCH_THRESHOLD for k in others
    ):
        return description
    return typo


def _category(contents: Sequence[ContentItem], rng: np.random.Generator) -> str:
    if all(item.kind in ("documents", "books") for item in contents) and rng.random() < 0.8:
        return "documents"
    return _pick_weighted(rng, _CATEGORY_WEIGHTS)


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    # Index, not rng.choice on the values, so that str stays str rather than numpy.str_.
    return options[int(rng.integers(len(options)))]


def _pick_weighted(rng: np.random.Generator, weights: Mapping[str, float]) -> str:
    keys = list(weights)
    p = np.array([weights[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=p / p.sum()))]
