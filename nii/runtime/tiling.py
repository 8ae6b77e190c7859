"""Tiling of long line-scan images: overlapping tiles plus a downscaled whole view, merged detections.

Why: a conveyor scanner's tunnel fixes the short side of a scan, and objects scale with it; the belt
direction makes the long side as long as the parcel. Letterboxing a 3000 x 600 scan into a 384 input
shrinks everything 7.8x, where the ~800 x 600 training scans shrink 2.1x, so small items vanish.

When (`needs_tiling`): the long side is more than `trigger` (2) times the model input AND the aspect
(long / short) exceeds `max_aspect` (2.0). Ordinary scans (4:3, 1024 x 768 ...) are never tiled,
whatever their resolution, because their objects shrink no more than in training.

How (`plan_tiles`): tiles span the whole short side and `tile_aspect` (4/3, the training scans'
shape) times it along the long side, neighbours overlapping by `overlap` (a quarter) of the tile,
evenly spaced so the last tile ends flush with the image. The whole image letterboxed as usual is
run too, for objects larger than a tile.

Merging (`merge_tiles`): per class, greedy by score over the detections of every tile and the whole
view (in image pixels): a detection absorbs the lower-scored ones overlapping it at IoU > `iou`
(plain NMS); or, when either box is cut by an inner tile seam, at intersection-over-smaller >
`ios` (a seam yields a partial box inside the full one); or, when both are cut, when they
intersect and agree across the seam (1-D IoU > `ios` along x or y: the two halves of an object
longer than the overlap). A winner that is itself cut grows to the union of the boxes it
absorbed, which rebuilds an object split across a seam.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

TRIGGER = 2.0  # tile when the long side exceeds TRIGGER x the model input side ...
MAX_ASPECT = 2.0  # ... and long side / short side exceeds this
TILE_ASPECT = 4.0 / 3.0  # tile long side / short side (the shape of the training scans)
OVERLAP = 0.25  # fraction of a tile's long side shared with its neighbour
MATCH_IOS = 0.6  # intersection over the smaller box that merges a seam-cut box into another
SEAM_MARGIN_PX = 2.0  # a box edge this close to an inner tile edge counts as cut by the seam


@dataclass(frozen=True, slots=True)
class Tile:
    """A region of the image in pixels [x0, x1) x [y0, y1); `whole` marks the downscaled whole view."""

    x0: int
    y0: int
    x1: int
    y1: int
    whole: bool = False

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The tile's pixels of an [H, W, ...] array (a view, no copy)."""
        return image[self.y0:self.y1, self.x0:self.x1]


@dataclass(frozen=True, slots=True)
class TileDetections:
    """Detections of one tile in tile pixels: xyxy float32 [N, 4], scores float32 [N], class_ids int64 [N]."""

    tile: Tile
    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray


def needs_tiling(width: int, height: int, input_size: int, *, trigger: float = TRIGGER,
                 max_aspect: float = MAX_ASPECT) -> bool:
    """True for long scans that plain letterboxing would shrink far below the training scale."""
    long_side, short_side = max(width, height), max(1, min(width, height))
    return long_side > trigger * input_size and long_side / short_side > max_aspect


def _starts(length: int, tile: int, overlap: float) -> list[int]:
    """Evenly spaced tile starts along one axis, first at 0 and last flush with the end."""
    if length <= tile:
        return [0]
    stride = max(1.0, tile * (1.0 - overlap))
    n = math.ceil((length - tile) / stride) + 1
    return [round(i * (length - tile) / (n - 1)) for i in range(n)]


def plan_tiles(width: int, height: int, *, tile_aspect: float = TILE_ASPECT,
               overlap: float = OVERLAP) -> tuple[Tile, ...]:
    """The whole view first, then tiles along the long axis covering the image (see module doc)."""
    if not 0.0 <= overlap < 1.0:
        raise ValueError(f"overlap must lie in [0, 1), got {overlap}")
    if tile_aspect < 1.0:
        raise ValueError(f"tile_aspect must be >= 1, got {tile_aspect}")
    whole = Tile(0, 0, width, height, whole=True)
    if width >= height:
        side = min(width, round(height * tile_aspect))
        tiles = [Tile(x, 0, x + side, height) for x in _starts(width, side, overlap)]
    else:
        side = min(height, round(width * tile_aspect))
        tiles = [Tile(0, y, width, y + side) for y in _starts(height, side, overlap)]
    return (whole, *tiles)


def _seam_cut(xyxy: np.ndarray, tile: Tile, width: int, height: int) -> np.ndarray:
    """bool [N]: boxes (image pixels) touching an edge of `tile` that lies inside the image."""
    if tile.whole:
        return np.zeros(len(xyxy), dtype=bool)
    m = SEAM_MARGIN_PX
    return (
        ((tile.x0 > 0) & (xyxy[:, 0] <= tile.x0 + m))
        | ((tile.x1 < width) & (xyxy[:, 2] >= tile.x1 - m))
        | ((tile.y0 > 0) & (xyxy[:, 1] <= tile.y0 + m))
        | ((tile.y1 < height) & (xyxy[:, 3] >= tile.y1 - m))
    )


def _overlaps(box: np.ndarray, boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(IoU, intersection over the smaller area, best 1-D IoU along x or y, 0 if disjoint) of one
    xyxy box [4] with boxes [N, 4]."""
    iw = np.clip(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), 0, None)
    ih = np.clip(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), 0, None)
    inter = iw * ih
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    iou = inter / np.maximum(area + areas - inter, 1e-9)
    ios = inter / np.maximum(np.minimum(area, areas), 1e-9)
    span_x = np.maximum(box[2], boxes[:, 2]) - np.minimum(box[0], boxes[:, 0])
    span_y = np.maximum(box[3], boxes[:, 3]) - np.minimum(box[1], boxes[:, 1])
    axis_iou = np.maximum(iw / np.maximum(span_x, 1e-9), ih / np.maximum(span_y, 1e-9))
    return iou, ios, np.where(inter > 0, axis_iou, 0.0)


def merge_tiles(
    parts: Sequence[TileDetections],
    *,
    image_wh: tuple[int, int],
    iou: float,
    max_detections: int,
    ios: float = MATCH_IOS,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Detections of every tile -> (xyxy float32 [K, 4] image px, scores float32 [K], class_ids int64 [K]).

    Sorted by score, at most `max_detections`; see the module doc for the merging rule.
    """
    width, height = image_wh
    boxes, scores, ids, cut = [], [], [], []
    for part in parts:
        offset = np.asarray([part.tile.x0, part.tile.y0] * 2, dtype=np.float32)
        xyxy = part.xyxy.astype(np.float32) + offset
        boxes.append(xyxy)
        scores.append(part.scores.astype(np.float32))
        ids.append(part.class_ids.astype(np.int64))
        cut.append(_seam_cut(xyxy, part.tile, width, height))
    if not boxes or sum(len(b) for b in boxes) == 0:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64)
    all_xyxy, all_scores = np.concatenate(boxes), np.concatenate(scores)
    all_ids, all_cut = np.concatenate(ids), np.concatenate(cut)
    out_xyxy: list[np.ndarray] = []
    out_scores: list[float] = []
    out_ids: list[int] = []
    for class_id in np.unique(all_ids).tolist():
        members = np.flatnonzero(all_ids == class_id)
        order = members[np.argsort(-all_scores[members], kind="stable")]
        while order.size:
            best, rest = int(order[0]), order[1:]
            box = all_xyxy[best]
            if rest.size:
                box_iou, box_ios, axis_iou = _overlaps(box, all_xyxy[rest])
                seam = all_cut[best] | all_cut[rest]
                halves = all_cut[best] & all_cut[rest] & (axis_iou > ios)
                absorbed = (box_iou > iou) | (seam & (box_ios > ios)) | halves
                if all_cut[best] and absorbed.any():
                    group = np.vstack([box[None], all_xyxy[rest[absorbed]]])
                    box = np.concatenate([group[:, :2].min(axis=0), group[:, 2:].max(axis=0)])
                rest = rest[~absorbed]
            out_xyxy.append(box)
            out_scores.append(float(all_scores[best]))
            out_ids.append(int(class_id))
            order = rest
    keep = np.argsort(-np.asarray(out_scores), kind="stable")[:max_detections]
    return (np.asarray(out_xyxy, np.float32)[keep], np.asarray(out_scores, np.float32)[keep],
            np.asarray(out_ids, np.int64)[keep])
