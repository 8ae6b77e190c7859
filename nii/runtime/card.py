"""The model card: the JSON file `model.json` beside every `model.onnx`.

It states what the ONNX graph expects and returns (the contract below), the classes in output
order, the per-class score thresholds serving alarms at, and how the model was made.

ONNX contract (format ``nii-detector/1``):
    input  ``images``  float32 [B, 3, S, S], RGB, pixel * scale, letterboxed: resized keeping the
                       aspect so the long side is S, placed at the top-left, padded with pad_value.
    output ``boxes``   float32 [B, N, 4], x1 y1 x2 y2 in input (letterboxed) pixels.
    output ``scores``  float32 [B, N, C], sigmoid class scores, C = len(classes).
No NMS inside the graph. A card with ``looks`` needs a graph whose S is dynamic ([B, 3, H, W]):
each look runs the same graph again at its own S and its detections of its classes replace the main
pass's (small objects seen closer).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nii.errors import ModelError

CARD_FORMAT = "nii-detector/1"


class Letterbox(BaseModel):
    """Where the resized image sits inside the square input and what fills the rest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    align: Literal["top-left"] = "top-left"
    pad_value: float = 1.0  # value of padded pixels after scaling (1.0 = white background)


class InputSpec(BaseModel):
    """Input tensor layout and normalisation: value = (pixel * scale - mean) / std."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(gt=0, le=8192)  # square input side S, pixels
    layout: Literal["NCHW"] = "NCHW"
    color: Literal["RGB"] = "RGB"
    scale: float = 1.0 / 255.0
    mean: list[float] = Field(default_factory=lambda: [0.0, 0.0, 0.0], min_length=3, max_length=3)
    std: list[float] = Field(default_factory=lambda: [1.0, 1.0, 1.0], min_length=3, max_length=3)
    letterbox: Letterbox = Field(default_factory=Letterbox)

    @model_validator(mode="after")
    def _positive_std(self) -> InputSpec:
        if any(s <= 0 for s in self.std):
            raise ValueError(f"input.std must be positive, got {self.std}")
        return self


class OutputSpec(BaseModel):
    """Meaning of the output tensors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    boxes: Literal["xyxy_input_pixels"] = "xyxy_input_pixels"
    scores: Literal["sigmoid"] = "sigmoid"


class Look(BaseModel):
    """A second look at every image (or tile) at another input size, for the classes it sees better:
    its detections of those classes replace the main pass's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: int = Field(gt=0, le=8192)  # square input side of this look, pixels (a multiple of 32)
    classes: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _multiple_of_32(self) -> Look:
        if self.size % 32:
            raise ValueError(f"a look's size must be a multiple of 32, got {self.size}")
        return self


class ModelCard(BaseModel):
    """Everything serving and auditors need to know about one exported detector."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["nii-detector/1"] = CARD_FORMAT
    name: str = Field(min_length=1)
    classes: list[str] = Field(min_length=1)  # output order of the `scores` last axis
    input: InputSpec
    outputs: OutputSpec = Field(default_factory=OutputSpec)
    thresholds: dict[str, float]  # class name -> scan-level alarm score threshold in [0, 1]
    # class name -> share of validation objects found at its threshold (IoU 0.5); {}: not measured.
    # Triage uses it to tell a shortfall the detector often causes from one a declaration does.
    recall: dict[str, float] = Field(default_factory=dict)
    # detected class -> {true class: share of its detections at the threshold that were that class}
    # on validation data (IoU 0.5); {}: not measured. Triage reads a detection nothing declared as a
    # declared, unseen look-alike.
    look_alikes: dict[str, dict[str, float]] = Field(default_factory=dict)
    # Second looks at other input sizes (each class in at most one); []: the main pass alone.
    looks: list[Look] = Field(default_factory=list)
    nms_iou: float = Field(default=0.6, gt=0.0, le=1.0)  # class-wise NMS IoU
    max_detections: int = Field(default=100, gt=0)  # per image, after NMS
    training: dict = Field(default_factory=dict)  # free form: config, data, seed, epochs, minutes, device
    metrics: dict = Field(default_factory=dict)  # free form: map50, map50_95, per_class ...
    quantization: dict | None = None  # int8 models (`nii quantize`): format, calibration, source; else None
    git_commit: str | None = None
    onnx_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    created: str  # ISO 8601 time of export

    @model_validator(mode="after")
    def _thresholds_cover_classes(self) -> ModelCard:
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes must be unique, got {self.classes}")
        missing = [c for c in self.classes if c not in self.thresholds]
        extra = [c for c in self.thresholds if c not in self.classes]
        if missing or extra:
            raise ValueError(
                f"thresholds must have exactly one entry per class; missing {missing}, unknown {extra}"
            )
        if unknown := [c for c in self.recall if c not in self.classes]:
            raise ValueError(f"recall names classes the model does not have: {unknown}")
        if bad_recall := {c: r for c, r in self.recall.items() if not 0.0 <= r <= 1.0}:
            raise ValueError(f"recall must lie in [0, 1], got {bad_recall}")
        named = set(self.look_alikes).union(*self.look_alikes.values())
        if unknown := sorted(named - set(self.classes)):
            raise ValueError(f"look_alikes names classes the model does not have: {unknown}")
        if any(not 0.0 <= v <= 1.0 for row in self.look_alikes.values() for v in row.values()):
            raise ValueError("look_alikes shares must lie in [0, 1]")
        if problem := look_problem(self.looks, self.classes, self.input.size):
            raise ValueError(problem)
        bad = {c: t for c, t in self.thresholds.items() if not 0.0 <= t <= 1.0}
        if bad:
            raise ValueError(f"thresholds must lie in [0, 1], got {bad}")
        return self


def look_problem(looks: list[Look], classes: list[str], size: int) -> str | None:
    """What is wrong with `looks` for a model of `classes` whose main input is `size`, or None."""
    looked = [c for look in looks for c in look.classes]
    if unknown := sorted(set(looked) - set(classes)):
        return f"looks name classes the model does not have: {unknown}"
    if twice := sorted({c for c in looked if looked.count(c) > 1}):
        return f"a class may be in one look only, got {twice} in several"
    if same := [look.size for look in looks if look.size == size]:
        return f"a look at the main input size {same[0]} adds nothing"
    return None


def card_path(onnx_path: Path) -> Path:
    """The card of `dir/model.onnx` is `dir/model.json`."""
    return Path(onnx_path).with_suffix(".json")


def card_sha256(card: BaseModel) -> str:
    """Hex sha256 of a card's content as canonical JSON (sorted keys, no spaces; the file's layout
    does not count). Decisions carry it beside the ONNX file's sha256: the card's thresholds, looks,
    recall and look-alikes change what triage finds under the same graph."""
    text = json.dumps(card.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def sha256_file(path: Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(chunk_bytes):
                digest.update(block)
    except OSError as exc:
        raise ModelError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def load_card(onnx_path: Path) -> ModelCard:
    """Read and validate the card beside `onnx_path` (does not check it against the ONNX file)."""
    path = card_path(onnx_path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ModelError(
            f"model card {path} not found: every model needs its card beside it "
            f"(write it with `nii export`, or copy model.json along with the .onnx file)"
        ) from exc
    except OSError as exc:
        raise ModelError(f"cannot read model card {path}: {exc.strerror or exc}") from exc
    try:
        return ModelCard.model_validate_json(text)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<card>'}: {err['msg']}" for err in exc.errors()[:5]
        )
        raise ModelError(f"model card {path} is invalid ({problems}); re-export the model or fix the card") \
            from exc


def load_matching_card(onnx_path: Path, before: str) -> ModelCard:
    """`load_card`, and a ModelError unless the ONNX file is the one the card describes (sha256)."""
    card = load_card(onnx_path)
    if sha256_file(onnx_path) != card.onnx_sha256:
        raise ModelError(f"{onnx_path} does not match its card's sha256; re-export it before {before}")
    return card


def write_card(card: ModelCard, onnx_path: Path) -> Path:
    """Write `card` beside `onnx_path` (pretty JSON, UTF-8); returns the card path."""
    path = card_path(onnx_path)
    payload = json.dumps(card.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"
    try:
        path.write_text(payload, encoding="utf-8")
    except OSError as exc:
        raise ModelError(f"cannot write model card {path}: {exc.strerror or exc}") from exc
    return path
