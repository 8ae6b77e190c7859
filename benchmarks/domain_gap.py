"""How much of the synthetic-to-real gap do scanner differences explain? Evaluate models on a labelled
set with each image changed the way another scanner or pipeline would change it (JPEG compression,
palette hue, saturation, a smoothed material map, blur, brightness) or imaged at another scale, side
by side, through the serving path.

If a perturbation of the real scans moves their mAP50 a lot, the renderer should reproduce it; if no
perturbation moves it, the gap is in the objects and the packing, not in the image pipeline. Two
last rows use the labels to split it between the bag and the objects: the scans as they are with
only the detections centred on a labelled object kept (what the false alarms on the bag's clutter
cost), and the objects alone, everything outside their boxes (grown by 5%) white (what the clutter
beside them costs on top).

    python benchmarks/domain_gap.py --model models/nii-nano.onnx [--model OTHER.onnx]
        --data ../shared/data/real/sixray_subset --split val [--limit N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np

from nii.datasets import Dataset, load_dataset
from nii.detector.evaluate import EVAL_SCORE_THRESHOLD, metrics
from nii.runtime.detector import Detections
from nii.runtime.preprocess import decode_image
from nii.runtime.yolo import load_detector


def _hue(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV_FULL)
        hsv[..., 0] = ((hsv[..., 0].astype(np.int32) + round(degrees * 256 / 360)) % 256).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB_FULL)
    return apply


def _saturation(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:
        hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV).astype(np.float32)
        hsv[..., 1] = np.clip(hsv[..., 1] * factor, 0, 255)
        return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB)
    return apply


def _jpeg(quality: int) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:  # OpenCV writes 4:2:0 chroma, as the SIXray files are
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        _, data = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        return cv2.cvtColor(cv2.imdecode(data, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return apply


def _smooth_colour(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:  # blur chroma only: a scanner's smoothed material map
        lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB)
        lab[..., 1:] = cv2.GaussianBlur(lab[..., 1:], (0, 0), sigma)
        return cv2.cvtColor(lab, cv2.COLOR_LAB2RGB)
    return apply


def _blur(sigma: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:  # undo a scanner's edge enhancement (dark rims on objects)
        return cv2.GaussianBlur(rgb, (0, 0), sigma)
    return apply


def _darkness(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:  # another brightness setting: white stays white
        return (255 - np.clip((255 - rgb.astype(np.float32)) * factor, 0, 255)).astype(np.uint8)
    return apply


def _margin(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def apply(rgb: np.ndarray) -> np.ndarray:  # white margin right and below: boxes keep their pixels,
        h, w = rgb.shape[:2]  # and everything shrinks by 1 / factor in the letterboxed input
        return cv2.copyMakeBorder(rgb, 0, round(h * (factor - 1)), 0, round(w * (factor - 1)),
                                  cv2.BORDER_CONSTANT, value=(255, 255, 255))
    return apply


def _expanded(xyxy: np.ndarray, frac: float = 0.05) -> np.ndarray:
    """The labelled boxes grown by `frac` of their size on each side."""
    grow = (xyxy[:, 2:] - xyxy[:, :2]) * frac
    return np.concatenate([xyxy[:, :2] - grow, xyxy[:, 2:] + grow], axis=1)


def _objects_alone(rgb: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """Everything but the labelled objects white: the bag's clutter around them gone (inside stays)."""
    keep = np.zeros(rgb.shape[:2], bool)
    for x1, y1, x2, y2 in _expanded(xyxy).round().astype(int):
        keep[max(y1, 0):y2 + 1, max(x1, 0):x2 + 1] = True
    out = rgb.copy()
    out[~keep] = 255
    return out


def _on_objects(detections: Detections, xyxy: np.ndarray) -> Detections:
    """Only the detections centred on a labelled object: the false alarms on the clutter dropped."""
    centre = (detections.xyxy[:, :2] + detections.xyxy[:, 2:]) / 2
    near = np.zeros(len(centre), bool)
    for x1, y1, x2, y2 in _expanded(xyxy):
        near |= (centre[:, 0] >= x1) & (centre[:, 0] <= x2) & (centre[:, 1] >= y1) & (centre[:, 1] <= y2)
    return Detections(detections.xyxy[near], detections.scores[near], detections.class_ids[near],
                      detections.classes)


PERTURBATIONS: dict[str, Callable[[np.ndarray], np.ndarray] | None] = {
    "none": None,
    "jpeg_q75": _jpeg(75),
    "hue_-15deg": _hue(-15),
    "hue_+15deg": _hue(15),
    "saturation_x0.7": _saturation(0.7),
    "colour_blur_3px": _smooth_colour(3.0),
    "blur_1px": _blur(1.0),
    "blur_2px": _blur(2.0),
    "darker_x1.3": _darkness(1.3),
    "lighter_x0.75": _darkness(0.75),
    "objects_x0.75": _margin(4 / 3),
    "objects_x0.6": _margin(5 / 3),
}


def _cases(images: list[np.ndarray], boxes: list[np.ndarray]) -> Iterator[tuple[str, list[np.ndarray], bool]]:
    """(name, changed scans, keep only the detections on the objects), one case's scans at a time.

    The last two use the labels, to split the gap between the objects and the bag around them.
    """
    for name, change in PERTURBATIONS.items():
        yield name, images if change is None else [change(im) for im in images], False
    yield "none, detections on the objects only", images, True
    alone = [_objects_alone(im, b) for im, b in zip(images, boxes, strict=True)]
    yield "objects alone (the rest white)", alone, False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, action="append", required=True, help="model.onnx (repeatable)")
    parser.add_argument("--data", type=Path, required=True, help="labelled dataset folder")
    parser.add_argument("--split", default="test", help="split to read (default test)")
    parser.add_argument("--limit", type=int, default=None, help="only the first N images")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    detectors = [load_detector(m, score_threshold=EVAL_SCORE_THRESHOLD, warmup=False) for m in args.model]
    dataset = load_dataset(args.data, split=args.split, class_names=detectors[0].classes)
    samples = dataset.samples[: args.limit]
    dataset = Dataset(samples, dataset.class_names, dataset.report)
    images = [decode_image(s.image_path) for s in samples]
    present = sorted({dataset.class_names[c] for s in samples for c in s.class_ids.tolist()})
    boxes = [s.xyxy for s in samples]
    results = []
    for name, changed, on_objects in _cases(images, boxes):
        for model, detector in zip(args.model, detectors, strict=True):
            predictions = detector.detect_batch(changed)  # batched within, as serving batches
            if on_objects:
                predictions = [_on_objects(p, b) for p, b in zip(predictions, boxes, strict=True)]
            map50, _, per_class, _ = metrics(dataset, predictions, detector.card.thresholds)
            row = {"perturbation": name, "model": str(model), "map50": round(map50, 3),
                   "ap50": {c: round(per_class[c].ap50 or 0.0, 3) for c in present}}
            results.append(row)
            print(json.dumps(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"data": str(args.data), "split": args.split, "images": len(samples),
                                         "results": results}, indent=1))


if __name__ == "__main__":
    main()
