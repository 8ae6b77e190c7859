"""GPU check of the serving runtime: provider selection, parity with CPU, fp16, IOBinding, timings.

On a machine with an NVIDIA GPU (the CPU `onnxruntime` wheel uninstalled first, both provide the module):

    pip uninstall -y onnxruntime && pip install -e '.[gpu]'
    python benchmarks/gpu_check.py --model models/nii-nano.onnx [--peer /tmp/yolo/yolo11n.onnx@512]
        [--runs 100] [--json benchmarks/results/gpu.json]

For each configuration (CPU fp32 as the reference; CUDA fp32 with and without IOBinding; CUDA fp16;
TensorRT fp32 / fp16 when the build has it) it records the provider that actually runs (a silent
fallback to CPU shows here), the largest difference of raw outputs from CPU fp32 on real letterboxed
scans, detections agreeing with CPU, and median / p90 times: model-only at batch 1, 8 and 32, and
end-to-end on a 1024x768 JPEG. Exit status 1 when CUDA is missing or falls back (--allow-cpu: smoke
run of the script itself on a CPU machine).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from _runtime_common import adopt_peer, encoded, machine, summary, synthetic_scan, timed_ms

from nii.runtime import decode_image, load_detector


def _configs(available: list[str]) -> list[dict[str, Any]]:
    cpu = ["CPUExecutionProvider"]
    configs = [{"name": "cpu-fp32", "providers": cpu, "fp16": False, "io_binding": False}]
    if "CUDAExecutionProvider" in available:
        cuda = ["CUDAExecutionProvider"]
        configs += [{"name": "cuda-fp32", "providers": cuda, "fp16": False, "io_binding": False},
                    {"name": "cuda-fp32-iobinding", "providers": cuda, "fp16": False, "io_binding": True},
                    {"name": "cuda-fp16-iobinding", "providers": cuda, "fp16": True, "io_binding": True}]
    if "TensorrtExecutionProvider" in available:
        trt = ["TensorrtExecutionProvider", "CUDAExecutionProvider"]
        configs += [{"name": "tensorrt-fp32", "providers": trt, "fp16": False, "io_binding": True},
                    {"name": "tensorrt-fp16", "providers": trt, "fp16": True, "io_binding": True}]
    return configs


def _check(model: Path, configs: list[dict[str, Any]], scans: list[np.ndarray], jpeg: bytes,
           args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    reference: tuple[np.ndarray, np.ndarray] | None = None
    ref_dets = None
    for config in configs:
        row: dict[str, Any] = {"model": model.stem, "config": config["name"]}
        try:
            detector = load_detector(model, providers=config["providers"], fp16=config["fp16"],
                                     io_binding=config["io_binding"], score_threshold=0.25)
        except Exception as exc:  # report and go on: this is a diagnostic script
            rows.append(row | {"error": f"{type(exc).__name__}: {exc}"})
            continue
        row |= {"provider": detector.provider, "fp16": detector.fp16, "io_binding": detector.io_binding,
                "fell_back": detector.provider != config["providers"][0]}
        batch = np.stack([detector._prepare(s, detector.card.input)[0] for s in scans])
        boxes, scores = detector._run(batch)
        dets = detector.detect_batch(scans, tiling="off")
        if reference is None:
            reference, ref_dets = (boxes, scores), dets
        else:
            row["max_abs_diff_boxes_px"] = float(np.abs(boxes - reference[0]).max())
            row["max_abs_diff_scores"] = float(np.abs(scores - reference[1]).max())
            row["same_detection_counts"] = [len(a) == len(b) for a, b in zip(dets, ref_dets, strict=True)]
        run, detect = detector._run, detector.detect
        for size in args.batches:
            x = np.repeat(batch[:1], size, axis=0)
            times = timed_ms(lambda x=x, run=run: run(x), args.runs, args.warmup)
            row[f"model_b{size}"] = summary(times, size)
        times = timed_ms(lambda detect=detect: detect(decode_image(jpeg)), args.runs, args.warmup)
        row["e2e_jpeg"] = summary(times)
        rows.append(row)
        print(f"{model.stem:<16} {config['name']:<22} on {detector.provider:<26} "
              f"b1 {row['model_b1']['median_ms']:7.2f} ms  e2e {row['e2e_jpeg']['median_ms']:7.2f} ms  "
              f"diff {row.get('max_abs_diff_scores', 0.0):.2e}")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="nii model (card beside it)")
    parser.add_argument("--peer", action="append", default=[], help="Ultralytics export PATH.onnx@SIZE")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--scans", type=int, default=4, help="synthetic scans for the parity check")
    parser.add_argument("--allow-cpu", action="store_true", help="run without CUDA (smoke test)")
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/gpu.json"))
    args = parser.parse_args()

    available = ort.get_available_providers()
    print(f"onnxruntime {ort.__version__}, device {ort.get_device()}, providers {available}")
    if "CUDAExecutionProvider" not in available and not args.allow_cpu:
        print("CUDAExecutionProvider is not in this onnxruntime build: pip uninstall -y onnxruntime && "
              "pip install -e '.[gpu]' (and CUDA 12 / cuDNN 9 libraries on the library path)",
              file=sys.stderr)
        return 1
    scans = [synthetic_scan(1024, 768, seed=seed) for seed in range(args.scans)]
    jpeg = encoded(scans[0], ".jpg")
    configs = _configs(available)
    rows = _check(args.model, configs, scans, jpeg, args)
    with tempfile.TemporaryDirectory() as tmp:
        for spec in args.peer:
            peer, _ = adopt_peer(spec, Path(tmp))
            args_b1 = argparse.Namespace(**{**vars(args), "batches": [1]})  # Ultralytics exports: batch 1
            rows += _check(peer, configs, scans, jpeg, args_b1)
    report = {"machine": machine(), "config": {k: str(v) for k, v in vars(args).items()}, "results": rows}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json}")
    failed = [r for r in rows if r.get("error") or (r["config"] != "cpu-fp32" and r.get("fell_back"))]
    if failed:
        problems = [(r["model"], r["config"], r.get("error") or "fell back to " + r["provider"])
                    for r in failed]
        print(f"problems: {problems}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
