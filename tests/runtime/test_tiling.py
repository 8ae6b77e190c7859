"""Tiling of long scans: when, where the tiles go, how detections merge at seams, Detector integration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import CLASSES, write_tiny_model

from nii.runtime import Detector
from nii.runtime.tiling import OVERLAP, Tile, TileDetections, merge_tiles, needs_tiling, plan_tiles


@pytest.mark.parametrize(
    ("width", "height", "expected"),
    [(3000, 600, True), (600, 3000, True), (1024, 768, False), (1000, 600, False), (2048, 1536, False),
     (700, 300, False), (1600, 300, True)],
    ids=["long", "tall", "4:3", "synth-size", "4:3-hires", "short", "long-small"],
)
def test_needs_tiling(width: int, height: int, expected: bool) -> None:
    assert needs_tiling(width, height, 384) is expected


@pytest.mark.parametrize(("width", "height"), [(3000, 600), (600, 3000), (2000, 601), (801, 600)])
def test_tiles_cover_the_image_with_overlap(width: int, height: int) -> None:
    whole, *tiles = plan_tiles(width, height)
    assert whole == Tile(0, 0, width, height, whole=True)
    horizontal = width >= height
    starts = [t.x0 if horizontal else t.y0 for t in tiles]
    ends = [t.x1 if horizontal else t.y1 for t in tiles]
    side = ends[0] - starts[0]
    assert side == round(min(width, height) * 4 / 3) or side == max(width, height)
    assert starts[0] == 0 and ends[-1] == max(width, height)
    shared = [a_end - b_start for a_end, b_start in zip(ends[:-1], starts[1:], strict=True)]
    assert all(s >= OVERLAP * side - 1 for s in shared)
    spans = [(t.y1 - t.y0) if horizontal else (t.x1 - t.x0) for t in tiles]
    assert spans == [min(width, height)] * len(tiles)


def _part(tile: Tile, boxes: list, scores: list, ids: list) -> TileDetections:
    return TileDetections(tile, np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                          np.asarray(ids, np.int64))


def test_merge_fuses_an_object_cut_by_a_seam() -> None:
    left, right = Tile(0, 0, 800, 600), Tile(600, 0, 1400, 600)
    parts = [
        # An object at image x 450..950, longer than the 200 px overlap: each tile sees a part.
        _part(left, [[450, 100, 800, 200]], [0.8], [0]),  # cut by the left tile's right edge
        _part(right, [[0, 102, 350, 198]], [0.7], [0]),  # image 600..950, cut by the right tile's left edge
        _part(right, [[500, 100, 600, 200]], [0.9], [0]),  # another gun, whole
    ]
    xyxy, scores, ids = merge_tiles(parts, image_wh=(1400, 600), iou=0.6, max_detections=10)
    np.testing.assert_allclose(xyxy, [[1100, 100, 1200, 200], [450, 100, 950, 200]])  # union of the parts
    assert scores.tolist() == pytest.approx([0.9, 0.8]) and ids.tolist() == [0, 0]


def test_merge_keeps_parts_of_two_objects_at_a_seam() -> None:
    left, right = Tile(0, 0, 800, 600), Tile(600, 0, 1400, 600)
    parts = [_part(left, [[700, 100, 800, 200]], [0.8], [0]), _part(right, [[0, 300, 150, 400]], [0.7], [0])]
    xyxy, scores, _ = merge_tiles(parts, image_wh=(1400, 600), iou=0.6, max_detections=10)
    assert len(xyxy) == 2 and scores.tolist() == pytest.approx([0.8, 0.7])  # one above the other: two objects


def test_merge_whole_view_absorbs_partial_box_and_keeps_classes_apart() -> None:
    whole, tile = Tile(0, 0, 1400, 600, whole=True), Tile(600, 0, 1400, 600)
    parts = [
        _part(whole, [[580, 100, 700, 200], [580, 100, 700, 200]], [0.9, 0.5], [0, 1]),
        _part(tile, [[0, 100, 100, 200], [500, 300, 540, 340]], [0.6, 0.7], [0, 0]),
    ]
    xyxy, scores, ids = merge_tiles(parts, image_wh=(1400, 600), iou=0.6, max_detections=10)
    # The tile's cut gun box lies inside the whole view's gun box (IoS 1): absorbed. The knife stays.
    assert scores.tolist() == pytest.approx([0.9, 0.7, 0.5]) and ids.tolist() == [0, 0, 1]
    np.testing.assert_allclose(xyxy[1], [1100, 300, 1140, 340])


def test_merge_does_not_fuse_nested_boxes_away_from_seams() -> None:
    tile = Tile(0, 0, 800, 600)
    parts = [_part(tile, [[100, 100, 300, 300], [150, 150, 200, 200]], [0.9, 0.8], [0, 0])]
    xyxy, _, _ = merge_tiles(parts, image_wh=(3000, 600), iou=0.6, max_detections=1)
    assert len(xyxy) == 1  # max_detections
    xyxy, _, _ = merge_tiles(parts, image_wh=(3000, 600), iou=0.6, max_detections=10)
    assert len(xyxy) == 2
    assert merge_tiles([], image_wh=(10, 10), iou=0.5, max_detections=5)[0].shape == (0, 4)


def test_detector_tiles_long_images_only(tmp_path: Path) -> None:
    # Constant boxes at input px (S = 64): one gun box near the top-left of every view.
    path = write_tiny_model(tmp_path, boxes=[[4, 4, 12, 12]], logits=[[4.0, -10.0]], classes=CLASSES)
    detector = Detector(path, threads=1, warmup=False)
    long_scan = np.zeros((60, 600, 3), np.uint8)  # 10:1, 600 > 2 x 64: whole view + tiles of 80 x 60
    tiled = detector.detect(long_scan)
    plain = detector.detect(long_scan, tiling="off")
    assert len(plain) == 1 and len(tiled) == len(plan_tiles(600, 60))
    # First tile: 80 x 60 letterboxed at scale 0.8, so the input box [4, 4, 12, 12] is [5, 5, 15, 15].
    assert np.all(tiled.xyxy[:, 2] <= 600) and [5, 5, 15, 15] in tiled.xyxy.tolist()
    square = np.zeros((300, 300, 3), np.uint8)
    np.testing.assert_array_equal(detector.detect(square).xyxy, detector.detect(square, tiling="off").xyxy)
    assert len(Detector(path, threads=1, warmup=False, tiling="off").detect(long_scan)) == 1


@pytest.mark.slow
def test_objects_of_long_synthetic_scans_fit_in_a_tile() -> None:
    """On 3000 x 600 scans every object no longer than the overlap lies whole inside some tile."""
    from nii.synth.parcel import generate_parcel

    checked = 0
    for index in (4, 6):  # scans holding small items (scissors, pliers)
        parcel = generate_parcel(11, index, width=3000, height=600, threat_share=1.0)
        height, width = parcel.rgb.shape[:2]
        assert needs_tiling(width, height, 384)
        _, *tiles = plan_tiles(width, height)
        # Objects appear >= 3x larger in a tile's letterbox than in the whole scan's.
        assert (384 / (tiles[0].x1 - tiles[0].x0)) / (384 / width) >= 3
        overlap = tiles[0].x1 - tiles[1].x0
        for box in parcel.boxes:
            x1, _, x2, _ = box.xyxy
            if x2 - x1 > overlap:
                continue  # the whole view and seam fusion handle those
            checked += 1
            assert any(t.x0 <= x1 and x2 <= t.x1 for t in tiles), (box, tiles)
    assert checked > 0
