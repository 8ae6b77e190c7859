"""Synthetic parcel throughput: parcels per second per core at about 800x600.

One process pinned to one thread renders parcels (physics, objects, declaration, false colour), then
the same parcels again with their three PNG files encoded (what `nii synth` writes). Medians over
repeated runs; the first parcels of a process build the scanner spectra (spekpy) and are timed apart.

    python benchmarks/bench_synth.py [--count 60] [--repeats 3] [--size 800x600] [--json OUT] [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from nii.synth.dataset import _PNG
from nii.synth.parcel import generate_parcel


def _encode(parcel) -> int:
    n = 0
    for image in (parcel.rgb[..., ::-1], parcel.low, parcel.high):
        _, buf = cv2.imencode(".png", image, _PNG)
        n += len(buf)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=60, help="parcels per timed run")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="800x600")
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    threadpool_limits(1)
    cv2.setNumThreads(1)

    t0 = time.perf_counter()
    for i in range(12):  # builds every scanner configuration the generator draws
        generate_parcel(999, i, width, height)
    warmup_s = time.perf_counter() - t0

    render_rates, write_rates, per_parcel_ms, pixels = [], [], [], []
    for r in range(args.repeats):
        t = time.perf_counter()
        parcels = []
        for i in range(args.count):
            s = time.perf_counter()
            parcels.append(generate_parcel(r, i, width, height))
            per_parcel_ms.append((time.perf_counter() - s) * 1000)
        render_s = time.perf_counter() - t
        t = time.perf_counter()
        for p in parcels:
            _encode(p)
        encode_s = time.perf_counter() - t
        render_rates.append(args.count / render_s)
        write_rates.append(args.count / (render_s + encode_s))
        pixels += [p.rgb.shape[0] * p.rgb.shape[1] for p in parcels]

    result = {
        "benchmark": "synth",
        "size": args.size,
        "median_pixels": int(np.median(pixels)),
        "threads": 1,
        "parcels_per_s_per_core_render": round(statistics.median(render_rates), 2),
        "parcels_per_s_per_core_render_and_png": round(statistics.median(write_rates), 2),
        "parcel_ms_median": round(statistics.median(per_parcel_ms), 1),
        "parcel_ms_p90": round(float(np.percentile(per_parcel_ms, 90)), 1),
        "warmup_s_first_12": round(warmup_s, 2),
        "runs": args.repeats,
        "parcels_per_run": args.count,
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=2)
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.hist(per_parcel_ms, bins=40, color="tab:orange")
        ax.axvline(1000 / 15, color="k", ls="--", label="15 parcels/s/core")
        ax.set_xlabel("ms per parcel (render, 1 thread)")
        ax.set_ylabel("parcels")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
