"""`tune-policy`: choose per-class detection score floors on labelled parcels (a `nii synth` folder).

The detector runs once per parcel, down to the lowest candidate floor; each candidate policy then only
re-filters the stored detections, compares and decides, so a search over hundreds of policies takes
seconds. The search is coordinate ascent over classes: it maximises (misdeclared flagged + compliant
released) once the share of prohibited parcels stopped reaches a floor (by default: where the starting
policy had it) and, when asked, the share of misdeclared parcels flagged reaches another; until then
the share still short of its floor, prohibited first. Floors of prohibited and dangerous-goods classes
only go down from the detector's thresholds, those of other classes either way. Before the search, on
parcels with dual-energy readings, it can measure per class the least attenuation a true detection
shows (`attenuation_minima`), which the policy then asks of every detection. Tune on validation parcels,
then measure the tuned policy on a test folder with another seed (`nii eval-triage --policy`).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nii.errors import NiiError
from nii.matching.compare import MaterialProfile, Seen, compare, too_light
from nii.matching.declaration import Declaration, parse_declaration
from nii.matching.taxonomy import Group, Taxonomy, load_taxonomy
from nii.runtime.detector import Detections
from nii.runtime.postprocess import box_iou
from nii.triage.evaluate import Shares, ground_truth, group_shares, read_records
from nii.triage.pipeline import (
    DetectorLike,
    detections_to_seen,
    load_scan,
    material_profile,
    scan_attenuation,
)
from nii.triage.policy import Policy, write_policy

log = logging.getLogger(__name__)

FLOORS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)  # candidate score floors
# Groups whose floors the search never raises: the shares alone would trade them for fewer alarms.
_NEVER_RAISED = (Group.PROHIBITED, Group.DANGEROUS_GOODS)


@dataclass(frozen=True, slots=True)
class Parcel:
    """One labelled parcel with what the detector saw, ready to be decided under any policy."""

    name: str
    labels: frozenset[str]
    declaration: Declaration
    detections: Detections
    material: MaterialProfile
    sha256: str
    truth: Counter[str]  # ground-truth objects per detector class
    attenuation: np.ndarray | None = None  # float32 [N]: `box_attenuation` per detection (dual energy)
    matched: np.ndarray | None = None  # bool [N]: the detection boxes a ground-truth object of its class


@dataclass(frozen=True, slots=True)
class TuneResult:
    policy: Policy
    before: Shares
    after: Shares
    parcels: int
    steps: list[dict]  # accepted changes: class, floor, shares


def collect(data: Path, detector: DetectorLike, policy: Policy, *, limit: int | None = None,
            progress: bool = False) -> list[Parcel]:
    """Detect (down to the lowest candidate floor when the detector has thresholds to go below) and
    profile every parcel of a synth folder once."""
    lowest = min(FLOORS) if getattr(detector, "thresholds", None) else None
    records = read_records(data, limit)
    truth = ground_truth(data)
    if progress:
        from tqdm import tqdm

        records = tqdm(records, desc="detect", unit="parcel")
    out = []
    for record in records:
        name = record["file_name"]
        try:
            declaration = parse_declaration(record["declaration"], source=name)
            scan = load_scan(data / "images" / name)
        except (NiiError, KeyError) as exc:
            log.warning("parcel %s: skipped (%s)", name, exc)
            continue
        detections = detector.detect(scan.rgb, score_threshold=lowest, flips=policy.flips)
        boxes = truth.get(name)
        out.append(Parcel(name, frozenset(record["ground_truth"]["labels"]), declaration, detections,
                          material_profile(scan, policy), scan.sha256,
                          Counter(boxes.class_names if boxes is not None else ()),
                          scan_attenuation(scan, detections),
                          None if boxes is None else matched(detections, boxes)))
    return out


def matched(detections: Detections, truth: Detections, iou: float = 0.5) -> np.ndarray:
    """bool [N]: each detection overlaps a ground-truth box of its class by at least `iou`."""
    out = np.zeros(len(detections.scores), bool)
    names = np.asarray(truth.class_names)
    for i, (box, name) in enumerate(zip(detections.xyxy, detections.class_names, strict=True)):
        same = truth.xyxy[names == name]
        out[i] = len(same) > 0 and float(box_iou(box, same).max()) >= iou
    return out


def attenuation_minima(parcels: list[Parcel], keep: float = 0.99, min_support: int = 20) -> dict[str, float]:
    """Per detector class, the least peak attenuation that `keep` of its true detections (any score the
    parcels were collected at, on parcels with dual-energy readings) reach, rounded down to 0.1: what a
    detection of that class must show to count, whatever floor is chosen. Classes with fewer than
    `min_support` true detections get none."""
    values: dict[str, list[float]] = {}
    for p in parcels:
        if p.attenuation is None or p.matched is None:
            continue
        for name, att, hit in zip(p.detections.class_names, p.attenuation.tolist(), p.matched.tolist(),
                                  strict=True):
            if hit:
                values.setdefault(name, []).append(att)
    return {name: math.floor(float(np.quantile(v, 1.0 - keep)) * 10) / 10
            for name, v in sorted(values.items()) if len(v) >= min_support}


def _seen(p: Parcel, policy: Policy) -> tuple[Seen, ...]:
    return detections_to_seen(p.detections, policy, attenuation=p.attenuation)


def measured_recall(parcels: list[Parcel], policy: Policy) -> dict[str, float]:
    """Per detector class, the share of its objects counted at the policy's floors (count-based:
    what the quantity comparison sees), over the parcels that hold any."""
    found: Counter[str] = Counter()
    present: Counter[str] = Counter()
    for p in parcels:
        seen = Counter(s.class_name for s in _seen(p, policy) if not too_light(s, policy.comparison))
        for name, n in p.truth.items():
            present[name] += n
            found[name] += min(n, seen[name])
    return {name: round(found[name] / n, 4) for name, n in sorted(present.items())}


def shares(parcels: list[Parcel], policy: Policy, taxonomy: Taxonomy) -> Shares:
    """(prohibited stopped, misdeclared flagged, compliant released) under `policy`, with the recall
    those floors give (so shortfalls weigh as they will once the tuned policy carries it)."""
    settings = replace(policy.comparison, recall=measured_recall(parcels, policy))
    rows = []
    for p in parcels:
        comparison = compare(p.declaration, _seen(p, policy), taxonomy=taxonomy, material=p.material,
                             settings=settings)
        rows.append((p.labels, str(policy.decide(comparison.findings, p.sha256).outcome)))
    return group_shares(rows)


def _objective(s: Shares, min_prohibited: float, min_misdeclared: float) -> float:
    prohibited, misdeclared, compliant = (v if v is not None else 1.0 for v in s)
    if prohibited < min_prohibited:
        return prohibited - 4.0  # below the floor, any step towards it is progress
    if misdeclared < min_misdeclared:
        return misdeclared - 2.0  # the same, once prohibited parcels are stopped as asked
    return misdeclared + compliant


def tune_floors(parcels: list[Parcel], policy: Policy, classes: list[str], *,
                thresholds: Mapping[str, float] | None = None, min_prohibited: float | None = None,
                min_misdeclared: float = 0.0, floors: tuple[float, ...] = FLOORS,
                rounds: int = 2, attenuation_keep: float | None = None) -> TuneResult:
    """Coordinate ascent over per-class detection floors (`detection.by_class` of the policy), with the
    least attenuation per class (`attenuation_minima` keeping ``attenuation_keep`` of the true
    detections, e.g. 0.99; None: the policy's own) set first, so that the floors are chosen for the
    detections that will count.

    ``thresholds`` are the detector's own (its card's), which the parcels' detections may lie below
    (`collect`); the tuned policy states every class's floor. Floors of the taxonomy's prohibited and
    dangerous-goods classes never go above where they began (a few parcels of tuning data cannot
    justify missing weapons or lithium cells), only down, highest floor first;
    `min_prohibited` None keeps the share of prohibited parcels stopped where it started;
    `min_misdeclared` is a floor on the share of misdeclared parcels flagged (0: none), which compliant
    parcels pay for.
    """
    if not parcels:
        raise NiiError("no parcels to tune on")
    taxonomy = load_taxonomy()
    start = {**{c: policy.detection_threshold(c, t) for c, t in (thresholds or {}).items()},
             **policy.min_score_by_class}
    best = replace(policy, min_score_by_class=start)
    before = shares(parcels, best, taxonomy)
    if min_prohibited is None:
        min_prohibited = before[0] if before[0] is not None else 0.0
    levelled = before
    if attenuation_keep is not None and (minima := attenuation_minima(parcels, attenuation_keep)):
        best = replace(best, comparison=replace(best.comparison, min_attenuation=minima))
        levelled = shares(parcels, best, taxonomy)  # the search starts from the levels in place
        log.info("least attenuation: %s", minima)
    best_score = _objective(levelled, min_prohibited, min_misdeclared)
    steps = []
    for _ in range(rounds):
        changed = False
        for name in classes:
            if name in taxonomy.categories and taxonomy.categories[name].group in _NEVER_RAISED:
                top = start.get(name)  # a lowered floor may come back up to where it began, never above
                below = [] if top is None else [top, *(f for f in floors if f < top)]
                candidates = sorted(below, reverse=True)
            else:
                candidates = list(floors)
            for floor in candidates:
                candidate = replace(best, min_score_by_class={**best.min_score_by_class, name: floor})
                s = shares(parcels, candidate, taxonomy)
                score = _objective(s, min_prohibited, min_misdeclared)
                if score > best_score + 1e-9:
                    best, best_score, changed = candidate, score, True
                    steps.append({"class": name, "floor": floor, "shares": s})
                    log.info("%s floor %.2f: prohibited %s misdeclared %s compliant %s", name, floor, *s)
        if not changed:
            break
    best = replace(best, comparison=replace(best.comparison, recall=measured_recall(parcels, best)))
    return TuneResult(best, before, shares(parcels, best, taxonomy), len(parcels), steps)


def write_tuned_policy(source: Path, policy: Policy, version: str, out: Path, note: str) -> None:
    """Copy the policy YAML at `source` with the tuned floors (and the recall they give) and a new version."""
    floors = {k: float(v) for k, v in sorted(policy.min_score_by_class.items())}
    least = {k: float(v) for k, v in sorted(policy.comparison.min_attenuation.items())}
    comparison = {"recall": dict(policy.comparison.recall), "min_attenuation": least}
    sections = {"detection": {"by_class": floors}, "comparison": comparison}
    write_policy(source, out, version, f"`nii tune-policy`, detection floors: {note}", sections)
