"""Test-time flips: look at a scan again mirrored, and keep what the views agree on.

Each flip ("h": left-right, "v": top-bottom) adds one view. Every view is detected on its own; its
boxes are mirrored back and the views are fused class by class: the strongest box and, from each
other view, its best box of the same class overlapping it at the NMS IoU form one object, whose box is
their score-weighted mean and whose score is the mean over all views (a view that missed it counts 0).
An object seen in one view of three scores a third of its score, so chance alarms on clutter fall
below the thresholds while objects seen in every view keep theirs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from nii.errors import ModelError
from nii.runtime.postprocess import box_iou

FLIPS = ("h", "v")


def check_flips(flips: Sequence[str]) -> tuple[str, ...]:
    """The flips as a tuple; ModelError for anything but distinct 'h' and 'v'."""
    flips = tuple(flips)
    if any(f not in FLIPS for f in flips) or len(set(flips)) != len(flips):
        raise ModelError(f"flips must be distinct values of {list(FLIPS)}, got {list(flips)}")
    return flips


def flip_image(rgb: np.ndarray, flip: str) -> np.ndarray:
    """The image mirrored left-right ("h") or top-bottom ("v"); "" returns it unchanged."""
    if flip == "h":
        return np.ascontiguousarray(rgb[:, ::-1])
    if flip == "v":
        return np.ascontiguousarray(rgb[::-1])
    return rgb


def unflip_boxes(xyxy: np.ndarray, flip: str, width: int, height: int) -> np.ndarray:
    """xyxy boxes found in a flipped view, in the original image's pixels."""
    out = xyxy.copy()
    if flip == "h":
        out[:, [0, 2]] = width - xyxy[:, [2, 0]]
    elif flip == "v":
        out[:, [1, 3]] = height - xyxy[:, [3, 1]]
    return out


def fuse_views(
    views: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
    thresholds: np.ndarray,
    *,
    iou: float,
    max_detections: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fuse (xyxy [K, 4], scores [K], class_ids [K]) of each view, all in image pixels, into one set.

    thresholds float32 [C] apply to the fused scores. Sorted by score, at most max_detections.
    """
    n_views = len(views)
    xyxy = np.concatenate([v[0] for v in views]).astype(np.float32).reshape(-1, 4)
    scores = np.concatenate([v[1] for v in views]).astype(np.float32)
    class_ids = np.concatenate([v[2] for v in views]).astype(np.int64)
    view_ids = np.concatenate([np.full(len(v[1]), i) for i, v in enumerate(views)])
    fused_boxes, fused_scores, fused_classes = [], [], []
    for cls in np.unique(class_ids):
        idx = np.flatnonzero(class_ids == cls)
        idx = idx[np.argsort(-scores[idx], kind="stable")]
        free = np.ones(len(idx), bool)
        for first in range(len(idx)):
            if not free[first]:
                continue
            overlaps = free & (box_iou(xyxy[idx[first]], xyxy[idx]) > iou)
            overlaps[first] = True
            members: dict[int, int] = {}  # view -> its best box here (idx is sorted by score)
            for j in np.flatnonzero(overlaps):
                members.setdefault(int(view_ids[idx[j]]), j)
            chosen = np.asarray(list(members.values()))
            free[chosen] = False
            weights = scores[idx[chosen]]
            total = max(float(weights.sum()), 1e-9)
            fused_boxes.append((xyxy[idx[chosen]] * weights[:, None]).sum(0) / total)
            fused_scores.append(weights.sum() / n_views)
            fused_classes.append(cls)
    out_boxes = np.asarray(fused_boxes, np.float32).reshape(-1, 4)
    out_scores = np.asarray(fused_scores, np.float32)
    out_classes = np.asarray(fused_classes, np.int64)
    keep = np.flatnonzero(out_scores >= thresholds[out_classes])
    keep = keep[np.argsort(-out_scores[keep], kind="stable")][:max_detections]
    return out_boxes[keep], out_scores[keep], out_classes[keep]
