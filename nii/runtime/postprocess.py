"""Postprocessing in numpy: thresholds, top-k, class-wise NMS, mapping back to image pixels."""

from __future__ import annotations

import numpy as np

PRE_NMS_TOPK = 1000  # candidates (box, class) kept by score before NMS, per image


def box_iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """IoU of one xyxy box [4] with boxes [N, 4] -> float32 [N]."""
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-9)


def nms(xyxy: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Greedy NMS; indices (int64) of kept boxes, highest score first."""
    order = np.argsort(-scores, kind="stable")
    keep: list[int] = []
    while order.size:
        best = int(order[0])
        keep.append(best)
        if order.size == 1:
            break
        rest = order[1:]
        order = rest[box_iou(xyxy[best], xyxy[rest]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def batched_nms(
    xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, iou_threshold: float
) -> np.ndarray:
    """Class-wise NMS: boxes of different classes never suppress each other (coordinate offset trick)."""
    if xyxy.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    offset = class_ids.astype(np.float32)[:, None] * (float(xyxy.max()) + 1.0)
    return nms(xyxy + offset, scores, iou_threshold)


def postprocess(
    boxes: np.ndarray,
    scores: np.ndarray,
    thresholds: np.ndarray,
    *,
    scale_xy: tuple[float, float],
    image_wh: tuple[int, int],
    nms_iou: float,
    max_detections: int,
    pre_nms_topk: int = PRE_NMS_TOPK,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw outputs -> (xyxy float32 [K, 4] image px, scores float32 [K], class_ids int64 [K]).

    boxes float32 [N, 4] xyxy in input px; scores float32 [N, C]; thresholds float32 [C] per class.
    A box may yield several (box, class) candidates. Sorted by score, at most max_detections.
    """
    anchor, cls = np.nonzero(scores >= thresholds[None, :])
    cand_scores = scores[anchor, cls].astype(np.float32)
    if cand_scores.size > pre_nms_topk:
        top = np.argpartition(-cand_scores, pre_nms_topk - 1)[:pre_nms_topk]
        anchor, cls, cand_scores = anchor[top], cls[top], cand_scores[top]
    sx, sy = scale_xy
    width, height = image_wh
    xyxy = boxes[anchor].astype(np.float32) / np.asarray([sx, sy, sx, sy], dtype=np.float32)
    xyxy[:, [0, 2]] = np.clip(xyxy[:, [0, 2]], 0, width)
    xyxy[:, [1, 3]] = np.clip(xyxy[:, [1, 3]], 0, height)
    valid = (xyxy[:, 2] > xyxy[:, 0]) & (xyxy[:, 3] > xyxy[:, 1]) & np.isfinite(xyxy).all(axis=1)
    xyxy, cls, cand_scores = xyxy[valid], cls[valid], cand_scores[valid]
    keep = batched_nms(xyxy, cand_scores, cls, nms_iou)[:max_detections]
    return xyxy[keep], cand_scores[keep], cls[keep].astype(np.int64)
