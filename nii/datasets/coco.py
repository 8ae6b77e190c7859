"""COCO JSON reader and writer (bbox = [x, y, w, h] pixels; category ids are arbitrary)."""

from __future__ import annotations

import json
import logging
import os
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from nii.datasets import Dataset, ImportReport, Sample, check_boxes
from nii.datasets.classmap import ClassMapper
from nii.errors import DatasetError, ScanFormatError

log = logging.getLogger(__name__)


def find_annotation_file(root: Path, split: str | None) -> Path | None:
    """The COCO JSON of `root` for `split` (split-specific files first), or None."""
    candidates: list[Path] = []
    if split is not None:
        candidates += [root / "annotations" / f"instances_{split}.json",
                       root / "annotations" / f"{split}.json", root / f"{split}.json"]
    candidates.append(root / "annotations.json")
    return next((c for c in candidates if c.is_file()), None)


def _load_json(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise DatasetError(f"cannot read COCO file {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DatasetError(f"COCO file {path} is not valid JSON ({exc}); re-export or fix it") from exc
    if not isinstance(data, dict) or not all(isinstance(data.get(k), list) for k in ("images", "categories")):
        raise DatasetError(f"COCO file {path} needs lists 'images' and 'categories' (and 'annotations')")
    return data


def _resolve_image(file_name: str, ann_file: Path, root: Path, split: str | None) -> Path | None:
    name = Path(file_name)
    if name.is_absolute():
        return name if name.is_file() else None
    candidates = [ann_file.parent / name, root / name, root / "images" / name]
    if split is not None:
        candidates.append(root / "images" / split / name)
    candidates.append(root / "images" / name.name)
    return next((c for c in candidates if c.is_file()), None)


def read_coco(ann_file: Path, root: Path, mapper: ClassMapper, *, split: str | None) -> Dataset:
    """Read `ann_file` with images resolved against its folder, `root` and `root/images[/split]`."""
    data = _load_json(ann_file)
    split_read = split if split is not None and split in ann_file.stem else None
    if split is not None and split_read is None:
        log.info("%s has no split %r file; reading %s whole", root, split, ann_file.name)
    try:
        categories = {int(c["id"]): str(c["name"]) for c in data["categories"]}
        boxes_by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for ann in data.get("annotations", []):
            boxes_by_image[int(ann["image_id"])].append(ann)
        images = [(int(im["id"]), str(im["file_name"]), im.get("width"), im.get("height"))
                  for im in data["images"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise DatasetError(f"COCO file {ann_file}: malformed entry ({exc!r}); each image needs id and "
                           f"file_name, each category id and name, each annotation image_id") from exc
    class_of = {cid: mapper.resolve(name) for cid, name in categories.items()}
    unknown_ids = set(boxes_by_image) - {im[0] for im in images}
    if unknown_ids:
        raise DatasetError(f"COCO file {ann_file}: annotations refer to unknown image ids "
                           f"{sorted(unknown_ids)[:5]}; fix the file")
    unmapped: Counter[str] = Counter()
    samples: list[Sample] = []
    clipped_total = crowd_only = 0
    for image_id, file_name, width, height in images:
        path = _resolve_image(file_name, ann_file, root, split)
        if path is None:
            raise DatasetError(f"COCO file {ann_file} lists image {file_name!r}, which is missing; "
                               f"put it beside the JSON or under images/")
        if not width or not height:
            from nii.runtime.preprocess import read_image_size

            try:
                width, height = read_image_size(path)
            except ScanFormatError as exc:
                raise DatasetError(f"COCO file {ann_file}: image {path} is unreadable ({exc})") from exc
        xyxy: list[list[float]] = []
        ids: list[int] = []
        anns = boxes_by_image.get(image_id, [])
        for ann in anns:
            if ann.get("iscrowd", 0):
                continue
            try:
                cls = class_of[int(ann["category_id"])]
                x, y, w, h = (float(v) for v in ann["bbox"])
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"COCO file {ann_file}: annotation {ann.get('id')} of image {file_name!r} "
                                   f"has a bad category_id or bbox ({exc!r})") from exc
            if cls is None:
                unmapped[categories[int(ann["category_id"])]] += 1
                continue
            xyxy.append([x, y, x + w, y + h])
            ids.append(cls)
        if anns and all(a.get("iscrowd", 0) for a in anns):
            crowd_only += 1
        boxes, clipped = check_boxes(np.asarray(xyxy, dtype=np.float32), int(width), int(height),
                                     f"{ann_file} image {file_name!r}")
        clipped_total += clipped
        samples.append(Sample(path, int(width), int(height), boxes, np.asarray(ids, dtype=np.int64)))
    report = ImportReport(
        format="coco", images=len(samples), boxes=sum(len(s.class_ids) for s in samples),
        unmapped=dict(unmapped), split=split_read, negatives=sum(len(s.class_ids) == 0 for s in samples),
        clipped_boxes=clipped_total, skipped_images=crowd_only,
    )
    return Dataset(tuple(samples), mapper.class_names, report)


def to_coco_dict(dataset: Dataset, relative_to: Path | None = None) -> dict[str, Any]:
    """COCO dict of `dataset`: image id = position + 1, category id = class index + 1."""
    images, annotations = [], []
    for image_id, sample in enumerate(dataset.samples, start=1):
        file_name = str(sample.image_path)
        if relative_to is not None:
            try:
                file_name = os.path.relpath(sample.image_path, relative_to)
            except ValueError:
                file_name = str(sample.image_path.resolve())
        images.append({"id": image_id, "file_name": file_name,
                       "width": sample.width, "height": sample.height})
        for (x1, y1, x2, y2), cls in zip(sample.xyxy.tolist(), sample.class_ids.tolist(), strict=True):
            w, h = x2 - x1, y2 - y1
            annotations.append({"id": len(annotations) + 1, "image_id": image_id, "category_id": cls + 1,
                                "bbox": [x1, y1, w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": i + 1, "name": name} for i, name in enumerate(dataset.class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def write_coco(dataset: Dataset, path: Path) -> None:
    """Write `dataset` as COCO JSON at `path` (file names relative to its folder)."""
    path = Path(path)
    payload = to_coco_dict(dataset, relative_to=path.parent)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload), encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot write {path}: {exc.strerror or exc}") from exc
