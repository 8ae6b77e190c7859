"""False-colour rendering of dual-energy scans, as conveyor X-ray workstations show them.

Hue follows effective atomic number (orange organic, green inorganic, blue metal); saturation and
darkness follow attenuation. Effective Z is read from the pair of log-attenuations (Ll, Lh): beam
hardening bends the ratio Ll/Lh with thickness, so the ratio is compared with reference-material
curves measured at the same Lh (a `Calibration`), as real scanners do.

The mapping is a 2D lookup table over quantised (Ll, Lh), so rendering costs two index computations
and one gather per pixel.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

LUT_LEVELS = 256
L_MAX = 9.0  # log-attenuation at the top of the table (transmission ~1e-4)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Reference-material curves: low-energy log-attenuation as a function of the high-energy one.

    lh: float32 [G] increasing high-energy log-attenuation grid.
    ll: float32 [3, G] low-energy log-attenuation of (organic, inorganic, metal) references at lh.
    """

    lh: np.ndarray
    ll: np.ndarray

    def __post_init__(self) -> None:
        if self.ll.shape != (3, self.lh.shape[0]):
            raise ValueError(f"ll must have shape (3, {self.lh.shape[0]}), got {self.ll.shape}")


@dataclass(frozen=True, slots=True)
class Palette:
    """A vendor's colour scheme. Hues in degrees [0, 360)."""

    organic_hue: float = 30.0
    inorganic_hue: float = 105.0
    metal_hue: float = 220.0
    saturation: float = 0.85  # peak saturation of dense material
    saturation_onset: float = 0.35  # log-attenuation at which colour is fully saturated
    darkness: float = 0.9  # how far the densest material goes towards black (0..1)
    darkness_scale: float = 3.0  # log-attenuation scale of the darkening
    gamma: float = 1.0  # applied to the darkening curve
    organic_break: float = 0.3  # Z coordinate (0 organic, 0.5 inorganic, 1 metal) where green begins
    metal_break: float = 0.75  # Z coordinate where blue begins

    def hue_at(self, z: np.ndarray) -> np.ndarray:
        """Hue in degrees for Z coordinates (0 organic, 0.5 inorganic, 1 metal), with soft steps."""
        hues = np.array([self.organic_hue, self.inorganic_hue, self.metal_hue])
        # Unwrap so interpolation never crosses red the long way round.
        hues = np.unwrap(np.radians(hues)) * 180.0 / np.pi
        s1 = _smoothstep((z - self.organic_break) / 0.12 + 0.5)
        s2 = _smoothstep((z - self.metal_break) / 0.12 + 0.5)
        h = hues[0] + (hues[1] - hues[0]) * s1 + (hues[2] - hues[1]) * s2
        return np.mod(h, 360.0)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def _level(log_att: np.ndarray) -> np.ndarray:
    """Quantise log-attenuation on a square-root scale: fine steps where thin objects live."""
    q = np.sqrt(np.clip(log_att, 0.0, L_MAX) / L_MAX) * (LUT_LEVELS - 1)
    return np.rint(q).astype(np.intp)


def _level_values() -> np.ndarray:
    return (np.arange(LUT_LEVELS) / (LUT_LEVELS - 1)) ** 2 * L_MAX


def z_coordinate(ll: np.ndarray, lh: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Effective-Z coordinate: 0 on the organic curve, 0.5 on the inorganic one, 1 on the metal one."""
    refs = np.stack([np.interp(lh, calibration.lh, calibration.ll[i]) for i in range(3)])
    lo = np.where(ll < refs[1], refs[0], refs[1])
    hi = np.where(ll < refs[1], refs[1], refs[2])
    base = np.where(ll < refs[1], 0.0, 0.5)
    z = base + 0.5 * (ll - lo) / np.maximum(hi - lo, 1e-6)
    return np.clip(z, -0.5, 1.5)


def build_lut(calibration: Calibration, palette: Palette) -> np.ndarray:
    """uint8 [LUT_LEVELS, LUT_LEVELS, 3] RGB indexed by (level(Ll), level(Lh))."""
    values = _level_values()
    ll, lh = np.meshgrid(values, values, indexing="ij")
    z = z_coordinate(ll, lh, calibration)
    # Colour strength follows the mean attenuation; thin material stays near white.
    mean_att = 0.5 * (ll + lh)
    sat = palette.saturation * _smoothstep(mean_att / palette.saturation_onset)
    dark = palette.darkness * (1.0 - np.exp(-lh / palette.darkness_scale)) ** palette.gamma
    val = 1.0 - dark
    hsv = np.stack([palette.hue_at(z) / 2.0, sat * 255.0, val * 255.0], axis=-1)
    hsv = np.clip(np.rint(hsv), 0, 255).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def render(low: np.ndarray, high: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """False-colour RGB uint8 [H, W, 3] from transmissions low, high (float (0, 1], [H, W])."""
    ll = -np.log(np.clip(low, 1e-6, 1.0))
    lh = -np.log(np.clip(high, 1e-6, 1.0))
    return lut[_level(ll), _level(lh)]


@functools.cache
def _raw16_levels() -> np.ndarray:
    """LUT level of every 16-bit detector reading (65535 = air)."""
    transmission = np.maximum(np.arange(65536, dtype=np.float64), 1.0) / 65535.0
    return _level(-np.log(transmission)).astype(np.uint8)  # LUT_LEVELS == 256


def render_raw16(low: np.ndarray, high: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """False-colour RGB uint8 [H, W, 3] from 16-bit low and high detector readings [H, W]."""
    levels = _raw16_levels()
    index = levels[low].astype(np.uint16) << 8
    index |= levels[high]
    return lut.reshape(-1, 3)[index]
