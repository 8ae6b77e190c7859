"""Declared vs detected: which detections a declaration explains, and every discrepancy as a `Finding`.

A detection of class C is explained by a declared line whose category (from its text, or its HS code)
is C, or by a declared line of a class the model often mistakes for C (its measured look-alikes) that
was not seen itself. Unexplained detections are undeclared; declared detector classes with no
detection are "not seen"; counts are compared with declared quantities; line values are checked
against reference unit values (undervaluation); a shortfall (declared but not seen, or fewer seen)
is a finding only when the detector's measured recall makes it unlikely for a true declaration; the
scan's material profile and estimated mass are checked against the declared goods and weight. The
matcher states facts; `nii.triage.policy` weighs them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum

import cv2
import numpy as np

from nii.matching.declaration import Declaration
from nii.matching.describe import Flag, LineClass, classify_line
from nii.matching.taxonomy import Group, Material, Taxonomy, load_taxonomy


@dataclass(frozen=True, slots=True)
class Reference:
    """What compliant declarations of one category look like (`nii learn-references`), used in place
    of the taxonomy's generic unit value and unit mass."""

    lines: int  # compliant lines it was learned from
    min_unit_value_usd: float | None  # low quantile of their unit values (None: too few, or no check)
    unit_mass_kg: tuple[float, float] | None  # their unit-mass range, widened by the learning margin


@dataclass(frozen=True, slots=True)
class CompareSettings:
    """Thresholds of the comparison (the policy file's `comparison` section sets them)."""

    undervalue_fraction: float = 0.5  # unit value below this share of the reference minimum: undervalued
    unit_mass_tolerance: float = 2.0  # declared kg per unit may stray this factor outside the range
    # Dual-energy ratio R = log-att(low) / log-att(high): organic below, metal above.
    ratio_organic_max: float = 1.35
    ratio_metal_min: float = 2.0
    foreground_lh_min: float = 0.03  # high-energy log-attenuation above which a pixel holds material
    # False colour: hue bands (degrees) and foreground (saturation > s or value < v, 0-255).
    hue_organic: tuple[float, float] = (0.0, 70.0)
    hue_inorganic: tuple[float, float] = (70.0, 170.0)
    hue_metal: tuple[float, float] = (170.0, 300.0)
    foreground_saturation_min: int = 40
    foreground_value_max: int = 200
    # Mass estimate: kg per unit of summed log-attenuation (raw) or of summed -ln(value) (false colour).
    kg_per_raw_attenuation: float | None = None  # None: no mass estimate from raw channels
    kg_per_colour_attenuation: float | None = None  # None: no mass estimate from false colour
    metal_unexplained_min: float = 0.08  # metal share of the foreground that declared goods must explain
    mass_ratio_max: float = 2.5  # estimated / declared net mass above this is a finding
    # Detector class -> share of its objects the model finds at the thresholds in use (measured; a
    # class not given counts as 1.0: every shortfall is then a finding, the behaviour without data).
    recall: Mapping[str, float] = field(default_factory=dict)
    # A shortfall is a finding when a true declaration would show that few with at most this chance.
    shortfall_p_max: float = 0.05
    # Detected class -> {true class: share of its detections that were that class} (measured on
    # validation data, the model card's `look_alikes`). A detection the declaration does not explain
    # is read as a declared, unseen look-alike when the share is at least `look_alike_min`; detections
    # of prohibited classes never are.
    look_alikes: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    look_alike_min: float = 0.05
    # A detection overlapping a stronger detection of another class by at least this IoU is that
    # object seen twice (a hammer read over a wrench): not counted, a `same_object` finding says so.
    # A prohibited detection always counts. None: every detection counts.
    same_object_iou: float | None = None
    # A detection whose box lies at least this share inside a stronger detection of the same class (or
    # holds that one) is a part of that object seen as another, one blade of a pair of scissors: not
    # counted, a `same_object` finding says so. Class-wise NMS keeps such pairs, whose IoU is about the
    # smaller box's share of the larger. A prohibited detection always counts. None: every one counts.
    same_object_within: float | None = None
    # Category -> profile of its compliant declarations: its unit-value floor replaces the taxonomy's
    # min_unit_value_usd, and a unit mass outside its range is `unit_weight_atypical` (no tolerance on
    # top: the learned margin is in the range). Empty: the taxonomy's generic figures alone.
    references: Mapping[str, Reference] = field(default_factory=dict)
    # Detector class -> least peak high-energy log-attenuation (`box_attenuation`) a detection of it must
    # show when the scan has dual-energy readings: a cartridge or a gun is dense metal, so a "bullet"
    # whose box stops less than any real one does is discounted (recorded, not counted, a
    # `detection_discounted` finding says so). Without readings, or for a class not given, every
    # detection counts.
    min_attenuation: Mapping[str, float] = field(default_factory=dict)


def shortfall_chance(seen: int, declared: int, recall: float) -> float:
    """Chance of seeing at most ``seen`` of ``declared`` objects when each is found with ``recall``."""
    if seen >= declared:
        return 1.0
    if recall >= 1.0:
        return 0.0
    if recall <= 0.0:
        return 1.0
    log_r, log_q = math.log(recall), math.log1p(-recall)
    return min(1.0, sum(
        math.exp(math.lgamma(declared + 1) - math.lgamma(k + 1) - math.lgamma(declared - k + 1)
                 + k * log_r + (declared - k) * log_q)
        for k in range(seen + 1)))


@dataclass(frozen=True, slots=True)
class MaterialProfile:
    """Shares of the foreground by material, and an estimated net mass (kg) when calibrated."""

    organic: float
    inorganic: float
    metal: float
    foreground: float  # share of the image holding material
    source: str  # 'dual_energy' or 'false_colour'
    estimated_mass_kg: float | None

    def to_json(self) -> dict:
        return {
            "organic": round(self.organic, 3),
            "inorganic": round(self.inorganic, 3),
            "metal": round(self.metal, 3),
            "foreground": round(self.foreground, 3),
            "source": self.source,
            "estimated_mass_kg": None if self.estimated_mass_kg is None else round(self.estimated_mass_kg, 2),
        }


def _log_attenuation(low: np.ndarray, high: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ll, lh) float32 [H, W]: -ln(transmission) of 16-bit readings (65535 = air)."""
    if low.shape != high.shape or low.ndim != 2:
        raise ValueError(f"low and high must be equal 2-D arrays, got {low.shape} and {high.shape}")
    return _neg_log(low), _neg_log(high)


def _neg_log(readings: np.ndarray) -> np.ndarray:
    """-ln(transmission) of 16-bit readings (65535 = air), float32; a reading of 0 counts as 1."""
    return -np.log(np.maximum(np.asarray(readings, np.float32), 1.0) / 65535.0)


def box_attenuation(high: np.ndarray, boxes: np.ndarray, percentile: float = 99.0) -> np.ndarray:
    """float32 [N]: per xyxy box (image pixels) of 16-bit high-energy readings [H, W], a high percentile
    of -ln(reading / 65535) inside it: what the densest part of the object stops. A percentile rather
    than the maximum, so that a few noisy pixels do not count; 0 for a box outside the image."""
    h, w = high.shape
    out = np.zeros(len(boxes), np.float32)
    for i, (x0, y0, x1, y1) in enumerate(np.asarray(boxes, np.float64).reshape(-1, 4)):
        x0, y0 = max(0, int(np.floor(x0))), max(0, int(np.floor(y0)))
        x1, y1 = min(w, int(np.ceil(x1))), min(h, int(np.ceil(y1)))
        if x1 > x0 and y1 > y0:
            out[i] = _neg_log(np.percentile(high[y0:y1, x0:x1], 100.0 - percentile))  # the darkest readings
    return out


def material_from_raw(low: np.ndarray, high: np.ndarray, settings: CompareSettings) -> MaterialProfile:
    """Profile from 16-bit dual-energy readings [H, W] (transmission * 65535, 65535 = air)."""
    ll, lh = _log_attenuation(low, high)
    fg = lh > settings.foreground_lh_min
    ratio = ll[fg] / np.maximum(lh[fg], 1e-6)
    weight = lh[fg]  # thick material counts more than a thin film
    total = float(weight.sum()) or 1.0
    organic = float(weight[ratio < settings.ratio_organic_max].sum()) / total
    metal = float(weight[ratio >= settings.ratio_metal_min].sum()) / total
    mass = (
        None
        if settings.kg_per_raw_attenuation is None
        else float(weight.sum()) * settings.kg_per_raw_attenuation
    )
    return MaterialProfile(
        organic, max(0.0, 1 - organic - metal), metal, float(fg.mean()), "dual_energy", mass
    )


class MaterialCode(IntEnum):
    """A pixel's material in `material_map`."""

    NONE = 0  # air or a film too thin to classify
    ORGANIC = 1
    INORGANIC = 2
    METAL = 3


def material_map(low: np.ndarray, high: np.ndarray, settings: CompareSettings) -> np.ndarray:
    """uint8 [H, W] `MaterialCode` per pixel of 16-bit readings, by the thresholds of `material_from_raw`."""
    ll, lh = _log_attenuation(low, high)
    ratio = ll / np.maximum(lh, 1e-6)
    codes = np.full(ll.shape, MaterialCode.INORGANIC, np.uint8)
    codes[ratio < settings.ratio_organic_max] = MaterialCode.ORGANIC
    codes[ratio >= settings.ratio_metal_min] = MaterialCode.METAL
    codes[lh <= settings.foreground_lh_min] = MaterialCode.NONE
    return codes


def material_from_false_colour(rgb: np.ndarray, settings: CompareSettings) -> MaterialProfile:
    """Profile from a false-colour RGB uint8 image [H, W, 3] (hue by effective Z, darkness by thickness)."""
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    hue = hsv[..., 0].astype(np.float32) * 2.0
    sat, val = hsv[..., 1], hsv[..., 2]
    fg = (sat > settings.foreground_saturation_min) | (val < settings.foreground_value_max)
    att = -np.log(np.maximum(val[fg].astype(np.float32), 1.0) / 255.0) + 0.02
    h = hue[fg]
    coloured = sat[fg] > settings.foreground_saturation_min
    total = float(att.sum()) or 1.0

    def share(band: tuple[float, float]) -> float:
        return float(att[coloured & (h >= band[0]) & (h < band[1])].sum()) / total

    organic, inorganic, metal = (
        share(settings.hue_organic),
        share(settings.hue_inorganic),
        share(settings.hue_metal),
    )
    # Near-black pixels carry no hue: so much attenuation that only metal (or a thick stack) makes them.
    metal += float(att[~coloured & (val[fg] < 40)].sum()) / total
    mass = None if settings.kg_per_colour_attenuation is None else total * settings.kg_per_colour_attenuation
    return MaterialProfile(organic, inorganic, metal, float(fg.mean()), "false_colour", mass)


@dataclass(frozen=True, slots=True)
class Seen:
    """One detection: class, score, box xyxy in image pixels."""

    class_name: str
    score: float
    xyxy: tuple[float, float, float, float]
    weak: bool = False  # below the model's own threshold: reported because the policy's floor is lower
    attenuation: float | None = None  # `box_attenuation` of its box when the scan has dual-energy readings


@dataclass(frozen=True, slots=True)
class Finding:
    """A fact the comparison established. `code` is machine-readable, `text` for officers."""

    code: str
    text: str
    subject: str | None = None  # detector class or category concerned
    line: int | None = None  # index of the declared line concerned
    score: float | None = None  # detector score behind the finding, if any
    group: str | None = None  # taxonomy group of the subject

    def to_json(self) -> dict:
        return {k: getattr(self, k) for k in ("code", "text", "subject", "line", "score", "group")}


@dataclass(frozen=True, slots=True)
class LineMatch:
    """A declared line, what it means, and what the scan showed of it."""

    index: int
    classification: LineClass
    explains: tuple[str, ...]  # detector classes this line declares
    seen: int  # detections of those classes
    status: str  # 'seen' | 'not_seen' | 'not_visible' (no detector class)
    unit_value_usd: float | None

    def to_json(self) -> dict:
        return {
            "index": self.index,
            **self.classification.to_json(),
            "explains": list(self.explains),
            "seen": self.seen,
            "status": self.status,
            "unit_value_usd": None if self.unit_value_usd is None else round(self.unit_value_usd, 2),
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    lines: tuple[LineMatch, ...]
    detections: tuple[Seen, ...]
    findings: tuple[Finding, ...]
    material: MaterialProfile | None
    taxonomy_version: str
    # Detections per class, a look-alike counted as the declared class it was read as.
    counts: dict[str, int] = field(default_factory=dict)
    discounted: tuple[Seen, ...] = ()  # less dense than their class can be: recorded, not counted

    def to_json(self) -> dict:
        def seen(d: Seen) -> dict:
            out = {"class_name": d.class_name, "score": round(d.score, 3),
                   "xyxy": [round(v, 1) for v in d.xyxy]}
            if d.attenuation is not None:
                out["attenuation"] = round(d.attenuation, 2)
            return out

        return {
            "lines": [x.to_json() for x in self.lines],
            "detections": [seen(d) for d in self.detections],
            "discounted": [seen(d) for d in self.discounted],
            "findings": [f.to_json() for f in self.findings],
            "material": None if self.material is None else self.material.to_json(),
            "taxonomy_version": self.taxonomy_version,
        }


_FLAG_TEXT = {
    Flag.VAGUE: "line {i} '{d}' is vague: it names no goods",
    Flag.UNRECOGNISED: "line {i} '{d}' matches no known goods",
    Flag.HS_UNKNOWN: "line {i} HS code {hs} is not in the HS nomenclature",
    Flag.HS_MISMATCH: "line {i} '{d}' reads as {cat} but HS code {hs} means {hscat}",
    Flag.IMPLAUSIBLE_VALUE: "line {i} '{d}' is declared at {v:g} {cur}, an implausible value",
}


def _line_findings(
    index: int,
    line,
    lc: LineClass,
    taxonomy: Taxonomy,
    settings: CompareSettings,
) -> tuple[list[Finding], float | None]:
    out = []
    cat = taxonomy.categories.get(lc.category) if lc.category else None
    ref = settings.references.get(cat.name) if cat is not None else None
    for flag in lc.flags:
        if flag is Flag.IMPLAUSIBLE_VALUE and cat is not None and cat.min_unit_value_usd is None:
            continue  # documents at 0 are normal
        text = _FLAG_TEXT[flag].format(
            i=index + 1,
            d=line.description,
            hs=lc.hs_code,
            cat=lc.category,
            hscat=lc.hs_category,
            v=line.value,
            cur=line.currency,
        )
        out.append(Finding(str(flag), text, lc.category, index))
    if cat is not None and cat.group in (Group.PROHIBITED, Group.RESTRICTED):
        out.append(
            Finding(
                f"{cat.group}_declared",
                f"line {index + 1} '{line.description}' declares {cat.name} ({cat.group})",
                cat.name,
                index,
                group=str(cat.group),
            )
        )
    unit_usd = None
    value_usd = taxonomy.to_usd(line.value, line.currency)
    if value_usd is None:
        out.append(
            Finding(
                "no_exchange_rate", f"no reference rate for {line.currency}; value not checked", None, index
            )
        )
    else:
        unit_usd = value_usd / line.quantity
        if cat is not None and cat.min_unit_value_usd is not None:
            learned = ref is not None and ref.min_unit_value_usd is not None
            reference = ref.min_unit_value_usd if learned else cat.min_unit_value_usd
            floor = settings.undervalue_fraction * reference
            if unit_usd < floor:
                source = f" ({ref.lines} compliant lines)" if learned else ""
                out.append(
                    Finding(
                        "undervalued",
                        f"line {index + 1} '{line.description}': {unit_usd:.2f} USD "
                        f"per unit, below {floor:.2f} USD expected for {cat.name}{source}",
                        cat.name,
                        index,
                    )
                )
    if cat is not None and cat.unit_mass_kg is not None:
        unit_kg = line.net_weight_kg / line.quantity
        if ref is not None and ref.unit_mass_kg is not None:
            low, high = ref.unit_mass_kg
            code, source = "unit_weight_atypical", f" of {ref.lines} compliant {cat.name} lines"
        else:
            tol = settings.unit_mass_tolerance
            low, high = cat.unit_mass_kg[0] / tol, cat.unit_mass_kg[1] * tol
            code, source = "unit_weight_implausible", f" for {cat.name}"
        if not low <= unit_kg <= high:
            out.append(
                Finding(
                    code,
                    f"line {index + 1} '{line.description}': "
                    f"{unit_kg:.3f} kg per unit, outside {low:.3g}-{high:.3g} kg{source}",
                    cat.name,
                    index,
                )
            )
    return out, unit_usd


def compare(
    declaration: Declaration,
    detections: Sequence[Seen],
    *,
    taxonomy: Taxonomy | None = None,
    material: MaterialProfile | None = None,
    settings: CompareSettings | None = None,
) -> Comparison:
    """Compare a declaration with what the detector saw (and the material profile, when given)."""
    taxonomy = taxonomy or load_taxonomy()
    settings = settings or CompareSettings()
    cats = taxonomy.categories
    light = [too_light(d, settings) for d in detections]
    discounted = tuple(d for d, out in zip(detections, light, strict=True) if out)
    detections, findings = _same_objects(
        [d for d, out in zip(detections, light, strict=True) if not out], cats, settings.same_object_iou,
        settings.same_object_within,
    )
    findings = [_discounted_finding(d, settings) for d in discounted] + findings
    counts = Counter(d.class_name for d in detections)
    best_score: dict[str, float] = {}
    for d in detections:
        best_score[d.class_name] = max(best_score.get(d.class_name, 0.0), d.score)
    strong = {d.class_name for d in detections if not d.weak}

    classified = []
    for i, line in enumerate(declaration.lines):
        lc = classify_line(line.description, line.hs_code, taxonomy=taxonomy, value=line.value)
        explains = tuple(
            dict.fromkeys(
                c for c in (lc.category, lc.hs_category) if c is not None and c in cats and cats[c].detector
            )
        )
        line_findings, unit_usd = _line_findings(i, line, lc, taxonomy, settings)
        findings += line_findings
        classified.append((i, line, lc, explains, unit_usd))

    declared_qty: Counter[str] = Counter()
    for _, line, _, explains, _ in classified:
        for c in explains:
            declared_qty[c] += line.quantity
    findings += _read_look_alikes(counts, best_score, declared_qty, cats, settings)

    lines = []
    for i, line, lc, explains, unit_usd in classified:
        seen = sum(counts.get(c, 0) for c in explains)
        status = "not_visible" if not explains else ("seen" if seen else "not_seen")
        if status == "not_seen":
            recall = max(settings.recall.get(c, 1.0) for c in explains)
            note = _shortfall_note(0, line.quantity, recall, settings)
            if note is not None:
                findings.append(
                    Finding(
                        "declared_not_seen",
                        f"line {i + 1} '{line.description}' declares {line.quantity} x {'/'.join(explains)} "
                        f"but none was seen{note}",
                        explains[0],
                        i,
                        group=str(cats[explains[0]].group),
                    )
                )
        lines.append(LineMatch(i, lc, explains, seen, status, unit_usd))

    for name, n in sorted(counts.items()):
        cat = cats.get(name)
        group = str(cat.group) if cat is not None else None
        score = best_score[name]
        if cat is not None and cat.group in (Group.PROHIBITED, Group.RESTRICTED):
            if cat.group is Group.PROHIBITED and name not in strong:
                code = "prohibited_suspected"
                text = (f"{name} seen weakly (score {score:.2f}, below the model's threshold), prohibited "
                        "in mail: for an officer to look at")
            else:
                code, text = f"{cat.group}_detected", f"{name} seen (score {score:.2f}), {cat.group} in mail"
            findings.append(Finding(code, text, name, score=score, group=group))
        if cat is not None and cat.group is Group.DANGEROUS_GOODS:
            how = "declared" if declared_qty[name] else "not declared"
            findings.append(
                Finding(
                    f"dangerous_goods_{how.replace(' ', '_')}",
                    f"{name} seen (score {score:.2f}), dangerous goods, {how}",
                    name,
                    score=score,
                    group=group,
                )
            )
        if declared_qty[name] == 0:
            findings.append(
                Finding(
                    "undeclared_item",
                    f"{n} x {name} seen (best score {score:.2f}) but not declared",
                    name,
                    score=score,
                    group=group,
                )
            )
        elif n > declared_qty[name]:
            findings.append(
                Finding(
                    "quantity_exceeds",
                    f"{n} x {name} seen, {declared_qty[name]} declared",
                    name,
                    score=score,
                    group=group,
                )
            )
        elif n < declared_qty[name] and (
            note := _shortfall_note(n, declared_qty[name], settings.recall.get(name, 1.0), settings)
        ) is not None:
            findings.append(
                Finding(
                    "quantity_short",
                    f"{n} x {name} seen, {declared_qty[name]} declared{note}",
                    name,
                    score=score,
                    group=group,
                )
            )

    if material is not None:
        findings += _material_findings(material, declaration, lines, counts, taxonomy, settings)
    return Comparison(
        tuple(lines), tuple(detections), tuple(findings), material, taxonomy.version, dict(counts), discounted
    )


def too_light(d: Seen, settings: CompareSettings) -> bool:
    """The detection's box attenuates less than its class's least (`min_attenuation`): not counted."""
    least = settings.min_attenuation.get(d.class_name)
    return least is not None and d.attenuation is not None and d.attenuation < least


def _discounted_finding(d: Seen, settings: CompareSettings) -> Finding:
    least = settings.min_attenuation[d.class_name]
    return Finding(
        "detection_discounted",
        f"{d.class_name} (score {d.score:.2f}) not counted: its densest part attenuates {d.attenuation:.2f} "
        f"(high-energy log-attenuation), a real {d.class_name} at least {least:.1f}",
        d.class_name,
        score=d.score,
    )


def _areas(a: tuple[float, ...], b: tuple[float, ...]) -> tuple[float, float, float]:
    """Areas of the intersection of two xyxy boxes, of the first and of the second."""
    inter = max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return inter, (a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1])


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    inter, area_a, area_b = _areas(a, b)
    union = area_a + area_b - inter
    return inter / union if union > 0 else 0.0


def _within(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Share of the smaller of two boxes that lies inside the other."""
    inter, area_a, area_b = _areas(a, b)
    smaller = min(area_a, area_b)
    return inter / smaller if smaller > 0 else 0.0


def _same_objects(detections: Sequence[Seen], cats: Mapping, iou: float | None,
                  within: float | None) -> tuple[list[Seen], list[Finding]]:
    """The detections that count, in their order, and a `same_object` finding for each one read as a
    stronger detection over the same object: of another class by IoU, or of its own class by the
    share of one box inside the other (greedy, strongest first, like NMS); a rule set to None is off."""

    def same(stronger: Seen, d: Seen) -> bool:
        if stronger.class_name != d.class_name:
            return iou is not None and _iou(stronger.xyxy, d.xyxy) >= iou
        return within is not None and _within(stronger.xyxy, d.xyxy) >= within

    kept: list[int] = []
    findings: list[Finding] = []
    for i in sorted(range(len(detections)), key=lambda i: -detections[i].score):
        d = detections[i]
        cat = cats.get(d.class_name)
        prohibited = cat is not None and cat.group is Group.PROHIBITED
        over = None if prohibited else next((detections[k] for k in kept if same(detections[k], d)), None)
        if over is None:
            kept.append(i)
            continue
        findings.append(Finding(
            "same_object",
            f"{d.class_name} (score {d.score:.2f}) lies on the {over.class_name} seen there (score "
            f"{over.score:.2f}): one object, counted once",
            d.class_name,
            score=d.score,
            group=None if cat is None else str(cat.group),
        ))
    return [detections[i] for i in sorted(kept)], findings


def _read_look_alikes(
    counts: Counter[str],
    best_score: dict[str, float],
    declared_qty: Counter[str],
    cats: Mapping,
    settings: CompareSettings,
) -> list[Finding]:
    """Move detections nothing declared onto declared, unseen classes the model often mistakes them
    for (updating `counts` and `best_score` in place); one `look_alike` finding per move."""
    out = []
    for name in sorted(counts):
        cat = cats.get(name)
        if cat is not None and cat.group is Group.PROHIBITED:
            continue  # a prohibited detection is never explained away
        row = settings.look_alikes.get(name, {})
        shares = [(other, share) for other, share in row.items() if share >= settings.look_alike_min]
        for other, share in sorted(shares, key=lambda kv: (-kv[1], kv[0])):
            n = min(counts[name] - declared_qty[name], declared_qty[other] - counts[other])
            if n <= 0:
                continue  # all of `name` declared, or every `other` line already seen
            counts[name] -= n
            counts[other] += n
            best_score[other] = max(best_score.get(other, 0.0), best_score[name])
            out.append(
                Finding(
                    "look_alike",
                    f"{n} x {name} seen, read as the declared {other} (on validation scans "
                    f"{share:.0%} of this model's {name} detections were {other})",
                    other,
                    score=best_score[name],
                    group=None if cats.get(other) is None else str(cats[other].group),
                )
            )
        if counts[name] == 0:
            del counts[name]
    return out


def _shortfall_note(seen: int, declared: int, recall: float, settings: CompareSettings) -> str | None:
    """None when a true declaration would often show this shortfall (no finding); else the text
    the finding carries about the chance ('' when the recall is taken as 1)."""
    chance = shortfall_chance(seen, declared, recall)
    if chance > settings.shortfall_p_max:
        return None
    if recall >= 1.0:
        return ""
    return (f" (the detector finds {recall:.0%} of these; a true declaration shows this "
            f"{chance:.1%} of the time)")


def _material_findings(
    material: MaterialProfile,
    declaration: Declaration,
    lines: Sequence[LineMatch],
    counts: Counter[str],
    taxonomy: Taxonomy,
    settings: CompareSettings,
) -> list[Finding]:
    out = []
    named = {x.classification.category for x in lines} | set(counts)
    metallic = {
        n
        for n in named
        if n in taxonomy.categories and taxonomy.categories[n].material in (Material.METAL, Material.MIXED)
    }
    if material.metal >= settings.metal_unexplained_min and not metallic:
        out.append(
            Finding(
                "metal_unexplained",
                f"{material.metal:.0%} of the material is metal but no declared or seen goods are metallic",
                None,
            )
        )
    declared = declaration.total_net_weight_kg
    if material.estimated_mass_kg is not None and declared > 0:
        ratio = material.estimated_mass_kg / declared
        if ratio > settings.mass_ratio_max:
            out.append(
                Finding(
                    "mass_exceeds_declared",
                    f"estimated {material.estimated_mass_kg:.2f} kg, "
                    f"declared {declared:.2f} kg ({ratio:.1f}x)",
                    None,
                    score=ratio,
                )
            )
    return out
