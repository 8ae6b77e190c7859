"""Goods with no detector class (clothes, books, shoes ...) and the containers parcels travel in.

They matter as much as the threats: they overlap everything, set the organic / inorganic balance of
the image and carry most of the declared weight.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from nii.synth.objects import _pick
from nii.synth.sketch import Sketch

Rng = np.random.Generator


def _blob(rng: Rng, w: float, h: float, *, points: int = 14, jitter: float = 0.25) -> np.ndarray:
    """A soft irregular outline inside a w x h box (mm), centred."""
    t = np.sort(rng.uniform(0, 2 * np.pi, points))
    r = 1.0 + rng.uniform(-jitter, jitter, points)
    return np.stack([w / 2 + np.cos(t) * r * w * 0.45, h / 2 + np.sin(t) * r * h * 0.45], axis=1)


def _folds(s: Sketch, mask: np.ndarray, material: str, thickness_mm: float, rng: Rng, count: int) -> None:
    """Folds and seams across a textile: bands where the cloth lies doubled, clipped to its mask."""
    bands = np.zeros_like(mask)
    h_mm, w_mm = (s.h - 2) / s.px_per_mm, (s.w - 2) / s.px_per_mm
    for _ in range(count):
        start, end = rng.uniform(0, 1, 2) * [w_mm, h_mm], rng.uniform(0, 1, 2) * [w_mm, h_mm]
        bend = rng.normal(0, 0.15, 2) * [w_mm, h_mm]
        t = np.linspace(0, 1, 12)[:, None]
        curve = (1 - t) ** 2 * start + 2 * t * (1 - t) * ((start + end) / 2 + bend) + t**2 * end
        s.mask_line(curve, rng.uniform(2, 8), bands)
    s.fill(cv2.min(bands, mask), material, thickness_mm)


def draw_clothes(rng: Rng, ppm: float) -> Sketch:
    """A folded garment: textile of uneven thickness with folds and seams, sometimes a zip, buttons or a
    belt buckle."""
    w, h = rng.uniform(180, 380), rng.uniform(140, 300)
    s = Sketch(w, h, ppm)
    mask = s.mask_poly(_blob(rng, w, h, jitter=0.15))
    layer = rng.uniform(8, 35)
    s.texture(mask, "paper", layer, rng, scale_mm=rng.uniform(12, 40), contrast=0.7)
    _folds(s, mask, "paper", layer * rng.uniform(0.3, 0.6), rng, int(rng.integers(3, 9)))
    extra = rng.random()
    if extra < 0.3:
        x = rng.uniform(0.3, 0.7) * w
        s.line([[x, h * 0.15], [x + rng.uniform(-20, 20), h * 0.85]], 3, "steel", 1.0)  # zip
    elif extra < 0.6:
        for k in range(int(rng.integers(3, 7))):
            s.ellipse(w * 0.5, h * 0.2 + k * 20, 5, 5, "plastic", 3)
    elif extra < 0.7:
        s.ring(w * 0.5, h * 0.5, 20, 14, "steel", 3)
    return s


def draw_shoes(rng: Rng, ppm: float) -> Sketch:
    """A shoe: rubber sole, textile or leather upper, eyelets, sometimes a steel shank."""
    length, width = rng.uniform(230, 310), rng.uniform(85, 110)
    s = Sketch(length, width, ppm)
    sole = s.mask_poly(
        np.array(
            [
                [length * 0.02, width * 0.35],
                [length * 0.2, width * 0.05],
                [length * 0.75, width * 0.1],
                [length * 0.98, width * 0.4],
                [length * 0.95, width * 0.8],
                [length * 0.7, width * 0.95],
                [length * 0.2, width * 0.9],
                [length * 0.03, width * 0.7],
            ]
        )
    )
    s.fill(sole, "plastic", rng.uniform(18, 30), round_mm=15)
    s.texture(sole, "paper", 10, rng, scale_mm=25)
    if rng.random() < 0.3:
        s.rect(length * 0.35, width * 0.45, length * 0.3, 10, "steel", 1.5)
    for k in range(int(rng.integers(0, 7))):
        s.ellipse(length * (0.3 + k * 0.07), width * 0.5, 3, 3, "aluminium", 2)
    return s


def draw_books(rng: Rng, ppm: float) -> Sketch:
    """A book or a stack: dense, uniform cellulose with a harder cover, occasionally a spiral."""
    w, h = rng.uniform(130, 240), rng.uniform(180, 300)
    s = Sketch(w, h, ppm)
    s.rect(0, 0, w, h, "paper", rng.uniform(15, 60) * 1.25, corner_mm=2)
    if rng.random() < 0.15:
        for k in range(int(h // 8)):
            s.ring(4, 4 + k * 8, 3.5, 2.8, "steel", 1.2)
    return s


def draw_toys(rng: Rng, ppm: float) -> Sketch:
    """Plastic shapes, sometimes with a small motor, screws and AA cells' contacts."""
    w, h = rng.uniform(80, 220), rng.uniform(60, 180)
    s = Sketch(w, h, ppm)
    for _ in range(int(rng.integers(1, 4))):
        bw, bh = rng.uniform(0.3, 0.9) * w, rng.uniform(0.3, 0.9) * h
        s.poly(
            _blob(rng, bw, bh, points=8, jitter=0.3) + [rng.uniform(0, w - bw), rng.uniform(0, h - bh)],
            "plastic",
            rng.uniform(2, 25),
            round_mm=6,
        )
    if rng.random() < 0.4:
        s.rect(w * 0.4, h * 0.4, 25, 20, "steel", 15, round_mm=6)
        s.line([[w * 0.4, h * 0.5], [w * 0.1, h * 0.8]], 1, "copper")
    return s


def draw_cosmetics(rng: Rng, ppm: float) -> Sketch:
    """Jars and tubes: glass or plastic containers of cream or gel."""
    s = Sketch(140, 120, ppm)
    for k in range(int(rng.integers(1, 4))):
        if rng.random() < 0.5:
            s.cylinder(
                10 + k * 40,
                10,
                10 + k * 40,
                rng.uniform(60, 110),
                rng.uniform(12, 20),
                _pick(rng, ["glass", "plastic"]),
                wall_mm=2.5,
                fill_material="water",
                fill_to=0.9,
            )
        else:
            s.rect(5 + k * 40, 10, 30, rng.uniform(70, 105), "plastic", 10, round_mm=6)
            s.rect(5 + k * 40, 10, 30, 8, "aluminium", 1)
    return s


def draw_food(rng: Rng, ppm: float) -> Sketch:
    """A tin, a bag of dry food or a jar."""
    form = rng.random()
    if form < 0.35:
        s = Sketch(110, 90, ppm)
        s.cylinder(5, 45, 105, 45, rng.uniform(35, 42), "steel", wall_mm=0.25, fill_material="water")
        return s
    w, h = rng.uniform(120, 220), rng.uniform(100, 200)
    s = Sketch(w, h, ppm)
    mask = s.mask_poly(_blob(rng, w, h, points=10, jitter=0.1))
    s.texture(mask, _pick(rng, ["paper", "water"]), rng.uniform(20, 50), rng, scale_mm=8, contrast=0.35)
    s.fill(mask, "aluminium", 0.03)  # foil lining
    return s


def draw_cables(rng: Rng, ppm: float) -> Sketch:
    """A coiled cable: copper conductors in plastic insulation, with plugs."""
    w, h = rng.uniform(100, 260), rng.uniform(80, 200)
    s = Sketch(w, h, ppm)
    pts = np.cumsum(rng.normal(0, 25, size=(int(rng.integers(8, 20)), 2)), axis=0)
    pts = (pts - pts.min(0)) / np.maximum(np.ptp(pts, axis=0), 1) * [w - 20, h - 20] + 10
    for _ in range(3):  # Chaikin corner cutting: a cable bends, it does not kink
        cuts = np.stack([0.75 * pts[:-1] + 0.25 * pts[1:], 0.25 * pts[:-1] + 0.75 * pts[1:]], axis=1)
        pts = np.concatenate([pts[:1], cuts.reshape(-1, 2), pts[-1:]])
    s.line(pts, 5, "plastic", 5)
    s.line(pts, 1.2, "copper")
    for end in (pts[0], pts[-1]):
        s.rect(end[0] - 6, end[1] - 6, 12, 12, "plastic", 10)
        s.rect(end[0] - 3, end[1] - 2, 8, 4, "steel", 2)
    return s


def draw_chargers(rng: Rng, ppm: float) -> Sketch:
    """A wall charger: plastic body, transformer (ferrite and copper), PCB and prongs."""
    w, h = rng.uniform(40, 70), rng.uniform(40, 80)
    s = Sketch(w + 20, h, ppm)
    s.rect(0, 0, w, h, "plastic", 25, round_mm=4, corner_mm=6)
    s.rect(w * 0.2, h * 0.2, w * 0.5, h * 0.35, "steel", 12)
    s.rect(w * 0.25, h * 0.25, w * 0.4, h * 0.25, "copper", 6)
    s.rect(w * 0.1, h * 0.6, w * 0.8, h * 0.3, "glass", 1.6)
    for k in range(2):
        s.rect(w, h * (0.3 + 0.3 * k), 18, 4, "copper", 2)
    return s


def draw_keys(rng: Rng, ppm: float) -> Sketch:
    """Keys on a steel ring."""
    s = Sketch(110, 110, ppm)
    s.ring(25, 25, 14, 12, "steel", 2)
    for _ in range(int(rng.integers(1, 5))):
        a = rng.uniform(0, np.pi / 2)
        d = np.array([np.cos(a), np.sin(a)])
        start = np.array([25, 25]) + d * 14
        mat = _pick(rng, ["steel", "copper"])
        s.line([start, start + d * rng.uniform(50, 70)], 8, mat, 2.0)
        s.ellipse(start[0] + d[0] * 8, start[1] + d[1] * 8, 11, 11, mat, 2.0)
    return s


def draw_coins(rng: Rng, ppm: float) -> Sketch:
    s = Sketch(80, 60, ppm)
    for _ in range(int(rng.integers(2, 9))):
        s.ellipse(
            rng.uniform(12, 68),
            rng.uniform(12, 48),
            rng.uniform(8, 13),
            rng.uniform(8, 13),
            _pick(rng, ["copper", "steel"]),
            rng.uniform(1.5, 2.3),
        )
    return s


def draw_documents(rng: Rng, ppm: float) -> Sketch:
    w, h = rng.uniform(160, 230), rng.uniform(220, 300)
    s = Sketch(w, h, ppm)
    s.rect(0, 0, w, h, "paper", rng.uniform(0.5, 6))
    if rng.random() < 0.5:
        s.rect(8, 8, 8, 30, "steel", 0.8)  # paper clip / staples
    return s


GOODS_DRAWERS: dict[str, Callable[[Rng, float], Sketch]] = {
    "clothes": draw_clothes,
    "shoes": draw_shoes,
    "books": draw_books,
    "toys": draw_toys,
    "cosmetics": draw_cosmetics,
    "food": draw_food,
    "cables": draw_cables,
    "chargers": draw_chargers,
    "keys": draw_keys,
    "coins": draw_coins,
    "documents": draw_documents,
}


def draw_container(kind: str, w_mm: float, h_mm: float, rng: Rng, ppm: float) -> Sketch:
    """The parcel itself: walls projected edge-on are dense, faces are thin."""
    s = Sketch(w_mm, h_mm, ppm)
    if kind == "cardboard_box":
        wall = rng.uniform(3, 7)
        s.rect(0, 0, w_mm, h_mm, "paper", wall * 2 * 0.6)
        s.rect(0, 0, w_mm, h_mm, "paper", 25, round_mm=0)
        s.rect(wall, wall, w_mm - 2 * wall, h_mm - 2 * wall, "paper", -25)
        s.rect(w_mm * 0.45, 0, w_mm * 0.1, h_mm, "plastic", 0.3)  # tape
        if rng.random() < 0.5:  # void fill: crumpled paper or air cushions
            outline = _blob(rng, w_mm * 0.9, h_mm * 0.9, points=12, jitter=0.2) + [w_mm * 0.05, h_mm * 0.05]
            s.texture(s.mask_poly(outline), _pick(rng, ["paper", "plastic"]), rng.uniform(2, 8), rng,
                      scale_mm=rng.uniform(10, 25), contrast=0.9)
    elif kind == "padded_envelope":
        s.rect(0, 0, w_mm, h_mm, "paper", 0.6, corner_mm=3)
        mask = s.mask_poly(np.array([[3, 3], [w_mm - 3, 3], [w_mm - 3, h_mm - 3], [3, h_mm - 3]]))
        s.texture(mask, "plastic", 2.0, rng, scale_mm=6, contrast=0.8)
    elif kind == "soft_bag":
        outline = _blob(rng, w_mm, h_mm, points=16, jitter=0.08)
        mask = s.mask_poly(outline)
        s.texture(mask, "plastic", 4, rng, scale_mm=30, contrast=0.5)
        # Fabric walls seen edge-on: the outline and, a few millimetres in, piping and a perimeter zip.
        for inset_px, thickness in ((0, 20.0), (int(rng.integers(4, 9) * ppm), 8.0)):
            inner = cv2.erode(mask, np.ones((3, 3), np.uint8), iterations=inset_px) if inset_px else mask
            edge = inner.astype(np.float32) - cv2.erode(inner, np.ones((5, 5), np.uint8)).astype(np.float32)
            s.fill(np.clip(edge, 0, 255).astype(np.uint8), "plastic", thickness)
        centre = np.array([w_mm / 2, h_mm / 2])
        ring = centre + (outline - centre) * rng.uniform(0.85, 0.93)
        s.line(np.vstack([ring, ring[:1]]), 3, "steel", 1.2)  # perimeter zip: a chain of teeth
        y = h_mm * rng.uniform(0.2, 0.3)
        s.line([[w_mm * 0.25, y], [w_mm * 0.75, y]], 4, "steel", 1.5)  # pocket zip
        s.rect(w_mm * 0.5 - 10, y - 6, 20, 12, "steel", 3)  # zip puller
        _handles(s, w_mm, h_mm, rng)
    else:  # hard_case: plastic shell, aluminium trolley tubes, wheels, steel frame
        s.rect(0, 0, w_mm, h_mm, "plastic", 6, corner_mm=25)
        s.rect(0, 0, w_mm, h_mm, "plastic", 40, corner_mm=25)
        s.rect(6, 6, w_mm - 12, h_mm - 12, "plastic", -40, corner_mm=20)
        s.rect(12, 12, w_mm - 24, h_mm - 24, "plastic", 10, corner_mm=18)  # the two shells' rims
        s.rect(15, 15, w_mm - 30, h_mm - 30, "plastic", -10, corner_mm=16)
        s.rect(10, 10, w_mm - 20, h_mm - 20, "steel", 1.2, corner_mm=20)  # zip between the shells
        s.rect(11.5, 11.5, w_mm - 23, h_mm - 23, "steel", -1.2, corner_mm=19)
        tube_end = h_mm * rng.uniform(0.55, 0.75)  # the telescopic tube overlaps the outer one up to here
        for x in (w_mm * 0.3, w_mm * 0.7):
            s.line([[x, 15], [x, h_mm - 15]], 12, "aluminium", 12)
            s.line([[x, 15], [x, h_mm - 15]], 9, "aluminium", -9)
            s.line([[x, 15], [x, tube_end]], 8, "aluminium", 8)
            s.line([[x, 15], [x, tube_end]], 6, "aluminium", -6)
        s.rect(w_mm * 0.3 - 8, 8, w_mm * 0.4 + 16, 18, "plastic", 25, round_mm=6, corner_mm=6)  # handle
        if rng.random() < 0.6:  # lining divider with its zip
            y = h_mm * rng.uniform(0.35, 0.65)
            s.line([[20, y], [w_mm - 20, y + rng.uniform(-15, 15)]], 3, "steel", 1.2)
        for x, y in ((20, 20), (w_mm - 20, 20), (20, h_mm - 20), (w_mm - 20, h_mm - 20)):
            s.ellipse(x, y, 14, 14, "plastic", 30)
            s.ellipse(x, y, 4, 4, "steel", 30)
    if kind in ("soft_bag", "hard_case") and rng.random() < 0.7:
        # Lining and the soft things luggage is packed with: textile over most of the inside.
        outline = _blob(rng, w_mm * 0.85, h_mm * 0.85, points=14, jitter=0.15) + [w_mm * 0.075, h_mm * 0.075]
        lining = s.mask_poly(outline)
        layer = rng.uniform(5, 20)
        s.texture(lining, "paper", layer, rng, scale_mm=rng.uniform(15, 40), contrast=0.8)
        _folds(s, lining, "paper", layer * 0.5, rng, int(rng.integers(4, 12)))
    if kind != "padded_envelope":
        _hardware(s, w_mm, h_mm, rng)
    s.layers.clip(0, None, out=s.layers)
    return s


def _handles(s: Sketch, w_mm: float, h_mm: float, rng: Rng) -> None:
    """Carry handles or a shoulder strap lying over the bag: webbing loops with D-rings at the ends."""
    for _ in range(int(rng.integers(1, 3))):
        x0, x1 = sorted(rng.uniform(0.15, 0.85, 2) * w_mm)
        y = rng.uniform(0.1, 0.9) * h_mm
        sag = rng.uniform(-0.3, 0.3) * h_mm
        xs = np.linspace(x0, x1, 9)
        ys = y + sag * np.sin(np.linspace(0, np.pi, 9))
        s.line(np.stack([xs, ys], 1), rng.uniform(20, 35), "plastic", rng.uniform(2, 4))
        for x, yy in ((xs[0], ys[0]), (xs[-1], ys[-1])):
            s.ring(x, yy, 9, 6, "steel", 3)


def _hardware(s: Sketch, w_mm: float, h_mm: float, rng: Rng) -> None:
    """Buckles, rings, rivets and wire frames: the small metal every bag carries (false-alarm bait)."""
    for _ in range(int(rng.integers(0, 7))):
        x, y = rng.uniform(0.05, 0.95) * w_mm, rng.uniform(0.05, 0.95) * h_mm
        part = rng.random()
        if part < 0.3:
            s.ring(x, y, rng.uniform(6, 14), rng.uniform(3, 5), "steel", 2.5)
        elif part < 0.55:
            s.rect(x, y, rng.uniform(15, 35), rng.uniform(10, 20), "steel", 2.0, corner_mm=3)
            s.rect(x + 4, y + 4, 6, 4, "steel", -2.0)
        elif part < 0.8:
            s.ellipse(x, y, 2.5, 2.5, "copper", 3.0)
        else:
            length = rng.uniform(60, 200)
            s.line([[x, y], [x + length * rng.uniform(-1, 1), y + length * rng.uniform(-1, 1)]], 2.5, "steel")


CONTAINERS: tuple[str, ...] = ("cardboard_box", "padded_envelope", "soft_bag", "hard_case")
