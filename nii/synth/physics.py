"""Dual-energy transmission physics: materials, tube spectra, a sandwich detector, Beer-Lambert.

Per pixel and energy E the beam is attenuated as ``I/I0 = exp(-sum_m (mu/rho)_m(E) * m_m)`` where
``m_m`` is the mass thickness (g/cm^2) of material m along the ray. A conveyor scanner integrates the
transmitted spectrum in two stacked detector layers: a thin front scintillator that absorbs mostly low
energies, a copper filter, and a thick back scintillator that sees the hardened beam. The energy
deposited per layer (E * fluence * absorption efficiency) is summed over energy bins.

Attenuation comes from `xraydb`, spectra from `spekpy`; both are computed once per scanner and
reduced to a few energy bins so that a 800x600 scan costs one small matrix product and one `exp`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import xraydb

from nii.scanio.falsecolor import Calibration

# Basis materials: name -> (chemical formula for xraydb, density g/cm^3). Every object is built from
# these; mixtures (a PCB, a lithium cell) are approximated by the nearest compound.
MATERIALS: dict[str, tuple[str, float]] = {
    "plastic": ("C2H4", 0.95),  # polyethylene / polymers, Zeff ~5.5
    "paper": ("C6H10O5", 0.80),  # cellulose: cardboard, books, textiles, tobacco, wood
    "water": ("H2O", 1.00),  # liquids, food, gels
    "glass": ("SiO2", 2.50),  # glass, ceramics, PCB substrate (Zeff ~11)
    "aluminium": ("Al", 2.70),
    "licoo2": ("LiCoO2", 4.0),  # lithium-ion cell electrode stack (effective)
    "steel": ("Fe", 7.87),
    "copper": ("Cu", 8.96),  # copper, brass
    "lead": ("Pb", 11.35),  # bullet cores, solder
}
MATERIAL_NAMES: tuple[str, ...] = tuple(MATERIALS)
MATERIAL_INDEX: dict[str, int] = {name: i for i, name in enumerate(MATERIAL_NAMES)}

# Energy bin edges (keV) used to integrate spectra; the low end holds almost no transmitted flux.
_BIN_EDGES_KEV = np.array([15, 30, 40, 50, 60, 70, 82, 95, 110, 130, 160], dtype=float)


@dataclass(frozen=True, slots=True, eq=False)  # hashed by identity: cached per configuration
class ScannerModel:
    """One scanner configuration reduced to energy bins.

    mu: float32 [K, E] mass attenuation (cm^2/g) of each basis material per energy bin.
    weights: float32 [E, 2] normalised deposited energy per bin for the (low, high) layers.
    photons: (low, high) mean detected quanta per unscattered pixel, sets quantum noise.
    """

    kvp: float
    mu: np.ndarray
    weights: np.ndarray
    photons: tuple[float, float]

    def transmission(self, mass: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Transmitted fraction per layer.

        mass: float32 [K, H, W] mass thickness (g/cm^2) per basis material.
        Returns (low, high), each float32 [H, W] in (0, 1].
        """
        k, h, w = mass.shape
        att = self.mu.T @ mass.reshape(k, -1)  # [E, P] optical depth per energy bin
        # Cap the exponent: exp(-30) is far below one 16-bit count, and denormals are very slow.
        np.minimum(att, 30.0, out=att)
        np.negative(att, out=att)
        np.exp(att, out=att)
        out = self.weights.T @ att  # [2, P]
        return out[0].reshape(h, w), out[1].reshape(h, w)


def mass_attenuation(material: str, energies_kev: np.ndarray) -> np.ndarray:
    """(mu/rho) in cm^2/g of a basis material at the given energies (keV)."""
    formula, density = MATERIALS[material]
    return xraydb.material_mu(formula, energies_kev * 1000.0, density=density) / density


def _absorbed(formula: str, density: float, thickness_cm: float, energies_kev: np.ndarray) -> np.ndarray:
    mu = xraydb.material_mu(formula, energies_kev * 1000.0, density=density)
    return 1.0 - np.exp(-mu * thickness_cm)


def _transmitted(formula: str, density: float, thickness_cm: float, energies_kev: np.ndarray) -> np.ndarray:
    return np.exp(-xraydb.material_mu(formula, energies_kev * 1000.0, density=density) * thickness_cm)


@functools.lru_cache(maxsize=16)
def scanner_model(
    kvp: float = 150.0,
    tube_filter_mm_al: float = 3.0,
    front_mm_csi: float = 0.3,
    filter_mm_cu: float = 0.6,
    back_mm_csi: float = 4.0,
    photons_high: float = 40000.0,
) -> ScannerModel:
    """Build (and cache) a scanner: spekpy tube spectrum, sandwich detector, binned attenuation."""
    import spekpy  # slow to import; only the generator needs it

    spectrum = spekpy.Spek(kvp=kvp, th=12.0)
    spectrum.filter("Al", tube_filter_mm_al)
    energies, fluence = spectrum.get_spectrum()  # keV, photons per keV
    front = _absorbed("CsI", 4.51, front_mm_csi / 10, energies)
    between = _transmitted("CsI", 4.51, front_mm_csi / 10, energies) * _transmitted(
        "Cu", 8.96, filter_mm_cu / 10, energies
    )
    back = between * _absorbed("CsI", 4.51, back_mm_csi / 10, energies)
    deposit = np.stack([fluence * energies * front, fluence * energies * back], axis=1)  # [E_fine, 2]

    edges = _BIN_EDGES_KEV[kvp + 1e-6 >= _BIN_EDGES_KEV]
    if edges[-1] < kvp:
        edges = np.append(edges, kvp)
    which = np.clip(np.digitize(energies, edges) - 1, 0, len(edges) - 2)
    n_bins = len(edges) - 1
    weights = np.zeros((n_bins, 2))
    mu = np.zeros((len(MATERIAL_NAMES), n_bins))
    per_material = np.stack([mass_attenuation(m, energies) for m in MATERIAL_NAMES])  # [K, E_fine]
    for b in range(n_bins):
        sel = which == b
        weights[b] = deposit[sel].sum(axis=0)
        # Weight each bin's attenuation by the flux the two layers see inside it (both layers together).
        w = deposit[sel].sum(axis=1)
        mu[:, b] = (per_material[:, sel] * w).sum(axis=1) / max(w.sum(), 1e-30) if w.sum() > 0 else 0.0
    keep = weights.sum(axis=1) > 0
    weights, mu = weights[keep], mu[:, keep]
    weights /= weights.sum(axis=0, keepdims=True)
    # The front layer detects fewer quanta than the back one (thin scintillator, soft photons).
    photons = (photons_high * 0.6, photons_high)
    return ScannerModel(
        kvp=kvp,
        mu=np.ascontiguousarray(mu, dtype=np.float32),
        weights=np.ascontiguousarray(weights, dtype=np.float32),
        photons=photons,
    )


def detector_effects(
    low: np.ndarray,
    high: np.ndarray,
    scanner: ScannerModel,
    rng: np.random.Generator,
    *,
    blur_sigma_px: float,
    streak_gain: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Detector blur, per-element gain streaks along the belt, and quantum noise.

    The detector is a line of elements across the tunnel (image rows) read out as the belt moves
    (image columns): a miscalibrated element draws a streak along its whole row.
    """
    import cv2

    out = []
    bank = _noise_bank()
    for signal, quanta in ((low, scanner.photons[0]), (high, scanner.photons[1])):
        s = cv2.GaussianBlur(signal, (0, 0), blur_sigma_px) if blur_sigma_px > 0 else signal
        gain = 1.0 + rng.normal(0.0, streak_gain, size=(s.shape[0], 1)).astype(np.float32)
        s *= gain
        # Quantum noise: Poisson in detected quanta, drawn as a Gaussian of matching variance. The
        # unit normals come from a fixed bank at a random offset: drawing 2 x 0.5 M normals per scan
        # would cost more than the whole Beer-Lambert step.
        start = int(rng.integers(0, bank.size - s.size))
        noise = bank[start : start + s.size].reshape(s.shape)
        s += noise * np.sqrt(np.maximum(s, 1e-6) * np.float32(1.0 / quanta))
        out.append(np.clip(s, 1.0 / 65535.0, 1.0, out=s))
    return out[0], out[1]


@functools.cache
def _noise_bank() -> np.ndarray:
    """8 M standard normals (float32) from a fixed seed, shared by every scan of a process."""
    return np.random.default_rng(20261128).standard_normal(8 * 2**20, dtype=np.float32)


def to_raw16(transmission: np.ndarray) -> np.ndarray:
    """Transmission in (0, 1] as a 16-bit detector reading (65535 = unattenuated air)."""
    return np.round(np.clip(transmission, 0.0, 1.0) * 65535.0).astype(np.uint16)


def from_raw16(raw: np.ndarray) -> np.ndarray:
    """A 16-bit detector reading back to transmission in (0, 1]."""
    return np.maximum(raw.astype(np.float32), 1.0) / 65535.0


# Reference materials for effective-Z calibration: organic (cellulose), inorganic (aluminium), metal (iron).
_CALIBRATION_REFERENCES = ("paper", "aluminium", "steel")


@functools.lru_cache(maxsize=16)
def calibrate(scanner: ScannerModel) -> Calibration:
    """Measure the reference-material curves Ll(Lh) of a scanner through its own physics."""
    from nii.scanio.falsecolor import L_MAX

    mass = np.geomspace(1e-3, 200.0, 400, dtype=np.float32)  # g/cm^2
    lh_grid = np.linspace(0.0, L_MAX, 256, dtype=np.float32)
    curves = []
    for name in _CALIBRATION_REFERENCES:
        stack = np.zeros((len(MATERIAL_NAMES), 1, mass.size), dtype=np.float32)
        stack[MATERIAL_INDEX[name], 0] = mass
        low, high = scanner.transmission(stack)
        ll, lh = -np.log(low[0]), -np.log(high[0])
        curve = np.interp(lh_grid, np.concatenate([[0.0], lh]), np.concatenate([[0.0], ll]))
        curves.append(curve)
    return Calibration(lh=lh_grid, ll=np.stack(curves).astype(np.float32))
