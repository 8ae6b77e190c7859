"""`Detector`: an exported nii model (ONNX + card) on ONNX Runtime, from RGB image to detections.

Contract of the ONNX graph: see `nii.runtime.card`. Safe to share between threads: the session is
thread-safe and `detect` keeps no state on the object. Providers, fp16 and IOBinding: see
`nii.runtime.session`; tiling of long scans: see `nii.runtime.tiling`; test-time flips:
`nii.runtime.flips`. A card's `looks` run the graph again at other input sizes for the classes each
sees better (`_detect_views`).

Subclasses serving other graph layouts (`nii.runtime.yolo`) override `_read_card`, `_check_graph`,
`_prepare` and `_run`; batching, thresholds, NMS, tiling, flips and the `Detections` API are shared.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nii.errors import ModelError
from nii.runtime.card import ModelCard, card_sha256, load_card, sha256_file
from nii.runtime.flips import check_flips, flip_image, fuse_views, unflip_boxes
from nii.runtime.postprocess import postprocess
from nii.runtime.preprocess import letterbox, to_rgb8
from nii.runtime.session import PREFERRED_PROVIDERS, is_gpu, open_session, run_session, select_providers
from nii.runtime.tiling import TileDetections, merge_tiles, needs_tiling, plan_tiles

log = logging.getLogger(__name__)

MAX_BATCH = 8  # images (or tiles) per session.run in detect_batch
Tiling = Literal["auto", "off"]

__all__ = ["MAX_BATCH", "PREFERRED_PROVIDERS", "Detections", "Detector", "select_providers"]


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


class Detector:
    """An exported detector on ONNX Runtime.

    providers: execution providers to try (default TensorRT, CUDA, CPU; see `nii.runtime.session`).
    threads: intra-op threads (None: ONNX Runtime's default, one per core).
    score_threshold: overrides the card's per-class thresholds for every class (evaluation uses a low
    one such as 0.001); None keeps the card's.
    tiling: "auto" cuts long scans into overlapping tiles plus a whole view (`nii.runtime.tiling`);
    "off" always letterboxes the whole image.
    fp16: float16 on a GPU provider (ignored with a warning on CPU). io_binding: None = on for GPU
    providers. device_id: the GPU to use.
    """

    def __init__(
        self,
        onnx_path: Path,
        *,
        providers: Sequence[str] | None = None,
        threads: int | None = None,
        warmup: bool = True,
        score_threshold: float | None = None,
        tiling: Tiling = "auto",
        fp16: bool = False,
        io_binding: bool | None = None,
        device_id: int = 0,
    ) -> None:
        self.onnx_path = Path(onnx_path)
        if not self.onnx_path.is_file():
            raise ModelError(f"model {self.onnx_path} not found; give the path of an exported model.onnx")
        if tiling not in ("auto", "off"):
            raise ModelError(f"tiling must be 'auto' or 'off', got {tiling!r}")
        self.card: Any = self._read_card()
        self.sha256 = sha256_file(self.onnx_path)
        self.card_sha256 = card_sha256(self.card)
        if self.sha256 != self.card.onnx_sha256:
            raise ModelError(
                f"model {self.onnx_path} has sha256 {self.sha256[:12]}..., its card expects "
                f"{self.card.onnx_sha256[:12]}...: the card belongs to another export; re-export the model"
            )
        if score_threshold is not None and not 0.0 <= score_threshold <= 1.0:
            raise ModelError(f"score_threshold must lie in [0, 1], got {score_threshold}")
        self.classes: tuple[str, ...] = tuple(self.card.classes)
        self.score_threshold = score_threshold
        # Measured at the card's thresholds only: with another threshold both are unknown.
        at_card = score_threshold is None
        self.recall: dict[str, float] = dict(getattr(self.card, "recall", None) or {}) if at_card else {}
        self.look_alikes: dict[str, dict[str, float]] = (  # Ultralytics cards carry neither
            dict(getattr(self.card, "look_alikes", None) or {}) if at_card else {})
        self.tiling: Tiling = tiling
        card_thresholds = [self.card.thresholds[c] for c in self.classes]
        self._thresholds = np.asarray(
            card_thresholds if score_threshold is None else [score_threshold] * len(self.classes),
            dtype=np.float32,
        )
        self.thresholds: dict[str, float] = dict(zip(self.classes, self._thresholds.tolist(), strict=True))
        self.session = open_session(self.onnx_path, providers=providers, threads=threads, fp16=fp16,
                                    device_id=device_id)
        self.provider: str = self.session.get_providers()[0]
        self.fp16 = fp16 and is_gpu(self.provider)
        self.io_binding = is_gpu(self.provider) if io_binding is None else io_binding
        self.device_id = device_id
        # Second looks: (input spec at its size, class mask); YOLO cards have none.
        self._looks = [(self.card.input.model_copy(update={"size": look.size}),
                        np.isin(self.classes, look.classes)) for look in getattr(self.card, "looks", ())]
        self._batch_limit = self._check_graph()
        log.info("model %s (sha256 %s) runs on %s%s%s", self.onnx_path.name, self.sha256[:12], self.provider,
                 " fp16" if self.fp16 else "", " with IOBinding" if self.io_binding else "")
        if warmup:
            self.detect(np.full((self.input_size, self.input_size, 3), 255, np.uint8))

    @property
    def input_size(self) -> int:
        return self.card.input.size

    # --- hooks for other graph layouts ---------------------------------------------------------

    def _read_card(self) -> Any:
        """The card beside the ONNX file (a `ModelCard` here)."""
        card: ModelCard = load_card(self.onnx_path)
        return card

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
        if self._looks and any(isinstance(d, int) for d in shape[2:]):
            raise ModelError(f"{where}: the card asks for looks at other input sizes, but input 'images' "
                             f"is fixed at {shape}; re-export the model (`nii export` writes a dynamic size)")
        if len(outputs["boxes"] or [None] * 3) != 3:
            raise ModelError(f"{where}: output 'boxes' has shape {outputs['boxes']}, expected [B, N, 4]")
        return shape[0] if isinstance(shape[0], int) else MAX_BATCH

    def _prepare(self, rgb: np.ndarray,
                 spec: Any) -> tuple[np.ndarray, tuple[float, float], tuple[float, float]]:
        """RGB uint8 [H, W, 3] -> (tensor float32 [3, S, S], (scale_x, scale_y), (pad_x, pad_y) input px),
        S = spec.size (the card's input, or a look's)."""
        tensor, scale = letterbox(rgb, spec)
        return tensor, scale, (0.0, 0.0)

    def _run_outputs(self, feeds: dict[str, np.ndarray], names: Sequence[str]) -> list[np.ndarray]:
        """session.run (or its IOBinding form), onnxruntime errors translated to ModelError."""
        try:
            return run_session(self.session, feeds, names, io_binding=self.io_binding,
                               device_id=self.device_id)
        except Exception as exc:  # onnxruntime raises its own untyped errors
            shapes = {k: v.shape for k, v in feeds.items()}
            raise ModelError(f"model {self.onnx_path} failed on inputs {shapes}: {exc}") from exc

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """float32 [B, 3, S, S] -> boxes float32 [B, N, 4] xyxy input px, scores float32 [B, N, C]."""
        boxes, scores = self._run_outputs({"images": batch}, ["boxes", "scores"])
        b, n_classes = batch.shape[0], len(self.classes)
        if boxes.ndim != 3 or boxes.shape[0] != b or boxes.shape[2] != 4 or scores.shape != (
            b, boxes.shape[1], n_classes
        ):
            raise ModelError(
                f"model {self.onnx_path} returned boxes {boxes.shape} and scores {scores.shape}; its card "
                f"expects [{b}, N, 4] and [{b}, N, {n_classes}]; the card does not match this model"
            )
        return boxes, scores

    # --- detection -----------------------------------------------------------------------------

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
               tiling: Tiling | None = None, flips: Sequence[str] = ()) -> Detections:
        """Detections of one image (uint8/uint16 gray, RGB or RGBA array; see preprocess.to_rgb8)."""
        return self.detect_batch([image], score_threshold=score_threshold, tiling=tiling, flips=flips)[0]

    def detect_batch(
        self, images: Sequence[np.ndarray], *, score_threshold: float | None = None,
        tiling: Tiling | None = None, flips: Sequence[str] = (),
    ) -> list[Detections]:
        """Detections of each image, same as `detect` on each; runs up to MAX_BATCH views per session call.

        tiling: None keeps the detector's setting. A tiled image adds one view per tile.
        flips: test-time flips ("h", "v"), each one more view of every image, fused (`nii.runtime.flips`).
        """
        thresholds = self._thresholds if score_threshold is None else np.full(
            len(self.classes), score_threshold, np.float32)
        mode = self.tiling if tiling is None else tiling
        flips = check_flips(flips)
        rgbs = [to_rgb8(image, source=f"image {index}") for index, image in enumerate(images)]
        if not flips:
            return [Detections(*d, self.classes) for d in self._detect_images(rgbs, thresholds, mode)]
        variants = ("", *flips)
        # A view's box adds score / len(variants) to its object's fused score: keep each view's
        # candidates down to that share of the threshold.
        per_view = self._detect_images([flip_image(rgb, f) for rgb in rgbs for f in variants],
                                       thresholds / len(variants), mode)
        results = []
        for index, rgb in enumerate(rgbs):
            height, width = rgb.shape[:2]
            own = per_view[index * len(variants):(index + 1) * len(variants)]
            views = [(unflip_boxes(xyxy, f, width, height), scores, class_ids)
                     for f, (xyxy, scores, class_ids) in zip(variants, own, strict=True)]
            fused = fuse_views(views, thresholds, iou=self.card.nms_iou,
                               max_detections=self.card.max_detections)
            results.append(Detections(*fused, self.classes))
        return results

    def _detect_images(self, rgbs: Sequence[np.ndarray], thresholds: np.ndarray,
                       mode: Tiling) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(xyxy in image pixels, scores, class_ids) of each RGB uint8 image, long ones tiled."""
        views: list[np.ndarray] = []
        plans: list[tuple[int, tuple[int, int], tuple]] = []  # first view, (w, h), tiles
        for rgb in rgbs:
            height, width = rgb.shape[:2]
            tiles = plan_tiles(width, height) if mode == "auto" and needs_tiling(
                width, height, self.input_size) else ()
            plans.append((len(views), (width, height), tiles))
            if tiles:
                views.extend(tile.crop(rgb) for tile in tiles)
            else:
                views.append(rgb)
        raw = self._detect_views(views, thresholds)
        results = []
        for first, (width, height), tiles in plans:
            if not tiles:
                results.append(raw[first])
                continue
            parts = [TileDetections(tile, *raw[first + i]) for i, tile in enumerate(tiles)]
            results.append(merge_tiles(parts, image_wh=(width, height), iou=self.card.nms_iou,
                                       max_detections=self.card.max_detections))
        return results

    def _detect_views(
        self, views: Sequence[np.ndarray], thresholds: np.ndarray
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(xyxy in view pixels, scores, class_ids) of each RGB uint8 view (an image or a tile): the
        main pass, with the classes of each of the card's looks taken from that look's pass instead."""
        results = self._run_views(views, thresholds, self.card.input)
        for spec, mask in self._looks:
            closer = self._run_views(views, np.where(mask, thresholds, np.inf).astype(np.float32), spec)
            results = [self._replace(main, close, mask) for main, close in zip(results, closer, strict=True)]
        return results

    def _replace(self, main: tuple, close: tuple,
                 mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`main` without the classes in `mask`, plus `close` (which holds only those), by score."""
        keep = ~mask[main[2]]
        xyxy, scores, class_ids = (np.concatenate([m[keep], c]) for m, c in zip(main, close, strict=True))
        order = np.argsort(-scores, kind="stable")[:self.card.max_detections]
        return xyxy[order], scores[order], class_ids[order]

    def _run_views(
        self, views: Sequence[np.ndarray], thresholds: np.ndarray, spec: Any
    ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """(xyxy in view pixels, scores, class_ids) of each RGB uint8 view at input spec.size, batched."""
        results = []
        for start in range(0, len(views), self._batch_limit):
            chunk = views[start:start + self._batch_limit]
            prepared = [self._prepare(view, spec) for view in chunk]
            batch = prepared[0][0][None] if len(prepared) == 1 else np.stack([p[0] for p in prepared])
            boxes, scores = self._run(batch)
            for i, (view, (_, scale, pad)) in enumerate(zip(chunk, prepared, strict=True)):
                view_boxes = boxes[i] - np.asarray([*pad, *pad], np.float32) if any(pad) else boxes[i]
                results.append(postprocess(
                    view_boxes, scores[i], thresholds, scale_xy=scale,
                    image_wh=(view.shape[1], view.shape[0]),
                    nms_iou=self.card.nms_iou, max_detections=self.card.max_detections,
                ))
        return results
