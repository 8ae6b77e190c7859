"""YOLO txt reader: one `<stem>.txt` per image, lines `class cx cy w h` normalised to [0, 1].

Class names come from `data.yaml`, `dataset.yaml` or `config.yaml` (`names`: list or id -> name
mapping) or from `classes.txt` / `obj.names` (one per line). Segment lines (`class x1 y1 x2 y2 ...`)
are read as the bounding box of their points. An image without a label file has no boxes.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from nii.datasets import Dataset, ImportReport, Sample, check_boxes, list_images, split_folder
from nii.datasets.classmap import ClassMapper
from nii.errors import DatasetError, ScanFormatError
from nii.runtime.preprocess import read_image_size

log = logging.getLogger(__name__)

_YAML_NAMES = ("data.yaml", "dataset.yaml", "config.yaml", "data.yml")
_TXT_NAMES = ("classes.txt", "obj.names", "classes.names")


def looks_like_yolo(root: Path, split: str | None) -> bool:
    labels = root / "labels"
    if not labels.is_dir():
        return False
    folders = [labels, *(p for p in labels.iterdir() if p.is_dir())]
    return any(next(f.glob("*.txt"), None) is not None for f in folders)


def read_class_names(root: Path) -> list[str]:
    """Source class names in id order, from the dataset's yaml or classes.txt."""
    for name in _YAML_NAMES:
        path = root / name
        if not path.is_file():
            continue
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise DatasetError(f"cannot read YOLO class names from {path}: {exc}") from exc
        names = data.get("names") if isinstance(data, dict) else None
        if isinstance(names, dict):
            try:
                return [str(names[k]) for k in sorted(names, key=int)]
            except (TypeError, ValueError) as exc:
                raise DatasetError(f"{path}: 'names' keys must be class ids 0..N-1") from exc
        if isinstance(names, list):
            return [str(n) for n in names]
        raise DatasetError(f"{path} has no 'names' list; add the class names in id order")
    for name in _TXT_NAMES:
        path = root / name
        if path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise DatasetError(f"cannot read YOLO class names from {path}: {exc}") from exc
            return [line.strip() for line in lines if line.strip()]
    raise DatasetError(
        f"{root} has YOLO labels but no class names: add data.yaml with 'names' or classes.txt "
        f"(one name per line, in class id order)"
    )


def _parse_label_file(path: Path, n_classes: int, width: int, height: int) -> tuple[np.ndarray, np.ndarray]:
    """Class ids int64 [N] and xyxy float32 [N, 4] pixels of one label file."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read YOLO label file {path}: {exc}") from exc
    ids: list[int] = []
    xyxy: list[list[float]] = []
    for number, line in enumerate(lines, start=1):
        parts = line.split()
        if not parts:
            continue
        try:
            cls = int(parts[0])
            values = [float(v) for v in parts[1:]]
        except ValueError as exc:
            raise DatasetError(f"{path} line {number}: expected 'class cx cy w h' numbers, got {line!r}") \
                from exc
        if len(values) == 4:
            cx, cy, w, h = values
            box = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        elif len(values) >= 6 and len(values) % 2 == 0:
            xs, ys = values[0::2], values[1::2]
            box = [min(xs), min(ys), max(xs), max(ys)]
        else:
            raise DatasetError(f"{path} line {number}: expected 'class cx cy w h', got {line!r}")
        if not 0 <= cls < n_classes:
            raise DatasetError(f"{path} line {number}: class id {cls} is outside the {n_classes} class names")
        ids.append(cls)
        xyxy.append([box[0] * width, box[1] * height, box[2] * width, box[3] * height])
    return np.asarray(ids, dtype=np.int64), np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)


def read_yolo(root: Path, mapper: ClassMapper, *, split: str | None) -> Dataset:
    """Read `root/images[/split]` with `root/labels[/split]`."""
    source_names = read_class_names(root)
    to_class = np.asarray([-1 if c is None else c for c in mapper.resolve_all(source_names)], dtype=np.int64)
    image_dir, split_read = split_folder(root, "images", split)
    label_dir = root / "labels" / split_read if split_read else root / "labels"
    if not image_dir.is_dir():
        raise DatasetError(f"{root}: YOLO images folder {image_dir} is missing")
    images = list_images(image_dir)
    stems = {p.stem for p in images}
    orphans = sorted(p.name for p in label_dir.glob("*.txt") if p.stem not in stems) \
        if label_dir.is_dir() else []
    orphans = [o for o in orphans if o not in _TXT_NAMES]
    if orphans:
        raise DatasetError(f"{label_dir}: labels {orphans[:3]} have no image in {image_dir}; "
                           f"add the images or remove the labels")
    unmapped: Counter[str] = Counter()
    samples: list[Sample] = []
    clipped_total = 0
    for image in images:
        try:
            width, height = read_image_size(image)
        except ScanFormatError as exc:
            raise DatasetError(f"{root}: image {image} is unreadable ({exc})") from exc
        label = label_dir / f"{image.stem}.txt"
        if label.is_file():
            ids, xyxy = _parse_label_file(label, len(source_names), width, height)
        else:
            ids, xyxy = np.zeros(0, np.int64), np.zeros((0, 4), np.float32)
        mapped = to_class[ids]
        for source in ids[mapped < 0].tolist():
            unmapped[source_names[source]] += 1
        xyxy, clipped = check_boxes(xyxy[mapped >= 0], width, height, str(label))
        clipped_total += clipped
        samples.append(Sample(image, width, height, xyxy, mapped[mapped >= 0]))
    report = ImportReport(
        format="yolo", images=len(samples), boxes=sum(len(s.class_ids) for s in samples),
        unmapped=dict(unmapped), split=split_read, negatives=sum(len(s.class_ids) == 0 for s in samples),
        clipped_boxes=clipped_total,
    )
    return Dataset(tuple(samples), mapper.class_names, report)


__all__ = ["looks_like_yolo", "read_class_names", "read_yolo"]
