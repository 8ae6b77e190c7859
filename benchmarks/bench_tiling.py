"""Recall on long synthetic scans: plain letterboxing vs tiling (overlapping tiles + whole view).

    python benchmarks/bench_tiling.py --model models/nii-nano.onnx [--count 40] [--width 3000]
        [--height 600] [--seed 31] [--threads 2] [--json benchmarks/results/tiling.json]

Scans come from `nii.synth.parcel.generate_parcel(seed, i, width, height)` (aspect about 5:1, each
about 0.5-1 s to render). A ground-truth box is found when a detection of its class overlaps it at
IoU >= 0.5; recall is counted at the card's thresholds (what serving alarms on) and at score 0.001
(the ceiling). Also: false detections per scan at the card's thresholds and ms per scan.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from _runtime_common import machine

from nii.runtime import Detections, load_detector
from nii.runtime.postprocess import box_iou

MATCH_IOU = 0.5


def _match(det: Detections, boxes: list[tuple[str, tuple[float, ...]]]) -> tuple[list[bool], int]:
    """(found flag per ground-truth box, detections matching no box of their class)."""
    names = det.class_names
    found = []
    used = np.zeros(len(det), dtype=bool)
    for class_name, xyxy in boxes:
        same = np.asarray([n == class_name for n in names], dtype=bool)
        if not same.any():
            found.append(False)
            continue
        ious = np.where(same, box_iou(np.asarray(xyxy, np.float32), det.xyxy), 0.0)
        found.append(bool(ious.max() >= MATCH_IOU))
        used |= ious >= MATCH_IOU
    return found, int((~used).sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--width", type=int, default=3000)
    parser.add_argument("--height", type=int, default=600)
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/tiling.json"))
    args = parser.parse_args()

    from nii.synth.parcel import generate_parcel

    detectors = {"card": load_detector(args.model, threads=args.threads),
                 "low": load_detector(args.model, threads=args.threads, score_threshold=0.001)}
    size = detectors["card"].input_size
    found: dict[tuple[str, str], list[bool]] = {}
    per_class: dict[tuple[str, str], Counter] = {}
    false_dets: Counter = Counter()
    times: dict[str, list[float]] = {"off": [], "auto": []}
    shapes = []
    for index in range(args.count):
        parcel = generate_parcel(args.seed, index, width=args.width, height=args.height, threat_share=1.0)
        shapes.append(parcel.rgb.shape[:2])
        boxes = [(b.class_name, b.xyxy) for b in parcel.boxes if b.class_name in detectors["card"].classes]
        for mode in ("off", "auto"):
            for level, detector in detectors.items():
                start = time.perf_counter()
                det = detector.detect(parcel.rgb, tiling=mode)
                if level == "card":
                    times[mode].append((time.perf_counter() - start) * 1000.0)
                hits, false = _match(det, boxes)
                found.setdefault((mode, level), []).extend(hits)
                counter = per_class.setdefault((mode, level), Counter())
                for (name, _), hit in zip(boxes, hits, strict=True):
                    counter[f"{name}/boxes"] += 1
                    counter[f"{name}/found"] += int(hit)
                if level == "card":
                    false_dets[mode] += false
        print(f"scan {index}: {parcel.rgb.shape[1]}x{parcel.rgb.shape[0]}, {len(boxes)} boxes")

    def recall(mode: str, level: str) -> float | None:
        hits = found.get((mode, level), [])
        return round(sum(hits) / len(hits), 4) if hits else None

    results: dict[str, Any] = {}
    for mode in ("off", "auto"):
        results[mode] = {
            "recall_at_card_thresholds": recall(mode, "card"),
            "recall_at_0.001": recall(mode, "low"),
            "false_detections_per_scan": round(false_dets[mode] / max(1, args.count), 3),
            "ms_per_scan_median": round(float(np.median(times[mode])), 1) if times[mode] else None,
            "per_class_recall_at_card": {
                k.split("/")[0]: round(per_class[(mode, "card")][k.split("/")[0] + "/found"] / v, 3)
                for k, v in sorted(per_class.get((mode, "card"), Counter()).items()) if k.endswith("/boxes")
            },
        }
    report = {
        "machine": machine(), "model": str(args.model), "model_sha256": detectors["card"].sha256,
        "input_size": size,
        "scans": {"count": args.count, "seed": args.seed, "requested": f"{args.width}x{args.height}",
                  "median_aspect": round(float(np.median([w / h for h, w in shapes])), 2) if shapes else None,
                  "boxes": len(found.get(("off", "card"), []))},
        "results": results,
        "recall_gain_at_card": None if recall("off", "card") is None else
        round(recall("auto", "card") - recall("off", "card"), 4),
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["results"], indent=2))
    print(f"recall gain (card thresholds): {report['recall_gain_at_card']}; wrote {args.json}")


if __name__ == "__main__":
    main()
