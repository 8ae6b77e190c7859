"""Fixtures of the detector tests: a tiny hand-made COCO dataset (white background, coloured shapes)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from nii.types import CLASS_NAMES


def write_tiny_coco(root: Path, count: int, seed: int, size: tuple[int, int] = (200, 150)) -> Path:
    """Write `count` images with 1-3 filled shapes each (class = colour), as `nii synth` lays COCO out."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    colours = [(200, 120, 40), (40, 160, 60), (50, 80, 200)]  # gun, bullet, knife
    images, annotations = [], []
    w, h = size
    for i in range(count):
        img = np.full((h, w, 3), 255, np.uint8)
        for _ in range(int(rng.integers(1, 4))):
            c = int(rng.integers(0, 3))
            bw, bh = int(rng.integers(16, 70)), int(rng.integers(16, 60))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cv2.rectangle(img, (x, y), (x + bw - 1, y + bh - 1), colours[c][::-1], -1)
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": c + 1,
                                "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0})
        name = f"{i:04d}.png"
        cv2.imwrite(str(root / "images" / name), img)
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
    categories = [{"id": k + 1, "name": n} for k, n in enumerate(CLASS_NAMES)]
    (root / "annotations.json").write_text(json.dumps(
        {"images": images, "annotations": annotations, "categories": categories}))
    return root


@pytest.fixture(scope="session")
def make_tiny_coco() -> Callable[[Path, int, int], Path]:
    """The `write_tiny_coco` factory (root, count, seed) -> root."""
    return write_tiny_coco
