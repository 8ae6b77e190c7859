"""`Detector`: an exported nii model (ONNX + card) on ONNX Runtime, from RGB image to detections.

Contract of the ONNX graph: see `nii.runtime.card`. Safe to share between threads: the session is
thread-safe and `detect` keeps no state on the object.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from nii.errors import ModelError
from nii.runtime.card import ModelCard, load_card, sha256_file
from nii.runtime.postprocess import postprocess
from nii.runtime.preprocess import letterbox, to_rgb8

log = logging.getLogger(__name__)

# Execution providers in order of preference; the first available one that starts is used.
PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
MAX_BATCH = 8  # images per session.run in detect_batch


@dataclass(frozen=True, slots=True)
class Detections:
    """Detections of one image.

    xyxy float32 [N, 4] x1 y1 x2 y2 in original image pixels; scores float32 [N] in [0, 1];
    class_ids int64 [N] indexing `classes` (the model card's class list).
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        n = self.xyxy.shape[0] if self.xyxy.ndim == 2 else -1
        if self.xyxy.dtype != np.float32 or self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be float32 [N, 4], got {self.xyxy.dtype} {self.xyxy.shape}")
        if self.scores.dtype != np.float32 or self.scores.shape != (n,):
            raise ValueError(f"scores must be float32 [{n}], got {self.scores.dtype} {self.scores.shape}")
        if self.class_ids.dtype != np.int64 or self.class_ids.shape != (n,):
            raise ValueError(
                f"class_ids must be int64 [{n}], got {self.class_ids.dtype} {self.class_ids.shape}"
            )
        if n and (self.class_ids.min() < 0 or self.class_ids.max() >= len(self.classes)):
            raise ValueError(f"class_ids must lie in [0, {len(self.classes)}), got {self.class_ids.tolist()}")

    def __len__(self) -> int:
        return int(self.xyxy.shape[0])

    @property
    def class_names(self) -> tuple[str, ...]:
        """Class name of each detection."""
        return tuple(self.classes[i] for i in self.class_ids.tolist())

    @classmethod
    def empty(cls, classes: Sequence[str]) -> Detections:
        empty = np.zeros(0, np.float32)
        return cls(np.zeros((0, 4), np.float32), empty, np.zeros(0, np.int64), tuple(classes))


def select_providers(requested: Sequence[str] | None = None) -> list[str]:
    """Requested (or preferred) providers that this onnxruntime build offers, CPU always last."""
    available = set(ort.get_available_providers())
    wanted = list(requested) if requested else list(PREFERRED_PROVIDERS)
    missing = [p for p in wanted if p not in available]
    if requested and missing:
        log.warning("execution providers %s are not available in this onnxruntime (has %s); skipping them",
                    missing, sorted(available))
    chosen = [p for p in wanted if p in available]
    if "CPUExecutionProvider" not in chosen:
        chosen.append("CPUExecutionProvider")
    return chosen


class Detector:
    """An exported detector on ONNX Runtime.

    `score_threshold` overrides the card's per-class thresholds for every class (evaluation uses
    a low one such as 0.001); None keeps the card's.
    """

    def __init__(
        self,
        onnx_path: Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        warmup: bool = True,
        score_threshold: float | None = None,
    ) -> None:
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise ModelError(f"model {self.onnx_path} not found; give the path of an exported model.onnx")
        self.card: ModelCard = load_card(self.onnx_path)
        self.sha256 = sha256_file(self.onnx_path)
        if self.sha256 != self.card.onnx_sha256:
            raise ModelError(
                f"model {self.onnx_path} has sha256 {self.sha256[:12]}..., its card expects "
                f"{self.card.onnx_sha256[:12]}...: the card belongs to another export; re-export the model"
            )
        if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
            raise ModelError(f"score_threshold must lie in [0, 1], got {score_threshold}")
        self.classes: tuple[str, ...] = tuple(self.card.classes)
        self.score_threshold = score_threshold
        card_thresholds = [self.card.thresholds[c] for c in self.classes]
        self._thresholds = np.asarray(
            card_thresholds if score_threshold is None else [score_threshold] * len(self.classes),
            dtype=np.float32,
        )
        self.session = self._open_session(providers, threads)
        self.provider: str = self.session.get_providers()[0]
        self._batch_limit = self._check_graph()
        log.info("model %s (sha256 %s) runs on %s", self.onnx_path.name, self.sha256[:12], self.provider)
        if warmup:
            self.detect(np.full((self.input_size, self.input_size, 3), 255, np.uint8))

    @property
    def input_size(self) -> int:
        return self.card.input.size

    def _open_session(self, providers: Sequence[str] | None, threads: int | None) -> ort.InferenceSession:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        chosen = select_providers(providers)
        try:
            return ort.InferenceSession(str(self.onnx_path), sess_options=options, providers=chosen)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            if chosen == ["CPUExecutionProvider"]:
                raise ModelError(f"cannot load {self.onnx_path} with ONNX Runtime ({exc}); "
                                 f"the file is corrupt or not an ONNX model; re-export it") from exc
            log.warning("providers %s failed (%s); falling back to CPUExecutionProvider", chosen, exc)
        try:
            return ort.InferenceSession(str(self.onnx_path), sess_options=options,
                                        providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise ModelError(f"cannot load {self.onnx_path} with ONNX Runtime ({exc}); "
                             f"the file is corrupt or not an ONNX model; re-export it") from exc

    def _check_graph(self) -> int:
        """Check input/output names and shapes against the card; return the largest batch per run."""
        size, n_classes = self.input_size, len(self.classes)
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        where = f"model {self.onnx_path}"
        if set(inputs) != {"images"} or not {"boxes", "scores"} <= set(outputs):
            raise ModelError(f"{where}: expected input 'images' and outputs 'boxes', 'scores', "
                             f"got inputs {sorted(inputs)} and outputs {sorted(outputs)}")
        shape = inputs["images"]
        if len(shape) != 4 or [d if isinstance(d, int) else None for d in shape[1:]] not in (
            [3, size, size], [3, None, None]
        ):
            raise ModelError(f"{where}: input 'images' has shape {shape}, the card expects "
                             f"[B, 3, {size}, {size}]; the card does not match this model")
        scores_shape = outputs["scores"] or [None] * 3  # no static shape: checked on every run
        if len(scores_shape) != 3 or (isinstance(scores_shape[2], int) and scores_shape[2] != n_classes):
            raise ModelError(f"{where}: output 'scores' has shape {scores_shape}, the card's {n_classes} "
                             f"classes need [B, N, {n_classes}]; the card does not match this model")
        if len(outputs["boxes"] or [None] * 3) != 3:
            raise ModelError(f"{where}: output 'boxes' has shape {outputs['boxes']}, expected [B, N, 4]")
        return shape[0] if isinstance(shape[0], int) else MAX_BATCH

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        try:
            boxes, scores = self.session.run(["boxes", "scores"], {"images": batch})
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(
                f"model {self.onnx_path} failed on a batch of shape {batch.shape}: {exc}"
            ) from exc
        b, n_classes = batch.shape[0], len(self.classes)
        if boxes.ndim != 3 or boxes.shape[0] != b or boxes.shape[2] != 4 or scores.shape != (
            b, boxes.shape[1], n_classes
        ):
            raise ModelError(
                f"model {self.onnx_path} returned boxes {boxes.shape} and scores {scores.shape}; its card "
                f"expects [{b}, N, 4] and [{b}, N, {n_classes}]; the card does not match this model"
            )
        return boxes, scores

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None) -> Detections:
        """Detections of one image (uint8/uint16 gray, RGB or RGBA array; see preprocess.to_rgb8)."""
        return self.detect_batch([image], score_threshold=score_threshold)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray], *, score_threshold: float | None = None
    ) -> list[Detections]:
        """Detections of each image, same as `detect` on each; runs up to MAX_BATCH per session call."""
        thresholds = self._thresholds if score_threshold is None else np.full(
            len(self.classes), score_threshold, np.float32)
        results: list[Detections] = []
        for start in range(0, len(images), self._batch_limit):
            chunk = images[start:start + self._batch_limit]
            tensors, scales, sizes = [], [], []
            for index, image in enumerate(chunk, start=start):
                rgb = to_rgb8(image, source=f"image {index}")
                tensor, scale = letterbox(rgb, self.card.input)
                tensors.append(tensor)
                scales.append(scale)
                sizes.append((rgb.shape[1], rgb.shape[0]))
            boxes, scores = self._run(np.stack(tensors))
            for i in range(len(chunk)):
                xyxy, kept_scores, class_ids = postprocess(
                    boxes[i], scores[i], thresholds, scale_xy=scales[i], image_wh=sizes[i],
                    nms_iou=self.card.nms_iou, max_detections=self.card.max_detections,
                )
                results.append(Detections(xyxy, kept_scores, class_ids, self.classes))
        return results
