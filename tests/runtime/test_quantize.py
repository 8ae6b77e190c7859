"""Static int8 quantisation of a small seeded exported model: outputs stay close to fp32, the card."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from nii.errors import ModelError, UsageError
from nii.runtime import Detector
from nii.runtime.card import InputSpec, load_card, sha256_file
from nii.runtime.quantize import calibration_batches, calibration_images, quantize_model
from tests.helpers import TINY_CLASSES, TINY_SIZE, write_tiny_checkpoint

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

CLASSES, SIZE = TINY_CLASSES, TINY_SIZE


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded small nii model (non-trivial BatchNorm statistics) exported with its card."""
    from nii.detector.export import export

    folder = tmp_path_factory.mktemp("q")
    write_tiny_checkpoint(folder / "best.pt", spread_scores=True)
    out = folder / "tiny.onnx"
    export(folder / "best.pt", out, weights=False)
    return out


@pytest.fixture(scope="module")
def scans(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from nii.synth.parcel import generate_parcel

    folder = tmp_path_factory.mktemp("calib")
    for i in range(6):
        rgb = generate_parcel(5, i, width=256, height=192).rgb
        cv2.imwrite(str(folder / f"scan_{i}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return folder


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["u8s8", "s8s8"])
def test_int8_outputs_stay_close_to_fp32(exported: Path, scans: Path, tmp_path: Path, fmt: str) -> None:
    import onnxruntime as ort

    out = tmp_path / f"tiny-{fmt}.onnx"
    card = quantize_model(exported, scans, out, fmt=fmt, samples=4)
    assert load_card(out) == card and card.onnx_sha256 == sha256_file(out)
    assert card.thresholds == load_card(exported).thresholds and card.classes == CLASSES
    q = card.quantization
    assert q["format"] == fmt and q["calibration"]["images"] == 4 and q["float_nodes"] > 0
    assert q["source"]["sha256"] == sha256_file(exported) and card.metrics == {}

    float_session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    int8_session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    graph = onnx.load(str(out)).graph
    assert any(n.op_type == "QuantizeLinear" for n in graph.node)
    # The stem reads the float image itself (kept in float), and its name is in the card.
    stem = [n for n in graph.node if n.op_type == "Conv" and n.input[0] == graph.input[0].name]
    assert [n.name for n in stem] == q["float_stem"] and len(stem) == 1
    batch = np.concatenate(list(calibration_batches(calibration_images(scans)[4:], card.input)))
    ref_boxes, ref_scores = float_session.run(None, {"images": batch})
    boxes, scores = int8_session.run(None, {"images": batch})
    assert boxes.shape == ref_boxes.shape and scores.shape == ref_scores.shape
    # int8 noise, not a broken graph: boxes within 2% of the input side on average, scores within 0.05,
    # logits (spread by the re-drawn head) off by well under their spread and strongly correlated.
    assert np.abs(boxes - ref_boxes).mean() < 0.02 * SIZE
    assert np.abs(scores - ref_scores).max() < 0.05
    logit, ref_logit = np.log(scores / (1 - scores)), np.log(ref_scores / (1 - ref_scores))
    assert np.abs(logit - ref_logit).mean() < 0.25 * ref_logit.std()
    assert np.corrcoef(logit.ravel(), ref_logit.ravel())[0, 1] > 0.95
    assert np.corrcoef(boxes.ravel(), ref_boxes.ravel())[0, 1] > 0.99
    detector = Detector(out, threads=1, score_threshold=0.001)
    assert len(detector.detect(np.zeros((50, 80, 3), np.uint8))) > 0


def test_refusals(exported: Path, scans: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="u8s8 or s8s8"):
        quantize_model(exported, scans, tmp_path / "m.onnx", fmt="u4")  # type: ignore[arg-type]
    with pytest.raises(UsageError, match=r"new \.onnx"):
        quantize_model(exported, scans, exported)
    with pytest.raises(UsageError, match="no PNG"):
        quantize_model(exported, tmp_path, tmp_path / "m.onnx")
    with pytest.raises(UsageError, match="not found"):
        quantize_model(exported, tmp_path / "none", tmp_path / "m.onnx")
    with pytest.raises(ModelError, match="not found"):
        quantize_model(tmp_path / "none.onnx", scans, tmp_path / "m.onnx")


def test_calibration_images_are_spread_and_letterboxed_like_serving(scans: Path) -> None:
    from nii.runtime.preprocess import decode_image, letterbox

    picked = calibration_images(scans, 3)
    assert [p.name for p in picked] == ["scan_0.png", "scan_2.png", "scan_5.png"]
    spec = InputSpec(size=SIZE)
    (first,) = list(calibration_batches(picked[:1], spec))
    expected, _ = letterbox(decode_image(picked[0]), spec)
    np.testing.assert_array_equal(first[0], expected)


def test_calibration_skips_raw_energy_planes(tmp_path: Path) -> None:
    # a `nii synth` folder: false-colour scans in images/, single 16-bit energy planes in raw/
    (tmp_path / "images").mkdir()
    (tmp_path / "raw").mkdir()
    cv2.imwrite(str(tmp_path / "images" / "p0.png"), np.full((8, 8, 3), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "raw" / "p0_high.png"), np.full((8, 8), 40000, np.uint16))
    assert calibration_images(tmp_path) == [tmp_path / "images" / "p0.png"]


@pytest.mark.slow
def test_cli_quantize(exported: Path, scans: Path, tmp_path: Path) -> None:
    from nii.cli import main

    out = tmp_path / "m8.onnx"
    assert main(["quantize", "--model", str(exported), "--calibration", str(scans), "--out", str(out),
                 "--format", "s8s8", "--samples", "2"]) == 0
    assert load_card(out).quantization["format"] == "s8s8"
    assert main(["quantize", "--model", str(out), "--calibration", str(scans), "--out",
                 str(tmp_path / "again.onnx")]) == 2  # already quantised
