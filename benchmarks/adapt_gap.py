"""How much of the synthetic-to-real gap does `nii adapt` close? Adapt a model's BatchNorm statistics to
unlabelled scans of a real scanner (for example a dataset's training images, labels unused), then
evaluate the source and each adapted model on labelled splits through the serving path, side by side.

    python benchmarks/adapt_gap.py --model models/nii-nano.onnx
        --images ../shared/data/real/sixray_subset/images/train
        --data ../shared/data/real/sixray_subset [--split val --split test]
        [--samples 50 --samples 200 --samples 770] [--seed N] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from nii.detector.adapt import adapt
from nii.detector.evaluate import evaluate


def _figures(model: Path, data: Path, splits: list[str]) -> dict:
    out = {}
    for split in splits:
        report = evaluate(model, data, split=split, progress=False)
        out[split] = {
            "map50": round(report.map50, 4), "map50_95": round(report.map50_95, 4),
            "ap50": {c: round(m.ap50, 4) for c, m in report.per_class.items() if m.ap50 is not None},
            # at the card's thresholds, which adaptation keeps
            "pd": {c: m.pd for c, m in report.per_class.items() if m.pd is not None},
            "pfa": {c: m.pfa for c, m in report.per_class.items() if m.ap50 is not None},
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=Path("models/nii-nano.onnx"))
    ap.add_argument("--images", type=Path, required=True, help="unlabelled scans to adapt to")
    ap.add_argument("--data", type=Path, required=True, help="labelled dataset to evaluate on")
    ap.add_argument("--split", action="append", default=None, help="splits evaluated (default val, test)")
    ap.add_argument("--samples", action="append", type=int, default=None,
                    help="scans adapted to, repeatable (default 50, 200, 500)")
    ap.add_argument("--seed", type=int, default=0, help="draws the augmentation (nii adapt --seed)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    splits = args.split or ["val", "test"]
    result = {"model": str(args.model), "images": str(args.images), "data": str(args.data), "seed": args.seed,
              "source": _figures(args.model, args.data, splits), "adapted": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for samples in args.samples or [50, 200, 500]:
            out = Path(tmp) / f"adapted_{samples}.onnx"
            start = time.perf_counter()
            card = adapt(args.model, args.images, out, samples=samples, seed=args.seed)
            result["adapted"][str(samples)] = {
                "scans": card.training["adaptation"]["images"],
                "adapt_seconds": round(time.perf_counter() - start, 1),
                **_figures(out, args.data, splits),
            }
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
