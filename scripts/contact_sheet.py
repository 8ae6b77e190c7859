"""Draw a contact sheet of a COCO folder (e.g. `nii synth` output) with its boxes, as one PNG.

python scripts/contact_sheet.py DIR --out docs/synth_contact_sheet.png [--rows 4 --cols 4 --tile 400x300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--cols", type=int, default=4)
    ap.add_argument("--tile", default="400x300")
    ap.add_argument("--no-boxes", action="store_true")
    args = ap.parse_args()
    tw, th = (int(v) for v in args.tile.split("x"))
    coco = json.loads((args.folder / "annotations.json").read_text())
    names = {c["id"]: c["name"] for c in coco["categories"]}
    tiles = []
    for image in coco["images"][: args.rows * args.cols]:
        bgr = cv2.imread(str(args.folder / "images" / image["file_name"]))
        scale = min(tw / bgr.shape[1], th / bgr.shape[0])
        small = cv2.resize(bgr, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        tile = np.full((th, tw, 3), 255, np.uint8)
        tile[: small.shape[0], : small.shape[1]] = small
        if not args.no_boxes:
            for ann in coco["annotations"]:
                if ann["image_id"] != image["id"]:
                    continue
                x, y, w, h = (v * scale for v in ann["bbox"])
                cv2.rectangle(tile, (int(x), int(y)), (int(x + w), int(y + h)), (40, 40, 220), 1, cv2.LINE_AA)
                cv2.putText(
                    tile,
                    names[ann["category_id"]],
                    (int(x), max(int(y) - 3, 10)),
                    cv2.FONT_HERSHEY_SIMPLEX,
                    0.4,
                    (40, 40, 220),
                    1,
                    cv2.LINE_AA,
                )
        cv2.rectangle(tile, (0, 0), (tw - 1, th - 1), (200, 200, 200), 1)
        tiles.append(tile)
    while len(tiles) < args.rows * args.cols:
        tiles.append(np.full((th, tw, 3), 255, np.uint8))
    rows = [np.hstack(tiles[r * args.cols : (r + 1) * args.cols]) for r in range(args.rows)]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack(rows), [cv2.IMWRITE_PNG_COMPRESSION, 9])


if __name__ == "__main__":
    main()
