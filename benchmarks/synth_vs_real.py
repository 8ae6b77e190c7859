"""Compare the look of synthetic scans with real ones, with the statistics of DESIGN.md.

Per folder of images: median size, foreground share (HSV saturation > 40 or value < 200) and the
share of foreground hue in 30-degree bins from red. Real sets are read in place, never copied.

    python benchmarks/synth_vs_real.py DIR [DIR ...] [--limit 300] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

EXTS = {".png", ".jpg", ".jpeg", ".bmp"}


def stats(folder: Path, limit: int) -> dict:
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTS)[:limit]
    sizes, fg_shares, hues = [], [], np.zeros(8)
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            continue
        hsv = cv2.cvtColor(bgr, cv2.COLOR_BGR2HSV_FULL)  # hue 0..255 over 360 degrees
        fg = (hsv[..., 1] > 40) | (hsv[..., 2] < 200)
        sizes.append(bgr.shape[1::-1])
        fg_shares.append(float(fg.mean()))
        hue_deg = hsv[..., 0][fg].astype(np.float32) * (360.0 / 256.0)
        hues += np.histogram(hue_deg, bins=12, range=(0, 360))[0][:8]
    w, h = np.median(np.array(sizes), axis=0) if sizes else (0, 0)
    return {
        "folder": str(folder),
        "images": len(sizes),
        "median_size": f"{int(w)} x {int(h)}",
        "foreground_share": round(float(np.median(fg_shares)), 2) if fg_shares else None,
        "hue_share_30deg_bins_0_240": [round(float(v), 2) for v in hues / max(hues.sum(), 1)],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folders", nargs="+", type=Path)
    ap.add_argument("--limit", type=int, default=300)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    rows = [stats(f, args.limit) for f in args.folders]
    print(json.dumps(rows, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
