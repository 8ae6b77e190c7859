"""Bring your own model: Ultralytics-style YOLO ONNX exports (YOLOv8 / YOLO11 detect heads) served
with the same `Detections` API, thresholds, NMS and tiling as nii's own models.

ONNX contract (card format ``ultralytics-yolo/1``), as ``yolo export format=onnx`` writes it:
    input  (one, any name)  float32 [B, 3, S, S], RGB, pixel / 255, letterboxed the Ultralytics way:
                            resized with bilinear interpolation so the long side is S, centred,
                            padded with grey 114 (top/left pad = round(pad / 2 - 0.1)).
    output (the first)      float32 [B, 4 + nc, N]: rows 0-3 cx cy w h in input pixels, then nc
                            class scores (already sigmoid; no objectness), no NMS inside.

The card (``NAME.json`` beside ``NAME.onnx``, written by `write_yolo_card` or ``nii adopt-yolo``)
records the model's own class names (``source_names``, from the ONNX metadata Ultralytics writes),
the class map onto nii's taxonomy and the thresholds. Class-map file (YAML or JSON), source class
name or output index -> taxonomy class, ``null`` to drop it; sources not listed are dropped::

    Gun: gun          # by name (case-insensitive)
    3: knife          # by output index
    Sprayer: aerosol
    Person: null

Several sources may map onto one class (its score is their maximum). `load_detector` opens either
kind of model from its card.
"""

from __future__ import annotations

import ast
import json
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import onnxruntime as ort
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nii.errors import ModelError
from nii.runtime.card import card_path, sha256_file
from nii.runtime.detector import MAX_BATCH, Detector
from nii.types import CLASS_NAMES

log = logging.getLogger(__name__)

YOLO_FORMAT = "ultralytics-yolo/1"
PAD_VALUE = 114  # Ultralytics' letterbox grey, 8-bit pixel value
DEFAULT_THRESHOLD = 0.25  # Ultralytics' default predict confidence
DEFAULT_NMS_IOU = 0.7  # Ultralytics' default predict IoU


class YoloInput(BaseModel):
    """Input tensor of an Ultralytics export (fixed by Ultralytics; recorded so auditors see it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(gt=0, le=8192)  # square input side S, pixels
    layout: Literal["NCHW"] = "NCHW"
    color: Literal["RGB"] = "RGB"
    scale: float = 1.0 / 255.0
    letterbox: Literal["centre-pad-114-bilinear"] = "centre-pad-114-bilinear"


class YoloCard(BaseModel):
    """Card of an adopted Ultralytics YOLO ONNX model."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["ultralytics-yolo/1"] = YOLO_FORMAT
    name: str = Field(min_length=1)
    classes: list[str] = Field(min_length=1)  # served classes (taxonomy names), Detections.class_ids order
    source_names: list[str] = Field(min_length=1)  # the model's own classes, output row 4 + i
    class_map: dict[int, str]  # source index -> served class; unmapped sources are dropped
    input: YoloInput
    output: Literal["cxcywh_input_pixels+class_scores [B, 4+nc, N]"] = (
        "cxcywh_input_pixels+class_scores [B, 4+nc, N]")
    thresholds: dict[str, float]
    nms_iou: float = Field(default=DEFAULT_NMS_IOU, gt=0.0, le=1.0)
    max_detections: int = Field(default=100, gt=0)
    source: dict = Field(default_factory=dict)  # Ultralytics metadata: version, date, task, imgsz
    metrics: dict = Field(default_factory=dict)
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str

    @model_validator(mode="after")
    def _consistent(self) -> YoloCard:
        bad_index = [i for i in self.class_map if not 0 <= i < len(self.source_names)]
        unknown = sorted(set(self.class_map.values()) - set(self.classes))
        unused = [c for c in self.classes if c not in self.class_map.values()]
        if bad_index or unknown or unused:
            raise ValueError(f"class_map must map source indices in [0, {len(self.source_names)}) onto "
                             f"classes; bad indices {bad_index}, unknown targets {unknown}, "
                             f"classes no source maps to {unused}")
        if sorted(self.thresholds) != sorted(self.classes):
            raise ValueError(f"thresholds must have one entry per class {self.classes}, "
                             f"got {sorted(self.thresholds)}")
        return self


def read_class_map(path: Path) -> dict[str, str | None]:
    """A YAML/JSON mapping file: source name or index -> taxonomy class or null."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))  # JSON is YAML too
    except (OSError, yaml.YAMLError) as exc:
        raise ModelError(f"cannot read class map {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(v is None or isinstance(v, str) for v in data.values()):
        raise ModelError(f"class map {path} must be a mapping of source class (name or index) to a "
                         f"taxonomy class name or null, e.g. 'Gun: gun'")
    return {str(k): v for k, v in data.items()}


def resolve_class_map(
    source_names: Sequence[str], class_map: Mapping[str, str | None] | None,
    known_classes: Sequence[str] | None = CLASS_NAMES,
) -> tuple[list[str], dict[int, str]]:
    """(served classes in taxonomy order, source index -> class). None maps every source to itself."""
    if class_map is None:
        return list(source_names), dict(enumerate(source_names))
    by_name = {name.strip().lower(): i for i, name in enumerate(source_names)}
    mapping: dict[int, str] = {}
    for key, target in class_map.items():
        index = int(key) if key.strip().isdigit() else by_name.get(key.strip().lower())
        if index is None or not 0 <= index < len(source_names):
            raise ModelError(f"class map names source class {key!r}, which the model does not have; "
                             f"its classes are {list(source_names)}")
        if target is None:
            continue
        if known_classes is not None and target not in known_classes:
            raise ModelError(f"class map sends {key!r} to {target!r}, not a taxonomy class; "
                             f"use one of {list(known_classes)}")
        mapping[index] = target
    if not mapping:
        raise ModelError("the class map drops every class of the model; map at least one onto the taxonomy")
    order = list(known_classes) if known_classes is not None else sorted(set(mapping.values()))
    return [c for c in order if c in mapping.values()], mapping


def _ultralytics_metadata(onnx_path: Path) -> tuple[dict[str, str], list, list]:
    """(custom metadata, input shape, first output shape) read through a CPU session."""
    try:
        session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ModelError(f"cannot load {onnx_path} with ONNX Runtime ({exc}); is it an ONNX file?") from exc
    meta = dict(session.get_modelmeta().custom_metadata_map)
    return meta, list(session.get_inputs()[0].shape), list(session.get_outputs()[0].shape)


def write_yolo_card(
    onnx_path: Path,
    *,
    class_map: Path | Mapping[str, str | None] | None,
    threshold: float = DEFAULT_THRESHOLD,
    thresholds: Mapping[str, float] | None = None,
    name: str | None = None,
    input_size: int | None = None,
    known_classes: Sequence[str] | None = CLASS_NAMES,
) -> YoloCard:
    """Inspect an Ultralytics ONNX export and write its card beside it (NAME.json); returns the card.

    Source class names come from the ``names`` metadata Ultralytics writes (else "0".."nc-1").
    class_map None keeps the model's own names (no taxonomy check; for benchmarks).
    """
    onnx_path = Path(onnx_path)
    meta, in_shape, out_shape = _ultralytics_metadata(onnx_path)
    if len(out_shape) != 3 or not isinstance(out_shape[1], int) or out_shape[1] <= 4:
        raise ModelError(f"{onnx_path}: first output has shape {out_shape}; an Ultralytics detect export "
                         f"has [B, 4 + nc, N] (export with `yolo export format=onnx`, no nms/end2end)")
    n_classes = out_shape[1] - 4
    names = [str(i) for i in range(n_classes)]
    if "names" in meta:
        try:
            parsed = ast.literal_eval(meta["names"])  # Ultralytics writes a Python dict literal
            names = [str(parsed[i]) for i in range(n_classes)]
        except (ValueError, SyntaxError, KeyError, TypeError) as exc:
            raise ModelError(f"{onnx_path}: metadata 'names' does not list {n_classes} classes") from exc
    size = input_size or (in_shape[2] if isinstance(in_shape[2], int) else None)
    if size is None:
        raise ModelError(f"{onnx_path}: input {in_shape} has no static size; pass input_size")
    user_map = read_class_map(class_map) if isinstance(class_map, str | Path) else class_map
    classes, mapping = resolve_class_map(names, user_map, known_classes)
    chosen = {c: float((thresholds or {}).get(c, threshold)) for c in classes}
    card = YoloCard(
        name=name or onnx_path.stem, classes=classes, source_names=names, class_map=mapping,
        input=YoloInput(size=int(size)), thresholds=chosen,
        source={k: meta[k] for k in ("author", "version", "date", "task", "imgsz", "stride") if k in meta},
        onnx_sha256=sha256_file(onnx_path), created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    path = card_path(onnx_path)
    try:
        path.write_text(json.dumps(card.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot write card {path}: {exc.strerror or exc}") from exc
    return card


def load_yolo_card(onnx_path: Path) -> YoloCard:
    path = card_path(onnx_path)
    try:
        return YoloCard.model_validate_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"cannot read card {path}: {exc.strerror or exc}; write it with `nii adopt-yolo`") \
            from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '<card>'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise ModelError(f"card {path} is invalid ({problems}); rewrite it with `nii adopt-yolo`") from exc


def yolo_letterbox(rgb: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """Ultralytics' LetterBox(center=True): RGB uint8 [H, W, 3] -> (float32 [3, S, S], ratio, (left, top))."""
    height, width = rgb.shape[:2]
    ratio = min(size / height, size / width)
    new_w, new_h = round(width * ratio), round(height * ratio)
    if (new_w, new_h) != (width, height):
        rgb = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    left, top = round((size - new_w) / 2 - 0.1), round((size - new_h) / 2 - 0.1)
    canvas = np.full((size, size, 3), PAD_VALUE, np.uint8)
    canvas[top:top + new_h, left:left + new_w] = rgb
    tensor = canvas.transpose(2, 0, 1).astype(np.float32) * np.float32(1.0 / 255.0)
    return np.ascontiguousarray(tensor), ratio, (left, top)


class YoloDetector(Detector):
    """An Ultralytics YOLO ONNX export with a `YoloCard`; same options and API as `Detector`."""

    def _read_card(self) -> YoloCard:
        return load_yolo_card(self.onnx_path)

    def _check_graph(self) -> int:
        card: YoloCard = self.card
        inp, out = self.session.get_inputs()[0], self.session.get_outputs()[0]
        self._input_name, self._output_name = inp.name, out.name
        size, rows = card.input.size, 4 + len(card.source_names)
        if len(inp.shape) != 4 or [d if isinstance(d, int) else None for d in inp.shape[1:]] not in (
            [3, size, size], [3, None, None]
        ):
            raise ModelError(f"model {self.onnx_path}: input {inp.name!r} has shape {inp.shape}, its card "
                             f"expects [B, 3, {size}, {size}]; the card does not match this model")
        if len(out.shape) != 3 or (isinstance(out.shape[1], int) and out.shape[1] != rows):
            raise ModelError(f"model {self.onnx_path}: output {out.name!r} has shape {out.shape}, its card's "
                             f"{len(card.source_names)} source classes need [B, {rows}, N]")
        # Served class c takes the max over its source rows: rows sorted by class, reduceat at starts.
        pairs = sorted((card.classes.index(t), s) for s, t in card.class_map.items())
        self._rows = np.asarray([4 + s for _, s in pairs], np.int64)
        targets = [c for c, _ in pairs]
        self._starts = np.asarray([targets.index(c) for c in range(len(card.classes))], np.int64)
        return inp.shape[0] if isinstance(inp.shape[0], int) else MAX_BATCH

    def _prepare(self, rgb: np.ndarray,
                 spec: Any) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
        tensor, ratio, (left, top) = yolo_letterbox(rgb, spec.size)
        return tensor, (ratio, ratio), (float(left), float(top))

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        (raw,) = self._run_outputs({self._input_name: batch}, [self._output_name])
        b, rows = batch.shape[0], 4 + len(self.card.source_names)
        if raw.ndim != 3 or raw.shape[:2] != (b, rows):
            raise ModelError(f"model {self.onnx_path} returned {raw.shape}; "
                             f"its card expects [{b}, {rows}, N]")
        cx, cy, w, h = raw[:, 0], raw[:, 1], raw[:, 2], raw[:, 3]
        boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)  # [B, N, 4]
        scores = np.maximum.reduceat(raw[:, self._rows, :], self._starts, axis=1)  # [B, C, N]
        return boxes.astype(np.float32, copy=False), np.ascontiguousarray(scores.transpose(0, 2, 1))


def load_detector(onnx_path: Path, **options: Any) -> Detector:
    """A `Detector` or `YoloDetector`, whichever the card beside `onnx_path` describes."""
    path = card_path(Path(onnx_path))
    try:
        card_format = json.loads(path.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        card_format = None  # Detector reports the missing or broken card
    cls = YoloDetector if card_format == YOLO_FORMAT else Detector
    return cls(Path(onnx_path), **options)
