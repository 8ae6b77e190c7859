"""Does the detector miss what cannot be seen? Recall and AP of models on a `nii synth` folder, by how
far each labelled object shows in its scan (the `contrast` attribute of the annotations: the 90th
percentile of the RGB change the object makes, `nii.synth.parcel.object_contrast`).

Per contrast band: the share of labelled objects found at the model card's thresholds (a detection of
the same class at IoU >= 0.5). Then COCO mAP with the objects below each `--ignore-below` level made
ignore regions (iscrowd: neither a miss when not found nor a false alarm when found, like VOC's
"difficult" objects): how much of the gap to a perfect score the unseeable labels explain.

    python benchmarks/box_visibility.py --model models/nii-nano.onnx [--model M2 ...] --data DIR
        [--bands 30,70,140,210,280] [--ignore-below 30,70,100] [--json OUT] [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import itertools
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from nii.datasets import Dataset, load_dataset
from nii.detector.evaluate import EVAL_SCORE_THRESHOLD, coco_eval, predict
from nii.errors import DatasetError
from nii.runtime.detector import Detections
from nii.runtime.postprocess import box_iou
from nii.runtime.yolo import load_detector


def contrasts(data: Path, dataset: Dataset) -> list[np.ndarray]:
    """Each sample's box contrasts, in the dataset's box order."""
    coco = json.loads((data / "annotations.json").read_text())
    names = {im["id"]: im["file_name"] for im in coco["images"]}
    by_file: dict[str, list[tuple[list[float], float]]] = defaultdict(list)
    for a in coco["annotations"]:
        if "contrast" not in a.get("attributes", {}):
            raise DatasetError(f"{data}/annotations.json: annotation {a['id']} has no contrast attribute; "
                               "write the folder again with this version's `nii synth`")
        x, y, w, h = a["bbox"]
        by_file[names[a["image_id"]]].append(([x, y, x + w, y + h], a["attributes"]["contrast"]))
    out = []
    for sample in dataset.samples:
        rows = by_file.get(sample.image_path.name, [])
        if len(rows) != len(sample.xyxy) or not np.allclose([r[0] for r in rows] or np.zeros((0, 4)),
                                                            sample.xyxy, atol=0.02):
            raise DatasetError(f"{sample.image_path}: boxes do not match annotations.json")
        out.append(np.array([r[1] for r in rows], dtype=np.float64))
    return out


def found_at(dataset: Dataset, predictions: list[Detections], thresholds: dict[str, float]) -> np.ndarray:
    """Per labelled object (all samples in order): found by a same-class detection at the card's threshold."""
    found = []
    for sample, det in zip(dataset.samples, predictions, strict=True):
        for box, cls in zip(sample.xyxy, sample.class_ids.tolist(), strict=True):
            keep = (det.class_ids == cls) & (det.scores >= thresholds[dataset.class_names[cls]])
            found.append(bool(keep.any() and box_iou(box, det.xyxy[keep]).max() >= 0.5))
    return np.array(found)


def coco_map(dataset: Dataset, predictions: list[Detections], contrast: np.ndarray, below: float) -> dict:
    """mAP50, mAP50-95 and per-class AP50 with the objects of contrast < below as ignore regions."""
    ev = coco_eval(dataset, predictions, list(range(len(dataset.class_names))), ignore=contrast < below)
    ap50 = {}
    for k, name in enumerate(dataset.class_names):
        p = ev.eval["precision"][0, :, k, 0, -1]
        ap50[name] = round(float(p[p > -1].mean()), 4) if (p > -1).any() else None
    return {"ignore_below": below, "ignored": int((contrast < below).sum()),
            "map50": round(float(ev.stats[1]), 4), "map50_95": round(float(ev.stats[0]), 4), "ap50": ap50}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="exported model.onnx (repeatable)")
    ap.add_argument("--data", required=True, type=Path, help="`nii synth` folder with contrast attributes")
    ap.add_argument("--bands", default="30,70,140,210,280", help="contrast band edges")
    ap.add_argument("--ignore-below", default="30,70,100", help="contrast levels to ignore objects below")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--plot", type=Path, help="PNG of recall by contrast band, one line per model")
    args = ap.parse_args()
    edges = [0.0, *(float(v) for v in args.bands.split(",")), float("inf")]
    levels = [float(v) for v in args.ignore_below.split(",")]

    dataset = load_dataset(args.data)
    contrast = np.concatenate(contrasts(args.data, dataset))
    classes = np.concatenate([s.class_ids for s in dataset.samples])
    in_band = [(contrast >= lo) & (contrast < hi) for lo, hi in itertools.pairwise(edges)]
    bands = [{"from": lo, "to": None if hi == float("inf") else hi, "boxes": int(inside.sum())}
             for (lo, hi), inside in zip(itertools.pairwise(edges), in_band, strict=True)]
    result: dict = {
        "data": str(args.data), "images": len(dataset.samples), "boxes": int(contrast.size),
        "bands": bands,
        "share_below": {name: {str(lv): round(float((contrast[classes == k] < lv).mean()), 3)
                               for lv in levels}
                        for k, name in enumerate(dataset.class_names) if (classes == k).any()},
        "models": [],
    }
    for model in args.model:
        detector = load_detector(Path(model), score_threshold=EVAL_SCORE_THRESHOLD, threads=args.threads,
                                 warmup=False)
        predictions = predict(detector, dataset)
        found = found_at(dataset, predictions, detector.card.thresholds)
        result["models"].append({
            "model": model, "model_sha256": detector.sha256,
            "recall_at_card_thresholds": [round(float(found[inside].mean()), 3) if inside.any() else None
                                          for inside in in_band],
            "coco": [coco_map(dataset, predictions, contrast, lv) for lv in [0.0, *levels]],
        })
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        labels = [f"{b['from']:.0f}-{'' if b['to'] is None else round(b['to'])}\n({b['boxes']})"
                  for b in bands]
        fig, axis = plt.subplots(figsize=(7, 4))
        for m in result["models"]:
            axis.plot(labels, m["recall_at_card_thresholds"], marker="o",
                      label=f"{Path(m['model']).name} ({m['model_sha256'][:6]})")
        axis.set(xlabel="contrast band (objects)", ylabel="recall at the card's thresholds", ylim=(0, 1),
                 title=f"Labelled objects found, by how far they show: {args.data.name}")
        axis.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
