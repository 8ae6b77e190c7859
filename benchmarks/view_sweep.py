"""Would a second look at a larger scale stop more bullet parcels for fewer false alarms?

The shipped model sees an 800 px scan at 0.64x, so a cartridge covers a few feature cells. This takes
the same weights exported at a larger input (`nii export --checkpoint models/nii-nano.pt --input-size
704 --no-weights --out /tmp/nano704.onnx`: the scan at 0.88x), lets its detections stand in for the
main pass's for the listed classes, and sweeps those classes' floors in a policy (the others fixed),
side by side with the main pass alone: prohibited stopped / misdeclared flagged / compliant released
per floor, on labelled `nii synth` folders. An experiment, not a serving path.

    python benchmarks/bullet_scale_sweep.py --fine-model /tmp/nano704.onnx
        --policy configs/policy-strict-nii-nano.yaml --data data/synth_test4 --data data/synth_tune
        [--classes bullet] [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from nii.matching.taxonomy import load_taxonomy
from nii.runtime import load_detector
from nii.runtime.detector import Detections
from nii.triage import Policy, load_policy
from nii.triage.pipeline import compare_settings
from nii.triage.tune import Parcel, collect, shares

FLOORS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.57, 0.65)


def merge(main: Detections, fine: Detections, classes: set[str]) -> Detections:
    """The main pass's detections, with those of `classes` taken from the larger-scale pass instead."""
    keep_main = np.array([n not in classes for n in main.class_names], bool)
    keep_fine = np.array([n in classes for n in fine.class_names], bool)
    return Detections(
        np.concatenate([main.xyxy[keep_main], fine.xyxy[keep_fine]]).reshape(-1, 4).astype(np.float32),
        np.concatenate([main.scores[keep_main], fine.scores[keep_fine]]).astype(np.float32),
        np.concatenate([main.class_ids[keep_main], fine.class_ids[keep_fine]]).astype(np.int64),
        main.classes,
    )


def sweep(parcels: list[Parcel], policy: Policy, classes: set[str]) -> list[dict]:
    taxonomy = load_taxonomy()
    rows = []
    for floor in FLOORS:
        floors = {**policy.min_score_by_class, **dict.fromkeys(classes, floor)}
        s = shares(parcels, dataclasses.replace(policy, min_score_by_class=floors), taxonomy)
        rows.append({"floor": floor, "prohibited_stopped": s[0], "misdeclared_flagged": s[1],
                     "compliant_released": s[2]})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("models/nii-nano.onnx"))
    parser.add_argument("--fine-model", type=Path, required=True, help="the same weights at a larger input")
    parser.add_argument("--policy", type=Path, required=True, help="policy whose other floors stay")
    parser.add_argument("--data", type=Path, action="append", required=True, help="`nii synth` folder")
    parser.add_argument("--classes", default="bullet", help="comma-separated classes from the larger pass")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    classes = set(args.classes.split(","))
    main_detector = load_detector(args.model, threads=2)
    fine = load_detector(args.fine_model, threads=2)
    policy = load_policy(args.policy)
    policy = dataclasses.replace(policy, comparison=compare_settings(policy, main_detector))
    # Each model runs once per parcel; the two-scale parcels merge the two passes' detections.
    main_parcels = [p for folder in args.data for p in collect(folder, main_detector, policy)]
    fine_parcels = [p for folder in args.data for p in collect(folder, fine, policy)]
    two_scale = [dataclasses.replace(a, detections=merge(a.detections, b.detections, classes))
                 for a, b in zip(main_parcels, fine_parcels, strict=True)]
    report = {
        "model": main_detector.sha256, "fine_model": fine.sha256, "fine_input": fine.input_size,
        "policy": policy.version, "data": [str(d) for d in args.data], "classes": sorted(classes),
        "main": sweep(main_parcels, policy, classes),
        "two_scale": sweep(two_scale, policy, classes),
    }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
