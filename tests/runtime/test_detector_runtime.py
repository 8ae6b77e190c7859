"""Detector over ONNX Runtime with a tiny onnx.helper model: mapping, NMS, thresholds, checks."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from tiny_onnx import BOXES, CLASSES, GAIN, LOGITS, write_tiny_model

from nii.errors import ModelError, ScanFormatError
from nii.runtime import Detections, Detector
from nii.runtime.card import card_path, load_card
from nii.runtime.postprocess import batched_nms, postprocess

WHITE = np.full((64, 64, 3), 255, np.uint8)
BLACK = np.zeros((64, 64, 3), np.uint8)


def test_detect_square_image_keeps_input_pixels(tiny_model: Path) -> None:
    detector = Detector(tiny_model, threads=1)
    det = detector.detect(BLACK)
    # Box 1 overlaps box 0 (IoU 0.67 > 0.6, same class): suppressed. Box 3 scores ~0 on black.
    assert det.class_names == ("gun", "knife")
    np.testing.assert_allclose(det.xyxy, [BOXES[0], BOXES[2]])
    np.testing.assert_allclose(det.scores, [1 / (1 + np.exp(-4))] * 2, rtol=1e-5)
    assert detector.provider == "CPUExecutionProvider"


def test_scores_depend_on_image(tiny_model: Path) -> None:
    det = Detector(tiny_model, threads=1, warmup=False).detect(WHITE)
    assert len(det) == 3 and det.xyxy[:, 0].tolist() == [40, 10, 30]  # box 3 first: score ~1


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        ((32, 128), [[20, 20, 40, 32]]),  # h 32, w 128: scale 0.5; the knife box lies in the padding
        ((128, 64), [[20, 20, 40, 40], [60, 60, 64, 80]]),  # scale 0.5, knife clipped at x = 64
        ((16, 32), [[5, 5, 10, 10], [15, 15, 25, 16]]),  # upscaled 2x, knife clipped at y = 16
        ((64, 64), [[10, 10, 20, 20], [30, 30, 50, 40]]),
    ],
    ids=["wide", "tall", "small", "square"],
)
def test_boxes_map_back_to_original_pixels(tmp_path: Path, shape: tuple[int, int], expected: list) -> None:
    path = write_tiny_model(tmp_path, boxes=BOXES, logits=LOGITS, classes=CLASSES)
    det = Detector(path, threads=1, warmup=False).detect(np.zeros((*shape, 3), np.uint8))
    np.testing.assert_allclose(det.xyxy, expected, atol=1e-4)
    assert det.class_names == ("gun", "knife")[: len(expected)]


def test_batch_equals_single(tiny_model: Path) -> None:
    detector = Detector(tiny_model, threads=1, warmup=False)
    images = [BLACK, WHITE, np.full((40, 90), 128, np.uint8)] * 4  # 12 images: two session runs
    batch = detector.detect_batch(images)
    for image, got in zip(images, batch, strict=True):
        single = detector.detect(image)
        np.testing.assert_allclose(got.xyxy, single.xyxy)
        np.testing.assert_allclose(got.scores, single.scores)
        assert got.class_ids.tolist() == single.class_ids.tolist()


def test_concurrent_calls_agree(tiny_model: Path) -> None:
    detector = Detector(tiny_model, threads=1, warmup=False)
    images = [BLACK, WHITE] * 8
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(detector.detect, images))
    assert [len(r) for r in results] == [2, 3] * 8


def test_per_class_thresholds_and_override(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, boxes=BOXES, logits=LOGITS, classes=CLASSES,
                            thresholds={"gun": 0.5, "knife": 0.99})
    assert Detector(path, threads=1).detect(BLACK).class_names == ("gun",)
    low = Detector(path, threads=1, score_threshold=0.001)
    assert low.detect(BLACK).class_names == ("gun", "knife")
    assert low.detect(BLACK, score_threshold=0.99).class_names == ()


def test_static_batch_model(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, boxes=BOXES, logits=LOGITS, classes=CLASSES, static_batch=1)
    results = Detector(path, threads=1).detect_batch([BLACK, BLACK, BLACK])
    assert [len(r) for r in results] == [2, 2, 2]


def _rewrite_card(path: Path, **changes: object) -> None:
    card = json.loads(card_path(path).read_text())
    card.update(changes)
    card_path(path).write_text(json.dumps(card))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"onnx_sha256": "0" * 64}, "sha256"),
        ({"classes": ["gun", "knife", "bullet"], "thresholds": {"gun": 0.5, "knife": 0.5, "bullet": 0.5}},
         r"\[B, N, 3\]"),
        ({"input": {"size": 128}}, r"\[B, 3, 128, 128\]"),
    ],
    ids=["sha256", "classes", "input-size"],
)
def test_card_mismatch(tiny_model: Path, changes: dict, message: str) -> None:
    _rewrite_card(tiny_model, **changes)
    with pytest.raises(ModelError, match=message):
        Detector(tiny_model, threads=1)


def test_card_sha256_follows_the_content_not_the_layout(tiny_model: Path) -> None:
    first = Detector(tiny_model, threads=1, warmup=False)
    card = json.loads(card_path(tiny_model).read_text())
    card_path(tiny_model).write_text(json.dumps(dict(reversed(card.items())), indent=4))
    assert Detector(tiny_model, threads=1, warmup=False).card_sha256 == first.card_sha256
    _rewrite_card(tiny_model, thresholds={**card["thresholds"], "gun": 0.25})
    edited = Detector(tiny_model, threads=1, warmup=False)
    assert edited.sha256 == first.sha256 and edited.card_sha256 != first.card_sha256


def test_a_look_replaces_its_classes_with_a_closer_pass(tmp_path: Path) -> None:
    # Boxes are constant input pixels, so a pass at 128 px maps them to half the image pixels of
    # the 64 px main pass: the knife comes from the closer look, the gun from the main pass.
    kwargs = {"boxes": BOXES, "logits": LOGITS, "gain": GAIN, "classes": CLASSES, "dynamic_size": True}
    looked = Detector(write_tiny_model(tmp_path / "v", looks=[{"size": 128, "classes": ["knife"]}], **kwargs),
                      threads=1)
    main = Detector(write_tiny_model(tmp_path / "m", **kwargs), threads=1, warmup=False)
    det = looked.detect(BLACK)
    assert det.class_names == ("gun", "knife")
    np.testing.assert_allclose(det.xyxy, [BOXES[0], np.asarray(BOXES[2]) / 2])
    both = looked.detect_batch([BLACK, WHITE])  # the looks batch like the main pass
    assert both[0].xyxy.tolist() == det.xyxy.tolist()
    assert both[1].class_names == ("gun", "gun", "knife") and both[1].xyxy[2].tolist() == [15, 15, 25, 20]
    assert main.detect(BLACK).xyxy.tolist() == [BOXES[0], BOXES[2]]


def test_looks_need_a_graph_of_any_size(tmp_path: Path) -> None:
    path = write_tiny_model(tmp_path, boxes=BOXES, logits=LOGITS, classes=CLASSES,
                            looks=[{"size": 128, "classes": ["knife"]}])
    with pytest.raises(ModelError, match=r"looks at other input sizes.*re-export"):
        Detector(path, threads=1)


def test_recall_and_look_alikes_come_from_the_card_at_its_thresholds_only(tiny_model: Path) -> None:
    detector = Detector(tiny_model, threads=1, warmup=False)
    assert detector.recall == {} and detector.look_alikes == {}  # not measured
    _rewrite_card(tiny_model, recall={"gun": 0.8}, look_alikes={"knife": {"gun": 0.1}})
    detector = Detector(tiny_model, threads=1, warmup=False)
    assert detector.recall == {"gun": 0.8} and detector.look_alikes == {"knife": {"gun": 0.1}}
    other = Detector(tiny_model, threads=1, warmup=False, score_threshold=0.1)
    assert other.recall == {} and other.look_alikes == {}


def test_missing_and_corrupt_model(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        Detector(tmp_path / "nothing.onnx")
    tiny_model.write_bytes(b"garbage")
    _rewrite_card(tiny_model, onnx_sha256=load_card(tiny_model).onnx_sha256)
    with pytest.raises(ModelError, match="sha256"):
        Detector(tiny_model)
    from nii.runtime.card import sha256_file

    _rewrite_card(tiny_model, onnx_sha256=sha256_file(tiny_model))
    with pytest.raises(ModelError, match="corrupt"):
        Detector(tiny_model)


@pytest.mark.parametrize(
    "image",
    [np.zeros((10, 10, 2), np.uint8), np.zeros((10, 10, 3), np.float64), np.zeros((0, 10, 3), np.uint8)],
    ids=["channels", "dtype", "zero-size"],
)
def test_bad_images(tiny_model: Path, image: np.ndarray) -> None:
    with pytest.raises(ScanFormatError, match="image 0"):
        Detector(tiny_model, threads=1, warmup=False).detect(image)


@pytest.mark.parametrize(
    ("xyxy", "scores", "class_ids", "message"),
    [
        (np.zeros((2, 3), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int64), r"\[N, 4\]"),
        (np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros(2, np.int64), r"scores must be"),
        (np.zeros((2, 4), np.float32), np.zeros(2, np.float32), np.zeros(2, np.int32), r"class_ids must be"),
        (np.zeros((1, 4), np.float32), np.zeros(1, np.float32), np.asarray([5]), r"\[0, 2\)"),
    ],
    ids=["xyxy-shape", "scores-length", "ids-dtype", "ids-range"],
)
def test_detections_validate(
    xyxy: np.ndarray, scores: np.ndarray, class_ids: np.ndarray, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Detections(xyxy, scores, class_ids, CLASSES)


def test_batched_nms_is_class_wise() -> None:
    xyxy = np.asarray([[0, 0, 10, 10], [1, 0, 11, 10], [0, 0, 10, 10], [50, 50, 60, 60]], np.float32)
    scores = np.asarray([0.9, 0.8, 0.7, 0.6], np.float32)
    assert batched_nms(xyxy, scores, np.asarray([0, 0, 1, 0]), 0.5).tolist() == [0, 2, 3]
    assert batched_nms(xyxy, scores, np.asarray([0, 0, 0, 0]), 0.5).tolist() == [0, 3]
    assert batched_nms(xyxy, scores, np.asarray([0, 0, 0, 0]), 0.95).tolist() == [0, 1, 3]  # IoU(0,1)=0.82


def test_postprocess_topk_and_max_detections() -> None:
    rng = np.random.default_rng(0)
    corners = rng.uniform(0, 500, (3000, 2)).astype(np.float32)
    boxes = np.concatenate([corners, corners + 5], axis=1)
    scores = rng.uniform(0, 1, (3000, 2)).astype(np.float32)
    xyxy, kept, ids = postprocess(boxes, scores, np.full(2, 0.1, np.float32), scale_xy=(1.0, 1.0),
                                  image_wh=(1000, 1000), nms_iou=0.5, max_detections=100)
    assert xyxy.shape == (100, 4) and kept.shape == (100,) and ids.dtype == np.int64
    assert np.all(np.diff(kept) <= 0) and kept[0] == scores.max()
