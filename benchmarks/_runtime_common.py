"""Helpers shared by bench_inference.py, bench_tiling.py and gpu_check.py (timing, FLOPs, test scans)."""

from __future__ import annotations

import platform
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort


def timed_ms(fn: Callable[[], Any], runs: int, warmup: int) -> list[float]:
    """Wall times (ms) of `runs` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000.0)
    return times


def interleaved_ms(fns: dict[str, Callable[[], Any]], runs: int, warmup: int,
                   block: int = 5) -> dict[str, list[float]]:
    """Wall times (ms) of `runs` calls of each function, in rounds so that machine noise hits all alike.

    Each round calls every function `block` times in a row after one untimed call. ONNX Runtime's
    intra-op workers spin for a while after a run: with one call per round, a multi-threaded session
    would share the cores with the spinning pool of the session called before it (seen here: fp32 at
    2 threads 19 ms interleaved call by call, 10.5 ms in blocks; 1 thread 18 ms either way).
    """
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    while any(len(t) < runs for t in times.values()):
        for name, fn in fns.items():
            fn()  # untimed: lets the previous function's threads go idle
            for _ in range(min(block, runs - len(times[name]))):
                start = time.perf_counter()
                fn()
                times[name].append((time.perf_counter() - start) * 1000.0)
    return times


def summary(times_ms: list[float], images: int = 1, gflops_per_image: float | None = None) -> dict[str, Any]:
    """Median and p90 (ms per call), ms per image, images/s and GFLOP/s at the median."""
    median = statistics.median(times_ms)
    p90 = float(np.percentile(times_ms, 90))
    out = {"median_ms": round(median, 3), "p90_ms": round(p90, 3), "runs": len(times_ms),
           "ms_per_image": round(median / images, 3), "images_per_s": round(1000.0 * images / median, 2)}
    if gflops_per_image:
        out["gflops_per_s"] = round(gflops_per_image * images / (median / 1000.0), 1)
    return out


def graph_gflops(onnx_path: Path, size: int) -> float:
    """GFLOPs (2 x MACs) of Conv, ConvTranspose, MatMul and Gemm for one image at size x size."""
    import onnx
    from onnx import shape_inference

    model = onnx.load(str(onnx_path))
    graph_input = model.graph.input[0].type.tensor_type.shape.dim
    for dim, value in zip(graph_input, (1, 3, size, size), strict=True):
        dim.Clear()
        dim.dim_value = value
    model = shape_inference.infer_shapes(model)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*model.graph.value_info, *model.graph.input, *model.graph.output]}
    shapes |= {t.name: list(t.dims) for t in model.graph.initializer}
    flops = 0.0
    for node in model.graph.node:
        out = shapes.get(node.output[0])
        if not out or not all(out):
            continue
        if node.op_type in ("Conv", "ConvTranspose"):
            weight = shapes.get(node.input[1])
            if weight:
                flops += 2.0 * float(np.prod(out)) * float(np.prod(weight[1:]))
        elif node.op_type in ("MatMul", "Gemm"):
            a = shapes.get(node.input[0])
            if a:
                flops += 2.0 * float(np.prod(out)) * a[-1]
    return flops / 1e9


def synthetic_scan(width: int = 1024, height: int = 768, seed: int = 2024) -> np.ndarray:
    """A synthetic parcel scan resized to exactly width x height (RGB uint8)."""
    from nii.synth.parcel import generate_parcel

    rgb = generate_parcel(seed, 0, width=width, height=height).rgb
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)


def encoded(rgb: np.ndarray, ext: str) -> bytes:
    params = [cv2.IMWRITE_JPEG_QUALITY, 90] if ext == ".jpg" else []
    ok, buf = cv2.imencode(ext, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), params)
    if not ok:
        raise RuntimeError(f"cannot encode {ext}")
    return buf.tobytes()


def adopt_peer(spec: str, folder: Path) -> tuple[Path, int]:
    """'path.onnx@512' -> a copy in `folder` with an identity-class-map YOLO card, and its input size."""
    from nii.runtime.yolo import write_yolo_card

    path_text, _, size_text = spec.partition("@")
    source = Path(path_text)
    copy = folder / f"peer-{source.stem}.onnx"
    shutil.copyfile(source, copy)
    card = write_yolo_card(copy, class_map=None, known_classes=None,
                           input_size=int(size_text) if size_text else None)
    return copy, card.input.size


def machine() -> dict[str, Any]:
    import os

    info = {"python": platform.python_version(), "onnxruntime": ort.__version__, "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
            "providers": ort.get_available_providers()}
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        info["cpu"] = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = set(next(line.split(":", 1)[1].split() for line in lines if line.startswith("flags")))
        # The instruction sets that decide fp32, int8 and bf16 speed: the same model runs 2x apart.
        info["isa"] = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    except (OSError, StopIteration):
        pass
    return info
