"""Physics of the renderer: Beer-Lambert, effective-Z separation, false colours."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from nii.scanio.falsecolor import Palette, build_lut, render_raw16, z_coordinate
from nii.synth.physics import (
    MATERIAL_INDEX,
    MATERIALS,
    calibrate,
    from_raw16,
    scanner_model,
    to_raw16,
)

ORGANIC = ("plastic", "paper", "water")
INORGANIC = ("glass", "aluminium")
METAL = ("steel", "copper")


def _slab(material: str, thickness_mm: np.ndarray) -> np.ndarray:
    mass = np.zeros((len(MATERIALS), 1, thickness_mm.size), dtype=np.float32)
    mass[MATERIAL_INDEX[material], 0] = MATERIALS[material][1] * thickness_mm / 10.0
    return mass


@pytest.fixture(scope="module")
def scanner():
    return scanner_model()


@pytest.mark.parametrize("material", list(MATERIALS), ids=list(MATERIALS))
def test_attenuation_grows_with_thickness(scanner, material):
    low, high = scanner.transmission(_slab(material, np.linspace(0.0, 20.0, 50)))
    assert low[0, 0] == pytest.approx(1.0) and high[0, 0] == pytest.approx(1.0)  # air
    for signal in (low[0], high[0]):
        assert np.all(np.diff(signal) <= 0)
        measurable = signal[1:] > 1e-9  # below this the exponent is capped (far under one 16-bit count)
        assert np.all(np.diff(signal)[measurable] < 0)
    assert np.all(low[0, 1:] <= high[0, 1:])  # the front layer sees the softer, more attenuated beam


def test_water_matches_beer_lambert_at_mean_energy(scanner):
    # 10 cm of water at ~60-80 keV effective energy: mu/rho 0.18-0.21 cm^2/g -> T in [0.12, 0.17].
    _, high = scanner.transmission(_slab("water", np.array([100.0])))
    assert 0.10 < high[0, 0] < 0.20


@pytest.mark.parametrize("thickness_mm", [2.0, 5.0, 10.0], ids=["2mm", "5mm", "10mm"])
def test_effective_z_separates_organic_inorganic_metal(scanner, thickness_mm):
    # Compare at equal high-energy attenuation, as a scanner does: scale each material's thickness.
    cal = calibrate(scanner)
    target_lh = 0.3 * thickness_mm / 5.0
    z = {}
    for name in ORGANIC + INORGANIC + METAL:
        grid = np.geomspace(0.01, 400.0, 4000)
        low, high = scanner.transmission(_slab(name, grid))
        lh = -np.log(high[0])
        i = int(np.argmin(np.abs(lh - target_lh)))
        z[name] = float(z_coordinate(np.array(-np.log(low[0, i])), np.array(lh[i]), cal))
    assert max(z[m] for m in ORGANIC) < 0.3 < min(z[m] for m in INORGANIC)
    assert max(z[m] for m in INORGANIC) < 0.75 < min(z[m] for m in METAL)


def _hue_deg(rgb: np.ndarray) -> float:
    hsv = cv2.cvtColor(rgb.reshape(1, 1, 3).astype(np.uint8), cv2.COLOR_RGB2HSV)
    return float(hsv[0, 0, 0]) * 2.0


@pytest.mark.parametrize(
    ("material", "thickness_mm", "expected_hue"),
    [
        ("paper", 40.0, "organic"),
        ("water", 40.0, "organic"),
        ("aluminium", 10.0, "inorganic"),
        ("glass", 10.0, "inorganic"),
        ("steel", 4.0, "metal"),
        ("copper", 2.0, "metal"),
    ],
    ids=["paper", "water", "aluminium", "glass", "steel", "copper"],
)
def test_false_colours_follow_effective_z(scanner, material, thickness_mm, expected_hue):
    palette = Palette(organic_hue=30.0, inorganic_hue=110.0, metal_hue=220.0)
    lut = build_lut(calibrate(scanner), palette)
    low, high = scanner.transmission(_slab(material, np.array([0.0, thickness_mm])))
    rgb = render_raw16(to_raw16(low), to_raw16(high), lut)
    assert rgb[0, 0].tolist() == [255, 255, 255]  # air is white
    hue = _hue_deg(rgb[0, 1])
    target = {"organic": 30.0, "inorganic": 110.0, "metal": 220.0}[expected_hue]
    assert abs(hue - target) < 20.0


def test_denser_is_darker(scanner):
    lut = build_lut(calibrate(scanner), Palette())
    low, high = scanner.transmission(_slab("steel", np.array([1.0, 4.0, 12.0])))
    rgb = render_raw16(to_raw16(low), to_raw16(high), lut).astype(int)
    brightness = rgb[0].sum(axis=1)
    assert brightness[0] > brightness[1] > brightness[2]


def test_raw16_round_trip():
    t = np.array([[1.0, 0.5, 1e-3, 1e-6]], dtype=np.float32)
    raw = to_raw16(t)
    assert raw.dtype == np.uint16 and raw[0, 0] == 65535
    back = from_raw16(raw)
    np.testing.assert_allclose(back[0, :3], t[0, :3], rtol=2e-2)
    assert back[0, 3] > 0  # never zero: log-attenuation stays finite
