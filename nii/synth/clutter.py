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


def _squarish(rng: Rng, w: float, h: float, *, points: int = 32) -> np.ndarray:
    """A box-shaped soft outline (a superellipse of exponent 6) inside a w x h box (mm), centred."""
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    r = 1.0 + rng.uniform(-0.03, 0.03, points)
    c, s = np.cos(t), np.sin(t)
    x, y = np.sign(c) * np.abs(c) ** (1 / 3), np.sign(s) * np.abs(s) ** (1 / 3)
    return np.stack([w / 2 + x * r * w * 0.45, h / 2 + y * r * h * 0.45], axis=1)


def _smooth(pts: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Chaikin corner cutting: a cable or chain bends, it does not kink."""
    for _ in range(rounds):
        cuts = np.stack([0.75 * pts[:-1] + 0.25 * pts[1:], 0.25 * pts[:-1] + 0.75 * pts[1:]], axis=1)
        pts = np.concatenate([pts[:1], cuts.reshape(-1, 2), pts[-1:]])
    return pts


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


# -- small dense hardware ---------------------------------------------------------------------------
# Zip sliders, press studs, clasps and short screws: steel the size of a cartridge. On real luggage
# (SIXray) the model's false bullets lie on exactly these, which our bags carried few of.


def _plate(s: Sketch, a, b, width_mm: float, material: str, thickness_mm: float) -> None:
    """A flat bar from a to b (mm), width_mm across: stamped or cast parts, square-edged."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = (b - a) / max(float(np.linalg.norm(b - a)), 1e-6)
    n = np.array([-d[1], d[0]]) * width_mm / 2
    s.poly([a + n, b + n, b - n, a - n], material, thickness_mm)


def _zip_slider(s: Sketch, x: float, y: float, angle: float, rng: Rng) -> None:
    """A zip's slider (die-cast zinc, drawn as steel: Z 30 against 26) and its puller, which hangs off
    it at any angle; a hole near the puller's end."""
    c, d = np.array([x, y]), np.array([np.cos(angle), np.sin(angle)])
    length = rng.uniform(12, 22)
    _plate(s, c - d * length / 2, c + d * length / 2, rng.uniform(8, 14), "steel", rng.uniform(3, 5))
    turn = angle + rng.uniform(-0.7, 0.7) + (np.pi if rng.random() < 0.5 else 0)
    p = np.array([np.cos(turn), np.sin(turn)])
    reach, width, t = rng.uniform(18, 40), rng.uniform(6, 12), rng.uniform(1.5, 2.5)
    _plate(s, c, c + p * reach, width, "steel", t)
    _plate(s, c + p * reach * 0.7, c + p * (reach - 3), width * 0.45, "steel", -t)


def _press_stud(s: Sketch, x: float, y: float, rng: Rng) -> None:
    """A press stud, jeans button or eyelet: pressed sheet whose rim is seen edge-on, a dense post."""
    r, mat = rng.uniform(4.5, 9), _pick(rng, ["steel", "copper"])
    s.ellipse(x, y, r, r, mat, rng.uniform(0.4, 0.8))
    s.ring(x, y, r, r - rng.uniform(1.0, 2.0), mat, rng.uniform(1.5, 3))
    s.ellipse(x, y, r * 0.35, r * 0.35, mat, rng.uniform(2, 4))


def _clasp(s: Sketch, x: float, y: float, angle: float, rng: Rng) -> None:
    """A snap hook or lobster clasp: a loop of cast steel with its swivel eye."""
    length, width, wire = rng.uniform(25, 65), rng.uniform(10, 22), rng.uniform(2.5, 5)
    t = np.linspace(0, 2 * np.pi, 25)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    loop = np.stack([length / 2 * np.cos(t), width / 2 * np.sin(t)], 1) @ rot.T + [x, y]
    s.line(loop, wire, "steel", wire * rng.uniform(1.0, 1.5))
    eye = np.array([x, y]) + rot[:, 0] * (length / 2 + 5)
    s.ring(eye[0], eye[1], 5, 2.5, "steel", 3)


def _screw(s: Sketch, x: float, y: float, angle: float, rng: Rng) -> None:
    """A short screw, nail or bolt seen side-on: a round steel shank and a head."""
    length, dia = rng.uniform(10, 50), rng.uniform(2.5, 6)
    c, d = np.array([x, y]), np.array([np.cos(angle), np.sin(angle)])
    a, b = c - d * length / 2, c + d * length / 2
    s.line([a, b], dia, "steel")
    head = dia * rng.uniform(1.6, 2.2)
    _plate(s, a - d * rng.uniform(1.5, 4), a, head, "steel", head * 0.8)


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
        x, dx = rng.uniform(0.3, 0.7) * w, rng.uniform(-20, 20)
        s.line([[x, h * 0.15], [x + dx, h * 0.85]], 3, "steel", 1.0)  # zip
        f = rng.uniform(0.15, 0.85)
        _zip_slider(s, x + dx * (f - 0.15) / 0.7, h * f, np.pi / 2, rng)
    elif extra < 0.5:
        for k in range(int(rng.integers(3, 7))):
            s.ellipse(w * 0.5, h * 0.2 + k * 20, 5, 5, "plastic", 3)
    elif extra < 0.6:
        s.ring(w * 0.5, h * 0.5, 20, 14, "steel", 3)
    elif extra < 0.8:  # jeans or a jacket: a metal button, rivets or a row of press studs
        for _ in range(int(rng.integers(2, 7))):
            _press_stud(s, rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h, rng)
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
    pts = _smooth((pts - pts.min(0)) / np.maximum(np.ptp(pts, axis=0), 1) * [w - 20, h - 20] + 10)
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


# -- personal items ---------------------------------------------------------------------------------
# What travellers pack beside the goods: long thin metal that is not a knife (cutlery, pens, umbrella
# ribs, chains), cable coils and bare circuit boards. On real luggage scans (SIXray) the model called
# such things knives 12 times as often per scan as on our parcels, so luggage carries them.


def draw_cutlery(rng: Rng, ppm: float) -> Sketch:
    """A spoon or a fork: a pressed steel (or plastic) handle and a bowl or tines."""
    length, head = rng.uniform(130, 210), rng.uniform(40, 60)
    mat, t = ("steel", rng.uniform(1.2, 2.5)) if rng.random() < 0.8 else ("plastic", 3.0)
    s = Sketch(length + 4, 30, ppm)
    neck = 2 + length - head
    s.poly([[2, 11], [neck, 13], [neck, 17], [2, 19]], mat, t)  # handle, tapering to the neck
    if rng.random() < 0.5:
        s.ellipse(neck + head / 2, 15, head / 2, rng.uniform(10, 14), mat, t * 0.8, round_mm=3)
    else:
        s.poly([[neck, 13], [neck + head * 0.35, 7], [neck + head * 0.35, 23], [neck, 17]], mat, t)
        for y in np.linspace(8.5, 21.5, 4):
            s.line([[neck + head * 0.3, y], [2 + length, y]], 2.2, mat, t)
    return s


def draw_pens(rng: Rng, ppm: float) -> Sketch:
    """Ballpoint pens: hollow plastic (or aluminium) barrels, each with its refill, spring and tip."""
    n = int(rng.integers(1, 4))
    s = Sketch(160, 14 * n + 4, ppm)
    for k in range(n):
        y, length = 9 + 14 * k, rng.uniform(125, 150)
        barrel = "plastic" if rng.random() < 0.75 else "aluminium"
        s.line([[5, y], [5 + length, y]], 9, barrel, 9 if barrel == "plastic" else 1.0)
        s.line([[6, y], [4 + length, y]], 7, barrel, -7 if barrel == "plastic" else -0.8)
        s.line([[10, y], [length - 5, y]], 2.5, "plastic")  # refill
        s.line([[length - 8, y], [length + 4, y]], 1.6, "copper")  # brass tip
        s.line([[length - 25, y], [length - 12, y]], 3.5, "steel", 0.8)  # spring
        s.rect(8, y - 7, 40, 2, "steel", 0.8)  # clip
    return s


def draw_umbrella(rng: Rng, ppm: float) -> Sketch:
    """A folded umbrella: a steel shaft in telescoping sections, a bundle of thin ribs, a grip."""
    length = rng.uniform(230, 330) if rng.random() < 0.7 else rng.uniform(550, 800)
    s = Sketch(length + 10, 50, ppm)
    s.rect(5, 25 - 21, length * 0.85, 42, "plastic", 1.5, corner_mm=6)  # folded canopy
    s.line([[40, 25], [length, 25]], 8, "steel", 0.8)  # hollow shaft: bright walls
    s.line([[length * 0.45, 25], [length, 25]], 6.5, "steel", 0.8)
    for _ in range(int(rng.integers(6, 9))):
        y = 25 + rng.uniform(-14, 14)
        s.line([[30 + rng.uniform(0, 20), y], [length * 0.9, 25 + (y - 25) * 0.5]], 1.5, "steel")
    s.rect(length * 0.5, 19, 12, 12, "plastic", 12)  # runner
    s.rect(length - 5, 14, 12 if length < 400 else 40, 22, "plastic", 22, round_mm=6, corner_mm=5)  # grip
    return s


def draw_chain(rng: Rng, ppm: float) -> Sketch:
    """A chain (bag strap, jewellery, bicycle lock): links alternately flat and edge-on along a curve."""
    link, wire = rng.uniform(6, 16), rng.uniform(1.0, 3.0)
    n = int(rng.integers(15, 50))
    w = h = link * n * 0.35 + 20
    pts = np.cumsum(rng.normal(0, link * 2, size=(8, 2)), axis=0)
    pts = (pts - pts.min(0)) / np.maximum(np.ptp(pts, axis=0), 1) * [w - 20, h - 20] + 10
    curve = _smooth(pts, 4)
    arc = np.concatenate([[0], np.cumsum(np.linalg.norm(np.diff(curve, axis=0), axis=1))])
    mat = _pick(rng, ["steel", "steel", "copper"])
    s = Sketch(w, h, ppm)

    def at(d: float) -> np.ndarray:
        return np.array([np.interp(d, arc, curve[:, 0]), np.interp(d, arc, curve[:, 1])])

    for k, d in enumerate(np.arange(0, arc[-1], link * 0.8)):
        c = at(d)
        if k % 2:
            nxt = at(d + link * 0.4)
            s.line([2 * c - nxt, nxt], wire, mat, link * 0.6)  # a link seen edge-on: a short dense bar
        else:
            s.ring(c[0], c[1], link / 2, link / 2 - wire, mat, wire)
    return s


def draw_cable_coil(rng: Rng, ppm: float) -> Sketch:
    """A wound-up cable or earphones: loop over loop, with a plug or earbuds at the ends."""
    rx, ry = rng.uniform(35, 90), rng.uniform(25, 60)
    s = Sketch(2 * rx + 50, 2 * ry + 50, ppm)
    thin = rng.random() < 0.35  # earphones
    width, core = (2.0, 0.5) if thin else (rng.uniform(3.5, 6), rng.uniform(0.8, 1.6))
    loops = int(rng.integers(3, 9))
    t = np.linspace(0, 2 * np.pi * loops, 60 * loops)
    wobble = 1 + 0.12 * np.sin(t / loops * rng.uniform(1, 3)) + rng.normal(0, 0.02, t.size).cumsum() / 20
    pts = np.stack([rx + 25 + rx * wobble * np.cos(t), ry + 25 + ry * wobble * np.sin(t)], 1)
    s.line(pts, width, "plastic")
    s.line(pts, core, "copper")
    for end in (pts[0], pts[-1]):
        if thin:
            s.ellipse(end[0], end[1], 9, 9, "plastic", 12)
            s.ellipse(end[0], end[1], 4, 4, "steel", 3)  # the driver's magnet
        else:
            s.rect(end[0] - 8, end[1] - 6, 16, 12, "plastic", 12, corner_mm=2)
            s.rect(end[0] + 6, end[1] - 3, 12, 6, "steel", 1.0)  # USB shell
    return s


def draw_circuit_board(rng: Rng, ppm: float) -> Sketch:
    """A bare circuit board (router, game controller, toy): fibreglass, copper, chips, capacitors."""
    w, h = rng.uniform(60, 200), rng.uniform(40, 140)
    s = Sketch(w, h, ppm)
    s.rect(0, 0, w, h, "glass", 1.6, corner_mm=2)
    s.rect(0, 0, w, h, "copper", 0.07)
    for _ in range(int(rng.integers(2, 7))):  # chips: plastic package over a copper lead frame
        cw, ch = rng.uniform(6, 25), rng.uniform(6, 25)
        x, y = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
        s.rect(x, y, cw, ch, "plastic", 1.5)
        s.rect(x + 1, y + 1, cw - 2, ch - 2, "copper", 0.15)
    for _ in range(int(rng.integers(3, 15))):  # electrolytic capacitors, seen from above
        r = rng.uniform(2, 5)
        s.ring(rng.uniform(r, w - r), rng.uniform(r, h - r), r, r - 0.4, "aluminium", rng.uniform(6, 10))
    for _ in range(int(rng.integers(1, 4))):  # connectors at the edge
        cw = rng.uniform(8, 20)
        s.rect(rng.uniform(0, w - cw), rng.choice([0.0, h - 8]), cw, 8, "steel", 1.2)
    for _ in range(int(rng.integers(10, 40))):  # traces
        a, b = rng.uniform(0, 1, 2) * [w, h], rng.uniform(0, 1, 2) * [w, h]
        s.line([a, [b[0], a[1]], b], 0.6, "copper", 0.05)
    return s


def draw_fasteners(rng: Rng, ppm: float) -> Sketch:
    """A handful of screws, nails and bolts, loose in a pocket or in a small bag (a furniture kit)."""
    w, h = rng.uniform(60, 120), rng.uniform(50, 90)
    s = Sketch(w, h, ppm)
    if rng.random() < 0.5:
        s.rect(0, 0, w, h, "plastic", 0.3, corner_mm=4)
    for _ in range(int(rng.integers(3, 15))):
        _screw(s, rng.uniform(0.25, 0.75) * w, rng.uniform(0.25, 0.75) * h, rng.uniform(0, 2 * np.pi), rng)
    return s


PERSONAL_DRAWERS: dict[str, Callable[[Rng, float], Sketch]] = {
    "cutlery": draw_cutlery,
    "pens": draw_pens,
    "umbrella": draw_umbrella,
    "chain": draw_chain,
    "cable_coil": draw_cable_coil,
    "circuit_board": draw_circuit_board,
    "fasteners": draw_fasteners,
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
        wheeled = rng.random() < 0.5  # packed square, the trolley tubes inside its back panel
        outline = _squarish(rng, w_mm, h_mm) if wheeled else _blob(rng, w_mm, h_mm, points=16, jitter=0.08)
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
        for k in rng.choice(len(ring), size=int(rng.integers(1, 3)), replace=False):
            step = ring[(k + 1) % len(ring)] - ring[k]
            _zip_slider(s, *ring[k], float(np.arctan2(step[1], step[0])), rng)
        y = h_mm * rng.uniform(0.2, 0.3)
        s.line([[w_mm * 0.25, y], [w_mm * 0.75, y]], 4, "steel", 1.5)  # pocket zip
        _zip_slider(s, w_mm * rng.uniform(0.25, 0.75), y, 0.0, rng)
        _handles(s, w_mm, h_mm, rng)
        if wheeled:
            _trolley(s, w_mm, h_mm, rng, inset_mm=h_mm * 0.12)
    else:  # hard_case: plastic shell, aluminium trolley tubes, wheels, steel frame
        s.rect(0, 0, w_mm, h_mm, "plastic", 6, corner_mm=25)
        s.rect(0, 0, w_mm, h_mm, "plastic", 40, corner_mm=25)
        s.rect(6, 6, w_mm - 12, h_mm - 12, "plastic", -40, corner_mm=20)
        s.rect(12, 12, w_mm - 24, h_mm - 24, "plastic", 10, corner_mm=18)  # the two shells' rims
        s.rect(15, 15, w_mm - 30, h_mm - 30, "plastic", -10, corner_mm=16)
        s.rect(10, 10, w_mm - 20, h_mm - 20, "steel", 1.2, corner_mm=20)  # zip between the shells
        s.rect(11.5, 11.5, w_mm - 23, h_mm - 23, "steel", -1.2, corner_mm=19)
        for _ in range(int(rng.integers(1, 3))):  # one or two sliders on the shell zip, top or side
            if rng.random() < 0.5:
                _zip_slider(s, rng.uniform(0.2, 0.8) * w_mm, rng.choice([11.0, h_mm - 11]), 0.0, rng)
            else:
                _zip_slider(s, rng.choice([11.0, w_mm - 11]), rng.uniform(0.2, 0.8) * h_mm, np.pi / 2, rng)
        _trolley(s, w_mm, h_mm, rng, inset_mm=12.0)
        if rng.random() < 0.6:  # lining divider with its zip
            y, dy = h_mm * rng.uniform(0.35, 0.65), rng.uniform(-15, 15)
            s.line([[20, y], [w_mm - 20, y + dy]], 3, "steel", 1.2)
            f = rng.uniform(0.1, 0.9)
            _zip_slider(s, 20 + f * (w_mm - 40), y + f * dy, float(np.arctan2(dy, w_mm - 40)), rng)
        for x, y in ((20, 20), (w_mm - 20, 20), (20, h_mm - 20), (w_mm - 20, h_mm - 20)):
            s.ellipse(x, y, 14, 14, "plastic", 30)
            s.ellipse(x, y, 4, 4, "steel", 30)
    if kind in LUGGAGE and rng.random() < 0.7:
        # Lining and the soft things luggage is packed with: textile over most of the inside.
        outline = _blob(rng, w_mm * 0.85, h_mm * 0.85, points=14, jitter=0.15) + [w_mm * 0.075, h_mm * 0.075]
        lining = s.mask_poly(outline)
        layer = rng.uniform(5, 20)
        s.texture(lining, "paper", layer, rng, scale_mm=rng.uniform(15, 40), contrast=0.8)
        _folds(s, lining, "paper", layer * 0.5, rng, int(rng.integers(4, 12)))
    if kind != "padded_envelope":
        _hardware(s, w_mm, h_mm, rng, int(rng.integers(2, 11) if kind in LUGGAGE else rng.integers(0, 7)))
    s.layers.clip(0, None, out=s.layers)
    return s


def _trolley(s: Sketch, w_mm: float, h_mm: float, rng: Rng, *, inset_mm: float) -> None:
    """Telescopic handle: two rectangular aluminium tubes, an inner pair overlapping the outer.

    Seen through its flat faces a tube is a faint band (two walls of 1-2 mm), but along its sides
    the beam runs down the side walls edge-on (the tube's whole depth): two sharp lines.
    """
    tw, depth, wall = rng.uniform(20, 34), rng.uniform(12, 22), rng.uniform(1.0, 1.8)
    gap = w_mm * rng.uniform(0.22, 0.38)  # from the centre line to each tube
    y0, y1 = inset_mm, h_mm - inset_mm
    tube_end = y0 + (y1 - y0) * rng.uniform(0.5, 0.8)  # the inner tube reaches down to here
    for x in (w_mm / 2 - gap, w_mm / 2 + gap):
        for width, end in ((tw, y1), (tw - 2 * wall - 1.5, tube_end)):
            left = x - width / 2
            s.rect(left, y0, width, end - y0, "aluminium", 2 * wall)
            for edge in (left, left + width - wall):
                s.rect(edge, y0, wall, end - y0, "aluminium", depth - 2 * wall)
        s.rect(x - tw / 2 - 4, y1 - 25, tw + 8, 25, "plastic", 15, corner_mm=4)  # base mount
    s.rect(w_mm / 2 - gap - tw / 2, y0 - 10, 2 * gap + tw, 20, "plastic", 25, round_mm=6, corner_mm=6)  # grip


def _handles(s: Sketch, w_mm: float, h_mm: float, rng: Rng) -> None:
    """Carry handles or a shoulder strap lying over the bag: webbing loops with D-rings at the ends."""
    for _ in range(int(rng.integers(1, 3))):
        x0, x1 = sorted(rng.uniform(0.15, 0.85, 2) * w_mm)
        y = rng.uniform(0.1, 0.9) * h_mm
        sag = rng.uniform(-0.3, 0.3) * h_mm
        xs = np.linspace(x0, x1, 9)
        ys = y + sag * np.sin(np.linspace(0, np.pi, 9))
        s.line(np.stack([xs, ys], 1), rng.uniform(20, 35), "plastic", rng.uniform(2, 4))
        hooks = rng.random() < 0.4  # a shoulder strap clips on with snap hooks
        for x, yy in ((xs[0], ys[0]), (xs[-1], ys[-1])):
            if hooks:
                _clasp(s, x, yy, rng.uniform(0, 2 * np.pi), rng)
            else:
                s.ring(x, yy, 9, 6, "steel", 3)


def _hardware(s: Sketch, w_mm: float, h_mm: float, rng: Rng, count: int) -> None:
    """Buckles, rings, rivets, press studs, clasps, loose screws and wire frames: the small metal every
    bag carries (false-alarm bait)."""
    for _ in range(count):
        x, y = rng.uniform(0.05, 0.95) * w_mm, rng.uniform(0.05, 0.95) * h_mm
        angle = rng.uniform(0, 2 * np.pi)
        part = rng.random()
        if part < 0.15:
            s.ring(x, y, rng.uniform(6, 14), rng.uniform(3, 5), "steel", 2.5)
        elif part < 0.3:
            s.rect(x, y, rng.uniform(15, 35), rng.uniform(10, 20), "steel", 2.0, corner_mm=3)
            s.rect(x + 4, y + 4, 6, 4, "steel", -2.0)
        elif part < 0.45:
            s.ellipse(x, y, 2.5, 2.5, "copper", 3.0)
        elif part < 0.6:
            _press_stud(s, x, y, rng)
        elif part < 0.7:
            _clasp(s, x, y, angle, rng)
        elif part < 0.85:
            _screw(s, x, y, angle, rng)
        else:
            length = rng.uniform(60, 200)
            s.line([[x, y], [x + length * rng.uniform(-1, 1), y + length * rng.uniform(-1, 1)]], 2.5, "steel")


CONTAINERS: tuple[str, ...] = ("cardboard_box", "padded_envelope", "soft_bag", "hard_case")
LUGGAGE: tuple[str, ...] = ("soft_bag", "hard_case")  # a traveller's bags: more hardware, personal items
