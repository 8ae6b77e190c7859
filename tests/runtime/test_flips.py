"""Test-time flips: views mirrored back, fused per class, scores averaged over the views."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import write_tiny_model

from nii.errors import ModelError
from nii.runtime import Detector
from nii.runtime.flips import check_flips, flip_image, fuse_views, unflip_boxes

BLACK = np.zeros((64, 64, 3), np.uint8)
LOW = np.zeros(2, np.float32)


def _view(boxes: list, scores: list, classes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
            np.asarray(classes, np.int64))


def test_flip_and_unflip_are_mirrors() -> None:
    image = np.arange(2 * 3 * 3).reshape(2, 3, 3).astype(np.uint8)
    assert (flip_image(image, "h")[:, 0] == image[:, 2]).all()
    assert (flip_image(image, "v")[0] == image[1]).all()
    assert flip_image(image, "") is image
    box = np.asarray([[10, 20, 30, 25]], np.float32)  # in a 100 x 50 image
    np.testing.assert_array_equal(unflip_boxes(box, "h", 100, 50), [[70, 20, 90, 25]])
    np.testing.assert_array_equal(unflip_boxes(box, "v", 100, 50), [[10, 25, 30, 30]])
    np.testing.assert_array_equal(unflip_boxes(unflip_boxes(box, "h", 100, 50), "h", 100, 50), box)


def test_fuse_averages_what_the_views_agree_on() -> None:
    views = [
        _view([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.6], [0, 0]),
        _view([[1, 0, 11, 10], [0, 0, 10, 10]], [0.3, 0.6], [0, 1]),  # same object; another class there
        _view([[2, 0, 12, 10], [0, 1, 10, 11]], [0.6, 0.5], [0, 0]),  # two on it: the best joins
    ]
    xyxy, scores, classes = fuse_views(views, LOW, iou=0.6, max_detections=10)
    assert classes.tolist() == [0, 0, 1, 0]
    np.testing.assert_allclose(scores, [(0.9 + 0.3 + 0.6) / 3, 0.6 / 3, 0.6 / 3, 0.5 / 3], rtol=1e-6)
    np.testing.assert_allclose(xyxy[0], [(0.3 * 1 + 0.6 * 2) / 1.8, 0, (9 + 0.3 * 11 + 0.6 * 12) / 1.8, 10],
                               rtol=1e-6)
    # Seen in one view of three: below a threshold its single-view score would pass.
    xyxy, scores, classes = fuse_views(views, np.asarray([0.5, 0.5], np.float32), iou=0.6, max_detections=10)
    assert len(scores) == 1 and classes.tolist() == [0]
    assert len(fuse_views(views, LOW, iou=0.6, max_detections=2)[1]) == 2
    assert len(fuse_views([_view([], [], [])] * 2, LOW, iou=0.6, max_detections=5)[1]) == 0


def test_detector_with_flips(tmp_path: Path) -> None:
    # The tiny model returns fixed boxes: the centred one is where the mirrored view finds it too,
    # the off-centre one is not confirmed and keeps half its score.
    path = write_tiny_model(tmp_path, boxes=[[22, 10, 42, 20], [2, 40, 12, 50]], logits=[[4.0], [4.0]],
                            classes=("gun",), thresholds={"gun": 0.4})
    detector = Detector(path, threads=1, warmup=False)
    plain = detector.detect(BLACK)
    both = detector.detect(BLACK, flips=("h",))
    score = 1 / (1 + np.exp(-4))
    np.testing.assert_allclose(plain.scores, [score, score], rtol=1e-5)
    np.testing.assert_allclose(both.xyxy, [[22, 10, 42, 20], [2, 40, 12, 50], [52, 40, 62, 50]], atol=1e-4)
    np.testing.assert_allclose(both.scores, [score, score / 2, score / 2], rtol=1e-5)
    hv = detector.detect(BLACK, flips=("h", "v"))  # off-centre boxes a third, the centred one two thirds
    np.testing.assert_allclose(hv.scores, [2 * score / 3], rtol=1e-5)
    batch = detector.detect_batch([BLACK, np.zeros((32, 64, 3), np.uint8)], flips=("h",))
    np.testing.assert_allclose(batch[0].scores, both.scores)


@pytest.mark.parametrize("flips", [("x",), ("h", "h"), ["v", "d"]])
def test_bad_flips(flips: tuple[str, ...]) -> None:
    with pytest.raises(ModelError, match="flips must be"):
        check_flips(flips)
