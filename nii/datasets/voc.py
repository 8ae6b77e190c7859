"""Pascal VOC XML reader: one `<stem>.xml` per image with `<size>` and `<object><name><bndbox>`.

Layouts: `labels/{split}/*.xml` + `images/{split}/` (SIXray subset), `Annotations/*.xml` +
`JPEGImages/` or `images/[split/]` with optional `ImageSets/Main/{split}.txt`, or `annotations/*.xml`.
The image is `<stem>.<jpg|png|...>` beside the annotation's image folder, else the XML `<filename>`.
Coordinates are read as pixels as written (no 1-based shift).
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import numpy as np

from nii.datasets import Dataset, ImportReport, Sample, check_boxes, find_image, list_images
from nii.datasets.classmap import ClassMapper
from nii.errors import DatasetError, ScanFormatError
from nii.runtime.preprocess import read_image_size

log = logging.getLogger(__name__)

_ANNOTATION_DIRS = ("labels", "Annotations", "annotations")
_SPLITS = ("train", "val", "valid", "test")


def _annotation_dir(root: Path) -> Path | None:
    for name in _ANNOTATION_DIRS:
        folder = root / name
        if not folder.is_dir():
            continue
        folders = [folder, *(p for p in folder.iterdir() if p.is_dir() and p.name in _SPLITS)]
        if any(next(f.glob("*.xml"), None) is not None for f in folders):
            return folder
    return None


def looks_like_voc(root: Path, split: str | None) -> bool:
    return _annotation_dir(root) is not None


def _layout(root: Path, split: str | None) -> tuple[list[Path], Path, str | None]:
    """(XML files, image folder, split read)."""
    ann_dir = _annotation_dir(root)
    assert ann_dir is not None  # looks_like_voc was checked by the caller
    split_dirs = sorted(p.name for p in ann_dir.iterdir() if p.is_dir() and p.name in _SPLITS)
    image_root = next((root / n for n in ("images", "JPEGImages") if (root / n).is_dir()), root / "images")
    if split_dirs:
        if split is None or split not in split_dirs:
            wanted = "choose one with --split" if split is None else f"no split {split!r}"
            raise DatasetError(f"{ann_dir} has split folders {split_dirs}; {wanted}")
        image_dir = image_root / split if (image_root / split).is_dir() else image_root
        return sorted((ann_dir / split).glob("*.xml")), image_dir, split
    listing = root / "ImageSets" / "Main" / f"{split}.txt"
    if split is not None and listing.is_file():
        try:
            lines = listing.read_text(encoding="utf-8").splitlines()
            ids = [line.split()[0] for line in lines if line.strip()]
        except OSError as exc:
            raise DatasetError(f"cannot read split list {listing}: {exc.strerror or exc}") from exc
        missing = [i for i in ids if not (ann_dir / f"{i}.xml").is_file()]
        if missing:
            raise DatasetError(f"{listing} lists {missing[:3]} with no XML in {ann_dir}")
        return [ann_dir / f"{i}.xml" for i in ids], image_root, split
    if split is not None and (image_root / split).is_dir():
        stems = {p.stem for p in list_images(image_root / split)}
        xmls = [p for p in sorted(ann_dir.glob("*.xml")) if p.stem in stems]
        return xmls, image_root / split, split
    if split is not None:
        log.info("%s has no split %r (no split folder or ImageSets list); reading all of it", root, split)
    return sorted(ann_dir.glob("*.xml")), image_root, None


def _parse(path: Path) -> tuple[str | None, int, int, list[tuple[str, list[float]]]]:
    """(<filename>, width, height, [(name, [xmin, ymin, xmax, ymax])]) of one VOC XML."""
    try:
        tree = ET.parse(path)
    except (OSError, ET.ParseError) as exc:
        raise DatasetError(f"cannot read VOC annotation {path} ({exc}); fix or remove it") from exc
    node = tree.getroot()
    try:
        width = int(float(node.findtext("size/width") or 0))
        height = int(float(node.findtext("size/height") or 0))
        objects = []
        for obj in node.iter("object"):
            name = (obj.findtext("name") or "").strip()
            box = obj.find("bndbox")
            if box is None or not name:
                raise ValueError("object without name or bndbox")
            coords = [float(box.findtext(k) or "nan") for k in ("xmin", "ymin", "xmax", "ymax")]
            objects.append((name, coords))
    except ValueError as exc:
        raise DatasetError(f"VOC annotation {path} is malformed ({exc}); each object needs a name "
                           f"and bndbox xmin ymin xmax ymax") from exc
    return node.findtext("filename"), width, height, objects


def read_voc(root: Path, mapper: ClassMapper, *, split: str | None) -> Dataset:
    xmls, image_dir, split_read = _layout(root, split)
    unmapped: Counter[str] = Counter()
    class_of: dict[str, int | None] = {}
    samples: list[Sample] = []
    clipped_total = 0
    for xml in xmls:
        file_name, width, height, objects = _parse(xml)
        image = find_image(image_dir, xml.stem)
        if image is None and file_name and (image_dir / file_name).is_file():
            image = image_dir / file_name
        if image is None:
            raise DatasetError(f"{xml}: its image ({xml.stem}.jpg/png or {file_name!r}) is missing from "
                               f"{image_dir}; add the image or remove the annotation")
        if width <= 0 or height <= 0:
            try:
                width, height = read_image_size(image)
            except ScanFormatError as exc:
                raise DatasetError(f"{xml}: image {image} is unreadable ({exc})") from exc
        ids: list[int] = []
        boxes: list[list[float]] = []
        for name, box in objects:
            if name not in class_of:
                class_of[name] = mapper.resolve(name)
            cls = class_of[name]
            if cls is None:
                unmapped[name] += 1
                continue
            ids.append(cls)
            boxes.append(box)
        xyxy, clipped = check_boxes(np.asarray(boxes, dtype=np.float32), width, height, str(xml))
        clipped_total += clipped
        samples.append(Sample(image, width, height, xyxy, np.asarray(ids, dtype=np.int64)))
    used = {s.image_path.name for s in samples}
    skipped = sum(p.name not in used for p in list_images(image_dir)) if image_dir.is_dir() else 0
    report = ImportReport(
        format="voc", images=len(samples), boxes=sum(len(s.class_ids) for s in samples),
        unmapped=dict(unmapped), split=split_read, negatives=sum(len(s.class_ids) == 0 for s in samples),
        clipped_boxes=clipped_total, skipped_images=skipped,
    )
    return Dataset(tuple(samples), mapper.class_names, report)
