"""Officer annotations -> a COCO dataset for retraining (`nii export-annotations --out DIR`).

Each case an officer closed becomes one image: the detector's boxes as the officer left them
(deleted ones dropped, relabelled ones renamed) plus the boxes the officer drew. A case closed
without corrections counts as the officer confirming the boxes shown. Layout written:

    DIR/annotations.json   COCO; bbox = [x, y, w, h] pixels; category id = class index + 1
    DIR/images/<case id>.<png|jpg|tif|bmp>   the scan bytes as uploaded
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nii.errors import DatasetError, NotFound, StoreError
from nii.store.blobs import BlobStore
from nii.store.models import Case
from nii.store.states import CaseState
from nii.types import CLASS_NAMES

log = logging.getLogger(__name__)

_MAGIC = ((b"\x89PNG", "png"), (b"\xff\xd8", "jpg"), (b"II*\x00", "tif"), (b"MM\x00*", "tif"), (b"BM", "bmp"))


@dataclass(frozen=True, slots=True)
class ExportReport:
    images: int
    boxes: int
    corrected_images: int  # images whose boxes an officer changed
    skipped: tuple[str, ...]  # case ids left out, with why


def officer_boxes(
    result: dict[str, Any] | None, annotations: dict[str, Any] | None
) -> list[tuple[str, list[float]]]:
    """(class_name, xyxy) as the officer left a case: detections minus removed, relabelled, plus added."""
    detections = list((result or {}).get("detections", []))
    notes = annotations or {}
    removed = {int(i) for i in notes.get("removed", [])}
    relabelled = {int(r["index"]): str(r["class_name"]) for r in notes.get("relabelled", [])}
    boxes = [
        (relabelled.get(i, str(d["class_name"])), [float(v) for v in d["xyxy"]])
        for i, d in enumerate(detections)
        if i not in removed
    ]
    boxes += [(str(b["class_name"]), [float(v) for v in b["xyxy"]]) for b in notes.get("added", [])]
    return boxes


def _suffix(data: bytes) -> str:
    return next((ext for magic, ext in _MAGIC if data.startswith(magic)), "png")


def _size(data: bytes, case_id: str) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise DatasetError(f"case {case_id}: the stored scan cannot be decoded")
    return int(image.shape[1]), int(image.shape[0])


def export_annotations(
    session: Session,
    blobs: BlobStore,
    out: Path,
    *,
    since: datetime | None = None,
    corrected_only: bool = False,
) -> ExportReport:
    """Write the closed cases (decided at or after `since`) as a COCO dataset under `out`."""
    out = Path(out)
    query = select(Case).where(Case.state == CaseState.CLOSED.value).order_by(Case.decided_at, Case.id)
    if since is not None:
        query = query.where(Case.decided_at >= since)
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    skipped: list[str] = []
    corrected = 0
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatasetError(f"cannot create {out / 'images'}: {exc.strerror or exc}") from exc
    for row in session.scalars(query):
        notes = row.annotations or {}
        changed = any(notes.get(k) for k in ("added", "removed", "relabelled"))
        if row.result is None:
            skipped.append(f"{row.id} (never analysed)")
            continue
        if corrected_only and not changed:
            continue
        try:
            data = blobs.get(row.scan_sha256)
        except (NotFound, StoreError) as exc:
            skipped.append(f"{row.id} ({exc})")
            continue
        width, height = _size(data, row.id)
        file_name = f"images/{row.id}.{_suffix(data)}"
        try:
            (out / file_name).write_bytes(data)
        except OSError as exc:
            raise DatasetError(f"cannot write {out / file_name}: {exc.strerror or exc}") from exc
        image_id = len(images) + 1
        images.append(
            {
                "id": image_id,
                "file_name": file_name,
                "width": width,
                "height": height,
                "nii_case_id": row.id,
                "nii_officer": row.officer,
                "nii_final_outcome": row.final_outcome,
                "nii_corrected": changed,
            }
        )
        corrected += changed
        for class_name, (x1, y1, x2, y2) in officer_boxes(row.result, row.annotations):
            if class_name not in CLASS_NAMES:
                skipped.append(f"{row.id} box of unknown class {class_name!r}")
                continue
            x1, x2 = max(0.0, min(x1, width)), max(0.0, min(x2, width))
            y1, y2 = max(0.0, min(y1, height)), max(0.0, min(y2, height))
            if x2 - x1 < 1 or y2 - y1 < 1:
                skipped.append(f"{row.id} box outside the image")
                continue
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": CLASS_NAMES.index(class_name) + 1,
                    "bbox": [round(x1, 2), round(y1, 2), w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                }
            )
    coco = {
        "info": {"description": "nii officer annotations", "version": "1"},
        "images": images,
        "annotations": annotations,
        "categories": [{"id": i + 1, "name": name} for i, name in enumerate(CLASS_NAMES)],
    }
    try:
        (out / "annotations.json").write_text(json.dumps(coco, indent=1), encoding="utf-8")
    except OSError as exc:
        raise DatasetError(f"cannot write {out / 'annotations.json'}: {exc.strerror or exc}") from exc
    log.info("exported %d images, %d boxes to %s", len(images), len(annotations), out)
    return ExportReport(len(images), len(annotations), corrected, tuple(skipped))
