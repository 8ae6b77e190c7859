"""Containers and the unlabelled things parcels and luggage carry."""

from __future__ import annotations

import numpy as np
import pytest

from nii.synth.clutter import PERSONAL_DRAWERS, draw_container
from nii.synth.physics import MATERIAL_INDEX

PPM = 1.0  # pixels per millimetre


def _extent_mm(layers: np.ndarray) -> tuple[float, float]:
    """Long and short side of the drawn footprint's bounding box."""
    rows, cols = np.nonzero(layers.sum(0) > 0.02)
    sides = sorted(((np.ptp(rows) + 1) / PPM, (np.ptp(cols) + 1) / PPM))
    return sides[1], sides[0]


@pytest.mark.parametrize("kind", sorted(PERSONAL_DRAWERS))
def test_personal_items_draw_metal_and_are_reproducible(kind):
    a = PERSONAL_DRAWERS[kind](np.random.default_rng(3), PPM)
    b = PERSONAL_DRAWERS[kind](np.random.default_rng(3), PPM)
    np.testing.assert_array_equal(a.layers, b.layers)
    assert (a.layers >= 0).all() and a.layers.sum() > 0
    with_metal = 0
    for seed in range(10):  # false-alarm bait because they hold metal (a few spoons are plastic)
        layers = PERSONAL_DRAWERS[kind](np.random.default_rng(seed), PPM).layers
        with_metal += sum(layers[MATERIAL_INDEX[m]].sum() for m in ("aluminium", "steel", "copper")) > 0
    assert with_metal >= 7


@pytest.mark.parametrize("kind", ["cutlery", "pens", "umbrella"])
def test_long_thin_items_are_long_and_thin(kind):
    for seed in range(10):
        long, short = _extent_mm(PERSONAL_DRAWERS[kind](np.random.default_rng(seed), PPM).layers)
        assert long >= 120 and long >= 2.5 * short


def test_trolley_tube_side_walls_are_seen_edge_on():
    """Through a tube's side wall the beam crosses its depth of aluminium, through its face two walls."""
    s = draw_container("hard_case", 400, 600, np.random.default_rng(0), PPM)
    alu = s.layers[MATERIAL_INDEX["aluminium"]]
    row = alu[300]  # across both tubes, between the grip and the base mounts
    walls = row > 0.6 * row.max()
    faces = (row > 0.05) & ~walls
    assert 4 <= np.count_nonzero(np.diff(walls.astype(int)) == 1) <= 8  # 2 tubes: 4 edges (8 nested)
    assert row[walls].min() > 3 * np.median(row[faces])
