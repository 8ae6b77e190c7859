"""`eval-triage`: the whole pipeline over a `nii synth` folder, tallied per ground-truth label.

Reads DIR/declarations.jsonl (declaration + ground truth per parcel) and DIR/images/ (and DIR/raw/
when present). With `oracle=True` the detector is replaced by the ground-truth boxes of
DIR/annotations.json: the ceiling of matching + policy, not a measure of the shipped system.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nii.errors import DatasetError, NiiError, UsageError
from nii.matching.declaration import parse_declaration
from nii.runtime.detector import Detections
from nii.triage.pipeline import DetectorLike, load_scan, triage
from nii.triage.policy import Outcome, Policy, load_policy
from nii.types import CLASS_NAMES, COMPLIANT, PROHIBITED_CLASSES, Misdeclaration

log = logging.getLogger(__name__)

MISDECLARED = frozenset(str(m) for m in Misdeclaration) - {str(Misdeclaration.PROHIBITED_ITEM)}
# Labels a declared line carries: they can fall on goods no detector class covers (clothes, cosmetics).
LINE_LABELS = (Misdeclaration.MISDESCRIBED, Misdeclaration.QUANTITY_MISMATCH, Misdeclaration.UNDERVALUED)


@dataclass(frozen=True, slots=True)
class TriageReport:
    data: str
    parcels: int
    errors: int  # parcels that could not be triaged (bad scan or declaration)
    per_label: dict[str, dict[str, int]]  # label -> {release, refer, hold}
    # the same for the parcels whose line label falls only on goods without a detector class:
    # a scan shows those goods but no detector names them, so only the declaration can give them away
    per_label_goods_only: dict[str, dict[str, int]]
    # the prohibited parcels whose declaration leaves a prohibited item off or misdescribes it: only
    # the scan can stop them
    prohibited_undeclared: dict[str, int]
    prohibited_stopped: float | None  # share of prohibited parcels held or referred
    misdeclared_flagged: float | None  # share of misdeclared (not prohibited-only) parcels referred or held
    compliant_released: float | None  # share of compliant parcels released
    random_controls: int
    reason_counts: dict[str, int]
    median_ms: float
    model_sha256: str
    model_card_sha256: str
    policy_version: str
    oracle: bool

    def to_json(self) -> dict:
        flagged = {label: round(flagged_share(c), 4) for label, c in self.per_label.items()}
        hidden = self.prohibited_undeclared
        return {
            "data": self.data,
            "parcels": self.parcels,
            "errors": self.errors,
            "prohibited_stopped": _round(self.prohibited_stopped),
            "misdeclared_flagged": _round(self.misdeclared_flagged),
            "compliant_released": _round(self.compliant_released),
            "per_label": self.per_label,
            "per_label_goods_only": self.per_label_goods_only,
            "prohibited_undeclared": hidden,
            "undeclared_prohibited_stopped": _round(flagged_share(hidden)) if sum(hidden.values()) else None,
            "flagged_share_per_label": flagged,
            "random_controls": self.random_controls,
            "reason_counts": self.reason_counts,
            "median_ms": round(self.median_ms, 1),
            "model_sha256": self.model_sha256,
            "model_card_sha256": self.model_card_sha256,
            "policy_version": self.policy_version,
            "oracle": self.oracle,
        }


def flagged_share(counts: dict[str, int]) -> float:
    """Share of a label's parcels referred or held, from its {release, refer, hold} counts."""
    return (counts["refer"] + counts["hold"]) / max(1, sum(counts.values()))


def _outcomes(counts: Counter) -> dict[str, int]:
    return {str(o): counts[str(o)] for o in Outcome}


def _tally(counts: dict[str, Counter]) -> dict[str, dict[str, int]]:
    return {k: _outcomes(v) for k, v in sorted(counts.items())}


def _round(share: float | None) -> float | None:
    # shares stay exact inside: a share rounded here and again for display could print 66.8% for 66.85%
    return None if share is None else round(share, 4)


class _FixedDetector:
    """Returns the same detections for any image (ground-truth boxes of one parcel)."""

    def __init__(self, detections: Detections, sha256: str) -> None:
        self._detections = detections
        self.sha256 = self.card_sha256 = sha256

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
               flips: Sequence[str] = ()) -> Detections:
        return self._detections  # scores 1: no threshold removes any, and boxes need no second look


Shares = tuple[float | None, float | None, float | None]


def group_shares(rows: Iterable[tuple[frozenset[str], str]]) -> Shares:
    """(prohibited stopped, misdeclared flagged, compliant released) from (labels, outcome) rows."""
    groups: dict[str, Counter[str]] = {g: Counter() for g in ("prohibited", "misdeclared", "compliant")}
    for labels, outcome in rows:
        if str(Misdeclaration.PROHIBITED_ITEM) in labels:
            groups["prohibited"][outcome] += 1
        if labels & MISDECLARED:
            groups["misdeclared"][outcome] += 1
        if labels == {COMPLIANT}:
            groups["compliant"][outcome] += 1

    def share(counter: Counter[str], outcomes: tuple[Outcome, ...]) -> float | None:
        total = sum(counter.values())
        return None if total == 0 else sum(counter[str(o)] for o in outcomes) / total

    flagged = (Outcome.REFER, Outcome.HOLD)
    return (share(groups["prohibited"], flagged), share(groups["misdeclared"], flagged),
            share(groups["compliant"], (Outcome.RELEASE,)))


def goods_only_labels(contents: Sequence[dict]) -> frozenset[str]:
    """The line labels (LINE_LABELS) of a parcel whose items all lack a detector class, from the
    ground-truth `contents` of a `nii synth` record."""
    kinds: dict[str, list[str]] = defaultdict(list)
    for item in contents:
        if not item.get("declared", True):
            continue  # an undeclared item has no line to carry a line label
        flags = (item.get("misdescribed"), item.get("declared_quantity") is not None, item.get("undervalued"))
        for label, flag in zip(LINE_LABELS, flags, strict=True):
            if flag:
                kinds[str(label)].append(item["kind"])
    return frozenset(label for label, ks in kinds.items() if not any(k in CLASS_NAMES for k in ks))


def prohibited_undeclared(contents: Sequence[dict]) -> bool:
    """Whether a parcel's ground-truth `contents` hold a prohibited item its declaration leaves off or
    describes as something else (a gun declared as a toy)."""
    return any(
        item["kind"] in PROHIBITED_CLASSES and (not item.get("declared", True) or item.get("misdescribed"))
        for item in contents
    )


def ground_truth(data: Path) -> dict[str, Detections]:
    """Ground-truth boxes of a synth folder as detections (score 1), per image file name."""
    try:
        coco = json.loads((data / "annotations.json").read_text(encoding="utf-8"))
        names = {c["id"]: c["name"] for c in coco["categories"]}
        boxes: dict[int, list] = defaultdict(list)
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            boxes[a["image_id"]].append(([x, y, x + w, y + h], CLASS_NAMES.index(names[a["category_id"]])))
        out = {}
        for image in coco["images"]:
            b = boxes.get(image["id"], [])
            out[image["file_name"]] = Detections(
                np.array([x for x, _ in b], np.float32).reshape(-1, 4),
                np.ones(len(b), np.float32),
                np.array([c for _, c in b], np.int64),
                CLASS_NAMES,
            )
        return out
    except (OSError, ValueError, KeyError) as exc:
        raise DatasetError(f"{data}/annotations.json: cannot read ground-truth boxes ({exc})") from exc


def read_records(data: Path, limit: int | None = None) -> list[dict]:
    """The first `limit` records (all when None) of DIR/declarations.jsonl."""
    path = data / "declarations.jsonl"
    try:
        with path.open(encoding="utf-8") as fh:
            return [json.loads(line) for n, line in enumerate(fh) if limit is None or n < limit]
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); is {data} a `nii synth` folder?") from exc


def evaluate_triage(
    data: Path,
    detector: DetectorLike | None,
    *,
    policy: Policy | None = None,
    limit: int | None = None,
    oracle: bool = False,
    progress: bool = False,
    decisions: Path | None = None,
) -> TriageReport:
    """Triage every parcel of a synth folder and tally decisions per ground-truth label.

    With ``decisions``, also write there one JSON line per parcel: its file name, ground-truth labels
    and the whole decision (reasons, detections, matches), to see which findings flagged which parcels."""
    if detector is None and not oracle:
        raise ValueError("give a detector, or oracle=True to use the ground-truth boxes")
    policy = policy or load_policy()
    truth = ground_truth(data) if oracle else {}
    records = read_records(data, limit)
    per_label: dict[str, Counter] = defaultdict(Counter)
    goods_only: dict[str, Counter] = defaultdict(Counter)
    hidden: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    rows: list[tuple[frozenset[str], str]] = []
    timings, errors, controls = [], 0, 0
    sha, card_sha = (("ground-truth", "ground-truth") if oracle
                     else (detector.sha256, detector.card_sha256))  # type: ignore[union-attr]
    iterator = records
    if progress:
        from tqdm import tqdm

        iterator = tqdm(records, desc="eval-triage", unit="parcel")
    try:
        sink = decisions.open("w", encoding="utf-8") if decisions is not None else contextlib.nullcontext()
    except OSError as exc:
        raise UsageError(f"{decisions}: cannot write the decisions ({exc})") from exc
    with sink as out:
        for record in iterator:
            name = record["file_name"]
            try:
                declaration = parse_declaration(record["declaration"], source=name)
                scan = load_scan(data / "images" / name)
                det = _FixedDetector(truth[name], sha) if oracle else detector
                decision = triage(scan, declaration, det, policy=policy)  # type: ignore[arg-type]
            except (NiiError, KeyError) as exc:
                errors += 1
                log.warning("parcel %s: cannot triage (%s)", name, exc)
                continue
            timings.append(decision.elapsed_ms)
            controls += decision.random_control
            outcome = str(decision.outcome)
            labels = frozenset(record["ground_truth"]["labels"])
            for label in labels:
                per_label[label][outcome] += 1
            contents = record["ground_truth"].get("contents", ())
            for label in goods_only_labels(contents) & labels:
                goods_only[label][outcome] += 1
            if str(Misdeclaration.PROHIBITED_ITEM) in labels and prohibited_undeclared(contents):
                hidden[outcome] += 1
            reasons.update({r.code for r in decision.reasons})
            rows.append((labels, outcome))
            if out is not None:
                line = {"file_name": name, "labels": sorted(labels), **decision.to_json()}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")

    prohibited, misdeclared, compliant = group_shares(rows)
    return TriageReport(
        data=str(data),
        parcels=len(records) - errors,
        errors=errors,
        per_label=_tally(per_label),
        per_label_goods_only=_tally(goods_only),
        prohibited_undeclared=_outcomes(hidden),
        prohibited_stopped=prohibited,
        misdeclared_flagged=misdeclared,
        compliant_released=compliant,
        random_controls=controls,
        reason_counts=dict(reasons.most_common()),
        median_ms=float(np.median(timings)) if timings else 0.0,
        model_sha256=sha,
        model_card_sha256=card_sha,
        policy_version=policy.version,
        oracle=oracle,
    )
