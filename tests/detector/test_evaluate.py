"""Evaluation through ONNX Runtime with a tiny onnx.helper model on a hand-made COCO dataset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from nii.cli import main
from nii.datasets import Dataset, ImportReport, Sample, load_dataset
from nii.detector.evaluate import (
    coco_eval,
    evaluate,
    look_alikes,
    operating_points,
    thresholds_from_predictions,
    wilson_interval,
)
from nii.errors import DatasetError
from nii.runtime import Detections, Detector

_spec = importlib.util.spec_from_file_location(
    "tiny_onnx_eval", Path(__file__).resolve().parents[1] / "runtime" / "tiny_onnx.py")
assert _spec is not None and _spec.loader is not None
tiny_onnx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tiny_onnx)

CLASSES = ("gun", "knife")
GUN_BOX, KNIFE_BOX = [10, 10, 20, 20], [30, 30, 50, 40]
# gun: sigmoid(20 * (mean - 0.5)): ~1 on white, 0.99 on light grey, ~0 on black; knife: always 0.98.
LOGITS, GAIN = [[0.0, -10.0], [-10.0, 4.0]], [[20.0, 0.0], [0.0, 0.0]]
WHITE, GREY, BLACK = 255, 191, 0


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return tiny_onnx.write_tiny_model(tmp_path / "model", boxes=[GUN_BOX, KNIFE_BOX], logits=LOGITS,
                                      gain=GAIN, classes=CLASSES)


def _dataset(root: Path, images: list[tuple[int, list[str]]]) -> Path:
    """COCO dataset of 64x64 flat images: (grey level, classes boxed at the model's boxes)."""
    (root / "images").mkdir(parents=True)
    categories = [{"id": 1, "name": "Gun"}, {"id": 2, "name": "Knife"}, {"id": 3, "name": "Baton"}]
    coco: dict = {"images": [], "annotations": [], "categories": categories}
    for i, (level, names) in enumerate(images, start=1):
        cv2.imwrite(str(root / "images" / f"{i}.png"), np.full((64, 64, 3), level, np.uint8))
        coco["images"].append({"id": i, "file_name": f"{i}.png", "width": 64, "height": 64})
        for name in names:
            x1, y1, x2, y2 = GUN_BOX if name == "gun" else KNIFE_BOX
            coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": i,
                                        "category_id": 1 if name == "gun" else 2,
                                        "bbox": [x1, y1, x2 - x1, y2 - y1]})
    (root / "annotations.json").write_text(json.dumps(coco))
    return root


def test_perfect_predictions(model: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", [(WHITE, ["gun", "knife"]), (BLACK, ["knife"]), (BLACK, ["knife"])])
    report = evaluate(model, data, out_dir=tmp_path / "out", progress=False)
    assert report.map50 == pytest.approx(1.0) and report.map50_95 == pytest.approx(1.0)
    gun, knife = report.per_class["gun"], report.per_class["knife"]
    assert (gun.ap50, gun.pd, gun.pfa, gun.images_with, gun.images_without) == (1.0, 1.0, 0.0, 1, 2)
    assert gun.pd_localised == 1.0 and gun.threshold == 0.5
    assert (knife.pd, knife.pfa, knife.pfa_ci, knife.images_without) == (1.0, None, None, 0)
    assert report.images == 3 and report.boxes == 4 and report.split is None
    saved = json.loads((tmp_path / "out" / "eval.json").read_text())
    keys = {"map50", "map50_95", "per_class", "images", "model_sha256", "data", "split", "seconds"}
    assert keys <= set(saved)
    assert {"ap50", "ap50_95", "pd", "pd_ci", "pfa", "pfa_ci", "images_with", "images_without",
            "threshold"} <= set(saved["per_class"]["gun"])
    detector = Detector(model, warmup=False)
    assert saved["model_sha256"] == detector.sha256 and saved["model_card_sha256"] == detector.card_sha256
    assert (tmp_path / "out" / "pr_curves.png").stat().st_size > 1000


def test_false_alarm_lowers_ap_and_raises_pfa(model: Path, tmp_path: Path) -> None:
    # Image 3 (grey) holds a knife only, but the model alarms gun there with a score below image 1's.
    data = _dataset(tmp_path / "data", [(WHITE, ["gun", "knife"]), (BLACK, ["knife"]), (GREY, ["knife"])])
    report = evaluate(model, data, progress=False)
    gun = report.per_class["gun"]
    assert gun.ap50 == pytest.approx(1.0)  # the false alarm ranks below the only true positive
    assert (gun.false_alarm_images, gun.images_without, gun.pfa) == (1, 2, 0.5)
    data2 = _dataset(tmp_path / "data2", [(GREY, ["gun", "knife"]), (WHITE, ["knife"])])
    worse = evaluate(model, data2, progress=False).per_class["gun"]
    assert worse.ap50 == pytest.approx(0.5, abs=0.01) and worse.pfa == 1.0  # FP now outranks the TP
    detector = Detector(model, score_threshold=0.001, warmup=False)
    ds = load_dataset(data, class_names=detector.classes)
    preds = [detector.detect(cv2.imread(str(s.image_path))) for s in ds.samples]
    chosen = thresholds_from_predictions(ds, preds)
    assert chosen["gun"] > 0.9999 and chosen["knife"] == pytest.approx(1 / (1 + np.exp(-4)), rel=1e-5)
    points = operating_points(ds, preds)
    assert {name: thr for name, (thr, _) in points.items()} == chosen
    assert points["gun"][1] == 1.0 and 0.0 < points["knife"][1] <= 1.0


def test_look_alikes_count_wrong_class_detections_at_the_thresholds() -> None:
    classes = ("gun", "knife", "scissors")
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 30]], np.float32)

    def sample(ids: list[int]) -> Sample:
        return Sample(Path("x.png"), 64, 64, boxes[: len(ids)], np.array(ids, np.int64))

    def detections(rows: list[tuple[int, int, float]]) -> Detections:  # (box index, class, score)
        return Detections(np.array([boxes[b] + 1 for b, _, _ in rows], np.float32).reshape(-1, 4),
                          np.array([s for _, _, s in rows], np.float32),
                          np.array([c for _, c, _ in rows], np.int64), classes)

    dataset = Dataset((sample([1, 2]), sample([2]), sample([1])), classes, ImportReport("coco", 3, 4))
    predictions = [
        detections([(0, 1, 0.9), (1, 1, 0.8)]),  # a knife, and scissors read as a knife
        detections([(0, 1, 0.2), (1, 1, 0.7)]),  # scissors read as a knife (below threshold), background
        detections([(0, 1, 0.9)]),  # a knife
    ]
    shares = look_alikes(dataset, predictions, {"gun": 0.5, "knife": 0.5, "scissors": 0.5})
    # Four knife detections at the threshold: one was scissors; the one under the threshold does not count.
    assert shares == {"knife": {"scissors": 0.25}}
    assert look_alikes(dataset, predictions, {"gun": 0.5, "knife": 0.5, "scissors": 0.5}, min_share=0.3) == {}


def test_ignored_boxes_are_neither_missed_nor_false_alarms() -> None:
    classes = ("gun",)
    boxes = np.array([[0, 0, 10, 10], [20, 20, 40, 30], [40, 40, 60, 60]], np.float32)
    dataset = Dataset((Sample(Path("x.png"), 64, 64, boxes, np.zeros(3, np.int64)),), classes,
                      ImportReport("coco", 1, 3))
    # The strongest detection lies on box 2, the next on box 0; box 1 is never found.
    found = Detections(boxes[[2, 0]], np.array([0.9, 0.8], np.float32), np.zeros(2, np.int64), classes)
    ap50 = lambda ignore: coco_eval(dataset, [found], [0], ignore=ignore).stats[1]  # noqa: E731
    assert ap50(None) == pytest.approx(2 / 3, abs=0.01)  # two of three found, both ahead of any error
    assert ap50(np.array([False, True, False])) == pytest.approx(1.0)  # the miss ignored
    # Box 2 ignored: its detection is no false alarm, and boxes 0 and 1 give one hit of two.
    assert ap50(np.array([False, False, True])) == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize(
    ("k", "n", "expected"),
    [(0, 10, (0.0, 0.2775)), (5, 10, (0.2366, 0.7634)), (10, 10, (0.7225, 1.0)), (95, 100, (0.8882, 0.9785))],
)
def test_wilson_interval(k: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(k, n) == pytest.approx(expected, abs=1e-4)
    assert wilson_interval(0, 0) is None


def test_no_boxes_of_model_classes(model: Path, tmp_path: Path) -> None:
    data = _dataset(tmp_path / "data", [(WHITE, [])])
    with pytest.raises(DatasetError, match="no box of the model's classes"):
        evaluate(model, data, progress=False)


def test_cli_eval(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _dataset(tmp_path / "data", [(WHITE, ["gun", "knife"]), (BLACK, ["knife"])])
    out = tmp_path / "r.json"
    assert main(["eval", "--model", str(model), "--data", str(data), "--json", str(out), "--limit", "2"]) == 0
    printed = capsys.readouterr().out
    assert "mAP50 1.000" in printed and "gun" in printed
    assert json.loads(out.read_text())["images"] == 2
    flipped = ["eval", "--model", str(model), "--data", str(data), "--json", str(out), "--flips", "hv"]
    assert main(flipped) == 0
    assert "flips hv" in capsys.readouterr().out and json.loads(out.read_text())["flips"] == ["h", "v"]
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--model", str(model), "--data", str(data), "--flips", "hx"])
    assert exc.value.code == 2 and "flips must be" in capsys.readouterr().err
    assert main(["eval", "--model", str(tmp_path / "none.onnx"), "--data", str(data)]) == 2
    assert "error: model" in capsys.readouterr().err
