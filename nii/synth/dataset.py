"""`nii synth`: write a COCO detection dataset of synthetic parcels with their declarations.

Layout of DIR:
    annotations.json     COCO detection (tight boxes of every detector-class object)
    images/pNNNNNN.png   false-colour RGB scans
    raw/pNNNNNN_low.png, raw/pNNNNNN_high.png   16-bit detector readings (65535 = air)
    declarations.jsonl   one line per scan: file name, declaration, ground truth, scanner

Parcel i depends only on (seed, i), so any number of workers writes byte-identical files. The
annotation and declaration files are written under temporary names and renamed at the very end:
an interrupted run leaves no half-written annotations file.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import multiprocessing
import os
import time
from dataclasses import dataclass
from pathlib import Path

import cv2

from nii import __version__
from nii.errors import UsageError
from nii.types import CLASS_NAMES

log = logging.getLogger(__name__)

ANNOTATIONS = "annotations.json"
# Revision of what the scans look like: bump it whenever rendering changes, so that a model card
# (which copies it from its training folder) tells which generator its data came from.
# 2: hollow pistol slide, revolver, bag piping, zips and handles, suitcase rims and tubes, box fill.
# 6 (3-5 were branches, docs/experiments.md): rectangular trolley tubes, also in soft bags; luggage
# carries personal items (cutlery, pens, umbrellas, chains, cable coils, circuit boards).
# 7: small dense hardware the size of a cartridge: zip sliders and pullers, press studs, snap hooks,
# loose screws and nails; wheeled soft bags packed square (their tubes stuck out of renderer 6's ovals).
RENDERER = 7
DECLARATIONS = "declarations.jsonl"
_MIN_BOX_PX = 2.0  # boxes thinner than this (an object seen edge-on at the border) are dropped
_PNG = [
    cv2.IMWRITE_PNG_COMPRESSION,
    1,
]  # fast: the raw channels are noise-dominated and compress little anyway
# Supercategory of each class in the COCO file (the taxonomy group of DESIGN.md).
GROUPS = {
    "gun": "prohibited",
    "bullet": "prohibited",
    "knife": "prohibited",
    "scissors": "restricted",
    "wrench": "tool",
    "pliers": "tool",
    "hammer": "tool",
    "lighter": "dangerous_goods",
    "aerosol": "dangerous_goods",
    "battery": "dangerous_goods",
    "powerbank": "dangerous_goods",
    "phone": "dutiable",
    "laptop": "dutiable",
    "bottle": "dutiable",
    "cigarettes": "excise",
}


@dataclass(frozen=True, slots=True)
class SynthSpec:
    """What to generate. Sizes in pixels: the scan height is fixed, its length varies about width."""

    count: int
    seed: int = 0
    width: int = 800
    height: int = 600
    write_raw: bool = True
    threat_share: float = 0.85  # share of parcels holding at least one detector-class object

    def __post_init__(self) -> None:
        if not 1 <= self.count <= 10_000_000:
            raise UsageError(f"--count must be within 1..10000000, got {self.count}")
        if not 0 <= self.seed < 2**63:
            raise UsageError(f"--seed must be within [0, 2**63), got {self.seed}")
        if not (128 <= self.width <= 8192 and 128 <= self.height <= 8192):
            raise UsageError(
                f"--size must be within 128..8192 pixels per side, got {self.width}x{self.height}"
            )
        if not 0.0 <= self.threat_share <= 1.0:
            raise UsageError(f"--threats must be a share within 0..1, got {self.threat_share}")


@dataclass(frozen=True, slots=True)
class SynthSummary:
    images: int
    boxes: int
    seconds: float


def file_stem(index: int) -> str:
    return f"p{index:06d}"


def _prepare(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise UsageError(f"output {out} exists and is not a folder: choose a new folder")
    if out.is_dir() and any(out.iterdir()):
        raise UsageError(f"output folder {out} is not empty: choose a new or empty folder")
    try:
        (out / "images").mkdir(parents=True, exist_ok=True)
        (out / "raw").mkdir(exist_ok=True)
        probe = out / ".write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise UsageError(f"cannot write to output folder {out}: {exc.strerror or exc}") from exc


def _init_worker() -> None:
    # One thread per worker: the workers are the parallelism; nested BLAS threads only contend.
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    cv2.setNumThreads(1)


def _render_one(job: tuple[SynthSpec, str, int]) -> dict:
    """Generate parcel `index`, write its image files, return its annotation record."""
    from nii.synth.parcel import generate_parcel

    spec, out, index = job
    parcel = generate_parcel(spec.seed, index, spec.width, spec.height, spec.threat_share)
    stem = file_stem(index)
    root = Path(out)
    if not cv2.imwrite(str(root / "images" / f"{stem}.png"), parcel.rgb[..., ::-1], _PNG):
        raise OSError(f"could not write {root / 'images' / stem}.png")
    if spec.write_raw:
        cv2.imwrite(str(root / "raw" / f"{stem}_low.png"), parcel.low, _PNG)
        cv2.imwrite(str(root / "raw" / f"{stem}_high.png"), parcel.high, _PNG)
    boxes = [
        {"class_name": b.class_name, "xyxy": [round(v, 2) for v in b.xyxy], "concealed": b.concealed,
         "contrast": b.contrast}
        for b in parcel.boxes
        if b.xyxy[2] - b.xyxy[0] >= _MIN_BOX_PX and b.xyxy[3] - b.xyxy[1] >= _MIN_BOX_PX
    ]
    return {
        "index": index,
        "file_name": f"{stem}.png",
        "width": int(parcel.rgb.shape[1]),
        "height": int(parcel.rgb.shape[0]),
        "boxes": boxes,
        "declaration": parcel.declaration.to_json(),
        "ground_truth": {
            "labels": list(parcel.labels),
            "contents": [dataclasses.asdict(c) for c in parcel.contents],
        },
        "scanner": parcel.scanner,
    }


def _coco(spec: SynthSpec, records: list[dict]) -> dict:
    images, annotations = [], []
    for rec in records:
        image_id = rec["index"] + 1
        images.append(
            {"id": image_id, "file_name": rec["file_name"], "width": rec["width"], "height": rec["height"]}
        )
        for box in rec["boxes"]:
            x1, y1, x2, y2 = box["xyxy"]
            w, h = round(x2 - x1, 2), round(y2 - y1, 2)
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": image_id,
                    "category_id": CLASS_NAMES.index(box["class_name"]) + 1,
                    "bbox": [x1, y1, w, h],
                    "area": round(w * h, 2),
                    "iscrowd": 0,
                    "attributes": {"concealed": box["concealed"], "contrast": box["contrast"]},
                }
            )
    return {
        "info": {
            "description": "nii synthetic dual-energy X-ray parcels",
            "version": __version__,
            "renderer": RENDERER,
            "seed": spec.seed,
            "count": spec.count,
            "size": [spec.width, spec.height],
            "threat_share": spec.threat_share,
        },
        "licenses": [],
        "categories": [
            {"id": i + 1, "name": n, "supercategory": GROUPS[n]} for i, n in enumerate(CLASS_NAMES)
        ],
        "images": images,
        "annotations": annotations,
    }


def write_dataset(spec: SynthSpec, out: Path, *, workers: int = 1, progress: bool = False) -> SynthSummary:
    """Generate spec.count parcels into `out` (new or empty folder) with `workers` processes."""
    from tqdm import tqdm

    if workers < 1:
        raise UsageError(f"--workers must be >= 1, got {workers}")
    _prepare(out)
    start = time.perf_counter()
    jobs = [(spec, str(out), i) for i in range(spec.count)]
    records: list[dict] = []
    partial = out / (DECLARATIONS + ".partial")
    bar = tqdm(total=spec.count, unit="parcel", disable=not progress, desc="synth")
    tmp = out / (ANNOTATIONS + ".partial")
    try:
        with partial.open("w", encoding="utf-8") as decl:

            def collect(rec: dict) -> None:
                records.append(rec)
                line = {
                    "file_name": rec["file_name"],
                    "declaration": rec["declaration"],
                    "ground_truth": rec["ground_truth"],
                    "scanner": rec["scanner"],
                }
                decl.write(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n")
                bar.update(1)

            if workers == 1:
                _init_worker()
                for job in jobs:
                    collect(_render_one(job))
            else:
                ctx = multiprocessing.get_context("spawn")
                with ctx.Pool(workers, initializer=_init_worker) as pool:
                    for rec in pool.imap(_render_one, jobs, chunksize=4):
                        collect(rec)
        coco = _coco(spec, records)
        tmp.write_text(json.dumps(coco, separators=(",", ":")), encoding="utf-8")
        os.replace(partial, out / DECLARATIONS)
        os.replace(tmp, out / ANNOTATIONS)
    except BaseException:
        # Interrupted or failed: leave the images, but no annotation file that could pass for complete.
        partial.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    seconds = time.perf_counter() - start
    log.info(
        "wrote %d parcels with %d boxes to %s in %.1f s", spec.count, len(coco["annotations"]), out, seconds
    )
    return SynthSummary(images=spec.count, boxes=len(coco["annotations"]), seconds=seconds)
