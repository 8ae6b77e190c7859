"""Model-only latency of exported detectors on ONNX Runtime (fp32, CPU), side by side in one run.

Each model runs on the same random inputs at its own input size, in rounds that time each model a few
calls in turn (`interleaved_ms`), so that machine noise hits them alike. A peer (e.g. YOLO11n exported
locally with the `ultralytics` package, a benchmark-only install) is given by path; nii models need
their card beside them.

    python benchmarks/bench_detector.py --model models/nii-nano.onnx [--peer yolo11n.onnx@512]
        [--threads 2] [--runs 200] [--json OUT] [--plot OUT.png]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
from _runtime_common import interleaved_ms, machine

from nii.runtime.session import open_session


def _spec(arg: str) -> tuple[Path, int | None]:
    path, _, size = arg.partition("@")
    return Path(path), int(size) if size else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", default=[], help="MODEL.onnx[@SIZE] (repeatable)")
    ap.add_argument("--peer", action="append", default=[], help="peer MODEL.onnx@SIZE (repeatable)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--json", default=None)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    entries = []
    for arg in args.model + args.peer:
        path, size = _spec(arg)
        session = open_session(path, providers=["CPUExecutionProvider"], threads=args.threads)
        shape = session.get_inputs()[0].shape
        if size is None:
            card = json.loads(path.with_suffix(".json").read_text())
            size = card["input"]["size"]
        batch = 1 if not isinstance(shape[0], int) else shape[0]
        x = np.random.default_rng(0).random((batch, 3, size, size), dtype=np.float32)
        name = session.get_inputs()[0].name
        entries.append({"model": f"{path.name}@{size}", "run": lambda s=session, f={name: x}: s.run(None, f)})
    times = interleaved_ms({e["model"]: e["run"] for e in entries}, args.runs, warmup=10)
    for e in entries:
        e["ms"] = times[e["model"]]
    rows = [{"model": e["model"], "median_ms": round(statistics.median(e["ms"]), 2),
             "p90_ms": round(float(np.percentile(e["ms"], 90)), 2),
             "images_per_s": round(1000 / statistics.median(e["ms"]), 1)} for e in entries]
    result = {"benchmark": "detector_latency", "threads": args.threads, "runs": args.runs,
              "machine": machine(), "results": rows}
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 3))
        ax.boxplot([e["ms"] for e in entries], showfliers=False)
        ax.set_xticks(range(1, len(entries) + 1), [e["model"] for e in entries])
        ax.set_ylabel(f"ms per image ({args.threads} threads, fp32)")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)


if __name__ == "__main__":
    main()
