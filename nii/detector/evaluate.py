"""Evaluation of an exported ONNX model through `nii.runtime.Detector` (the serving path; no torch).

Metrics:
- COCO mAP50-95, mAP50 and per-class AP by faster-coco-eval, over the classes present in the ground
  truth, from detections at score >= 0.001 (max 100 per image).
- Scan-level probability of detection and false alarm per class at the card's threshold: an image
  is *alarmed* for a class when any detection of that class scores >= the threshold. Pd = alarmed
  images among those holding the class; Pfa = alarmed images among those without it. `pd_localised`
  further asks that an alarming detection overlaps a ground-truth box of the class at IoU >= 0.5.
  Intervals are 95% Wilson score intervals.
- `choose_thresholds`: per class, the score threshold that maximises box-level F1 at IoU 0.5 on
  validation data (greedy matching by score, as COCO does), the recall there, and the classes each
  class's detections turned out to be when they were wrong (`look_alikes`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from faster_coco_eval import COCO, COCOeval_faster
from tqdm import tqdm

from nii.datasets import Dataset, load_dataset
from nii.datasets.coco import to_coco_dict
from nii.errors import DatasetError
from nii.runtime import Detections, Detector, decode_image, load_detector
from nii.runtime.postprocess import box_iou

log = logging.getLogger(__name__)

EVAL_SCORE_THRESHOLD = 0.001  # detections kept for mAP (COCO practice)
MATCH_IOU = 0.5  # IoU for a detection to count as finding a box (Pd localised, threshold choice)
BATCH = 4  # images per session run


@dataclass(frozen=True, slots=True)
class ClassMetrics:
    """Metrics of one class. AP is None for classes absent from the ground truth, Pd too."""

    ap50: float | None
    ap50_95: float | None
    pd: float | None  # scan level, at `threshold`
    pd_ci: tuple[float, float] | None  # 95% Wilson interval
    pd_localised: float | None  # scan level, alarm must overlap a GT box at IoU >= 0.5
    pfa: float | None
    pfa_ci: tuple[float, float] | None
    images_with: int  # images holding at least one box of the class
    images_without: int
    detected_images: int  # alarmed images among images_with
    false_alarm_images: int  # alarmed images among images_without
    boxes: int  # ground-truth boxes
    threshold: float


@dataclass(frozen=True, slots=True)
class EvalReport:
    map50: float
    map50_95: float
    per_class: dict[str, ClassMetrics]
    images: int
    boxes: int
    model: str
    model_sha256: str
    model_card_sha256: str  # the card's looks and thresholds (Pd, Pfa) change the figures under one graph
    provider: str
    data: str
    split: str | None
    seconds: float
    ms_per_image: float  # decode + detect, end to end
    flips: tuple[str, ...] = ()  # test-time flips the model ran with (nii.runtime.flips)

    def to_dict(self) -> dict:
        return asdict(self)


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float] | None:
    """Wilson score interval of a binomial proportion (95% by default); None when trials is 0."""
    if trials <= 0:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def predict(detector: Detector, dataset: Dataset, *, progress: bool = False,
            flips: Sequence[str] = ()) -> list[Detections]:
    """Detections of every sample (decoded from disk, as serving does)."""
    results: list[Detections] = []
    samples = dataset.samples
    with tqdm(total=len(samples), desc="eval", unit="img", disable=not progress) as bar:
        for start in range(0, len(samples), BATCH):
            chunk = samples[start:start + BATCH]
            images = []
            for sample in chunk:
                image = decode_image(sample.image_path)
                if image.shape[:2] != (sample.height, sample.width):
                    raise DatasetError(
                        f"{sample.image_path} is {image.shape[1]}x{image.shape[0]} but its annotation says "
                        f"{sample.width}x{sample.height}; fix the annotation's image size"
                    )
                images.append(image)
            results.extend(detector.detect_batch(images, flips=flips))
            bar.update(len(chunk))
    return results


def coco_eval(dataset: Dataset, predictions: Sequence[Detections], class_ids: list[int],
              ignore: np.ndarray | None = None) -> COCOeval_faster:
    """COCO evaluation of `class_ids`, accumulated and summarised. ignore: one bool per labelled box (the
    dataset's boxes in order) marking ignore regions (COCO iscrowd: neither a miss nor a false alarm)."""
    gt_dict = to_coco_dict(dataset)
    if ignore is not None:
        for ann, crowd in zip(gt_dict["annotations"], ignore.tolist(), strict=True):
            ann["iscrowd"] = int(crowd)
    gt = COCO(gt_dict)
    dets = [
        {"image_id": i, "category_id": int(c) + 1, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": float(s)}
        for i, det in enumerate(predictions, start=1)
        for (x1, y1, x2, y2), s, c in zip(det.xyxy.tolist(), det.scores.tolist(), det.class_ids, strict=True)
    ]
    evaluator = COCOeval_faster(gt, gt.loadRes(dets) if dets else COCO(), iouType="bbox",
                                print_function=log.debug)
    evaluator.params.catIds = [c + 1 for c in class_ids]
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator


def _ap(precision: np.ndarray) -> float:
    """Mean of valid entries of a COCO precision slice (-1 marks 'no ground truth')."""
    valid = precision[precision > -1]
    return float(valid.mean()) if valid.size else 0.0


def _scan_level(
    dataset: Dataset, predictions: Sequence[Detections], cls: int, threshold: float
) -> tuple[int, int, int, int, int]:
    """(images_with, detected, localised, images_without, false_alarms) of class `cls`."""
    with_, detected, localised, without, false_alarms = 0, 0, 0, 0, 0
    for sample, det in zip(dataset.samples, predictions, strict=True):
        alarms = det.xyxy[(det.class_ids == cls) & (det.scores >= threshold)]
        gt = sample.xyxy[sample.class_ids == cls]
        if len(gt):
            with_ += 1
            detected += bool(len(alarms))
            localised += any(bool((box_iou(a, gt) >= MATCH_IOU).any()) for a in alarms)
        else:
            without += 1
            false_alarms += bool(len(alarms))
    return with_, detected, localised, without, false_alarms


def metrics(dataset: Dataset, predictions: Sequence[Detections], thresholds: dict[str, float]) -> tuple[
    float, float, dict[str, ClassMetrics], np.ndarray
]:
    """(map50, map50_95, per_class, precision) of predictions on a dataset with the model's class ids.

    precision: COCO's [IoU 10, recall 101, class present in GT, area 4, max dets 3] array.
    """
    boxes_per_class = np.bincount(
        np.concatenate([s.class_ids for s in dataset.samples] or [np.zeros(0, np.int64)]),
        minlength=len(dataset.class_names),
    )
    present = [c for c in range(len(dataset.class_names)) if boxes_per_class[c] > 0]
    if not present:
        raise DatasetError("the evaluation data holds no box of the model's classes; check --split and "
                           "--class-map (the import report lists the unmapped source classes)")
    evaluator = coco_eval(dataset, predictions, present)
    precision = evaluator.eval["precision"]  # [IoU 10, recall 101, class, area, max dets]
    per_class: dict[str, ClassMetrics] = {}
    for cls, name in enumerate(dataset.class_names):
        threshold = float(thresholds[name])
        with_, detected, localised, without, false_alarms = _scan_level(dataset, predictions, cls, threshold)
        if cls in present:
            k = present.index(cls)
            ap50, ap = _ap(precision[0, :, k, 0, -1]), _ap(precision[:, :, k, 0, -1])
        else:
            ap50 = ap = None
        per_class[name] = ClassMetrics(
            ap50=ap50, ap50_95=ap,
            pd=detected / with_ if with_ else None, pd_ci=wilson_interval(detected, with_),
            pd_localised=localised / with_ if with_ else None,
            pfa=false_alarms / without if without else None, pfa_ci=wilson_interval(false_alarms, without),
            images_with=with_, images_without=without, detected_images=detected,
            false_alarm_images=false_alarms, boxes=int(boxes_per_class[cls]), threshold=threshold,
        )
    return float(evaluator.stats[1]), float(evaluator.stats[0]), per_class, precision


def write_pr_curves(precision: np.ndarray, class_names: Sequence[str], path: Path) -> None:
    """PNG of precision-recall curves at IoU 0.5 (COCO interpolated precision), one per class.

    precision as returned by `metrics`; class_names of its class axis.
    """
    from matplotlib.figure import Figure

    recall = np.linspace(0, 1, precision.shape[1])
    fig = Figure(figsize=(7, 5), dpi=100)
    ax = fig.add_subplot()
    for k, name in enumerate(class_names):
        curve = precision[0, :, k, 0, -1]
        ax.plot(recall, np.clip(curve, 0, None), label=f"{name} (AP50 {_ap(curve):.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title="PR curves, IoU 0.5")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def write_report_json(report: EvalReport, path: Path) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.to_dict(), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot write {path}: {exc.strerror or exc}") from exc


def _load(model: Path, data: Path, split: str | None, class_map: Path | None, limit: int | None,
          threads: int | None) -> tuple[Detector, Dataset]:
    detector = load_detector(model, score_threshold=EVAL_SCORE_THRESHOLD, threads=threads, warmup=False)
    dataset = load_dataset(data, split=split, class_map=class_map, class_names=detector.classes)
    if limit is not None:
        dataset = Dataset(dataset.samples[:limit], dataset.class_names, dataset.report)
    if not dataset.samples:
        raise DatasetError(f"{data} (split {split}) holds no images to evaluate")
    return detector, dataset


def evaluate(
    model: Path,
    data: Path,
    *,
    split: str | None = "test",
    class_map: Path | None = None,
    out_dir: Path | None = None,
    limit: int | None = None,
    progress: bool = True,
    threads: int | None = None,
    flips: Sequence[str] = (),
) -> EvalReport:
    """Evaluate an exported model on a dataset; writes eval.json and pr_curves.png to out_dir if given.

    flips: test-time flips (`nii.runtime.flips`); the card's thresholds then apply to fused scores."""
    start = time.perf_counter()
    detector, dataset = _load(Path(model), Path(data), split, class_map, limit, threads)
    log.info("evaluating %s on %s: %s", model, data, dataset.report.summary())
    infer_start = time.perf_counter()
    predictions = predict(detector, dataset, progress=progress, flips=flips)
    infer_s = time.perf_counter() - infer_start
    map50, map50_95, per_class, precision = metrics(dataset, predictions, detector.card.thresholds)
    report = EvalReport(
        map50=map50, map50_95=map50_95, per_class=per_class, images=len(dataset.samples),
        boxes=sum(len(s.class_ids) for s in dataset.samples), model=str(model),
        model_sha256=detector.sha256, model_card_sha256=detector.card_sha256, provider=detector.provider,
        data=str(data),
        split=dataset.report.split, seconds=round(time.perf_counter() - start, 3),
        ms_per_image=round(1000 * infer_s / len(dataset.samples), 2), flips=tuple(flips),
    )
    if out_dir is not None:
        present = [name for name, m in per_class.items() if m.ap50 is not None]
        write_pr_curves(precision, present, Path(out_dir) / "pr_curves.png")
        write_report_json(report, Path(out_dir) / "eval.json")
    return report


def thresholds_from_predictions(
    dataset: Dataset, predictions: Sequence[Detections], *, default: float = 0.5, iou: float = MATCH_IOU
) -> dict[str, float]:
    """Per class, the score threshold maximising box-level F1 at `iou`; `default` for absent classes."""
    return {name: thr for name, (thr, _) in operating_points(dataset, predictions, default=default,
                                                             iou=iou).items()}


def operating_points(
    dataset: Dataset, predictions: Sequence[Detections], *, default: float = 0.5, iou: float = MATCH_IOU
) -> dict[str, tuple[float, float | None]]:
    """Per class, (score threshold maximising box-level F1 at `iou`, recall there).

    Classes without ground truth or detections get (`default`, None): nothing was measured.
    """
    chosen: dict[str, tuple[float, float | None]] = {}
    for cls, name in enumerate(dataset.class_names):
        scores: list[np.ndarray] = []
        hits: list[np.ndarray] = []
        n_gt = 0
        for sample, det in zip(dataset.samples, predictions, strict=True):
            gt = sample.xyxy[sample.class_ids == cls]
            n_gt += len(gt)
            mine = det.class_ids == cls
            boxes, conf = det.xyxy[mine], det.scores[mine]
            order = np.argsort(-conf, kind="stable")
            taken = np.zeros(len(gt), bool)
            tp = np.zeros(len(order), bool)
            for rank, i in enumerate(order):
                if len(gt):
                    overlap = np.where(taken, -1.0, box_iou(boxes[i], gt))
                    best = int(np.argmax(overlap))
                    if overlap[best] >= iou:
                        taken[best] = tp[rank] = True
            scores.append(conf[order])
            hits.append(tp)
        all_scores = np.concatenate(scores) if scores else np.zeros(0, np.float32)
        if n_gt == 0 or all_scores.size == 0:
            chosen[name] = (default, None)
            continue
        order = np.argsort(-all_scores, kind="stable")
        tp_cum = np.cumsum(np.concatenate(hits)[order])
        fp_cum = np.arange(1, len(order) + 1) - tp_cum
        f1 = 2 * tp_cum / (2 * tp_cum + fp_cum + (n_gt - tp_cum))
        best = int(np.argmax(f1))
        chosen[name] = (float(all_scores[order][best]), float(tp_cum[best]) / n_gt)
    return chosen


def look_alikes(
    dataset: Dataset, predictions: Sequence[Detections], thresholds: dict[str, float], *,
    iou: float = MATCH_IOU, min_share: float = 0.01,
) -> dict[str, dict[str, float]]:
    """Detected class -> {true class: share of its detections at `thresholds` whose best-overlapping
    ground-truth box (IoU >= `iou`) is of that other class}; shares below `min_share` are left out."""
    names = dataset.class_names
    totals = np.zeros(len(names), np.int64)
    confused = np.zeros((len(names), len(names)), np.int64)
    for sample, det in zip(dataset.samples, predictions, strict=True):
        for box, cls, score in zip(det.xyxy, det.class_ids, det.scores, strict=True):
            if score < thresholds[names[cls]]:
                continue
            totals[cls] += 1
            if len(sample.xyxy):
                overlap = box_iou(box, sample.xyxy)
                best = int(np.argmax(overlap))
                if overlap[best] >= iou and sample.class_ids[best] != cls:
                    confused[cls, sample.class_ids[best]] += 1
    out: dict[str, dict[str, float]] = {}
    for a, b in zip(*np.nonzero(confused), strict=True):
        share = confused[a, b] / totals[a]
        if share >= min_share:
            out.setdefault(names[a], {})[names[b]] = round(float(share), 4)
    return out


@dataclass(frozen=True, slots=True)
class OperatingPoints:
    """What `nii export --val-data` writes into the model card."""

    thresholds: dict[str, float]  # class -> score threshold (max F1 at IoU 0.5)
    recall: dict[str, float]  # class -> recall at its threshold (classes with validation objects)
    look_alikes: dict[str, dict[str, float]]  # see `look_alikes`


def choose_thresholds(
    model: Path,
    data: Path,
    *,
    split: str | None = "val",
    class_map: Path | None = None,
    limit: int | None = None,
    default: float = 0.5,
    progress: bool = False,
) -> OperatingPoints:
    """Per-class score thresholds for the model card, chosen on validation data (max F1 at IoU 0.5),
    the recall at each (classes without validation objects have none) and the look-alikes there.

    The model needs a (provisional) card beside it: run it once with default thresholds, then
    rewrite the card with these (the ONNX sha256 does not change).
    """
    detector, dataset = _load(Path(model), Path(data), split, class_map, limit, None)
    predictions = predict(detector, dataset, progress=progress)
    points = operating_points(dataset, predictions, default=default)
    thresholds = {name: thr for name, (thr, _) in points.items()}
    return OperatingPoints(
        thresholds,
        {name: round(r, 4) for name, (_, r) in points.items() if r is not None},
        look_alikes(dataset, predictions, thresholds),
    )


__all__ = ["ClassMetrics", "EvalReport", "OperatingPoints", "choose_thresholds", "evaluate", "look_alikes",
           "metrics", "operating_points", "thresholds_from_predictions", "wilson_interval"]
