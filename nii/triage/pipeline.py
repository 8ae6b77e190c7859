"""Scan + declaration + detector -> `Decision` (release / refer / hold) with ordered reasons.

The detector is injected: anything with `detect(rgb) -> Detections` and `sha256` and `card_sha256`
attributes (the ONNX Runtime `nii.runtime.Detector` in service, a fake in tests). A decision carries
the scan sha256, declaration sha256, model and model card sha256, taxonomy and policy versions: given
those, it is reproducible.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from nii.errors import ScanFormatError
from nii.matching.compare import (
    CompareSettings,
    Comparison,
    MaterialProfile,
    Seen,
    box_attenuation,
    compare,
    material_from_false_colour,
    material_from_raw,
)
from nii.matching.declaration import Declaration
from nii.matching.taxonomy import Taxonomy, load_taxonomy
from nii.runtime.detector import Detections
from nii.runtime.preprocess import decode_image
from nii.triage.policy import Outcome, Policy, Reason, load_policy

log = logging.getLogger(__name__)


class DetectorLike(Protocol):
    """What triage needs of a detector; an optional ``recall`` (class -> share found, from its card)
    lets a shortfall count only when the detector rarely causes one, and optional ``thresholds``
    (class -> the score it reports from) let a policy floor go below them."""

    sha256: str  # of the ONNX file
    card_sha256: str  # of its card's content: thresholds and looks change detections under one graph

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
               flips: Sequence[str] = ()) -> Detections: ...


@dataclass(frozen=True, slots=True)
class Scan:
    """A decoded scan: RGB uint8 [H, W, 3], and 16-bit dual-energy readings [H, W] when available."""

    scan_id: str
    sha256: str  # of the image file bytes as received
    rgb: np.ndarray
    raw_low: np.ndarray | None = None
    raw_high: np.ndarray | None = None


def _read_raw(path: Path) -> np.ndarray | None:
    """A 16-bit single-channel PNG [H, W] uint16 (a raw dual-energy channel), or None if absent."""
    if not path.is_file():
        return None
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.dtype != np.uint16 or image.ndim != 2:
        got = "unreadable" if image is None else f"{image.dtype} {image.shape}"
        raise ScanFormatError(f"{path}: expected a 16-bit single-channel PNG (raw channel), got {got}")
    return image


def load_scan(path: Path, *, raw: bool = True, scan_id: str | None = None) -> Scan:
    """Read a scan file; with `raw`, also STEM_low.png / STEM_high.png beside it or in ../raw/."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ScanFormatError(f"cannot read scan {path}: {exc.strerror or exc}") from exc
    rgb = decode_image(data)
    low = high = None
    if raw:
        for folder in (path.parent, path.parent.parent / "raw"):
            low = _read_raw(folder / f"{path.stem}_low.png")
            high = _read_raw(folder / f"{path.stem}_high.png")
            if low is not None and high is not None:
                break
        if low is None or high is None or low.shape != rgb.shape[:2] or high.shape != rgb.shape[:2]:
            low = high = None
    return Scan(scan_id or path.stem, hashlib.sha256(data).hexdigest(), rgb, low, high)


def declaration_sha256(declaration: Declaration) -> str:
    """Hash of the canonical JSON of a validated declaration."""
    text = json.dumps(declaration.to_json(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Decision:
    scan_id: str
    outcome: Outcome
    risk_score: float
    reasons: tuple[Reason, ...]  # most severe first
    random_control: bool
    comparison: Comparison
    scan_sha256: str
    declaration_sha256: str
    model_sha256: str
    model_card_sha256: str
    policy_version: str
    taxonomy_version: str
    elapsed_ms: float

    def to_json(self) -> dict:
        return {
            "scan_id": self.scan_id,
            "decision": str(self.outcome),
            "risk_score": self.risk_score,
            "reasons": [r.to_json() for r in self.reasons],
            "random_control": self.random_control,
            "scan_sha256": self.scan_sha256,
            "declaration_sha256": self.declaration_sha256,
            "model_sha256": self.model_sha256,
            "model_card_sha256": self.model_card_sha256,
            "policy_version": self.policy_version,
            "taxonomy_version": self.taxonomy_version,
            "elapsed_ms": round(self.elapsed_ms, 1),
            **self.comparison.to_json(),
        }


def detect(detector: DetectorLike, image: np.ndarray, policy: Policy, own: Mapping[str, float]) -> Detections:
    """The detector's detections, down to the policy's floors where they lie below the detector's
    ``own`` thresholds: the operating point is the administration's (a weak gun alarm may be worth an
    officer's look), the model card's thresholds only its best F1 on validation data."""
    floors = {c: policy.detection_threshold(c, t) for c, t in own.items()}
    if all(floors[c] >= t for c, t in own.items()):
        return detector.detect(image, flips=policy.flips)
    return detector.detect(image, score_threshold=min(floors.values()), flips=policy.flips)


def detections_to_seen(detections: Detections, policy: Policy, own: Mapping[str, float] | None = None,
                       attenuation: np.ndarray | None = None) -> tuple[Seen, ...]:
    """Detections kept by the policy's floors, as plain records; those below the detector's ``own``
    thresholds (reported because a floor lies lower) are marked weak. ``attenuation``: float32 [N],
    each detection's `box_attenuation` (scans with dual-energy readings)."""
    own = own or {}
    atts = [None] * len(detections.scores) if attenuation is None else attenuation.tolist()
    out = []
    for box, score, name, att in zip(
        detections.xyxy.tolist(), detections.scores.tolist(), detections.class_names, atts, strict=True
    ):
        model = own.get(name, 0.0)
        if score >= policy.detection_threshold(name, model):
            out.append(Seen(name, float(score), tuple(float(v) for v in box), score < model, att))
    return tuple(out)


def scan_attenuation(scan: Scan, detections: Detections) -> np.ndarray | None:
    """`box_attenuation` of each detection when the scan has dual-energy readings, else None."""
    return None if scan.raw_high is None else box_attenuation(scan.raw_high, detections.xyxy)


def compare_settings(policy: Policy, detector: object) -> CompareSettings:
    """The policy's comparison settings; the detector's measured recall and look-alikes where the
    policy gives none."""
    measured = {key: value for key in ("recall", "look_alikes")
                if (value := getattr(detector, key, None)) and not getattr(policy.comparison, key)}
    return replace(policy.comparison, **measured) if measured else policy.comparison


def material_profile(scan: Scan, policy: Policy) -> MaterialProfile:
    """From the raw dual-energy channels when the scan has them, else from the false-colour image."""
    if scan.raw_low is not None and scan.raw_high is not None:
        return material_from_raw(scan.raw_low, scan.raw_high, policy.comparison)
    return material_from_false_colour(scan.rgb, policy.comparison)


def triage(
    scan: Scan,
    declaration: Declaration,
    detector: DetectorLike,
    *,
    policy: Policy | None = None,
    taxonomy: Taxonomy | None = None,
) -> Decision:
    """Detect, compare with the declaration, and decide."""
    start = time.perf_counter()
    policy = policy or load_policy()
    taxonomy = taxonomy or load_taxonomy()
    own = getattr(detector, "thresholds", None) or {}
    detections = detect(detector, scan.rgb, policy, own)
    seen = detections_to_seen(detections, policy, own, scan_attenuation(scan, detections))
    comparison = compare(
        declaration,
        seen,
        taxonomy=taxonomy,
        material=material_profile(scan, policy),
        settings=compare_settings(policy, detector),
    )
    verdict = policy.decide(comparison.findings, scan.sha256)
    decision = Decision(
        scan_id=scan.scan_id,
        outcome=verdict.outcome,
        risk_score=verdict.risk_score,
        reasons=verdict.reasons,
        random_control=verdict.random_control,
        comparison=comparison,
        scan_sha256=scan.sha256,
        declaration_sha256=declaration_sha256(declaration),
        model_sha256=detector.sha256,
        model_card_sha256=detector.card_sha256,
        policy_version=policy.version,
        taxonomy_version=taxonomy.version,
        elapsed_ms=(time.perf_counter() - start) * 1000,
    )
    log.info(
        "scan %s (sha256 %.12s): %s, risk %.2f, %d reasons; model %.12s, policy %s",
        scan.scan_id,
        scan.sha256,
        decision.outcome,
        decision.risk_score,
        len(decision.reasons),
        detector.sha256,
        policy.version,
    )
    return decision
