"""A synthetic parcel: determinism, valid boxes and their contrast, ground truth that agrees with its
contents."""

from __future__ import annotations

import numpy as np
import pytest

from nii.scanio.falsecolor import build_lut
from nii.synth.contents import ContentItem, ground_truth_labels
from nii.synth.objects import DRAWERS
from nii.synth.parcel import generate_parcel, object_contrast, plan_contents, sample_palette
from nii.synth.physics import MATERIAL_INDEX, MATERIAL_NAMES, MATERIALS, calibrate, scanner_model
from nii.synth.sketch import place
from nii.types import CLASS_NAMES, COMPLIANT, GOODS_KINDS, Misdeclaration


@pytest.fixture(scope="module")
def parcels():
    return [generate_parcel(11, i, 640, 480) for i in range(24)]


def test_same_seed_same_parcel():
    a, b = generate_parcel(3, 7, 400, 300), generate_parcel(3, 7, 400, 300)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    np.testing.assert_array_equal(a.low, b.low)
    assert a.boxes == b.boxes and a.declaration == b.declaration and a.labels == b.labels
    c = generate_parcel(3, 8, 400, 300)
    assert not np.array_equal(a.rgb, c.rgb)


def test_outputs_have_scanner_shapes(parcels):
    for p in parcels:
        h, w = p.low.shape
        assert p.rgb.shape == (h, w, 3) and p.rgb.dtype == np.uint8
        assert p.low.dtype == np.uint16 and p.high.shape == (h, w)
        assert h == 480 and 0.75 * 640 <= w <= 1.3 * 640  # scan length varies along the belt
        assert p.rgb[0, 0].tolist() == [255, 255, 255] or p.low[0, 0] > 60000  # air at the corner
        material = p.high < 60000
        # Behind material the front layer sees less than the back one (noise aside).
        assert np.median(p.low[material] / p.high[material]) < 0.99


def test_boxes_inside_image_and_not_degenerate(parcels):
    for p in parcels:
        h, w = p.low.shape
        for box in p.boxes:
            x1, y1, x2, y2 = box.xyxy
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
            assert box.class_name in CLASS_NAMES
            # The box holds attenuating material, not empty belt.
            assert p.high[int(y1) : int(np.ceil(y2)), int(x1) : int(np.ceil(x2))].min() < 60000


def test_labels_agree_with_contents(parcels):
    for p in parcels:
        assert p.labels == ground_truth_labels(p.contents)
        box_kinds = {b.class_name for b in p.boxes}
        declared_lines = len(p.declaration.lines)
        assert declared_lines == sum(c.declared for c in p.contents)
        if Misdeclaration.UNDECLARED_ITEM in p.labels:
            hidden = [c for c in p.contents if c.detectable and not c.declared]
            assert hidden and any(c.kind in box_kinds for c in hidden)
        if Misdeclaration.CONCEALED in p.labels:
            assert any(b.concealed for b in p.boxes)
        if p.labels == (COMPLIANT,):
            assert all(c.declared and not c.misdescribed and not c.undervalued for c in p.contents)
        for c in p.contents:  # masses come from the rendered mass-thickness, so they are physical
            assert 0.0005 < c.mass_kg < 30.0


def test_undeclared_item_is_visible_and_uncovered():
    """An undeclared_item parcel holds a detectable object that no declared line covers."""
    seen = 0
    for i in range(60):
        p = generate_parcel(5, i, 400, 300)
        if Misdeclaration.UNDECLARED_ITEM not in p.labels:
            continue
        seen += 1
        undeclared = {c.kind for c in p.contents if c.detectable and not c.declared}
        declared_kinds = {c.kind for c in p.contents if c.declared}
        assert undeclared and not (undeclared & declared_kinds)
        assert undeclared & {b.class_name for b in p.boxes}
    assert seen >= 5


def test_plan_covers_every_class_and_misdeclaration():
    rng = np.random.default_rng(0)
    kinds, labels = set(), set()
    for _ in range(600):
        plan = plan_contents(rng, threat_share=0.85)
        kinds |= {p["kind"] for p in plan}
        items = [ContentItem(mass_kg=1.0, **p) for p in plan]
        labels |= set(ground_truth_labels(items))
    assert set(CLASS_NAMES) <= kinds and set(GOODS_KINDS) <= kinds
    assert labels == {COMPLIANT} | {str(m) for m in Misdeclaration}


def test_contrast_falls_as_an_object_is_buried():
    """The same knife shows less the more steel lies over it, and not at all under a thick slab."""
    rng = np.random.default_rng(0)
    scanner = scanner_model()
    lut = build_lut(calibrate(scanner), sample_palette(rng)[1])
    knife = DRAWERS["knife"](rng, 1.0)
    contrasts = []
    for steel_mm in (0.0, 2.0, 30.0):
        stack = np.zeros((len(MATERIAL_NAMES), 300, 300), dtype=np.float32)
        stack[MATERIAL_INDEX["steel"]] = MATERIALS["steel"][1] * steel_mm / 10.0
        placed = place(knife, stack, 150, 150, 30.0)
        contrasts.append(object_contrast(stack, placed, scanner, lut))
    assert contrasts[0] > contrasts[1] > contrasts[2]
    assert contrasts[0] > 100 and contrasts[2] < 30  # plainly visible alone; hidden under 3 cm of steel


def test_boxes_carry_their_contrast(parcels):
    contrasts = [b.contrast for p in parcels for b in p.boxes]
    assert all(0.0 <= c <= 442.0 for c in contrasts)
    assert np.median(contrasts) > 70  # most labelled objects show plainly
