"""2.5D drawing of objects as mass-thickness maps, one channel per basis material.

An object is drawn in its own millimetre frame onto a small canvas (`Sketch`); each primitive adds
mass thickness (g/cm^2 = density * thickness) of one material with a thickness profile: flat
(a plate), round (a bar or a pillow, thicker in the middle) or a hollow cylinder seen from the side
(a can, a bottle, a battery: bright walls, thin centre). `place` then rotates, foreshortens (an
object tilted out of the image plane gets shorter and proportionally thicker) and adds the canvas
into the parcel's material stack.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from nii.synth.physics import MATERIAL_INDEX, MATERIAL_NAMES, MATERIALS

_SHIFT = 4  # fixed-point bits for sub-pixel polygon vertices
MIN_MASS = 0.02  # g/cm^2; below this a pixel does not count towards an object's box


class Sketch:
    """A canvas w_mm x h_mm at px_per_mm, origin at the top-left, y downwards."""

    def __init__(self, w_mm: float, h_mm: float, px_per_mm: float) -> None:
        self.px_per_mm = px_per_mm
        self.w = max(int(np.ceil(w_mm * px_per_mm)) + 2, 3)
        self.h = max(int(np.ceil(h_mm * px_per_mm)) + 2, 3)
        self.layers = np.zeros((len(MATERIAL_NAMES), self.h, self.w), dtype=np.float32)  # [K, h, w]
        self.used: set[int] = set()  # material channels drawn on

    # -- primitives ---------------------------------------------------------------------------------

    def _pts(self, points_mm: np.ndarray) -> np.ndarray:
        pts = np.asarray(points_mm, dtype=np.float64) * self.px_per_mm + 1.0
        return np.rint(pts * (1 << _SHIFT)).astype(np.int32)

    def _add(self, material: str, thickness_map_mm: np.ndarray) -> None:
        density = MATERIALS[material][1]
        k = MATERIAL_INDEX[material]
        self.layers[k] += thickness_map_mm * (density / 10.0)
        self.used.add(k)

    def mask_poly(self, points_mm: np.ndarray) -> np.ndarray:
        mask = np.zeros((self.h, self.w), dtype=np.uint8)
        cv2.fillPoly(mask, [self._pts(points_mm)], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
        return mask

    def fill(self, mask: np.ndarray, material: str, thickness_mm: float, *, round_mm: float = 0.0) -> None:
        """Add material over a uint8 mask (255 inside, antialiased edge); round_mm rounds the edges."""
        cover = mask.astype(np.float32) / 255.0
        if round_mm > 0:
            dist = cv2.distanceTransform((mask > 127).astype(np.uint8), cv2.DIST_L2, 3) / self.px_per_mm
            x = np.clip(dist / round_mm, 0.0, 1.0)
            cover *= np.sqrt(np.clip(1.0 - (1.0 - x) ** 2, 0.0, 1.0)) * 0.85 + 0.15
        self._add(material, cover * thickness_mm)

    def poly(self, points_mm, material: str, thickness_mm: float, *, round_mm: float = 0.0) -> None:
        self.fill(self.mask_poly(np.asarray(points_mm)), material, thickness_mm, round_mm=round_mm)

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        material: str,
        thickness_mm: float,
        *,
        round_mm: float = 0.0,
        corner_mm: float = 0.0,
    ) -> None:
        if corner_mm > 0:
            c = min(corner_mm, w / 2, h / 2)
            t = np.linspace(0, np.pi / 2, 6)
            arcs = []
            for (cx, cy), start in (
                ((x + w - c, y + c), -np.pi / 2),
                ((x + w - c, y + h - c), 0.0),
                ((x + c, y + h - c), np.pi / 2),
                ((x + c, y + c), np.pi),
            ):
                arcs.append(np.stack([cx + c * np.cos(start + t), cy + c * np.sin(start + t)], 1))
            pts = np.concatenate(arcs)
        else:
            pts = np.array([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
        self.poly(pts, material, thickness_mm, round_mm=round_mm)

    def ellipse(
        self,
        cx: float,
        cy: float,
        rx: float,
        ry: float,
        material: str,
        thickness_mm: float,
        *,
        round_mm: float = 0.0,
        angle_deg: float = 0.0,
    ) -> None:
        mask = np.zeros((self.h, self.w), dtype=np.uint8)
        s = self.px_per_mm
        center = (int(round((cx * s + 1) * (1 << _SHIFT))), int(round((cy * s + 1) * (1 << _SHIFT))))
        axes = (max(int(round(rx * s * (1 << _SHIFT))), 1), max(int(round(ry * s * (1 << _SHIFT))), 1))
        cv2.ellipse(mask, center, axes, angle_deg, 0, 360, 255, -1, cv2.LINE_AA, _SHIFT)
        self.fill(mask, material, thickness_mm, round_mm=round_mm)

    def ring(
        self, cx: float, cy: float, r_out: float, r_in: float, material: str, thickness_mm: float
    ) -> None:
        mask = self._disc(cx, cy, r_out)
        mask = cv2.subtract(mask, self._disc(cx, cy, r_in))
        self.fill(mask, material, thickness_mm)

    def _disc(self, cx: float, cy: float, r: float) -> np.ndarray:
        mask = np.zeros((self.h, self.w), dtype=np.uint8)
        s = self.px_per_mm
        center = (int(round((cx * s + 1) * (1 << _SHIFT))), int(round((cy * s + 1) * (1 << _SHIFT))))
        cv2.circle(mask, center, max(int(round(r * s * (1 << _SHIFT))), 1), 255, -1, cv2.LINE_AA, _SHIFT)
        return mask

    def mask_line(self, points_mm, width_mm: float, mask: np.ndarray | None = None) -> np.ndarray:
        """A polyline width_mm wide drawn into `mask` (a new one when None), which is returned."""
        mask = np.zeros((self.h, self.w), dtype=np.uint8) if mask is None else mask
        width_px = max(int(round(width_mm * self.px_per_mm)), 1)
        cv2.polylines(mask, [self._pts(np.asarray(points_mm))], False, 255, width_px, cv2.LINE_AA, _SHIFT)
        return mask

    def line(self, points_mm, width_mm: float, material: str, thickness_mm: float | None = None) -> None:
        """A bar or wire along a polyline, round in cross-section (thickness defaults to its width)."""
        mask = self.mask_line(points_mm, width_mm)
        self.fill(mask, material, thickness_mm or width_mm, round_mm=width_mm / 2)

    def cylinder(
        self,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        radius_mm: float,
        material: str,
        *,
        wall_mm: float | None = None,
        fill_material: str | None = None,
        fill_from: float = 0.0,
        fill_to: float = 1.0,
    ) -> None:
        """A cylinder of axis (x0,y0)->(x1,y1) seen from the side; hollow if wall_mm is given.

        fill_material fills the inside between fractions fill_from..fill_to of the axis (a liquid level).
        """
        s = self.px_per_mm
        ax = np.array([x1 - x0, y1 - y0], dtype=np.float64)
        length = float(np.hypot(*ax))
        if length <= 0:
            return
        ax /= length
        ys, xs = np.mgrid[0 : self.h, 0 : self.w].astype(np.float32)
        px = (xs - 1) / s - x0
        py = (ys - 1) / s - y0
        along = px * ax[0] + py * ax[1]
        across = np.abs(-px * ax[1] + py * ax[0])
        inside = (along >= 0) & (along <= length)
        outer = 2.0 * np.sqrt(np.clip(radius_mm**2 - across**2, 0.0, None))
        if wall_mm is None:
            self._add(material, np.where(inside, outer, 0.0).astype(np.float32))
            return
        r_in = max(radius_mm - wall_mm, 0.0)
        inner = 2.0 * np.sqrt(np.clip(r_in**2 - across**2, 0.0, None))
        self._add(material, np.where(inside, outer - inner, 0.0).astype(np.float32))
        if fill_material is not None:
            frac = along / length
            level = inside & (frac >= fill_from) & (frac <= fill_to)
            self._add(fill_material, np.where(level, inner, 0.0).astype(np.float32))

    def texture(
        self,
        mask: np.ndarray,
        material: str,
        thickness_mm: float,
        rng: np.random.Generator,
        *,
        scale_mm: float = 15.0,
        contrast: float = 0.6,
    ) -> None:
        """Material of uneven thickness over a mask (folded cloth, food, padding)."""
        small = (
            max(int(self.w / (scale_mm * self.px_per_mm)), 2),
            max(int(self.h / (scale_mm * self.px_per_mm)), 2),
        )
        field = rng.random((small[1], small[0]), dtype=np.float32)
        field = cv2.resize(field, (self.w, self.h), interpolation=cv2.INTER_CUBIC)
        varying = np.clip(1.0 - contrast + 2.0 * contrast * field, 0.05, None)
        self._add(material, (mask.astype(np.float32) / 255.0) * varying * thickness_mm)


@dataclass(frozen=True, slots=True)
class Placed:
    """An object after placement: tight box (x1, y1, x2, y2) in scan pixels, footprint area and mass, and
    the mass thickness it added to the stack (material index -> [h, w] g/cm^2 from `origin`)."""

    xyxy: tuple[float, float, float, float]
    area_px: int
    mass_g: float
    origin: tuple[int, int] = (0, 0)  # (row, column) in the stack of the layers' top-left pixel
    layers: dict[int, np.ndarray] = field(default_factory=dict, repr=False, compare=False)


def place(
    sketch: Sketch,
    stack: np.ndarray,
    cx: float,
    cy: float,
    angle_deg: float,
    tilt: float = 1.0,
    flip: bool = False,
    px_area_cm2: float | None = None,
) -> Placed | None:
    """Add a sketch into stack [K, H, W] (g/cm^2 per material) at (cx, cy) px, rotated, foreshortened.

    tilt in (0, 1]: cosine of the out-of-plane tilt; the object's y-axis shrinks by it and its
    thickness grows by 1/tilt so its mass is unchanged. Returns None when nothing lands in the scan.
    """
    h_img, w_img = stack.shape[1:]
    layers = sketch.layers[:, :, ::-1] if flip else sketch.layers
    used = sorted(sketch.used)
    if not used:
        return None
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]) @ np.diag([1.0, tilt])
    src_c = np.array([(sketch.w - 1) / 2.0, (sketch.h - 1) / 2.0])
    corners = np.array([[0, 0], [sketch.w, 0], [sketch.w, sketch.h], [0, sketch.h]], dtype=np.float64) - src_c
    dst = corners @ rot.T + [cx, cy]
    x0 = max(int(np.floor(dst[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(dst[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(dst[:, 0].max())) + 2, w_img)
    y1 = min(int(np.ceil(dst[:, 1].max())) + 2, h_img)
    if x1 <= x0 or y1 <= y0:
        return None
    matrix = np.hstack([rot, (np.array([cx - x0, cy - y0]) - rot @ src_c)[:, None]])
    total = np.zeros((y1 - y0, x1 - x0), dtype=np.float32)
    added = {}
    for k in used:
        warped = cv2.warpAffine(
            np.ascontiguousarray(layers[k]),
            matrix,
            (x1 - x0, y1 - y0),
            flags=cv2.INTER_LINEAR,
            borderValue=0.0,
        )
        warped *= 1.0 / tilt  # foreshortened: the ray crosses proportionally more material
        stack[k, y0:y1, x0:x1] += warped
        total += warped
        added[k] = warped
    visible = total > MIN_MASS
    rows = np.flatnonzero(visible.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(visible.any(axis=0))
    mass_g = float(total.sum() * (px_area_cm2 or 0.0))
    return Placed(
        xyxy=(float(x0 + cols[0]), float(y0 + rows[0]), float(x0 + cols[-1] + 1), float(y0 + rows[-1] + 1)),
        area_px=int(visible.sum()),
        mass_g=mass_g,
        origin=(y0, x0),
        layers=added,
    )
