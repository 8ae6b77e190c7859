"""Procedural families of the 15 detector classes, drawn part by part with real materials.

Each `draw_<class>(rng, px_per_mm)` returns a `Sketch` in the object's own frame (millimetres, long
axis along x). Sizes follow real goods; every family has several forms and material choices.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nii.synth.sketch import Sketch

Rng = np.random.Generator


def _pick(rng: Rng, options):
    return options[int(rng.integers(len(options)))]


def draw_gun(rng: Rng, ppm: float) -> Sketch:
    """Pistol (hollow slide over a barrel and recoil spring, polymer or metal frame, grip with a
    magazine of cartridges, trigger guard) or revolver."""
    if rng.random() < 0.25:
        return _revolver(rng, ppm)
    length = rng.uniform(150, 210)
    slide_h = rng.uniform(26, 34)
    slide_w = rng.uniform(22, 30)  # across the beam when the pistol lies flat
    wall = rng.uniform(3.5, 5.5)  # slide side walls: the beam crosses two of them
    grip_w = rng.uniform(28, 36)
    grip_h = rng.uniform(85, 115)
    rake = rng.uniform(10, 28)  # grip angle offset, mm
    s = Sketch(length + 20, slide_h + grip_h + 15, ppm)
    x0, y0 = 5.0, 7.0
    # Slide: a steel box tube. Its faces hold two walls of steel; its top and bottom are seen edge-on.
    s.rect(x0, y0, length, slide_h, "steel", 2 * wall, corner_mm=3)
    for y in (y0, y0 + slide_h - wall):
        s.rect(x0, y, length, wall, "steel", slide_w - 2 * wall)
    port = length * rng.uniform(0.45, 0.55)  # ejection port: one wall cut away
    s.rect(x0 + port, y0 + wall, length * 0.18, slide_h * 0.4, "steel", -wall)
    barrel_y = y0 + slide_h * 0.42
    s.cylinder(x0 + 1, barrel_y, x0 + length * 0.72, barrel_y, rng.uniform(6.0, 7.5), "steel",
               wall_mm=rng.uniform(2.2, 3.0))
    s.rect(x0 + length * 0.6, barrel_y - 8, length * 0.14, 16, "steel", 6, round_mm=3)  # chamber
    # Recoil spring round a guide rod under the barrel: a steel coil seen from the side.
    spring_y, coil = y0 + slide_h * 0.78, rng.uniform(3.0, 4.0)
    xs = np.arange(x0 + 8, x0 + length * 0.5, 2.6)
    s.line(np.stack([xs, spring_y + coil * (np.arange(len(xs)) % 2 * 2 - 1)], 1), 1.1, "steel", 2.5)
    s.line([[x0 + 8, spring_y], [x0 + length * 0.5, spring_y]], 3.0, _pick(rng, ["steel", "plastic"]))
    s.line([[x0 + length * 0.8, barrel_y], [x0 + length * 0.97, barrel_y]], 3.0, "steel")  # striker
    for x in (x0 + 6, x0 + length - 12):
        s.rect(x, y0 - 4, 7, 4.5, "steel", 6)  # sights
    # Frame: polymer shell or metal; the grip is hollow round the magazine.
    frame = _pick(rng, ["plastic", "plastic", "steel", "aluminium"])
    shell = rng.uniform(6, 9) if frame == "plastic" else rng.uniform(4, 7)
    gx = x0 + length * rng.uniform(0.62, 0.75)
    grip = np.array(
        [
            [gx - grip_w / 2, y0 + slide_h],
            [gx + grip_w / 2 + 8, y0 + slide_h],
            [gx + grip_w / 2 + rake, y0 + slide_h + grip_h],
            [gx - grip_w / 2 + rake, y0 + slide_h + grip_h],
        ]
    )
    s.poly(grip, frame, shell, round_mm=4)
    if frame != "plastic":
        s.poly(grip, _pick(rng, ["plastic", "paper"]), rng.uniform(6, 10), round_mm=6)  # grip panels
    s.rect(x0 + length * 0.06, y0 + slide_h - 1, gx - grip_w / 2 - x0 - length * 0.06, 9, frame,
           slide_w * 0.8, round_mm=3)  # dust cover / rail
    mag = grip.copy()
    mag[:, 0] += np.array([5, -9, -9, 5])
    mag[2:, 1] += 4
    s.poly(mag, "steel", 1.8)
    base = mag[[3, 2, 2, 3]] + np.array([[-2, -6], [2, -6], [2, 0], [-2, 0]])
    s.poly(base, _pick(rng, ["steel", "plastic"]), 8)  # magazine base plate
    for k in range(int(rng.integers(3, 8))):
        t = (k + 0.5) / 8
        cx = gx + rake * t
        s.rect(cx - 9, y0 + slide_h + 6 + t * grip_h * 0.85, 16, 6, "copper", 7.0, round_mm=3)
    # Trigger guard: a loop in front of the grip; the trigger inside it.
    front = gx - grip_w / 2
    ys = y0 + slide_h + 6
    guard = [[front - 30, ys - 4], [front - 32, ys + 10], [front - 24, ys + 22], [front + 1, ys + 21]]
    s.line(guard, 4.5, frame, 9)
    s.line([[front - 14, ys - 4], [front - 15, ys + 6], [front - 11, ys + 14]], 4.0,
           _pick(rng, ["steel", "plastic"]), 6)
    if frame != "plastic":
        s.rect(x0 + length - 2, y0 + slide_h * 0.45, 9, 12, "steel", 8, round_mm=2)  # hammer
    s.layers.clip(0, None, out=s.layers)
    return s


def _revolver(rng: Rng, ppm: float) -> Sketch:
    """Revolver: hollow barrel with an ejector rod under it, a cylinder of loaded chambers in a steel
    frame, hammer, trigger guard and a wood or plastic grip."""
    barrel = rng.uniform(60, 150)
    s = Sketch(barrel + 125, 150, ppm)
    y = 30.0
    s.cylinder(5, y + 8, 5 + barrel, y + 8, rng.uniform(8, 10), "steel", wall_mm=rng.uniform(3.5, 5))
    s.rect(5, y - 2, barrel, 3, "steel", 8)  # rib
    s.line([[12, y + 20], [5 + barrel, y + 20]], 4.0, "steel")  # ejector rod
    cyl_w, cyl_h = rng.uniform(38, 48), rng.uniform(34, 40)
    s.rect(5 + barrel, y - 8, cyl_w + 30, cyl_h + 6, "steel", 8, corner_mm=6)  # frame window sides
    s.rect(5 + barrel, y - 6, cyl_w, cyl_h, "steel", cyl_h * 0.45, round_mm=8, corner_mm=4)  # cylinder
    for k in range(3):  # loaded chambers seen from the side: brass cases, lead noses
        s.rect(8 + barrel, y - 3 + k * cyl_h * 0.3, cyl_w - 6, 7, "copper", 6, round_mm=3)
        s.rect(6 + barrel, y - 3 + k * cyl_h * 0.3, 6, 7, "lead", 7, round_mm=3)
    back = 5 + barrel + cyl_w
    s.rect(back, y - 6, 28, 30, "steel", 20, round_mm=6)  # frame behind the cylinder
    s.poly([[back + 18, y - 6], [back + 30, y - 16], [back + 34, y - 10], [back + 26, y + 2]], "steel", 8)
    grip = np.array([[back + 12, y + 22], [back + 40, y + 16], [back + 58, y + 105], [back + 26, y + 110]])
    s.poly(grip, _pick(rng, ["paper", "plastic"]), rng.uniform(24, 32), round_mm=10)
    s.line([[back + 20, y + 24], [back + 40, y + 100]], 6, "steel", 10)  # frame inside the grip
    ys = y + cyl_h - 6
    guard = [[back - 22, ys], [back - 24, ys + 14], [back - 12, ys + 24], [back + 14, ys + 22]]
    s.line(guard, 4.0, "steel", 8)
    s.line([[back - 6, ys], [back - 8, ys + 10], [back - 3, ys + 17]], 4.0, "steel", 6)  # trigger
    return s


def draw_bullet(rng: Rng, ppm: float) -> Sketch:
    """One cartridge: brass case and lead or copper-jacketed projectile (pistol or rifle calibre)."""
    if rng.random() < 0.6:
        dia, case_len, bullet_len = rng.uniform(8.5, 11.5), rng.uniform(17, 24), rng.uniform(8, 12)
    else:
        dia, case_len, bullet_len = rng.uniform(5.5, 8.0), rng.uniform(38, 55), rng.uniform(14, 22)
    r = dia / 2
    s = Sketch(case_len + bullet_len + 4, dia + 4, ppm)
    s.cylinder(2, 2 + r, 2 + case_len, 2 + r, r, "copper", wall_mm=0.6, fill_material="paper", fill_to=0.8)
    s.rect(2, 2 + r - r * 0.9, 2, r * 1.8, "copper", dia * 0.8)
    tip = np.array(
        [
            [2 + case_len, 2],
            [2 + case_len + bullet_len * 0.55, 2 + r * 0.15],
            [2 + case_len + bullet_len, 2 + r],
            [2 + case_len + bullet_len * 0.55, 2 + 2 * r - r * 0.15],
            [2 + case_len, 2 + 2 * r],
        ]
    )
    s.poly(tip, _pick(rng, ["lead", "copper"]), dia * 0.85, round_mm=r)
    return s


def draw_knife(rng: Rng, ppm: float) -> Sketch:
    """Knife: chef, pointed, dagger, folding or serrated blade; wood, plastic or steel handle."""
    form = _pick(rng, ["chef", "pointed", "dagger", "folding", "serrated", "utility"])
    blade = rng.uniform(60, 200) if form != "utility" else rng.uniform(40, 70)
    width = rng.uniform(14, 45) if form == "chef" else rng.uniform(12, 28)
    handle = rng.uniform(80, 130)
    s = Sketch(blade + handle + 10, width + 12, ppm)
    y_top, x0 = 5.0, 5 + handle
    spine = y_top + (width * 0.5 if form == "dagger" else 0)
    edge = y_top + width
    pts = [
        [x0, y_top],
        [x0 + blade * 0.75, spine + (0 if form != "pointed" else width * 0.15)],
        [x0 + blade, y_top + width * (0.5 if form == "dagger" else 0.25)],
        [x0 + blade * 0.7, edge],
        [x0, edge],
    ]
    if form == "dagger":
        pts[0][1] = y_top
    blade_pts = np.array(pts)
    if form == "serrated":
        teeth = np.linspace(x0 + blade * 0.7, x0 + 4, 14)
        zig = [[x, edge - (1.5 if i % 2 else 0)] for i, x in enumerate(teeth)]
        blade_pts = np.array(pts[:4] + zig)
    s.poly(blade_pts, "steel", rng.uniform(1.2, 3.0))
    handle_mat = _pick(rng, ["paper", "plastic", "steel", "plastic"])
    handle_t = 4.0 if handle_mat == "steel" else rng.uniform(12, 20)
    s.rect(
        5,
        y_top + width * 0.1,
        handle,
        width * 0.8 if form != "chef" else 22,
        handle_mat,
        handle_t,
        round_mm=4 if handle_mat != "steel" else 0,
        corner_mm=5,
    )
    if handle_mat != "steel":
        s.rect(5, y_top + width * 0.35, handle, 3, "steel", 2.5)  # tang
        for k in range(int(rng.integers(2, 4))):
            s.ellipse(15 + k * (handle - 20) / 2, y_top + width * 0.5, 2.5, 2.5, "steel", 12)  # rivets
    if form == "folding":
        s.ellipse(x0, y_top + width * 0.5, 5, 5, "steel", 10)
    return s


def draw_scissors(rng: Rng, ppm: float) -> Sketch:
    """Two crossing steel blades, a pivot screw and two finger rings (plastic or steel)."""
    blade = rng.uniform(50, 120)
    ring_r = rng.uniform(10, 16)
    open_deg = rng.uniform(2, 35)
    s = Sketch(blade + 4 * ring_r + 20, 4 * ring_r + 40, ppm)
    pivot = np.array([3 * ring_r + 10, 2 * ring_r + 20])
    handle_mat = _pick(rng, ["plastic", "plastic", "steel"])
    for sign in (-1, 1):
        a = np.radians(sign * open_deg / 2)
        d = np.array([np.cos(a), np.sin(a)])
        n = np.array([-d[1], d[0]])
        tip = pivot + d * blade
        s.poly(np.array([pivot - n * 4, tip, pivot + n * 4 * sign]), "steel", 2.5)
        ring_c = pivot - d * (ring_r * 2.2) + n * sign * ring_r * 0.8
        s.line([pivot, ring_c], 6, "steel" if handle_mat == "steel" else "plastic", 5)
        s.ring(ring_c[0], ring_c[1], ring_r, ring_r - 4, handle_mat, 7 if handle_mat == "plastic" else 3.5)
    s.ellipse(pivot[0], pivot[1], 3.5, 3.5, "steel", 8)
    return s


def draw_wrench(rng: Rng, ppm: float) -> Sketch:
    """Combination or adjustable spanner: forged steel shaft, open jaw and ring (or worm and jaw)."""
    length = rng.uniform(110, 300)
    head = length * rng.uniform(0.14, 0.2)
    s = Sketch(length + head + 10, head * 2 + 10, ppm)
    cy = head + 5
    s.rect(
        5 + head * 0.6, cy - head * 0.22, length - head * 1.2, head * 0.44, "steel", head * 0.22, round_mm=2
    )
    if rng.random() < 0.3:  # adjustable
        s.rect(
            5 + length - head * 0.6,
            cy - head,
            head * 1.3,
            head * 2,
            "steel",
            head * 0.35,
            round_mm=2,
            corner_mm=4,
        )
        s.rect(5 + length - head * 0.1, cy - head * 0.25, head * 0.8, head * 0.5, "steel", -head * 0.3)
        s.cylinder(
            5 + length - head * 0.5,
            cy + head * 0.55,
            5 + length + head * 0.2,
            cy + head * 0.55,
            head * 0.18,
            "steel",
        )
        s.ellipse(5 + head * 0.4, cy, head * 0.2, head * 0.12, "steel", -head * 0.2)  # hang hole
    else:
        s.ring(5 + head * 0.6, cy, head * 0.55, head * 0.3, "steel", head * 0.3)
        jaw = np.array(
            [
                [5 + length - head * 0.6, cy - head * 0.6],
                [5 + length + head * 0.5, cy - head * 0.8],
                [5 + length + head * 0.5, cy + head * 0.8],
                [5 + length - head * 0.6, cy + head * 0.6],
            ]
        )
        s.poly(jaw, "steel", head * 0.28)
        gap = np.array(
            [
                [5 + length - head * 0.1, cy - head * 0.3],
                [5 + length + head * 0.6, cy - head * 0.4],
                [5 + length + head * 0.6, cy + head * 0.4],
                [5 + length - head * 0.1, cy + head * 0.3],
            ]
        )
        s.poly(gap, "steel", -head * 0.28)
    s.layers.clip(0, None, out=s.layers)
    return s


def draw_pliers(rng: Rng, ppm: float) -> Sketch:
    """Two steel halves crossing at a pivot, jaws, and handles often sleeved in plastic."""
    length = rng.uniform(120, 250)
    jaw = length * rng.uniform(0.22, 0.35)
    spread = rng.uniform(8, 30)
    s = Sketch(length + 10, spread * 2 + 60, ppm)
    pivot = np.array([5 + jaw, spread + 30])
    sleeve = rng.random() < 0.8
    for sign in (-1, 1):
        end = pivot + [length - jaw, sign * spread]
        s.line([pivot, end], 9, "steel", 6)
        if sleeve:
            s.line([pivot + (end - pivot) * 0.25, end], 16, "plastic", 13)
        tip = pivot + [-jaw, sign * 2.5]
        s.poly(np.array([pivot + [0, -7], tip + [0, -sign * 1], tip, pivot + [0, 7]]), "steel", 8, round_mm=2)
    s.ellipse(pivot[0], pivot[1], 7, 7, "steel", 14)
    return s


def draw_hammer(rng: Rng, ppm: float) -> Sketch:
    """Steel head (claw or ball-peen) on a wooden, fibreglass or steel handle."""
    handle_len = rng.uniform(220, 340)
    head_len = rng.uniform(90, 135)
    s = Sketch(handle_len + 30, head_len + 10, ppm)
    mat = _pick(rng, ["paper", "plastic", "steel"])
    s.rect(
        5,
        head_len / 2 - 13,
        handle_len,
        26,
        mat,
        4.5 if mat == "steel" else 24,
        round_mm=3 if mat == "steel" else 10,
    )
    if mat == "steel":
        s.rect(5, head_len / 2 - 15, handle_len * 0.45, 30, "plastic", 28, round_mm=10)
    hx = 5 + handle_len - 10
    s.rect(hx, 5, 30, head_len * 0.55, "steel", 28, round_mm=6)
    if rng.random() < 0.6:  # claw
        claw = np.array(
            [
                [hx, 5 + head_len * 0.5],
                [hx + 30, 5 + head_len * 0.5],
                [hx + 20, 5 + head_len],
                [hx + 5, 5 + head_len],
            ]
        )
        s.poly(claw, "steel", 14, round_mm=4)
    else:
        s.ellipse(hx + 15, 5 + head_len * 0.8, 14, head_len * 0.2, "steel", 26, round_mm=8)
    return s


def draw_lighter(rng: Rng, ppm: float) -> Sketch:
    """Disposable (plastic body with butane, steel cap and wheel) or a steel windproof lighter."""
    if rng.random() < 0.3:
        s = Sketch(44, 64, ppm)
        s.rect(2, 22, 38, 38, "steel", 1.2, corner_mm=4)
        s.rect(2, 2, 38, 20, "steel", 1.2, corner_mm=4)
        s.rect(6, 24, 30, 34, "paper", 11)  # wadding
        s.rect(10, 8, 16, 14, "steel", 6)  # chimney
        s.ellipse(30, 16, 4, 4, "steel", 8)
        return s
    length, width = rng.uniform(62, 82), rng.uniform(20, 26)
    s = Sketch(width + 4, length + 4, ppm)
    s.rect(2, 14, width, length - 12, "plastic", 11, round_mm=4, corner_mm=4)
    s.rect(4, 14 + (length - 12) * rng.uniform(0.2, 0.7), width - 4, (length - 12) * 0.5, "water", 8)
    s.rect(2, 2, width, 14, "steel", 2.0, corner_mm=2)
    s.ellipse(2 + width * 0.35, 8, 4, 4, "steel", 6)
    s.rect(2 + width * 0.6, 6, 3, 12, "steel", 3)
    return s


def draw_aerosol(rng: Rng, ppm: float) -> Sketch:
    """Pressurised can: aluminium or tinplate wall, liquid, dip tube, valve cup and plastic cap."""
    radius = rng.uniform(20, 33)
    length = rng.uniform(100, 210)
    wall_mat = _pick(rng, ["aluminium", "steel", "aluminium"])
    s = Sketch(length + 30, 2 * radius + 4, ppm)
    cy = radius + 2
    s.cylinder(
        2,
        cy,
        2 + length,
        cy,
        radius,
        wall_mat,
        wall_mm=0.5 if wall_mat == "aluminium" else 0.25,
        fill_material="water",
        fill_from=0.0,
        fill_to=rng.uniform(0.2, 0.8),
    )
    s.line([[4, cy], [2 + length, cy]], 1.5, "plastic", 2)  # dip tube
    s.cylinder(2 + length, cy, 2 + length + 6, cy, radius * 0.55, "steel", wall_mm=0.6)
    if rng.random() < 0.7:
        s.cylinder(2 + length - 4, cy, 2 + length + 26, cy, radius * 0.95, "plastic", wall_mm=1.5)
    return s


def _li_ion_cell(s: Sketch, x: float, cy: float, length: float = 65, radius: float = 9.25) -> None:
    """A cylindrical lithium-ion cell lying along x (18650 by default): thin steel can, electrode roll."""
    s.cylinder(x, cy, x + length, cy, radius, "steel", wall_mm=0.3, fill_material="licoo2", fill_from=0.03,
               fill_to=0.97)


def draw_battery(rng: Rng, ppm: float) -> Sketch:
    """A loose cell (AA, AAA, 18650, 21700, 9 V block, coin) or a small pack of cells."""
    form = _pick(rng, ["AA", "AAA", "18650", "21700", "9V", "pack"])
    if form == "9V":
        s = Sketch(30, 52, ppm)
        s.rect(2, 6, 26, 44, "steel", 0.6, corner_mm=2)
        s.rect(4, 8, 22, 40, "licoo2", 14)
        s.ellipse(9, 4, 3, 3, "steel", 4)
        s.ellipse(21, 4, 3.5, 3.5, "steel", 4)
        return s
    dims = {"AA": (7.25, 50), "AAA": (5.25, 44), "18650": (9.25, 65), "21700": (10.5, 70), "pack": (9.25, 65)}
    r, length = dims[form]
    cells = int(rng.integers(2, 5)) if form == "pack" else 1
    s = Sketch(length + 6, cells * 2 * r + 6, ppm)
    for k in range(cells):
        cy = 3 + r + k * 2 * r
        _li_ion_cell(s, 3, cy, length, r)
        s.rect(3 + length - 1, cy - r * 0.3, 2, r * 0.6, "steel", 3)
    if form == "pack":
        s.rect(2, 2, length + 2, cells * 2 * r + 2, "plastic", 0.8)
        s.rect(3, 1, length, 2, "copper", 0.5)
    return s


def draw_powerbank(rng: Rng, ppm: float) -> Sketch:
    """Plastic or aluminium case with a row of 18650 cells or a pouch cell, a PCB and USB ports."""
    length, width = rng.uniform(90, 150), rng.uniform(45, 80)
    case = _pick(rng, ["plastic", "aluminium"])
    s = Sketch(length + 4, width + 4, ppm)
    s.rect(2, 2, length, width, case, 2.0 if case == "aluminium" else 3.0, corner_mm=6)
    pcb_w = rng.uniform(14, 22)
    if rng.random() < 0.5:
        n = max(int((width - 4) // 18.5), 1)
        for k in range(n):
            cy = 4 + 9.25 + k * 18.5
            _li_ion_cell(s, 4, cy, min(65, length - pcb_w - 6))
    else:
        s.rect(4, 4, length - pcb_w - 6, width - 4, "licoo2", rng.uniform(7, 12))
        s.rect(4, 4, length - pcb_w - 6, width - 4, "copper", 0.15)
    x = 2 + length - pcb_w
    s.rect(x, 4, pcb_w - 2, width - 4, "glass", 1.6)
    s.rect(x, 4, pcb_w - 2, width - 4, "copper", 0.07)
    for k in range(int(rng.integers(1, 3))):
        s.rect(2 + length - 8, 8 + k * 16, 7, 12, "steel", 4.5)
    return s


def draw_phone(rng: Rng, ppm: float) -> Sketch:
    """Smartphone: aluminium or plastic frame, glass screen, pouch battery, PCB, camera, speaker."""
    length, width = rng.uniform(135, 170), rng.uniform(65, 80)
    s = Sketch(width + 4, length + 4, ppm)
    frame = _pick(rng, ["aluminium", "aluminium", "plastic", "steel"])
    s.rect(2, 2, width, length, frame, 3.0 if frame != "steel" else 0.8, corner_mm=9)
    s.rect(2, 2, width, length, "glass", 1.2, corner_mm=9)  # screen + back glass
    bx, by = 2 + width * 0.12, 2 + length * rng.uniform(0.38, 0.45)
    s.rect(bx, by, width * 0.76, length * 0.45, "licoo2", rng.uniform(3.0, 4.2), corner_mm=2)
    s.rect(bx, by, width * 0.76, length * 0.45, "aluminium", 0.3)
    pcb_h = length * rng.uniform(0.25, 0.32)
    s.rect(2 + width * 0.08, 2 + length * 0.05, width * 0.84, pcb_h, "glass", 1.0)
    s.rect(2 + width * 0.08, 2 + length * 0.05, width * 0.84, pcb_h, "copper", 0.1)
    for _ in range(int(rng.integers(3, 7))):  # shields and chips
        cx, cy = 2 + width * rng.uniform(0.15, 0.85), 2 + length * 0.05 + pcb_h * rng.uniform(0.1, 0.9)
        s.rect(cx - 5, cy - 4, rng.uniform(6, 14), rng.uniform(5, 10), "steel", 0.3)
    cams = int(rng.integers(1, 4))
    for k in range(cams):
        s.ellipse(2 + width * 0.2, 2 + 12 + k * 11, 4.5, 4.5, "steel", 4)
    s.rect(2 + width * 0.3, 2 + length - 10, width * 0.4, 5, "steel", 3)  # speaker / port
    s.rect(2 + width * 0.45, 2 + length - 4, 9, 3, "steel", 3)
    return s


def draw_laptop(rng: Rng, ppm: float) -> Sketch:
    """Laptop: case, row of cells, fan(s), heat pipe, hinges, mainboard, keyboard plate, screen."""
    w, h = rng.uniform(280, 360), rng.uniform(190, 245)
    case = _pick(rng, ["aluminium", "plastic", "plastic"])
    s = Sketch(w + 4, h + 4, ppm)
    s.rect(2, 2, w, h, case, 3.0 if case == "aluminium" else 5.0, corner_mm=8)
    s.rect(4, 4, w - 4, h - 4, "glass", 1.5, corner_mm=6)  # display
    s.rect(6, 6, w - 8, h * 0.55, "steel", 0.4)  # keyboard plate
    by = 2 + h - h * 0.28
    if rng.random() < 0.5:
        n = int((w * 0.8) // 66)
        for k in range(n):
            x = 2 + w * 0.1 + k * 66
            _li_ion_cell(s, x, by + 9.5)
    else:
        s.rect(2 + w * 0.15, by, w * 0.7, h * 0.22, "licoo2", rng.uniform(4, 6), corner_mm=3)
    mb_x = 2 + w * rng.uniform(0.05, 0.45)
    s.rect(mb_x, 10, w * 0.45, h * 0.45, "glass", 1.2)
    s.rect(mb_x, 10, w * 0.45, h * 0.45, "copper", 0.12)
    fans = int(rng.integers(1, 3))
    for k in range(fans):
        fx = mb_x + 25 + k * w * 0.3
        s.ring(fx, 35, 25, 8, "plastic", 8)
        s.ellipse(fx, 35, 8, 8, "steel", 3)
    s.line([[mb_x + 20, 35], [mb_x + w * 0.3, 60]], 7, "copper", 3)  # heat pipe
    for x in (2 + w * 0.15, 2 + w * 0.8):  # hinges
        s.rect(x, 2, 30, 12, "steel", 8)
    for _ in range(8):
        s.ellipse(
            2 + w * rng.uniform(0.02, 0.98), 2 + h * rng.uniform(0.02, 0.98), 2, 2, "steel", 6
        )  # screws
    return s


def draw_bottle(rng: Rng, ppm: float) -> Sketch:
    """Glass or PET bottle (wine, spirits, perfume, water) with liquid at a random fill level."""
    kind = _pick(rng, ["wine", "spirits", "perfume", "pet"])
    if kind == "perfume":
        r, body, neck = rng.uniform(18, 30), rng.uniform(50, 90), 12.0
    else:
        r, body, neck = rng.uniform(30, 45), rng.uniform(150, 230), rng.uniform(60, 100)
    wall, mat = (rng.uniform(3, 6), "glass") if kind != "pet" else (0.4, "plastic")
    s = Sketch(body + neck + 20, 2 * r + 4, ppm)
    cy = r + 2
    fill_to = rng.uniform(0.3, 1.0)
    s.cylinder(2, cy, 2 + body, cy, r, mat, wall_mm=wall, fill_material="water", fill_to=fill_to)
    s.rect(2, cy - r * 0.9, wall * 1.5, 1.8 * r, mat, 2 * r * 0.9)  # base
    nr = r * 0.35 if kind != "perfume" else r * 0.45
    shoulder = np.array(
        [
            [2 + body, cy - r],
            [2 + body + neck * 0.3, cy - nr],
            [2 + body + neck * 0.3, cy + nr],
            [2 + body, cy + r],
        ]
    )
    s.poly(shoulder, mat, wall * 2.2)
    s.cylinder(
        2 + body + neck * 0.3,
        cy,
        2 + body + neck,
        cy,
        nr,
        mat,
        wall_mm=wall * 0.8,
        fill_material="water",
        fill_to=max(fill_to - 0.9, 0.0) + 0.01,
    )
    cap = _pick(rng, ["aluminium", "plastic", "paper", "steel"])
    s.cylinder(
        2 + body + neck - 4,
        cy,
        2 + body + neck + 12,
        cy,
        nr + 1.5,
        cap,
        wall_mm=1.0 if cap != "paper" else None,
    )
    return s


def draw_cigarettes(rng: Rng, ppm: float) -> Sketch:
    """A carton of 10 packs, or loose packs, each with 20 cigarettes in three rows and foil."""
    packs_x, packs_y = (5, 2) if rng.random() < 0.6 else (int(rng.integers(1, 4)), 1)
    pw, ph = 55.0, 88.0
    s = Sketch(packs_x * pw + 6, packs_y * ph + 6, ppm)
    for i in range(packs_x):
        for j in range(packs_y):
            x, y = 3 + i * pw, 3 + j * ph
            s.rect(x, y, pw - 1, ph - 1, "paper", 0.6)
            s.rect(x, y, pw - 1, ph - 1, "aluminium", 0.02)
            for k in range(7):  # tobacco rods seen end-on along y: stripes
                s.cylinder(x + 4 + k * 7, y + 3, x + 4 + k * 7, y + ph - 4, 3.8, "paper", fill_material=None)
            s.rect(x + 2, y + 2, pw - 5, 18, "paper", 8)  # filters
    if packs_x * packs_y == 10:
        s.rect(2, 2, packs_x * pw + 2, packs_y * ph + 2, "paper", 1.0)
    return s


DRAWERS: dict[str, Callable[[Rng, float], Sketch]] = {
    "gun": draw_gun,
    "bullet": draw_bullet,
    "knife": draw_knife,
    "scissors": draw_scissors,
    "wrench": draw_wrench,
    "pliers": draw_pliers,
    "hammer": draw_hammer,
    "lighter": draw_lighter,
    "aerosol": draw_aerosol,
    "battery": draw_battery,
    "powerbank": draw_powerbank,
    "phone": draw_phone,
    "laptop": draw_laptop,
    "bottle": draw_bottle,
    "cigarettes": draw_cigarettes,
}
