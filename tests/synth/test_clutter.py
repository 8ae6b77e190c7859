"""Containers and the unlabelled things parcels and luggage carry."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nii.synth.clutter import PERSONAL_DRAWERS, _clasp, _press_stud, _screw, _zip_slider, draw_container
from nii.synth.physics import MATERIAL_INDEX
from nii.synth.sketch import Sketch

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


SMALL_HARDWARE = {
    "zip_slider": lambda s, rng: _zip_slider(s, 50, 50, 0.4, rng),
    "press_stud": lambda s, rng: _press_stud(s, 50, 50, rng),
    "clasp": lambda s, rng: _clasp(s, 50, 50, 0.4, rng),
    "screw": lambda s, rng: _screw(s, 50, 50, 0.4, rng),
}


def _metal(layers: np.ndarray) -> np.ndarray:
    return layers[MATERIAL_INDEX["steel"]] + layers[MATERIAL_INDEX["copper"]]


@pytest.mark.parametrize("part", sorted(SMALL_HARDWARE))
def test_small_hardware_is_the_size_and_density_of_a_cartridge(part):
    for seed in range(10):
        s = Sketch(100, 100, PPM)
        SMALL_HARDWARE[part](s, np.random.default_rng(seed))
        long, short = _extent_mm(s.layers)
        assert 8 <= long <= 80 and short >= 4  # cartridges: 25-75 mm long, 6-12 mm across
        assert _metal(s.layers).max() >= 1.5  # g/cm^2: at least 2 mm of steel somewhere


def _small_dense_parts(layers: np.ndarray) -> int:
    """Connected pieces of over 2 g/cm^2 of steel or brass whose bounding box is 6-80 mm long."""
    n, _, stats, _ = cv2.connectedComponentsWithStats((_metal(layers) > 2.0).astype(np.uint8), connectivity=8)
    return sum(6 <= max(stats[i, 2], stats[i, 3]) / PPM <= 80 for i in range(1, n))


def test_luggage_carries_small_dense_metal():
    """Zip sliders, press studs, snap hooks and screws: about nine per bag (five before renderer 7,
    mostly D-rings and wheel axles), about two per cardboard box."""
    mean = {}
    for kind in ("soft_bag", "hard_case", "cardboard_box"):
        bags = [draw_container(kind, 600, 400, np.random.default_rng(seed), PPM) for seed in range(10)]
        mean[kind] = np.mean([_small_dense_parts(bag.layers) for bag in bags])
    assert mean["soft_bag"] >= 7 and mean["hard_case"] >= 7 and mean["cardboard_box"] < 4


def test_wheeled_soft_bags_hold_their_trolley_tubes():
    """A wheeled soft bag is packed square, so its tubes stay inside it (renderer 6 drew an oval bag,
    whose corners the tubes stuck out of by up to 28.5% of their area)."""
    wheeled = 0
    for seed in range(12):
        layers = draw_container("soft_bag", 500, 700, np.random.default_rng(seed), PPM).layers
        tube = layers[MATERIAL_INDEX["aluminium"]] > 0.05
        if tube.any():
            wheeled += 1
            assert (layers[MATERIAL_INDEX["plastic"]][tube] > 0.01).all()  # bag fabric under every tube pixel
    assert 3 <= wheeled <= 9
