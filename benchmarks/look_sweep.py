"""What do a model's second looks (`looks` in its card) buy in triage, floor by floor?

The shipped card looks at bullets again at a 704 px input (the 800 px scan at 0.88x instead of 0.64x):
a cartridge covers only a few feature cells at the main 512 px pass. This runs the model with its
looks and, side by side, the same graph with the looks taken out of a copy of its card (the main pass
alone), and sweeps the looked-at classes' floors in a policy (the others fixed): prohibited stopped /
misdeclared flagged / compliant released per floor, on labelled `nii synth` folders.

    python benchmarks/look_sweep.py --model models/nii-nano.onnx
        --policy configs/policy-strict-nii-nano.yaml --data data/synth_test4 --data data/synth_tune
        [--json OUT]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path

from nii.matching.taxonomy import load_taxonomy
from nii.runtime import load_detector
from nii.runtime.card import load_card, write_card
from nii.triage import Policy, load_policy
from nii.triage.pipeline import compare_settings
from nii.triage.tune import Parcel, collect, shares

FLOORS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.57, 0.65)


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
    parser.add_argument("--policy", type=Path, required=True, help="policy whose other floors stay")
    parser.add_argument("--data", type=Path, action="append", required=True, help="`nii synth` folder")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    card = load_card(args.model)
    if not card.looks:
        parser.error(f"{args.model}: its card has no looks to compare")
    classes = {c for look in card.looks for c in look.classes}
    with tempfile.TemporaryDirectory() as tmp:  # the same graph, its card without the looks
        main_only = Path(tmp) / args.model.name
        shutil.copyfile(args.model, main_only)
        write_card(card.model_copy(update={"looks": []}), main_only)
        detectors = {"main_pass": load_detector(main_only, threads=2),
                     "with_looks": load_detector(args.model, threads=2)}
        policy = load_policy(args.policy)
        policy = dataclasses.replace(policy, comparison=compare_settings(policy, detectors["with_looks"]))
        report = {
            "model": detectors["with_looks"].sha256, "looks": [look.model_dump() for look in card.looks],
            "policy": policy.version, "data": [str(d) for d in args.data], "classes": sorted(classes),
            **{name: sweep([p for folder in args.data for p in collect(folder, detector, policy)],
                           policy, classes) for name, detector in detectors.items()},
        }
    text = json.dumps(report, indent=2)
    print(text)
    if args.json is not None:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
