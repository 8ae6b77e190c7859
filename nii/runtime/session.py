"""ONNX Runtime sessions: execution providers with fallback, threads, fp16 on GPU, IOBinding runs.

Provider choice: the requested providers (default TensorRT, CUDA, CPU) that this onnxruntime build
offers, CPU always last. When the session cannot start with them it starts again on CPU alone, and
when ONNX Runtime itself silently drops a GPU provider (missing CUDA/cuDNN libraries) the session
runs on CPU; both cases are logged as warnings, and `Detector.provider` tells which one runs.

GPU (``pip install 'nii[gpu]'``; uninstall the CPU-only ``onnxruntime`` wheel first, both provide
the same module):
- ``fp16=True``: on TensorRT the engine is built with ``trt_fp16_enable``; on CUDA the graph is
  converted in memory to float16 (``onnxconverter_common``, part of the gpu extra) keeping float32
  inputs and outputs, so pre- and postprocessing do not change. On CPU it is ignored with a warning
  (there are no fast fp16 kernels there). Scores may differ from fp32 by about 1e-3.
- IOBinding (``io_binding=None`` means: on when a GPU provider runs): each run binds the input
  once and lets ONNX Runtime allocate the outputs on the device, then copies them back in one go,
  instead of the per-output synchronous copies of ``session.run``. A binding is made per call, so
  concurrent calls stay safe. It also works on CPU (tests use that).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from nii.errors import ModelError

log = logging.getLogger(__name__)

# Execution providers in order of preference; the first available one that starts is used.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = frozenset({"TensorrtExecutionProvider", "CUDAExecutionProvider"})
CPU = "CPUExecutionProvider"


def select_providers(requested: Sequence[str] | None = None) -> list[str]:
    """Requested (or preferred) providers that this onnxruntime build offers, CPU always last."""
    available = set(ort.get_available_providers())
    wanted = list(requested) if requested else list(PREFERRED_PROVIDERS)
    missing = [p for p in wanted if p not in available]
    if requested and missing:
        log.warning("execution providers %s are not available in this onnxruntime (has %s); skipping them",
                    missing, sorted(available))
    chosen = [p for p in wanted if p in available]
    if CPU not in chosen:
        chosen.append(CPU)
    return chosen


def provider_options(provider: str, *, device_id: int, fp16: bool, cache_dir: Path | None) -> dict[str, Any]:
    """Options of one execution provider (strings, as ONNX Runtime's C API takes them)."""
    if provider == "CUDAExecutionProvider":
        # HEURISTIC: no minutes-long exhaustive cuDNN search at start-up; the difference is small.
        return {"device_id": str(device_id), "cudnn_conv_algo_search": "HEURISTIC"}
    if provider == "TensorrtExecutionProvider":
        options = {"device_id": str(device_id), "trt_fp16_enable": "True" if fp16 else "False"}
        if cache_dir is not None:  # engines take minutes to build; cache them across restarts
            options |= {"trt_engine_cache_enable": "True", "trt_engine_cache_path": str(cache_dir)}
        return options
    return {}


def float16_model_bytes(onnx_path: Path) -> bytes:
    """The model converted to float16 inside, float32 at its inputs and outputs (for CUDA)."""
    try:
        import onnx
        from onnxconverter_common import float16
    except ImportError as exc:
        raise ModelError(
            f"fp16 on CUDA needs the onnx and onnxconverter-common packages ({exc.name} is missing); "
            f"install the gpu extra: pip install 'nii[gpu]'"
        ) from exc
    try:
        model = float16.convert_float_to_float16(onnx.load(str(onnx_path)), keep_io_types=True)
    except Exception as exc:  # the converter raises assorted errors on graphs it cannot handle
        raise ModelError(f"cannot convert {onnx_path} to float16 ({exc}); run it with fp16=False") from exc
    return model.SerializeToString()


def open_session(
    onnx_path: Path,
    *,
    providers: Sequence[str] | None = None,
    threads: int | None = None,
    fp16: bool = False,
    device_id: int = 0,
    cache_dir: Path | None = None,
) -> ort.InferenceSession:
    """An InferenceSession on the best provider that starts (see module doc); ModelError if none does."""
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads is not None:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    chosen = select_providers(providers)
    source: str | bytes = str(onnx_path)
    if fp16 and chosen[0] == "CUDAExecutionProvider":
        source = float16_model_bytes(onnx_path)
    elif fp16 and chosen[0] == CPU:
        log.warning("fp16 requested but no GPU provider is available; running %s in float32 on CPU",
                    Path(onnx_path).name)
    with_options = [(p, provider_options(p, device_id=device_id, fp16=fp16, cache_dir=cache_dir))
                    for p in chosen]
    try:
        session = ort.InferenceSession(source, sess_options=options, providers=with_options)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        if chosen == [CPU]:
            raise _load_error(onnx_path, exc) from exc
        log.warning("providers %s failed to start (%s); falling back to %s", chosen, exc, CPU)
        try:
            session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=[CPU])
        except Exception as exc2:
            raise _load_error(onnx_path, exc2) from exc2
    running = session.get_providers()[0]
    if running != chosen[0]:
        log.warning("%s was requested for %s but ONNX Runtime runs it on %s (are the CUDA/cuDNN/TensorRT "
                    "libraries installed and on the library path?)", chosen[0], Path(onnx_path).name, running)
    return session


def _load_error(onnx_path: Path, exc: Exception) -> ModelError:
    return ModelError(f"cannot load {onnx_path} with ONNX Runtime ({exc}); "
                      f"the file is corrupt or not an ONNX model; re-export it")


def is_gpu(provider: str) -> bool:
    return provider in GPU_PROVIDERS


def run_session(
    session: ort.InferenceSession,
    feeds: dict[str, np.ndarray],
    output_names: Sequence[str],
    *,
    io_binding: bool,
    device_id: int = 0,
) -> list[np.ndarray]:
    """Run once; with IOBinding the outputs are allocated on the running provider's device."""
    if not io_binding:
        return session.run(list(output_names), feeds)
    device = "cuda" if is_gpu(session.get_providers()[0]) else "cpu"
    binding = session.io_binding()
    for name, array in feeds.items():
        binding.bind_cpu_input(name, np.ascontiguousarray(array))
    for name in output_names:
        binding.bind_output(name, device_type=device, device_id=device_id if device == "cuda" else 0)
    session.run_with_iobinding(binding)
    return binding.copy_outputs_to_cpu()
