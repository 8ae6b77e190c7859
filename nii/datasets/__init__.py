"""Detection datasets: COCO JSON, YOLO txt and Pascal VOC XML readers, mapped to the taxonomy.

`load_dataset(path, split)` finds the format by itself:

- COCO: `annotations.json` + `images/` (as `nii synth` writes), or
  `annotations/instances_{split}.json` / `annotations/{split}.json` + `images/{split}/`.
- YOLO: `images/{split}/*.jpg|png` + `labels/{split}/*.txt` (or flat `images/` + `labels/`), class
  names from `data.yaml` / `config.yaml` (`names`) or `classes.txt`.
- VOC: `labels/{split}/*.xml`, `Annotations/*.xml` or `annotations/*.xml`, images in
  `images/{split}/`, `images/` or `JPEGImages/`, optional `ImageSets/Main/{split}.txt`.

A dataset without split folders ignores `split` (and logs so). Boxes are xyxy float32 pixels;
boxes beyond the image by at most 1 pixel are clipped, further out or degenerate ones are errors.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nii.errors import DatasetError
from nii.types import CLASS_NAMES

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
BOX_TOLERANCE_PX = 1.0  # boxes may overshoot the image by this much; they are clipped


@dataclass(frozen=True, slots=True)
class Sample:
    """One image and its boxes. xyxy float32 [N, 4] pixels; class_ids int64 [N] into class_names."""

    image_path: Path
    width: int
    height: int
    xyxy: np.ndarray
    class_ids: np.ndarray

    def __post_init__(self) -> None:
        if self.xyxy.dtype != np.float32 or self.xyxy.ndim != 2 or self.xyxy.shape[1] != 4:
            raise ValueError(f"xyxy must be float32 [N, 4], got {self.xyxy.dtype} {self.xyxy.shape}")
        if self.class_ids.dtype != np.int64 or self.class_ids.shape != (self.xyxy.shape[0],):
            raise ValueError(
                f"class_ids must be int64 [{self.xyxy.shape[0]}], got {self.class_ids.dtype} "
                f"{self.class_ids.shape}"
            )


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import read and what it left out."""

    format: str  # "coco", "yolo" or "voc"
    images: int
    boxes: int  # boxes kept (mapped to a taxonomy class)
    unmapped: dict[str, int] = field(default_factory=dict)  # source class -> boxes ignored
    split: str | None = None  # split read, None when the dataset has no split folders
    negatives: int = 0  # images with no kept box
    clipped_boxes: int = 0  # boxes clipped to the image (within the 1-pixel tolerance)
    skipped_images: int = 0  # image files with no annotation (VOC) or crowd-only entries (COCO)
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        ignored = sum(self.unmapped.values())
        text = (f"{self.format} split={self.split or '-'}: {self.images} images, {self.boxes} boxes, "
                f"{self.negatives} without boxes")
        if ignored:
            text += f", {ignored} boxes of unmapped classes ignored ({', '.join(sorted(self.unmapped))})"
        return text


@dataclass(frozen=True, slots=True)
class Dataset:
    """Samples with class ids into class_names (the taxonomy order by default)."""

    samples: tuple[Sample, ...]
    class_names: tuple[str, ...]
    report: ImportReport


def check_boxes(xyxy: np.ndarray, width: int, height: int, where: str) -> tuple[np.ndarray, int]:
    """Clip boxes overshooting the image by <= 1 px; raise on farther or degenerate ones.

    Returns the clipped float32 [N, 4] array and how many boxes were clipped.
    """
    boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
    if not np.isfinite(boxes).all():
        raise DatasetError(f"{where}: box coordinates are not finite numbers; fix the annotation")
    tol = BOX_TOLERANCE_PX
    outside = ((boxes[:, 0] < -tol) | (boxes[:, 1] < -tol) | (boxes[:, 2] > width + tol)
               | (boxes[:, 3] > height + tol))
    if outside.any():
        box = [round(float(v), 2) for v in boxes[np.argmax(outside)]]
        raise DatasetError(
            f"{where}: box {box} (x1 y1 x2 y2 px) lies outside the {width}x{height} image; "
            f"fix or remove the annotation"
        )
    clipped = np.empty_like(boxes)
    clipped[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
    clipped[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
    degenerate = (clipped[:, 2] <= clipped[:, 0]) | (clipped[:, 3] <= clipped[:, 1])
    if degenerate.any():
        box = [round(float(v), 2) for v in boxes[np.argmax(degenerate)]]
        raise DatasetError(
            f"{where}: box {box} (x1 y1 x2 y2 px) has no area; fix or remove the annotation"
        )
    return clipped, int((clipped != boxes).any(axis=1).sum())


def find_image(folder: Path, stem: str) -> Path | None:
    """The image file `folder/stem.<image suffix>` (any case), or None."""
    for suffix in IMAGE_SUFFIXES:
        for candidate in (folder / f"{stem}{suffix}", folder / f"{stem}{suffix.upper()}"):
            if candidate.is_file():
                return candidate
    return None


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def split_folder(root: Path, name: str, split: str | None) -> tuple[Path, str | None]:
    """`root/name/split` when the dataset has split folders, else `root/name` (split ignored)."""
    base = root / name
    if split is not None and (base / split).is_dir():
        return base / split, split
    subdirs = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    splits = [s for s in subdirs if s in ("train", "val", "valid", "test")]
    if splits:
        if split is None:
            raise DatasetError(
                f"{root} has split folders {splits} under {name}/; choose one with --split"
            )
        raise DatasetError(f"{root} has no split {split!r} under {name}/; available: {', '.join(splits)}")
    if split is not None:
        log.info("%s has no split folders; reading all of it (split %r ignored)", root, split)
    return base, None


def load_dataset(
    path: Path,
    split: str | None = None,
    class_map: Path | None = None,
    class_names: Sequence[str] = CLASS_NAMES,
) -> Dataset:
    """Read a COCO, YOLO or VOC dataset folder (format found automatically); see module doc."""
    from nii.datasets import coco, voc, yolo
    from nii.datasets.classmap import ClassMapper

    root = Path(path)
    if not root.exists():
        raise DatasetError(f"dataset {root} does not exist; give a dataset folder or COCO JSON file")
    mapper = ClassMapper.build(class_names, class_map)
    if root.is_file():
        if root.suffix.lower() != ".json":
            raise DatasetError(f"{root} is a file but not a COCO .json; give the dataset folder instead")
        dataset = coco.read_coco(root, root.parent, mapper, split=None)
    elif (coco_file := coco.find_annotation_file(root, split)) is not None:
        dataset = coco.read_coco(coco_file, root, mapper, split=split)
    elif voc.looks_like_voc(root, split):
        dataset = voc.read_voc(root, mapper, split=split)
    elif yolo.looks_like_yolo(root, split):
        dataset = yolo.read_yolo(root, mapper, split=split)
    else:
        raise DatasetError(
            f"{root} is in no known dataset format: expected COCO (annotations.json + images/), "
            f"YOLO (images/ + labels/*.txt + data.yaml or classes.txt) or Pascal VOC "
            f"(Annotations/*.xml or labels/*.xml + images/)"
        )
    log.info("loaded %s: %s", root, dataset.report.summary())
    return dataset


def write_coco(dataset: Dataset, path: Path) -> None:
    """Write `dataset` as a COCO JSON file (category id = class index + 1)."""
    from nii.datasets.coco import write_coco as _write

    _write(dataset, path)


__all__ = ["Dataset", "ImportReport", "Sample", "load_dataset", "write_coco"]
