"""Bad scans -> ScanFormatError, models that break their card -> ModelError (gaps of test_preprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
from tiny_onnx import BOXES, CLASSES, LOGITS, write_tiny_model

from nii.errors import ModelError, ScanFormatError
from nii.runtime import Detector, decode_image
from nii.runtime.card import card_path, sha256_file

NOISE = np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)


def _encoded(ext: str, image: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(ext, image)
    assert ok
    return buf.tobytes()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_encoded(".jpg", NOISE)[:300], "truncated"),
        (_encoded(".jpg", NOISE)[:-2], "truncated"),
        (_encoded(".tiff", np.zeros((4, 4), np.float32)), "uint8 or uint16"),
        (b"GIF89a" + b"\0" * 64, "not a readable image"),
        # A JPEG header (SOF0) claiming 65535 x 65535 pixels.
        (b"\xff\xd8\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03" + b"\0" * 32, "Mpx"),
    ],
)
def test_decode_rejects(data: bytes, message: str) -> None:
    with pytest.raises(ScanFormatError, match=message):
        decode_image(data)


def test_decode_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScanFormatError, match="cannot read"):
        decode_image(tmp_path / "missing.png")


@pytest.mark.parametrize(
    "image",
    [np.zeros((64, 0, 3), np.uint8), np.zeros((8, 8, 3), np.int16), np.zeros((8, 8, 6), np.uint8),
     np.zeros(8, np.uint8), np.zeros((8, 8, 3), bool)],
    ids=["zero-width", "int16", "6-channels", "1d", "bool"],
)
def test_detect_rejects_arrays(tiny_model: Path, image: np.ndarray) -> None:
    with pytest.raises(ScanFormatError, match="image 1"):
        Detector(tiny_model, threads=1, warmup=False).detect_batch([NOISE, image])


def test_outputs_that_break_the_card_are_refused_at_load(tmp_path: Path) -> None:
    """Symbolic output shapes in the file do not hide a mismatch: ONNX Runtime infers the real ones."""
    path = write_tiny_model(tmp_path, boxes=BOXES, logits=LOGITS, classes=CLASSES)
    model = onnx.load(str(path))
    for output in model.graph.output:
        for i, dim in enumerate(output.type.tensor_type.shape.dim):
            dim.dim_param = f"d{i}"
    onnx.save(model, str(path))
    card = json.loads(card_path(path).read_text())
    card |= {"classes": [*CLASSES, "battery"], "thresholds": {**card["thresholds"], "battery": 0.5},
             "onnx_sha256": sha256_file(path)}
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"need \[B, N, 3\]; the card does not match"):
        Detector(path, threads=1, warmup=False)


def test_wrong_input_name(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, boxes=BOXES, logits=LOGITS, classes=CLASSES)
    model = onnx.load(str(path))
    model.graph.input[0].name = "pixels"
    for node in model.graph.node:
        node.input[:] = ["pixels" if n == "images" else n for n in node.input]
    onnx.save(model, str(path))
    card = json.loads(card_path(path).read_text()) | {"onnx_sha256": sha256_file(path)}
    card_path(path).write_text(json.dumps(card))
    with pytest.raises(ModelError, match="expected input 'images'"):
        Detector(path, threads=1)
