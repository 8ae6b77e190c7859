"""Inference benchmark, one run side by side: PyTorch eager vs ONNX Runtime fp32 vs ORT int8 (u8s8 and
s8s8), 1 and 2 threads, batch 1/4/8, model-only vs end-to-end, GFLOP/s achieved, optional peers.

    python benchmarks/bench_inference.py --model models/nii-nano.onnx \
        [--int8 models/nii-nano-u8s8.onnx ...]      # else u8s8 and s8s8 are quantised here
        [--calibration DIR | --calib-count 32]       # scans for that quantisation (default: synthetic)
        [--peer /tmp/yolo/yolo11n.onnx@512] [--compare OTHER_NII.onnx] [--threads 1 2]
        [--batches 1 4 8] [--runs 50]
        [--json benchmarks/results/inference.json] [--plot benchmarks/results/inference.png]

Model-only: session.run (or the eager forward under torch.no_grad) on a prepared float32 batch.
End-to-end (batch 1, per scan): decode a 1024x768 JPEG / PNG held in memory, letterbox, infer and
postprocess through `Detector` (a `YoloDetector` for peers), as serving does. FLOPs: 2 x MACs of the
convolutions and matmuls in the ONNX graph (and torch.utils.flop_counter on the eager model).
Eager needs the weights `nii export` writes beside the ONNX file (NAME.pt); --skip-eager without.
Each round times every engine in turn, a few calls each after an untimed one (`interleaved_ms`), so
machine noise hits them alike and no engine shares the cores with another's spinning threads. Run it
on a quiet machine.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _runtime_common import (
    adopt_peer,
    encoded,
    graph_gflops,
    interleaved_ms,
    machine,
    summary,
    synthetic_scan,
)

from nii.runtime import decode_image, load_detector
from nii.runtime.card import load_card
from nii.runtime.session import open_session

YOLO11N_512_MS = 28.5  # DESIGN.md reference: YOLO11n ONNX fp32, 2 threads, 512 px, this kind of machine


def _calibration(args: argparse.Namespace, folder: Path) -> Path:
    if args.calibration is not None:
        return args.calibration
    import cv2

    from nii.synth.parcel import generate_parcel

    calib = folder / "calibration"
    calib.mkdir()
    for i in range(args.calib_count):
        rgb = generate_parcel(args.calib_seed, i).rgb
        cv2.imwrite(str(calib / f"{i:04d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return calib


def _engines(args: argparse.Namespace, folder: Path) -> list[dict[str, Any]]:
    """name, kind (eager / ort / peer), path, size, gflops."""
    size = load_card(args.model).input.size
    gflops = graph_gflops(args.model, size)
    engines = [{"name": "ort-fp32", "kind": "ort", "path": args.model, "size": size, "gflops": gflops}]
    int8 = list(args.int8)
    if not int8 and not args.skip_int8:
        from nii.runtime.quantize import quantize_model

        calib = _calibration(args, folder)
        for fmt in ("u8s8", "s8s8"):
            out = folder / f"{args.model.stem}-{fmt}.onnx"
            quantize_model(args.model, calib, out, fmt=fmt, samples=args.calib_count)  # type: ignore[arg-type]
            int8.append(out)
    for path in int8:
        q = load_card(path).quantization or {}
        engines.append({"name": f"ort-int8-{q.get('format', path.stem)}", "kind": "ort", "path": path,
                        "size": size, "gflops": gflops})
    if not args.skip_eager:
        engines.insert(0, {"name": "torch-eager", "kind": "eager", "path": args.model.with_suffix(".pt"),
                           "size": size, "gflops": gflops})
    for path in args.compare:  # other nii models (e.g. the weights shipped before), fp32
        card = load_card(path)
        engines.append({"name": f"ort-fp32-{card.onnx_sha256[:6]}", "kind": "ort", "path": path,
                        "size": card.input.size, "gflops": graph_gflops(path, card.input.size)})
    for spec in args.peer:
        path, peer_size = adopt_peer(spec, folder)
        engines.append({"name": f"peer-{Path(spec.partition('@')[0]).stem}@{peer_size}", "kind": "peer",
                        "path": path, "size": peer_size, "gflops": graph_gflops(path, peer_size)})
    return engines


def _eager(path: Path) -> Any:
    from nii.detector.checkpoint import load_checkpoint, model_from_checkpoint

    return model_from_checkpoint(load_checkpoint(path), path=path).eval()


def _model_only(engine: dict[str, Any], threads: int, batch: int) -> Callable[[], Any] | None:
    """One model-only call on a prepared float32 batch; None where the engine cannot run this batch."""
    rng = np.random.default_rng(0)
    x = rng.random((batch, 3, engine["size"], engine["size"]), dtype=np.float32)
    if engine["kind"] == "eager":
        import torch

        model = _eager(engine["path"])
        torch.set_num_threads(threads)
        tensor = torch.from_numpy(x)

        def forward() -> Any:
            with torch.inference_mode():
                return model(tensor)
        return forward
    session = open_session(engine["path"], providers=["CPUExecutionProvider"], threads=threads)
    name = session.get_inputs()[0].name
    static = session.get_inputs()[0].shape[0]
    if isinstance(static, int) and static != batch:
        return None  # a fixed-batch export (e.g. YOLO11n batch 1) cannot run this batch
    return lambda: session.run(None, {name: x})


def _end_to_end(engine: dict[str, Any], threads: int, data: bytes) -> Callable[[], Any]:
    detector = load_detector(engine["path"], threads=threads, providers=["CPUExecutionProvider"])
    return lambda: detector.detect(decode_image(data))


def _checks(rows: list[dict[str, Any]], threads: int) -> dict[str, Any]:
    """The issue's 'done when' figures at `threads` threads (None where an engine did not run)."""
    def get(engine: str, mode: str, batch: int = 1) -> dict[str, Any] | None:
        return next((r for r in rows if r["engine"] == engine and r["mode"] == mode and r["batch"] == batch
                     and r["threads"] == threads), None)

    def ratio(a: dict | None, b: dict | None, key: str = "ms_per_image") -> float | None:
        return round(a[key] / b[key], 2) if a and b else None

    fp32, eager = get("ort-fp32", "model"), get("torch-eager", "model")
    def fastest(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
        return min(candidates, key=lambda r: r["ms_per_image"], default=None)

    int8 = fastest([r for r in rows if r["engine"].startswith("ort-int8") and r["mode"] == "model"
                    and r["batch"] == 1 and r["threads"] == threads])
    e2e = [r for r in rows if r["mode"] == "e2e-jpg" and r["threads"] == threads]
    ours = fastest([r for r in e2e if r["engine"].startswith("ort-")])
    peers = [r for r in e2e if r["engine"].startswith("peer-") and r["engine"].endswith("@512")]
    best_gflops = max((r.get("gflops_per_s", 0) for r in rows if r["engine"] == "ort-fp32"
                       and r["mode"] == "model" and r["threads"] == threads), default=None)
    peer_ms = peers[0]["ms_per_image"] if peers else YOLO11N_512_MS
    return {
        "threads": threads,
        "ort_fp32_speedup_over_eager (>= 2)": ratio(eager, fp32),
        "int8_speedup_over_fp32 (>= 1.5)": ratio(fp32, int8),
        "fastest_int8": int8["engine"] if int8 else None,
        "e2e_jpeg_over_model_only (<= 1.5)": ratio(get("ort-fp32", "e2e-jpg"), fp32),
        "fp32_gflops_per_s_best_batch (>= 100)": best_gflops,
        "scans_per_s_ours_best": ours["images_per_s"] if ours else None,
        "scans_per_s_peer_512": round(1000.0 / peer_ms, 2),
        "peer_source": peers[0]["engine"] if peers else f"reference {YOLO11N_512_MS} ms (model-only)",
        "ours_over_peer (>= 2)": round(ours["images_per_s"] * peer_ms / 1000.0, 2) if ours else None,
        "note": "int8 accuracy: `nii eval --model INT8 --data TEST --record int8` (<= 1 point mAP50 lost)",
    }


def _plot(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    modes = sorted({(r["mode"], r["batch"]) for r in rows}, key=lambda m: (m[0] != "model", m))
    engines = list(dict.fromkeys(r["engine"] for r in rows))
    threads = sorted({r["threads"] for r in rows})
    fig, axes = plt.subplots(1, len(threads), figsize=(6 * len(threads), 4.5), squeeze=False)
    width = 0.8 / max(1, len(engines))
    for ax, t in zip(axes[0], threads, strict=True):
        for i, engine in enumerate(engines):
            values = [next((r["ms_per_image"] for r in rows if r["engine"] == engine and r["threads"] == t
                            and (r["mode"], r["batch"]) == m), 0.0) for m in modes]
            ax.bar(np.arange(len(modes)) + i * width, values, width, label=engine)
        ax.set_xticks(np.arange(len(modes)) + 0.4 - width / 2, [f"{m}\nb{b}" for m, b in modes], fontsize=8)
        ax.set_ylabel("ms per image (median)")
        ax.set_title(f"{t} thread(s)")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="exported float model (card + .pt beside)")
    parser.add_argument("--int8", type=Path, nargs="*", default=[], help="quantised models (else made here)")
    parser.add_argument("--skip-int8", action="store_true")
    parser.add_argument("--skip-eager", action="store_true")
    parser.add_argument("--calibration", type=Path, default=None)
    parser.add_argument("--calib-count", type=int, default=32)
    parser.add_argument("--calib-seed", type=int, default=777)
    parser.add_argument("--peer", action="append", default=[], help="PATH.onnx@SIZE, Ultralytics export")
    parser.add_argument("--compare", type=Path, action="append", default=[],
                        help="another exported nii model timed beside --model (card beside it)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--json", type=Path, default=Path("benchmarks/results/inference.json"))
    parser.add_argument("--plot", type=Path, default=Path("benchmarks/results/inference.png"))
    args = parser.parse_args()

    scan = synthetic_scan(1024, 768)
    files = {"jpg": encoded(scan, ".jpg"), "png": encoded(scan, ".png")}
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        engines = _engines(args, Path(tmp))
        gflops = {e["name"]: e["gflops"] for e in engines}
        for threads in args.threads:
            for batch in args.batches:
                calls = {e["name"]: fn for e in engines if (fn := _model_only(e, threads, batch)) is not None}
                for name, times in interleaved_ms(calls, args.runs, args.warmup).items():
                    rows.append({"engine": name, "threads": threads, "mode": "model", "batch": batch,
                                 **summary(times, batch, gflops[name])})
                    print(f"{name:<28} t{threads} b{batch} model  {rows[-1]['ms_per_image']:8.2f} ms/img")
            for ext, data in files.items():
                calls = {e["name"]: _end_to_end(e, threads, data) for e in engines if e["kind"] != "eager"}
                calls["decode-only"] = lambda d=data: decode_image(d)
                for name, times in interleaved_ms(calls, args.runs, args.warmup).items():
                    rows.append({"engine": name, "threads": threads, "mode": f"e2e-{ext}", "batch": 1,
                                 **summary(times, 1, gflops.get(name))})
                    print(f"{name:<28} t{threads} e2e {ext}  {rows[-1]['ms_per_image']:8.2f} ms/scan")
        eager_flops = None
        if not args.skip_eager:
            from nii.detector.model import count_flops

            eager_flops = round(count_flops(_eager(engines[0]["path"]), engines[0]["size"])[0], 3)
    report = {
        "machine": machine(),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "scan": {"width": 1024, "height": 768, "jpg_bytes": len(files["jpg"]),
                 "png_bytes": len(files["png"])},
        "gflops_per_image": {e["name"]: round(e["gflops"], 3) for e in engines},
        "eager_flop_counter_gflops": eager_flops,
        "results": rows,
        "checks": [_checks(rows, t) for t in args.threads],
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2, default=str) + "\n")
    _plot(rows, args.plot)
    print(json.dumps(report["checks"], indent=2))
    print(f"wrote {args.json} and {args.plot}")


if __name__ == "__main__":
    main()
