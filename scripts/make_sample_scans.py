"""Write sample_scans/: a small committed set of synthetic parcels for the demo and the tests.

Greedily picks parcels from one seeded run until every detector class and every ground-truth
label is covered, then writes each scan as PNG or JPEG with its declaration as JSON (what a scanner
station uploads), one parcel's raw 16-bit dual-energy channels, and manifest.json with the
ground truth.

    python scripts/make_sample_scans.py [--out sample_scans] [--count 24] [--seed 2026]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import cv2

from nii.synth.parcel import generate_parcel
from nii.types import CLASS_NAMES, COMPLIANT, Misdeclaration

PNG = [cv2.IMWRITE_PNG_COMPRESSION, 9]
JPEG = [cv2.IMWRITE_JPEG_QUALITY, 92]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("sample_scans"))
    ap.add_argument("--count", type=int, default=24)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--size", default="640x480")
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    need = set(CLASS_NAMES) | {str(m) for m in Misdeclaration} | {COMPLIANT}
    chosen = []
    index = 0
    while len(chosen) < args.count and index < 5000:
        parcel = generate_parcel(args.seed, index, width, height)
        tags = {b.class_name for b in parcel.boxes} | set(parcel.labels)
        slots_left = args.count - len(chosen)
        if (tags & need) or len(need) < slots_left:
            chosen.append((index, parcel))
            need -= tags
        index += 1
    if need:
        raise SystemExit(f"could not cover {sorted(need)} in {index} parcels")
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for n, (index, parcel) in enumerate(chosen):
        stem = f"scan_{n:02d}"
        # Stations send PNG or JPEG: the first scans are lossless PNG, the rest JPEG (5 MB budget).
        scan = f"{stem}.png" if n < 4 else f"{stem}.jpg"
        cv2.imwrite(str(args.out / scan), parcel.rgb[..., ::-1], PNG if n < 4 else JPEG)
        (args.out / f"{stem}.json").write_text(
            json.dumps(parcel.declaration.to_json(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        entry = {
            "scan": scan,
            "declaration": f"{stem}.json",
            "seed": args.seed,
            "index": index,
            "labels": list(parcel.labels),
            "boxes": [
                {"class_name": b.class_name, "xyxy": [round(v, 1) for v in b.xyxy], "concealed": b.concealed}
                for b in parcel.boxes
            ],
            "contents": [dataclasses.asdict(c) for c in parcel.contents],
            "scanner": parcel.scanner,
        }
        if n == 0:  # one parcel also as a raw dual-energy pair, for the 16-bit upload path
            cv2.imwrite(str(args.out / f"{stem}_low.png"), parcel.low, PNG)
            cv2.imwrite(str(args.out / f"{stem}_high.png"), parcel.high, PNG)
            entry["raw"] = {"low": f"{stem}_low.png", "high": f"{stem}_high.png"}
        manifest.append(entry)
    (args.out / "manifest.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    total = sum(p.stat().st_size for p in args.out.iterdir())
    print(f"wrote {len(chosen)} parcels to {args.out} ({total / 1e6:.2f} MB), searched {index} parcels")


if __name__ == "__main__":
    main()
