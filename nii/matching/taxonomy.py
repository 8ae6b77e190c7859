"""The matching taxonomy: categories of goods, their HS prefixes, keywords, material and reference values.

Editable data (`taxonomy.yaml` beside this module; an administration passes its own path). Validated
with pydantic at load time, then held as frozen dataclasses. Unknown keys are errors.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nii.config import load_yaml_model
from nii.errors import ConfigError
from nii.types import CLASS_NAMES

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")
LANGUAGES = ("en", "fr", "es", "de")


class Group(StrEnum):
    PROHIBITED = "prohibited"
    RESTRICTED = "restricted"
    DANGEROUS_GOODS = "dangerous_goods"
    EXCISE = "excise"
    DUTIABLE = "dutiable"
    TOOL = "tool"
    BENIGN = "benign"


class Material(StrEnum):
    ORGANIC = "organic"
    INORGANIC = "inorganic"
    METAL = "metal"
    MIXED = "mixed"


def normalise(text: str) -> str:
    """Casefold, strip accents, keep letters and digits: 'Küchen-Messer' -> 'kuchen messer'."""
    text = unicodedata.normalize("NFKD", text.casefold())
    text = "".join(c for c in text if not unicodedata.combining(c)).replace("ß", "ss")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


class _CategoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    group: Group
    detector: bool
    hs: list[Annotated[str, Field(pattern=r"^\d{2}(\d{2}){0,2}$")]]
    material: Material
    unit_mass_kg: tuple[float, float] | None
    min_unit_value_usd: Annotated[float, Field(gt=0)] | None
    keywords: dict[str, list[str]]

    @model_validator(mode="after")
    def _check(self) -> _CategoryIn:
        missing = [lang for lang in LANGUAGES if not self.keywords.get(lang)]
        if missing:
            raise ValueError(f"keywords lack languages {missing}")
        if self.unit_mass_kg is not None and not 0 < self.unit_mass_kg[0] <= self.unit_mass_kg[1]:
            raise ValueError(
                f"unit_mass_kg must be [low, high] with 0 < low <= high, got {self.unit_mass_kg}"
            )
        return self


class _TaxonomyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str
    stopwords: list[str]
    vague: dict[str, list[str]]
    usd_per: dict[Annotated[str, Field(pattern=r"^[A-Z]{3}$")], Annotated[float, Field(gt=0)]]
    categories: dict[str, _CategoryIn]


@dataclass(frozen=True, slots=True)
class Keyword:
    """A normalised keyword phrase of one category."""

    phrase: str
    tokens: tuple[str, ...]  # stopwords removed
    language: str


@dataclass(frozen=True, slots=True)
class Category:
    name: str
    group: Group
    detector: bool  # a detector class of the same name exists
    hs_prefixes: tuple[str, ...]
    material: Material
    unit_mass_kg: tuple[float, float] | None
    min_unit_value_usd: float | None
    keywords: tuple[Keyword, ...]


@dataclass(frozen=True, slots=True)
class Taxonomy:
    version: str
    categories: Mapping[str, Category]
    stopwords: frozenset[str]
    vague: tuple[Keyword, ...]
    usd_per: Mapping[str, float]
    source: str

    def hs_category(self, hs_code: str) -> str | None:
        """Category whose longest HS prefix matches `hs_code` (6 digits), or None."""
        best, best_len = None, 0
        for cat in self.categories.values():
            for prefix in cat.hs_prefixes:
                if hs_code.startswith(prefix) and len(prefix) > best_len:
                    best, best_len = cat.name, len(prefix)
        return best

    def to_usd(self, amount: float, currency: str) -> float | None:
        rate = self.usd_per.get(currency)
        return None if rate is None else amount * rate

    def tokens(self, text: str) -> tuple[str, ...]:
        return tuple(t for t in normalise(text).split() if t not in self.stopwords)


def _keywords(taxonomy_stop: frozenset[str], by_language: Mapping[str, list[str]]) -> tuple[Keyword, ...]:
    out = []
    for language, phrases in by_language.items():
        for phrase in phrases:
            norm = normalise(str(phrase))
            tokens = tuple(t for t in norm.split() if t not in taxonomy_stop)
            if tokens:
                out.append(Keyword(norm, tokens, language))
    return tuple(out)


@lru_cache(maxsize=8)
def _load(path: Path) -> Taxonomy:
    model = load_yaml_model(path, _TaxonomyIn, "taxonomy")
    stop = frozenset(normalise(w) for w in model.stopwords)
    wrong = [n for n, c in model.categories.items() if c.detector and n not in CLASS_NAMES]
    if wrong:
        raise ConfigError(
            f"taxonomy {path}: categories {wrong} say detector: true but are not detector classes"
        )
    categories = {
        name: Category(
            name=name,
            group=c.group,
            detector=c.detector,
            hs_prefixes=tuple(c.hs),
            material=c.material,
            unit_mass_kg=c.unit_mass_kg,
            min_unit_value_usd=c.min_unit_value_usd,
            keywords=_keywords(stop, c.keywords),
        )
        for name, c in model.categories.items()
    }
    return Taxonomy(
        version=model.version,
        categories=categories,
        stopwords=stop,
        vague=_keywords(stop, model.vague),
        usd_per=dict(model.usd_per),
        source=str(path),
    )


def load_taxonomy(path: Path | str | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (default: the one shipped with nii). Cached per path."""
    return _load(Path(path) if path is not None else DEFAULT_TAXONOMY_PATH)
