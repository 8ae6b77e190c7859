"""Tiny ONNX models in the Ultralytics YOLO detect layout ([B, 4 + nc, N], cx cy w h input px), onnx.helper.

`write_constant_yolo`: the output is the constant `rows` whatever the image (exact expectations).
`write_random_yolo`: a randomly initialised strided convolution (seeded), outputs squashed into range.
Both carry the metadata Ultralytics writes (names as a Python dict literal, imgsz, task ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SOURCE_NAMES = ("Gun", "Knife", "Person", "Pistol")


def _save(nodes: list, inits: list, size: int, rows: int, names: Sequence[str], path: Path,
          n_boxes: int | str) -> Path:
    graph = helper.make_graph(
        nodes, "tiny_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", rows, n_boxes])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"author": "Ultralytics", "version": "8.3.0", "task": "detect", "stride": "32",
            "imgsz": f"[{size}, {size}]", "names": repr(dict(enumerate(names)))}
    for key, value in meta.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def write_constant_yolo(path: Path, rows: Sequence[Sequence[float]], *, size: int = 64,
                        names: Sequence[str] = SOURCE_NAMES) -> Path:
    """rows: [4 + nc, N] (cx, cy, w, h, then class scores per box)."""
    const = np.asarray(rows, np.float32)[None]  # [1, 4 + nc, N]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),  # [B, 1, 1, 1]
        helper.make_node("Reshape", ["mean", "shape3"], ["mean3"]),  # [B, 1, 1]
        helper.make_node("Mul", ["mean3", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "const"], ["output0"]),  # [B, 4 + nc, N]
    ]
    inits = [numpy_helper.from_array(np.asarray([-1, 1, 1], np.int64), "shape3"),
             numpy_helper.from_array(np.zeros((), np.float32), "zero"),
             numpy_helper.from_array(const, "const")]
    return _save(nodes, inits, size, const.shape[1], names, path, const.shape[2])


def write_random_yolo(path: Path, *, seed: int = 0, size: int = 64, stride: int = 8,
                      names: Sequence[str] = SOURCE_NAMES) -> Path:
    """Conv(stride) with seeded random weights -> sigmoid -> times [S, S, S/4, S/4, 1 ...] -> [B, 4+nc, N]."""
    rows = 4 + len(names)
    rng = np.random.default_rng(seed)
    weight = rng.normal(0, 0.5, (rows, 3, stride, stride)).astype(np.float32)
    bias = rng.normal(-1, 1, rows).astype(np.float32)
    gain = np.asarray([size, size, size / 4, size / 4] + [1.0] * len(names), np.float32).reshape(1, rows, 1)
    nodes = [
        helper.make_node("Conv", ["images", "w", "b"], ["feat"], strides=[stride, stride]),
        helper.make_node("Reshape", ["feat", "shape3"], ["flat"]),  # [B, rows, N]
        helper.make_node("Sigmoid", ["flat"], ["squashed"]),
        helper.make_node("Mul", ["squashed", "gain"], ["output0"]),
    ]
    inits = [numpy_helper.from_array(weight, "w"), numpy_helper.from_array(bias, "b"),
             numpy_helper.from_array(np.asarray([0, rows, -1], np.int64), "shape3"),
             numpy_helper.from_array(gain, "gain")]
    return _save(nodes, inits, size, rows, names, path, (size // stride) ** 2)
