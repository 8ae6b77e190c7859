"""A tiny ONNX model in the nii-detector/1 contract, built with onnx.helper (no torch).

boxes  [B, N, 4] = the constant `boxes` (input pixels), whatever the image.
scores [B, N, C] = sigmoid(logits + gain * (mean(images) - 0.5)): `gain` makes scores depend on
the image (a white image has mean 1, a black one 0).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nii.runtime.card import InputSpec, ModelCard, sha256_file, write_card

# The default tiny model of the runtime tests.
CLASSES = ("gun", "knife")
# Input-pixel boxes of the tiny model (S = 64) and their logits per class (gun, knife).
BOXES = [[10, 10, 20, 20], [12, 10, 22, 20], [30, 30, 50, 40], [40, 2, 60, 12]]
LOGITS = [[4.0, -10.0], [3.0, -10.0], [-10.0, 4.0], [-10.0, -10.0]]
# Box 3 scores sigmoid(-10 + 40 * (mean - 0.5)) for gun: about 1 on a white image, 0 on black.
GAIN = [[0, 0], [0, 0], [0, 0], [40.0, 0]]


def write_tiny_model(
    folder: Path,
    *,
    boxes: Sequence[Sequence[float]],
    logits: Sequence[Sequence[float]],
    classes: Sequence[str],
    size: int = 64,
    gain: Sequence[Sequence[float]] | None = None,
    thresholds: dict[str, float] | None = None,
    nms_iou: float = 0.6,
    static_batch: int | None = None,
    name: str = "model",
    dynamic_size: bool = False,
    looks: Sequence[dict] = (),
) -> Path:
    """Write folder/<name>.onnx and its card; returns the ONNX path. dynamic_size: input [B, 3, H, W]
    (the boxes stay the same input pixels at every size); looks: the card's `looks`."""
    box_arr = np.asarray(boxes, np.float32).reshape(1, -1, 4)
    logit_arr = np.asarray(logits, np.float32).reshape(1, box_arr.shape[1], len(classes))
    gain_arr = np.zeros_like(logit_arr) if gain is None else np.asarray(gain, np.float32)
    gain_arr = gain_arr.reshape(logit_arr.shape)
    n, c = box_arr.shape[1], len(classes)
    batch: int | str = static_batch if static_batch is not None else "B"
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean4"], axes=[1, 2, 3], keepdims=1),  # [B, 1, 1, 1]
        helper.make_node("Reshape", ["mean4", "shape3"], ["mean"]),  # [B, 1, 1]
        helper.make_node("Sub", ["mean", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["delta"]),  # [B, N, C]
        helper.make_node("Add", ["delta", "logits"], ["raw"]),
        helper.make_node("Sigmoid", ["raw"], ["scores"]),
        helper.make_node("Mul", ["centred", "zeros4"], ["zero_boxes"]),  # [B, 1, 4] of zeros
        helper.make_node("Add", ["zero_boxes", "const_boxes"], ["boxes"]),  # [B, N, 4]
    ]
    inits = [
        numpy_helper.from_array(np.asarray([-1, 1, 1], np.int64), "shape3"),
        numpy_helper.from_array(np.asarray(0.5, np.float32), "half"),
        numpy_helper.from_array(gain_arr, "gain"),
        numpy_helper.from_array(logit_arr, "logits"),
        numpy_helper.from_array(np.zeros((1, 1, 4), np.float32), "zeros4"),
        numpy_helper.from_array(box_arr, "const_boxes"),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT,
                                       [batch, 3, "H", "W"] if dynamic_size else [batch, 3, size, size])],
        [helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, n, 4]),
         helper.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, n, c])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.onnx"
    onnx.save(model, path)
    card = ModelCard(
        name="tiny", classes=list(classes), input=InputSpec(size=size),
        thresholds=thresholds or dict.fromkeys(classes, 0.5), nms_iou=nms_iou, looks=list(looks),
        onnx_sha256=sha256_file(path), created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_card(card, path)
    return path
