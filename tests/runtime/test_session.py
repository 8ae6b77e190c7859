"""Providers, fallback logging, fp16 on CPU, IOBinding parity.

The GPU paths themselves need a GPU: benchmarks/gpu_check.py.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from nii.errors import ModelError
from nii.runtime import Detector
from nii.runtime.session import float16_model_bytes, provider_options, run_session, select_providers

IMAGES = [np.zeros((64, 64, 3), np.uint8), np.full((40, 90, 3), 255, np.uint8),
          np.full((30, 500), 9, np.uint8)]  # the last one is a long scan: tiled


def test_select_providers_keeps_cpu_last_and_logs_missing(caplog: pytest.LogCaptureFixture) -> None:
    assert select_providers()[-1] == "CPUExecutionProvider"
    with caplog.at_level(logging.WARNING, logger="nii.runtime.session"):
        chosen = select_providers(["NoSuchExecutionProvider", "CPUExecutionProvider"])
    assert chosen == ["CPUExecutionProvider"] and "NoSuchExecutionProvider" in caplog.text


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="CPU-only check")
def test_requesting_cuda_without_it_runs_on_cpu_and_says_so(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        detector = Detector(tiny_model, providers=["CUDAExecutionProvider"], fp16=True, threads=1)
    assert detector.provider == "CPUExecutionProvider" and not detector.fp16 and not detector.io_binding
    assert "CUDAExecutionProvider" in caplog.text and "fp16 requested" in caplog.text


def test_provider_options() -> None:
    assert provider_options("CUDAExecutionProvider", device_id=1, fp16=True, cache_dir=None) == {
        "device_id": "1", "cudnn_conv_algo_search": "HEURISTIC"}
    trt = provider_options("TensorrtExecutionProvider", device_id=0, fp16=True, cache_dir=Path("/c"))
    assert trt["trt_fp16_enable"] == "True" and trt["trt_engine_cache_path"] == "/c"
    assert provider_options("CPUExecutionProvider", device_id=0, fp16=False, cache_dir=None) == {}


def test_io_binding_gives_the_same_detections(tiny_model: Path) -> None:
    plain = Detector(tiny_model, threads=1, warmup=False, io_binding=False).detect_batch(IMAGES)
    bound_detector = Detector(tiny_model, threads=1, io_binding=True)
    assert bound_detector.io_binding
    for a, b in zip(plain, bound_detector.detect_batch(IMAGES), strict=True):
        np.testing.assert_array_equal(a.xyxy, b.xyxy)
        np.testing.assert_array_equal(a.scores, b.scores)


def test_run_session_binding_matches_run(tiny_model: Path) -> None:
    session = ort.InferenceSession(str(tiny_model), providers=["CPUExecutionProvider"])
    feeds = {"images": np.random.default_rng(0).random((2, 3, 64, 64), dtype=np.float32)}
    expected = session.run(["boxes", "scores"], feeds)
    got = run_session(session, feeds, ["boxes", "scores"], io_binding=True)
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_array_equal(e, g)


def test_fp16_conversion_keeps_float32_io(tiny_model: Path) -> None:
    pytest.importorskip("onnxconverter_common")
    data = float16_model_bytes(tiny_model)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].type == "tensor(float)"


def test_fp16_conversion_without_the_converter_is_a_model_error(tiny_model: Path) -> None:
    try:
        import onnxconverter_common  # noqa: F401
    except ImportError:
        with pytest.raises(ModelError, match="gpu extra"):
            float16_model_bytes(tiny_model)
    else:
        pytest.skip("onnxconverter-common is installed")


def test_bad_tiling_option(tiny_model: Path) -> None:
    with pytest.raises(ModelError, match="tiling"):
        Detector(tiny_model, tiling="always")  # type: ignore[arg-type]
