"""Declared vs detected: findings from hand-made detections and synthetic material images."""

from __future__ import annotations

import numpy as np
import pytest

from nii.matching.compare import (
    CompareSettings,
    MaterialCode,
    Reference,
    Seen,
    box_attenuation,
    compare,
    material_from_false_colour,
    material_from_raw,
    material_map,
    shortfall_chance,
)
from nii.matching.declaration import parse_declaration


def _declaration(*items: tuple[str, int, float, float], currency: str = "USD"):
    return parse_declaration(
        {
            "sender_country": "CN",
            "recipient_country": "DE",
            "currency": currency,
            "items": [
                {"description": d, "quantity": q, "net_weight_kg": w, "value": v} for d, q, w, v in items
            ],
        }
    )


def _seen(*names: str, score: float = 0.9) -> tuple[Seen, ...]:
    return tuple(Seen(n, score, (10.0 * i, 10.0, 10.0 * i + 40, 60.0)) for i, n in enumerate(names))


def _codes(comparison) -> list[tuple[str, str | None]]:
    return [(f.code, f.subject) for f in comparison.findings]


def test_matching_declaration_has_no_findings() -> None:
    c = compare(_declaration(("smartphone", 1, 0.2, 300), ("t-shirt", 2, 0.4, 20)), _seen("phone"))
    assert c.findings == ()
    assert [line.status for line in c.lines] == ["seen", "not_visible"]
    assert c.lines[0].explains == ("phone",) and c.lines[0].seen == 1


def test_undeclared_and_misdescribed_detections() -> None:
    # A phone declared as 'phone case' is an undeclared phone.
    c = compare(_declaration(("phone case", 1, 0.2, 300)), _seen("phone", "knife"))
    codes = _codes(c)
    assert ("undeclared_item", "phone") in codes
    assert ("prohibited_detected", "knife") in codes and ("undeclared_item", "knife") in codes


def test_quantities_and_not_seen() -> None:
    c = compare(_declaration(("hammer", 1, 0.6, 20), ("laptop", 1, 1.8, 700)), _seen("hammer", "hammer"))
    codes = _codes(c)
    assert ("quantity_exceeds", "hammer") in codes
    assert ("declared_not_seen", "laptop") in codes
    short = compare(_declaration(("AA batteries", 8, 0.2, 6)), _seen("battery"))
    assert ("quantity_short", "battery") in _codes(short)
    assert ("dangerous_goods_declared", "battery") in _codes(short)


def test_shortfall_counts_only_when_the_detector_rarely_causes_it() -> None:
    declaration = _declaration(("AA batteries", 8, 0.2, 6), ("laptop", 1, 1.8, 700))
    # A detector that finds half the batteries and 97% of laptops: 1 of 8 batteries seen happens
    # 3.5% of the time with a true declaration (a finding); no laptop seen, 3% (a finding).
    sharp = CompareSettings(recall={"battery": 0.5, "laptop": 0.97})
    codes = _codes(compare(declaration, _seen("battery"), settings=sharp))
    assert ("quantity_short", "battery") in codes and ("declared_not_seen", "laptop") in codes
    # 4 of 8 batteries, and a laptop the detector finds only 60% of the time: both ordinary misses.
    dull = CompareSettings(recall={"battery": 0.5, "laptop": 0.6})
    codes = _codes(compare(declaration, _seen(*["battery"] * 4), settings=dull))
    assert not {c for c, _ in codes} & {"quantity_short", "declared_not_seen"}
    short = next(f for f in compare(declaration, _seen("battery"), settings=sharp).findings
                 if f.code == "quantity_short")
    assert "50%" in short.text and "3.5%" in short.text


def test_a_detection_reads_as_a_declared_unseen_look_alike() -> None:
    declaration = _declaration(("power bank", 1, 0.3, 30), ("t-shirt", 2, 0.4, 20))
    confused = CompareSettings(look_alikes={"battery": {"powerbank": 0.17}, "bullet": {"battery": 0.11}})
    c = compare(declaration, _seen("battery"), settings=confused)
    assert _codes(c) == [("look_alike", "powerbank"), ("dangerous_goods_declared", "powerbank")]
    assert "17% of this model's battery detections were powerbank" in c.findings[0].text
    assert c.lines[0].status == "seen" and c.counts == {"powerbank": 1}
    # Without the measurement, below the policy's share, or with the power bank seen itself: undeclared.
    for settings, seen in ((CompareSettings(), ("battery",)),
                           (CompareSettings(look_alikes={"battery": {"powerbank": 0.04}}), ("battery",)),
                           (confused, ("battery", "powerbank"))):
        codes = _codes(compare(declaration, _seen(*seen), settings=settings))
        assert {("undeclared_item", "battery"), ("dangerous_goods_not_declared", "battery")} <= set(codes)
    # A prohibited detection is never read as something declared.
    codes = _codes(compare(_declaration(("AA batteries", 4, 0.1, 6)), _seen("bullet"), settings=confused))
    assert ("prohibited_detected", "bullet") in codes and ("look_alike", "battery") not in codes


def test_a_detection_over_a_stronger_one_of_another_class_counts_once() -> None:
    declaration = _declaration(("adjustable spanner", 1, 0.4, 15))
    wrench = Seen("wrench", 0.8, (10.0, 10.0, 110.0, 50.0))
    settings = CompareSettings(same_object_iou=0.6)
    c = compare(declaration, (Seen("hammer", 0.45, (12.0, 10.0, 112.0, 52.0)), wrench), settings=settings)
    assert _codes(c) == [("same_object", "hammer")]
    assert "wrench seen there (score 0.80)" in c.findings[0].text
    assert c.detections == (wrench,) and c.counts == {"wrench": 1} and c.lines[0].status == "seen"
    # Apart, of the same class, without the setting, or prohibited: every detection counts.
    for seen, s in (((Seen("hammer", 0.45, (10.0, 60.0, 110.0, 100.0)), wrench), settings),
                    ((Seen("wrench", 0.45, (12.0, 10.0, 112.0, 52.0)), wrench), settings),
                    ((Seen("hammer", 0.45, (12.0, 10.0, 112.0, 52.0)), wrench), CompareSettings())):
        c = compare(declaration, seen, settings=s)
        assert len(c.detections) == 2 and "same_object" not in {code for code, _ in _codes(c)}
    knife = compare(declaration, (Seen("knife", 0.45, (12.0, 10.0, 112.0, 52.0)), wrench), settings=settings)
    assert ("prohibited_detected", "knife") in _codes(knife)


def test_a_part_of_an_object_seen_as_another_of_its_class_counts_once() -> None:
    declaration = _declaration(("hairdressing scissors", 1, 0.1, 12))
    scissors = Seen("scissors", 0.74, (10.0, 10.0, 110.0, 60.0))
    blade = Seen("scissors", 0.51, (15.0, 12.0, 75.0, 58.0))  # all inside, IoU 0.55: NMS keeps it
    settings = CompareSettings(same_object_within=0.9)
    c = compare(declaration, (blade, scissors), settings=settings)
    assert ("same_object", "scissors") in _codes(c) and ("quantity_exceeds", "scissors") not in _codes(c)
    assert c.detections == (scissors,) and c.counts == {"scissors": 1}
    assert c.lines[0].status == "seen"
    # Without the setting, overlapping less than that, or two bullets: every detection counts.
    beside = Seen("scissors", 0.51, (70.0, 12.0, 130.0, 58.0))
    for seen, s in (((blade, scissors), CompareSettings()), ((beside, scissors), settings)):
        c = compare(declaration, seen, settings=s)
        assert c.counts == {"scissors": 2} and ("quantity_exceeds", "scissors") in _codes(c)
    bullets = (Seen("bullet", 0.6, scissors.xyxy), Seen("bullet", 0.4, blade.xyxy))
    assert compare(declaration, bullets, settings=settings).counts["bullet"] == 2


@pytest.mark.parametrize(
    ("seen", "declared", "recall", "expected"),
    [(0, 1, 0.9, 0.1), (0, 3, 0.5, 0.125), (1, 8, 0.5, 9 / 256), (2, 2, 0.3, 1.0), (0, 2, 1.0, 0.0),
     (5, 10_000, 0.5, 0.0), (3, 4, 0.0, 1.0)],
)
def test_shortfall_chance_is_the_binomial_tail(seen: int, declared: int, recall: float,
                                               expected: float) -> None:
    assert shortfall_chance(seen, declared, recall) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("items", "currency", "undervalued"),
    [
        ((("laptop", 1, 1.8, 20.0),), "USD", True),
        ((("laptop", 1, 1.8, 650.0),), "USD", False),
        ((("laptop", 1, 1.8, 4000.0),), "CNY", False),  # 4000 CNY ~ 560 USD
        ((("laptop", 1, 1.8, 300.0),), "JPY", True),  # 300 JPY ~ 2 USD
        ((("documents", 1, 0.1, 0.0),), "USD", False),  # documents carry no value
    ],
)
def test_undervaluation_uses_reference_values(items, currency: str, undervalued: bool) -> None:
    c = compare(_declaration(*items, currency=currency), ())
    assert (("undervalued", items[0][0]) in _codes(c)) is undervalued


def test_vague_and_implausible_lines_are_findings() -> None:
    c = compare(_declaration(("gift", 1, 0.5, 1.0)), ())
    assert {"vague_description", "implausible_value"} <= {f.code for f in c.findings}


def test_unit_weight_out_of_range() -> None:
    c = compare(_declaration(("smartphone", 1, 3.5, 300)), _seen("phone"))
    assert ("unit_weight_implausible", "phone") in _codes(c)


_SHIRTS = Reference(lines=500, min_unit_value_usd=5.0, unit_mass_kg=(0.15, 0.6))


@pytest.mark.parametrize(
    ("quantity", "kg", "value", "codes"),
    [
        (3, 0.9, 45.0, set()),  # 0.3 kg and 15 USD a shirt: like the compliant ones
        (1, 0.9, 15.0, {"unit_weight_atypical"}),  # three shirts' weight declared as one shirt
        (3, 0.9, 6.0, {"undervalued"}),  # 2 USD a shirt: under half the learned 5 USD
    ],
)
def test_learned_references_replace_the_taxonomy_figures(quantity, kg, value, codes) -> None:
    declaration = _declaration(("t-shirt", quantity, kg, value))
    # The taxonomy's generic figures pass all three lines (clothes: 0.02-2.5 kg, 1 USD a unit).
    assert compare(declaration, ()).findings == ()
    learned = compare(declaration, (), settings=CompareSettings(references={"clothes": _SHIRTS}))
    assert {f.code for f in learned.findings} == codes
    for f in learned.findings:
        assert "500 compliant" in f.text and f.subject == "clothes"


def test_a_reference_without_a_mass_range_keeps_the_taxonomy_range() -> None:
    settings = CompareSettings(references={"phone": Reference(100, 80.0, None)})
    c = compare(_declaration(("smartphone", 1, 3.5, 300)), _seen("phone"), settings=settings)
    assert ("unit_weight_implausible", "phone") in _codes(c)


def _raw_pair(ratio: float, lh: float = 1.0, size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    high = np.full((size, size), 65535, np.uint16)
    low = high.copy()
    high[16:48, 16:48] = round(65535 * np.exp(-lh))
    low[16:48, 16:48] = round(65535 * np.exp(-lh * ratio))
    return low, high


@pytest.mark.parametrize(("ratio", "dominant"), [(1.2, "organic"), (1.6, "inorganic"), (2.6, "metal")])
def test_material_from_raw(ratio: float, dominant: str) -> None:
    profile = material_from_raw(*_raw_pair(ratio), CompareSettings(kg_per_raw_attenuation=1e-3))
    shares = {"organic": profile.organic, "inorganic": profile.inorganic, "metal": profile.metal}
    assert max(shares, key=shares.get) == dominant and shares[dominant] > 0.99
    assert profile.foreground == pytest.approx(0.25)
    assert profile.estimated_mass_kg == pytest.approx(32 * 32 * 1.0 * 1e-3, rel=1e-3)


@pytest.mark.parametrize(
    ("ratio", "code"),
    [(1.2, MaterialCode.ORGANIC), (1.6, MaterialCode.INORGANIC), (2.6, MaterialCode.METAL)],
    ids=["organic", "inorganic", "metal"],
)
def test_material_map(ratio: float, code: MaterialCode) -> None:
    low, high = _raw_pair(ratio)
    codes = material_map(low, high, CompareSettings())
    assert codes.dtype == np.uint8 and codes.shape == low.shape
    assert (codes[16:48, 16:48] == code).all()
    assert (codes == MaterialCode.NONE).sum() == codes.size - 32 * 32  # air around the block


@pytest.mark.parametrize(("hue", "dominant"), [(30, "organic"), (110, "inorganic"), (220, "metal")])
def test_material_from_false_colour(hue: int, dominant: str) -> None:
    import cv2

    hsv = np.zeros((64, 64, 3), np.uint8)
    hsv[..., 2] = 255  # white background
    hsv[16:48, 16:48] = (hue // 2, 200, 150)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    profile = material_from_false_colour(rgb, CompareSettings())
    shares = {"organic": profile.organic, "inorganic": profile.inorganic, "metal": profile.metal}
    assert max(shares, key=shares.get) == dominant
    assert profile.source == "false_colour" and profile.estimated_mass_kg is None


def test_metal_unexplained_and_heavy_parcel() -> None:
    low, high = _raw_pair(2.6, lh=2.0)
    settings = CompareSettings(kg_per_raw_attenuation=1e-3)
    material = material_from_raw(low, high, settings)
    c = compare(_declaration(("t-shirt", 1, 0.2, 10)), (), material=material, settings=settings)
    assert {"metal_unexplained", "mass_exceeds_declared"} <= {f.code for f in c.findings}
    fine = compare(
        _declaration(("claw hammer", 1, 2.0, 10)), _seen("hammer"), material=material, settings=settings
    )
    assert not {"metal_unexplained", "mass_exceeds_declared"} & {f.code for f in fine.findings}


def test_a_detection_less_dense_than_its_class_is_discounted() -> None:
    high = np.full((100, 100), 65535, np.uint16)
    high[20:30, 20:30] = int(65535 * np.exp(-3.0))  # a cartridge: log-attenuation 3
    high[60:90, 60:90] = int(65535 * np.exp(-0.5))  # a paperback
    att = box_attenuation(high, np.array([[15, 15, 35, 35], [55, 55, 95, 95], [200, 200, 210, 210]]))
    assert att.tolist() == pytest.approx([3.0, 0.5, 0.0], abs=0.01)  # the last box lies outside
    settings = CompareSettings(min_attenuation={"bullet": 2.2})
    seen = (Seen("bullet", 0.5, (15, 15, 35, 35), attenuation=float(att[0])),
            Seen("bullet", 0.6, (55, 55, 95, 95), attenuation=float(att[1])))
    c = compare(_declaration(("book", 1, 0.4, 10)), seen, settings=settings)
    assert [d.score for d in c.discounted] == [0.6] and [d.score for d in c.detections] == [0.5]
    assert c.counts == {"bullet": 1} and ("detection_discounted", "bullet") in _codes(c)
    assert c.to_json()["discounted"][0]["attenuation"] == 0.5
    # Without readings, or for a class without a level, every detection counts.
    no_readings = compare(_declaration(("book", 1, 0.4, 10)), (Seen("bullet", 0.6, (55, 55, 95, 95)),),
                          settings=settings)
    assert no_readings.counts == {"bullet": 1} and no_readings.discounted == ()
    knife = Seen("knife", 0.6, (55, 55, 95, 95), attenuation=0.5)
    other = compare(_declaration(("book", 1, 0.4, 10)), (knife,), settings=settings)
    assert other.counts == {"knife": 1}
