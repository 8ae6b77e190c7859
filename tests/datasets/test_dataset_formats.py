"""COCO / YOLO / VOC import: format detection, splits, class mapping, clipping, errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from nii.datasets import load_dataset, write_coco
from nii.datasets.classmap import ClassMapper, normalise_name
from nii.errors import DatasetError
from nii.types import CLASS_NAMES

REAL = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
GUN, KNIFE, WRENCH = CLASS_NAMES.index("gun"), CLASS_NAMES.index("knife"), CLASS_NAMES.index("wrench")


def _image(path: Path, width: int = 100, height: int = 50) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), 255, np.uint8))
    return path


def _coco(root: Path, boxes: list[list[float]], names: tuple[str, ...] = ("Gun", "Baton")) -> Path:
    _image(root / "images" / "a.png")
    _image(root / "images" / "b.png")
    data = {
        "images": [{"id": 1, "file_name": "a.png", "width": 100, "height": 50},
                   {"id": 2, "file_name": "images/b.png", "width": 100, "height": 50}],
        "categories": [{"id": 7 + i, "name": n} for i, n in enumerate(names)],
        "annotations": [{"id": i, "image_id": 1, "category_id": 7 + (i % len(names)), "bbox": b}
                        for i, b in enumerate(boxes)],
    }
    (root / "annotations.json").write_text(json.dumps(data))
    return root


def _yolo(root: Path, lines: dict[str, str], split: str | None = "train", names: str = "yaml") -> Path:
    sub = Path(split) if split else Path()
    for stem, text in lines.items():
        _image(root / "images" / sub / f"{stem}.jpg")
        if text is not None:
            (root / "labels" / sub).mkdir(parents=True, exist_ok=True)
            (root / "labels" / sub / f"{stem}.txt").write_text(text)
    if names == "yaml":
        (root / "data.yaml").write_text("names: {0: Knife, 1: Sprayer, 2: Baton}\n")
    else:
        (root / "classes.txt").write_text("Knife\nSprayer\nBaton\n")
    return root


_VOC = """<annotation><filename>{name}</filename><size><width>100</width><height>50</height></size>
{objects}</annotation>"""
_OBJ = "<object><name>{0}</name><bndbox><xmin>{1}</xmin><ymin>{2}</ymin><xmax>{3}</xmax><ymax>{4}</ymax>" \
       "</bndbox></object>"


def _voc(root: Path, objects: list[tuple], layout: str = "split") -> Path:
    xml = _VOC.format(name="P0001.jpg", objects="".join(_OBJ.format(*o) for o in objects))
    if layout == "split":  # SIXray subset: labels/{split}/*.xml + images/{split}/
        _image(root / "images" / "test" / "0001.jpg")
        (root / "labels" / "test").mkdir(parents=True)
        (root / "labels" / "test" / "0001.xml").write_text(xml)
    else:  # classic VOC: Annotations + JPEGImages + ImageSets/Main/{split}.txt
        _image(root / "JPEGImages" / "0001.jpg")
        _image(root / "JPEGImages" / "0002.jpg")
        (root / "Annotations").mkdir(parents=True)
        (root / "Annotations" / "0001.xml").write_text(xml)
        (root / "Annotations" / "0002.xml").write_text(_VOC.format(name="x.jpg", objects=""))
        (root / "ImageSets" / "Main").mkdir(parents=True)
        (root / "ImageSets" / "Main" / "test.txt").write_text("0001\n")
    return root


def test_coco_reads_boxes_and_counts_unmapped(tmp_path: Path) -> None:
    ds = load_dataset(_coco(tmp_path, [[10, 5, 20, 10], [0, 0, 5, 5], [80, 40, 20.5, 10]]), split="test")
    assert ds.report.format == "coco" and ds.report.split is None
    assert (ds.report.images, ds.report.boxes, ds.report.negatives) == (2, 2, 1)
    assert ds.report.unmapped == {"Baton": 1} and ds.report.clipped_boxes == 1
    first = ds.samples[0]
    np.testing.assert_allclose(first.xyxy, [[10, 5, 30, 15], [80, 40, 100, 50]])
    assert first.class_ids.tolist() == [GUN, GUN] and first.xyxy.dtype == np.float32
    assert ds.samples[1].image_path == tmp_path / "images" / "b.png"


def test_write_coco_round_trip(tmp_path: Path) -> None:
    ds = load_dataset(_coco(tmp_path / "src", [[10, 5, 20, 10]]))
    write_coco(ds, tmp_path / "out" / "gt.json")
    again = load_dataset(tmp_path / "out" / "gt.json")
    assert [s.image_path.resolve() for s in again.samples] == [s.image_path.resolve() for s in ds.samples]
    np.testing.assert_allclose(again.samples[0].xyxy, ds.samples[0].xyxy)


@pytest.mark.parametrize("names", ["yaml", "txt"])
def test_yolo_split_with_names(tmp_path: Path, names: str) -> None:
    root = _yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.4\n1 0.1 0.1 0.2 0.2\n2 0.5 0.5 0.1 0.1\n", "b": None},
                 names=names)
    ds = load_dataset(root, split="train")
    assert ds.report.format == "yolo" and ds.report.split == "train"
    assert (ds.report.images, ds.report.boxes, ds.report.negatives) == (2, 2, 1)
    assert ds.report.unmapped == {"Baton": 1}
    np.testing.assert_allclose(ds.samples[0].xyxy, [[40, 15, 60, 35], [0, 0, 20, 10]], atol=1e-4)
    assert [CLASS_NAMES[i] for i in ds.samples[0].class_ids] == ["knife", "aerosol"]


def test_yolo_flat_ignores_split_and_reads_segments(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"a": "0 0.1 0.2 0.3 0.2 0.3 0.6\n"}, split=None, names="txt")
    ds = load_dataset(root, split="test")
    assert ds.report.split is None
    np.testing.assert_allclose(ds.samples[0].xyxy, [[10, 10, 30, 30]], atol=1e-4)


@pytest.mark.parametrize("layout", ["split", "voc"])
def test_voc_layouts(tmp_path: Path, layout: str) -> None:
    objects = [("Gun", 1, 2, 30, 40), ("Wrench", 50, 0, 100.5, 50), ("Baton", 1, 1, 5, 5)]
    root = _voc(tmp_path, objects, layout)
    ds = load_dataset(root, split="test")
    assert ds.report.format == "voc" and ds.report.split == "test" and ds.report.images == 1
    assert ds.samples[0].class_ids.tolist() == [GUN, WRENCH] and ds.report.unmapped == {"Baton": 1}
    np.testing.assert_allclose(ds.samples[0].xyxy, [[1, 2, 30, 40], [50, 0, 100, 50]])


def test_class_map_file_overrides_aliases(tmp_path: Path) -> None:
    (tmp_path / "map.json").write_text(json.dumps({"gun": None, "BATON": "knife"}))
    ds = load_dataset(_coco(tmp_path / "d", [[10, 5, 20, 10], [0, 0, 5, 5]]), class_map=tmp_path / "map.json")
    assert ds.samples[0].class_ids.tolist() == [KNIFE] and ds.report.unmapped == {"Gun": 1}
    (tmp_path / "bad.yaml").write_text("Gun: rifle\n")
    with pytest.raises(DatasetError, match="'rifle', which is not a taxonomy class"):
        ClassMapper.build(CLASS_NAMES, tmp_path / "bad.yaml")


@pytest.mark.parametrize(
    ("source", "target"),
    [("Gun", "gun"), ("Sprayer", "aerosol"), ("Powerbank", "powerbank"), ("HandCuffs", None),
     ("Mobile_Phone", "phone"), ("LAGs product(Glass)", "bottle"), ("Knife-B", "knife"), ("Saw", None),
     ("  scissors ", "scissors")],
)
def test_builtin_aliases(source: str, target: str | None) -> None:
    index = ClassMapper.build(CLASS_NAMES).resolve(source)
    assert (None if index is None else CLASS_NAMES[index]) == target
    assert normalise_name("Mobile_Phone") == "mobile phone"


def _write(root: Path, rel: str, text: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    (root / rel).write_text(text)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda r: _write(r, "notes.txt", "hi"), "no known dataset format"),
        (lambda r: _coco(r, [[90, 5, 20, 10]]), r"outside the 100x50 image"),
        (lambda r: _coco(r, [[10, 5, 0, 10]]), "has no area"),
        (lambda r: _write(r, "annotations.json", "{oops"), "not valid JSON"),
        (lambda r: (_coco(r, []), (r / "images" / "a.png").unlink()), "'a.png', which is missing"),
        (lambda r: _yolo(r, {"a": "0 0.5 0.5 0.2\n"}), "line 1: expected"),
        (lambda r: _yolo(r, {"a": "5 0.5 0.5 0.2 0.2\n"}), "class id 5"),
        (lambda r: (_yolo(r, {"a": "0 0.5 0.5 0.2 0.2\n"}), (r / "data.yaml").unlink()), "no class names"),
        (lambda r: (_yolo(r, {"a": ""}), _write(r, "labels/train/z.txt", "")), "have no image"),
        (lambda r: _voc(r, [("Gun", 1, 2, 300, 40)]), "outside"),
        (lambda r: _write(r, "labels/test/0001.xml", "<annotation><object>"), "cannot read VOC"),
        (lambda r: _write(r, "labels/test/0001.xml", "<annotation/>"), "image .* is missing"),
    ],
    ids=["unknown", "coco-outside", "coco-degenerate", "coco-json", "coco-missing-image", "yolo-line",
         "yolo-class", "yolo-names", "yolo-orphan", "voc-outside", "voc-xml", "voc-missing-image"],
)
def test_errors_name_the_problem(tmp_path: Path, make, message: str) -> None:
    make(tmp_path)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path, split="train" if (tmp_path / "data.yaml").exists() else "test")


def test_split_errors(tmp_path: Path) -> None:
    root = _yolo(tmp_path, {"a": "0 0.5 0.5 0.2 0.2\n"})
    with pytest.raises(DatasetError, match="choose one with --split"):
        load_dataset(root)
    with pytest.raises(DatasetError, match=r"no split 'val'.*available: train"):
        load_dataset(root, split="val")


@pytest.mark.real_data
@pytest.mark.parametrize(
    ("name", "split", "expected"),
    [("sixray_subset", "test", ("voc", 110, 110)), ("pidray_samples", None, ("yolo", 12, 13)),
     ("cubox_samples", "test", ("yolo", 10, 11))],
)
def test_real_examples(name: str, split: str | None, expected: tuple) -> None:
    if not (REAL / name).is_dir():
        pytest.skip(f"{REAL / name} is absent")
    report = load_dataset(REAL / name, split=split).report
    assert (report.format, report.images, report.boxes) == expected
