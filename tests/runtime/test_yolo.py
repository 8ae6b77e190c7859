"""Ultralytics-style YOLO adapter: letterbox, decoding, class map, card, errors (tiny onnx.helper models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_yolo import SOURCE_NAMES, write_constant_yolo, write_random_yolo

from nii.errors import ModelError
from nii.runtime import Detector
from nii.runtime.card import card_path
from nii.runtime.yolo import (
    PAD_VALUE,
    YoloDetector,
    load_detector,
    load_yolo_card,
    write_yolo_card,
    yolo_letterbox,
)

# Two boxes (input px, S = 64): cx cy w h, then scores for Gun, Knife, Person, Pistol.
ROWS = np.asarray([
    [20, 50], [34, 30], [20, 10], [16, 10],
    [0.90, 0.05], [0.10, 0.70], [0.80, 0.90], [0.95, 0.00],
], np.float32)
CLASS_MAP = {"Gun": "gun", "3": "gun", "knife": "knife", "Person": None}


@pytest.fixture
def constant_yolo(tmp_path: Path) -> Path:
    path = write_constant_yolo(tmp_path / "yolo.onnx", ROWS)
    write_yolo_card(path, class_map=CLASS_MAP, threshold=0.5)
    return path


@pytest.mark.parametrize(
    ("hw", "top", "left", "new_hw"),
    [((50, 100), 16, 0, (32, 64)), ((31, 64), 16, 0, (31, 64)), ((100, 40), 0, 19, (64, 26))],
    ids=["wide", "odd-pad", "tall"],
)
def test_letterbox_is_centred_like_ultralytics(hw: tuple[int, int], top: int, left: int,
                                               new_hw: tuple[int, int]) -> None:
    tensor, ratio, (pad_x, pad_y) = yolo_letterbox(np.zeros((*hw, 3), np.uint8), 64)
    assert tensor.shape == (3, 64, 64) and (pad_x, pad_y) == (left, top)
    assert ratio == pytest.approx(min(64 / hw[0], 64 / hw[1]))
    grey = PAD_VALUE / 255.0
    inside = tensor[:, top:top + new_hw[0], left:left + new_hw[1]]
    assert np.all(inside == 0.0)
    assert np.isclose(tensor, grey).sum() == 3 * (64 * 64 - new_hw[0] * new_hw[1])


def test_card_reads_ultralytics_metadata(constant_yolo: Path) -> None:
    card = load_yolo_card(constant_yolo)
    assert card.source_names == list(SOURCE_NAMES)
    assert card.classes == ["gun", "knife"] and card.class_map == {0: "gun", 3: "gun", 1: "knife"}
    assert card.input.size == 64 and card.source["version"] == "8.3.0"
    assert json.loads(card_path(constant_yolo).read_text())["format"] == "ultralytics-yolo/1"


def test_boxes_map_back_and_sources_merge(constant_yolo: Path) -> None:
    det = load_detector(constant_yolo, threads=1)
    assert isinstance(det, YoloDetector)
    out = det.detect(np.zeros((50, 100, 3), np.uint8))  # ratio 0.64, 16 px grey above and below
    # gun = max(Gun 0.90, Pistol 0.95) on box 0; Person (0.9 on box 1) is dropped by the map.
    assert out.class_names == ("gun", "knife")
    np.testing.assert_allclose(out.scores, [0.95, 0.70], rtol=1e-6)
    expected = [[15.625, 15.625, 46.875, 40.625], [70.3125, 14.0625, 85.9375, 29.6875]]  # (box - pad) / 0.64
    np.testing.assert_allclose(out.xyxy, expected, atol=1e-4)


def test_identity_map_keeps_source_names(tmp_path: Path) -> None:
    path = write_constant_yolo(tmp_path / "y.onnx", ROWS)
    write_yolo_card(path, class_map=None, threshold=0.6)
    out = load_detector(path, threads=1).detect(np.zeros((64, 64, 3), np.uint8))
    assert sorted(out.class_names) == ["Gun", "Knife", "Person", "Person", "Pistol"]


@pytest.mark.parametrize(
    ("class_map", "message"),
    [({"Rifle": "gun"}, "does not have"), ({"Gun": "rifle"}, "not a taxonomy class"),
     ({"Gun": None}, "drops every class"), ({"9": "gun"}, "does not have")],
    ids=["unknown-source", "unknown-target", "all-dropped", "index-range"],
)
def test_class_map_errors(tmp_path: Path, class_map: dict, message: str) -> None:
    path = write_constant_yolo(tmp_path / "y.onnx", ROWS)
    with pytest.raises(ModelError, match=message):
        write_yolo_card(path, class_map=class_map)


def test_class_map_file(tmp_path: Path) -> None:
    path = write_constant_yolo(tmp_path / "y.onnx", ROWS)
    (tmp_path / "map.yaml").write_text("Gun: gun\n1: knife\nPerson: null\n")
    assert write_yolo_card(path, class_map=tmp_path / "map.yaml").class_map == {0: "gun", 1: "knife"}
    (tmp_path / "bad.yaml").write_text("- gun\n- knife\n")
    with pytest.raises(ModelError, match="mapping"):
        write_yolo_card(path, class_map=tmp_path / "bad.yaml")


def test_random_model_batches_tiles_and_io_binding(tmp_path: Path) -> None:
    path = write_random_yolo(tmp_path / "r.onnx", seed=3)
    write_yolo_card(path, class_map={"Gun": "gun", "Knife": "knife"}, threshold=0.3)
    detector = YoloDetector(path, threads=1)
    rng = np.random.default_rng(0)
    shapes = [(48, 80, 3), (64, 64, 3), (30, 200, 3)]
    images = [rng.integers(0, 255, shape, dtype=np.uint8) for shape in shapes]
    batch = detector.detect_batch(images)
    bound = YoloDetector(path, threads=1, io_binding=True, warmup=False).detect_batch(images)
    for image, got, other in zip(images, batch, bound, strict=True):
        single = detector.detect(image)
        np.testing.assert_allclose(got.xyxy, single.xyxy, rtol=1e-5)
        np.testing.assert_allclose(got.xyxy, other.xyxy, rtol=1e-5)
        assert len(got) > 0 and np.all(got.xyxy[:, 2:] <= [image.shape[1], image.shape[0]])
    # 200 x 30 is a long scan for S = 64 (tiled); "off" letterboxes it whole.
    assert not np.array_equal(detector.detect(images[2], tiling="off").xyxy, batch[2].xyxy)


def test_output_that_does_not_match_the_card(constant_yolo: Path) -> None:
    card = json.loads(card_path(constant_yolo).read_text())
    card["source_names"] = [*SOURCE_NAMES, "Rifle"]
    card_path(constant_yolo).write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"\[B, 9, N\]"):
        YoloDetector(constant_yolo, threads=1)


def test_nii_detector_refuses_a_yolo_card_and_load_detector_picks(constant_yolo: Path) -> None:
    with pytest.raises(ModelError, match="format"):
        Detector(constant_yolo, threads=1)
    with pytest.raises(ModelError, match="card"):
        YoloDetector(write_constant_yolo(constant_yolo.parent / "nocard.onnx", ROWS))


def test_non_yolo_output_is_refused(tmp_path: Path, tiny_model: Path) -> None:
    with pytest.raises(ModelError, match=r"4 \+ nc"):
        write_yolo_card(tiny_model, class_map=None)


def test_cli_adopt_yolo(tmp_path: Path) -> None:
    from nii.cli import main

    path = write_constant_yolo(tmp_path / "y.onnx", ROWS)
    (tmp_path / "map.json").write_text(json.dumps({"Gun": "gun", "Pistol": "gun"}))
    assert main(["adopt-yolo", "--model", str(path), "--class-map", str(tmp_path / "map.json")]) == 0
    assert load_yolo_card(path).classes == ["gun"]
    (tmp_path / "bad.json").write_text(json.dumps({"Gun": "rifle"}))
    assert main(["adopt-yolo", "--model", str(path), "--class-map", str(tmp_path / "bad.json")]) == 2
