"""Fixtures of the runtime tests: tiny ONNX models in the nii-detector/1 contract."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_onnx import BOXES, CLASSES, GAIN, LOGITS, write_tiny_model


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    return write_tiny_model(tmp_path / "tiny", boxes=BOXES, logits=LOGITS, gain=GAIN, classes=CLASSES)
