"""One synthetic parcel: plan its contents and misdeclarations, place the objects, scan it.

Everything is drawn from one `numpy.random.Generator` seeded by (seed, index), so a parcel depends
only on those two numbers and the code version, never on the worker that made it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from nii.matching.declaration import Declaration
from nii.scanio.falsecolor import Palette, build_lut, render_raw16
from nii.synth.clutter import CONTAINERS, GOODS_DRAWERS, LUGGAGE, PERSONAL_DRAWERS, draw_container
from nii.synth.contents import ContentItem, ground_truth_labels
from nii.synth.declarations import make_declaration
from nii.synth.objects import DRAWERS
from nii.synth.physics import (
    MATERIAL_NAMES,
    ScannerModel,
    calibrate,
    detector_effects,
    scanner_model,
    to_raw16,
)
from nii.synth.sketch import MIN_MASS, Placed, place
from nii.types import CLASS_NAMES, GOODS_KINDS, Misdeclaration

Rng = np.random.Generator

# Goods drawn more often than others, roughly as in cross-border e-commerce parcels.
_GOODS_WEIGHTS = np.array([6, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1], dtype=float)
_GOODS_WEIGHTS /= _GOODS_WEIGHTS.sum()
assert len(_GOODS_WEIGHTS) == len(GOODS_KINDS)

# Items small enough to hide under or inside another object, and the goods that hide them.
_CONCEALABLE = (
    "gun",
    "bullet",
    "knife",
    "lighter",
    "battery",
    "phone",
    "cigarettes",
    "powerbank",
    "scissors",
)
_HOSTS = ("books", "shoes", "clothes", "food", "toys")

# Units per class when present: (min, max) inclusive.
_UNITS = {"bullet": (1, 6), "battery": (1, 3), "cigarettes": (1, 1), "laptop": (1, 1), "gun": (1, 1)}


@dataclass(frozen=True, slots=True)
class BoxAnnotation:
    """A detector-class object in the scan: tight box in pixels (x1, y1, x2, y2)."""

    class_name: str
    xyxy: tuple[float, float, float, float]
    concealed: bool
    contrast: float  # how far it shows in the false-colour image (`object_contrast`), 0-441


@dataclass(frozen=True, slots=True)
class Parcel:
    """A scanned parcel. rgb: uint8 [H, W, 3]; low, high: uint16 [H, W] detector readings."""

    rgb: np.ndarray
    low: np.ndarray
    high: np.ndarray
    boxes: tuple[BoxAnnotation, ...]
    contents: tuple[ContentItem, ...]
    declaration: Declaration
    labels: tuple[str, ...]
    scanner: dict = field(default_factory=dict)


def sample_palette(rng: Rng) -> tuple[str, Palette]:
    """A vendor-like palette: orange-dominant, olive-green or red-dominant schemes, jittered."""
    style = ("orange", "olive", "red")[int(rng.choice(3, p=[0.5, 0.25, 0.25]))]
    base = {
        "orange": dict(organic_hue=rng.uniform(28, 45), saturation=rng.uniform(0.55, 0.85)),
        "olive": dict(organic_hue=rng.uniform(45, 62), saturation=rng.uniform(0.35, 0.6)),
        "red": dict(organic_hue=rng.uniform(6, 22), saturation=rng.uniform(0.45, 0.75)),
    }[style]
    palette = Palette(
        inorganic_hue=rng.uniform(85, 135),
        metal_hue=rng.uniform(200, 240),
        saturation_onset=rng.uniform(0.2, 0.7),
        darkness=rng.uniform(0.8, 0.97),
        darkness_scale=rng.uniform(2.0, 4.0),
        gamma=rng.uniform(0.8, 1.3),
        organic_break=rng.uniform(0.15, 0.3),
        metal_break=rng.uniform(0.68, 0.8),
        **base,
    )
    return style, palette


def plan_contents(rng: Rng, threat_share: float) -> list[dict]:
    """Kinds, units and misdeclaration flags of one parcel (mass is filled in after drawing)."""
    plan: dict[str, dict] = {}
    n_goods = int(rng.choice([1, 2, 3, 4, 5, 6], p=[0.05, 0.15, 0.25, 0.25, 0.2, 0.1]))
    for kind in rng.choice(GOODS_KINDS, size=n_goods, replace=False, p=_GOODS_WEIGHTS):
        plan[str(kind)] = {
            "kind": str(kind),
            "quantity": int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.2, 0.1])),
        }
    if rng.random() < threat_share:
        for kind in rng.choice(
            CLASS_NAMES, size=int(rng.choice([1, 2, 3], p=[0.5, 0.35, 0.15])), replace=False
        ):
            lo, hi = _UNITS.get(str(kind), (1, 2))
            units = int(rng.integers(lo, hi + 1)) if rng.random() < 0.5 or lo > 1 else lo
            plan[str(kind)] = {"kind": str(kind), "quantity": units}

    def pick(candidates: list[str]) -> dict:
        return plan[candidates[int(rng.integers(len(candidates)))]]

    if rng.random() >= 0.45:  # misdeclared parcel
        flags = rng.choice(
            [str(m) for m in Misdeclaration if m != Misdeclaration.PROHIBITED_ITEM],
            size=int(rng.choice([1, 2], p=[0.7, 0.3])),
            replace=False,
        )
        for flag in flags:
            detectable = [k for k in plan if k in CLASS_NAMES]
            if flag in (Misdeclaration.UNDECLARED_ITEM, Misdeclaration.CONCEALED):
                pool = [k for k in detectable if flag != Misdeclaration.CONCEALED or k in _CONCEALABLE]
                if not pool:
                    kind = str(rng.choice(_CONCEALABLE if flag == Misdeclaration.CONCEALED else CLASS_NAMES))
                    plan[kind] = {"kind": kind, "quantity": 1}
                    pool = [kind]
                item = pick(pool)
                if flag == Misdeclaration.CONCEALED:
                    item["concealed"] = True
                    if not any(k in plan for k in _HOSTS):
                        host = str(rng.choice(_HOSTS))
                        plan[host] = {"kind": host, "quantity": 1}
                    if rng.random() < 0.7:
                        item["declared"] = False
                else:
                    item["declared"] = False
                continue
            declared = [k for k in plan if plan[k].get("declared", True)]
            if not declared:
                continue
            item = pick(detectable if flag == Misdeclaration.MISDESCRIBED and detectable else declared)
            if not item.get("declared", True):
                continue
            if flag == Misdeclaration.MISDESCRIBED:
                item["misdescribed"] = True
            elif flag == Misdeclaration.UNDERVALUED:
                item["undervalued"] = True
            elif flag == Misdeclaration.QUANTITY_MISMATCH:
                q = item["quantity"]
                item["declared_quantity"] = int(rng.integers(1, q)) if q > 1 else int(rng.integers(2, 4))
    return list(plan.values())


def generate_parcel(
    seed: int, index: int, width: int = 800, height: int = 600, threat_share: float = 0.85
) -> Parcel:
    """Render parcel `index` of the run seeded `seed` at about width x height pixels."""
    rng = np.random.default_rng([seed, index])
    kvp = float(rng.choice([140.0, 150.0, 160.0]))
    scanner = scanner_model(kvp=kvp, tube_filter_mm_al=float(rng.choice([2.0, 4.0])))
    style, palette = sample_palette(rng)
    tunnel_mm = rng.uniform(520, 700)
    ppm = height / tunnel_mm  # pixels per millimetre across the tunnel
    scan_w = int(round(width * rng.uniform(0.8, 1.25)))  # belt direction: scan length varies
    stack = np.zeros((len(MATERIAL_NAMES), height, scan_w), dtype=np.float32)  # g/cm^2 per material
    px_area_cm2 = (0.1 / ppm) ** 2

    # Container, filling most of the tunnel.
    container = str(rng.choice(CONTAINERS, p=[0.4, 0.2, 0.25, 0.15]))
    cw = rng.uniform(0.6, 0.92) * scan_w / ppm
    ch = rng.uniform(0.6, 0.9) * height / ppm
    if container == "padded_envelope":
        cw, ch = cw * 0.8, ch * 0.7
    ccx = scan_w / 2 + rng.uniform(-0.05, 0.05) * scan_w
    ccy = height / 2 + rng.uniform(-0.05, 0.05) * height
    place(draw_container(container, cw, ch, rng, ppm), stack, ccx, ccy, rng.uniform(-8, 8))
    inner = (ccx - cw * ppm * 0.4, ccy - ch * ppm * 0.4, ccx + cw * ppm * 0.4, ccy + ch * ppm * 0.4)
    if container in LUGGAGE:  # a traveller's own things: undeclared, unlabelled
        for kind in rng.choice(list(PERSONAL_DRAWERS), size=int(rng.integers(1, 7))):
            cx, cy = rng.uniform(inner[0], inner[2]), rng.uniform(inner[1], inner[3])
            place(PERSONAL_DRAWERS[str(kind)](rng, ppm), stack, cx, cy, rng.uniform(0, 360))

    plan = plan_contents(rng, threat_share)
    masses: dict[str, float] = {}
    labelled: list[tuple[str, Placed, bool]] = []
    host_boxes: list[tuple[float, float, float, float]] = []
    # Goods first (they host concealed items), then the detector classes.
    order = sorted(plan, key=lambda p: p["kind"] in CLASS_NAMES)
    for item in order:
        kind = item["kind"]
        drawer = DRAWERS.get(kind) or GOODS_DRAWERS[kind]
        for _ in range(item["quantity"]):
            sketch = drawer(rng, ppm)
            if item.get("concealed") and host_boxes:
                hx1, hy1, hx2, hy2 = host_boxes[int(rng.integers(len(host_boxes)))]
                cx, cy = rng.uniform(hx1, max(hx2, hx1 + 1)), rng.uniform(hy1, max(hy2, hy1 + 1))
            else:
                cx, cy = rng.uniform(inner[0], inner[2]), rng.uniform(inner[1], inner[3])
            tilt = 1.0 if rng.random() < 0.5 else float(np.cos(np.radians(rng.uniform(0, 60))))
            placed = place(
                sketch, stack, cx, cy, rng.uniform(0, 360), tilt, bool(rng.random() < 0.5), px_area_cm2
            )
            if placed is None:
                continue
            masses[kind] = masses.get(kind, 0.0) + placed.mass_g
            if kind in _HOSTS:
                host_boxes.append(_shrink(placed, 0.25))
            if kind in CLASS_NAMES:
                labelled.append((kind, placed, bool(item.get("concealed"))))

    contents = tuple(
        ContentItem(
            kind=p["kind"],
            quantity=p["quantity"],
            mass_kg=max(masses.get(p["kind"], 1.0) / 1000.0, 0.001),
            concealed=bool(p.get("concealed", False)),
            declared=bool(p.get("declared", True)),
            misdescribed=bool(p.get("misdescribed", False)),
            undervalued=bool(p.get("undervalued", False)),
            declared_quantity=p.get("declared_quantity"),
        )
        for p in plan
    )
    declaration = make_declaration(contents, rng)

    low, high = scanner.transmission(stack)
    low, high = detector_effects(
        low, high, scanner, rng, blur_sigma_px=rng.uniform(0.4, 1.0), streak_gain=rng.uniform(0.0, 0.006)
    )
    low16, high16 = to_raw16(low), to_raw16(high)
    lut = build_lut(calibrate(scanner), palette)
    rgb = render_raw16(low16, high16, lut)
    boxes = tuple(
        BoxAnnotation(kind, _clip(placed.xyxy, scan_w, height), concealed,
                      object_contrast(stack, placed, scanner, lut))
        for kind, placed, concealed in labelled
    )
    meta = {"kvp": kvp, "palette": style, "container": container, "px_per_mm": round(ppm, 4)}
    return Parcel(
        rgb=rgb,
        low=low16,
        high=high16,
        boxes=boxes,
        contents=contents,
        declaration=declaration,
        labels=ground_truth_labels(contents),
        scanner=meta,
    )


def object_contrast(stack: np.ndarray, placed: Placed, scanner: ScannerModel, lut: np.ndarray) -> float:
    """How far a placed object shows in the false-colour image: the 90th percentile, over its footprint,
    of the RGB distance (0-441) between the scan rendered with and without it (before detector blur
    and noise). Its most visible tenth counts, as the metal parts of a pair of scissors give them away.
    Looking at crops of renderer-7 parcels: below about 30 nothing shows, up to about 70 only faintly.
    """
    y0, x0 = placed.origin
    h, w = next(iter(placed.layers.values())).shape
    with_it = stack[:, y0 : y0 + h, x0 : x0 + w]
    without = with_it.copy()
    own = np.zeros((h, w), dtype=np.float32)
    for k, layer in placed.layers.items():
        without[k] -= layer
        own += layer
    np.maximum(without, 0.0, out=without)  # float rounding where the object was alone
    footprint = own > MIN_MASS
    rgb = [render_raw16(*(to_raw16(t) for t in scanner.transmission(m)), lut).astype(np.float32)
           for m in (with_it, without)]
    distance = np.sqrt(((rgb[0] - rgb[1]) ** 2).sum(axis=-1))[footprint]
    return round(float(np.percentile(distance, 90)), 1)  # never empty: `place` keeps only objects that show


def _shrink(placed: Placed, by: float) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = placed.xyxy
    dx, dy = (x2 - x1) * by, (y2 - y1) * by
    return (x1 + dx, y1 + dy, x2 - dx, y2 - dy)


def _clip(xyxy: tuple[float, float, float, float], w: int, h: int) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = xyxy
    return (max(x1, 0.0), max(y1, 0.0), min(x2, float(w)), min(y2, float(h)))
