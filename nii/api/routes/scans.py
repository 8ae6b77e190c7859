"""/v1/scans: upload (idempotent by station scan id), read, image, officer decision, retry."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import Annotated

import cv2
import numpy as np
from fastapi import APIRouter, File, Form, Path, Query, Response, UploadFile
from fastapi.responses import JSONResponse

from nii.api.auth import actor
from nii.api.deps import DeciderDep, ReaderDep, RetrierDep, ServicesDep, UploaderDep
from nii.api.errors import Unprocessable, UnsupportedMediaType
from nii.api.schemas import CasePublic, DecisionIn, error_responses
from nii.api.worker import build_scan, decode_raw_channel
from nii.errors import ModelError, NotFound, ScanFormatError
from nii.matching import declaration_from_json
from nii.matching.compare import material_map
from nii.runtime.preprocess import decode_image
from nii.store import cases
from nii.store.accounts import PrincipalRecord, Role
from nii.store.cases import CaseRecord
from nii.store.states import ANALYSED
from nii.triage.pipeline import declaration_sha256

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/scans", tags=["scans"])

IMAGE_TYPES = frozenset(
    {"image/png", "image/jpeg", "image/tiff", "image/bmp", "application/octet-stream", ""}
)
CaseId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
ERRORS = error_responses(401, 403, 404, 409)


def _read_part(part: UploadFile | None, name: str) -> bytes | None:
    if part is None:
        return None
    media = (part.content_type or "").split(";")[0].strip().lower()
    if media not in IMAGE_TYPES:
        raise UnsupportedMediaType(
            f"{name}: content type {media!r} is not an image; send PNG, JPEG, TIFF or BMP (image/png ...)"
        )
    data = part.file.read()
    if not data:
        raise ScanFormatError(f"{name}: the file is empty; send the scan image")
    return data


def _visible(case: CaseRecord, principal: PrincipalRecord) -> CaseRecord:
    if principal.role is Role.STATION and case.station_id != principal.name:
        raise NotFound(f"no case {case.id!r}; case ids are returned by POST /v1/scans")
    return case


def _answer(case: CaseRecord, status: int) -> JSONResponse:
    body = CasePublic.of(case).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers={"Location": f"/v1/scans/{case.id}"})


@router.post(
    "",
    status_code=202,
    response_model=CasePublic,
    responses={
        200: {"model": CasePublic, "description": "existing case, or decided within ?wait"},
        **error_responses(401, 403, 409, 413, 415, 429, 503),
    },
)
def upload_scan(
    services: ServicesDep,
    station: UploaderDep,
    station_scan_id: Annotated[str, Form(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9._:/-]+$")],
    declaration: Annotated[str, Form(min_length=2, max_length=1_000_000, description="declaration JSON")],
    scan: Annotated[UploadFile | None, File(description="PNG, JPEG, BMP, 8/16-bit TIFF or PNG")] = None,
    low: Annotated[UploadFile | None, File(description="16-bit low-energy channel")] = None,
    high: Annotated[UploadFile | None, File(description="16-bit high-energy channel")] = None,
    wait: Annotated[float, Query(ge=0, le=120, description="seconds to wait for the decision")] = 0,
) -> JSONResponse:
    """Upload a scan with its declaration; 202 once stored durably (200 for a repeat or within ?wait)."""
    if services.detector is None:
        raise ModelError("no model is loaded, so scans cannot be analysed; nothing was stored (see /readyz)")
    services.limiter.take(station.name)
    decl = declaration_from_json(declaration, source="declaration")
    decl_json, decl_sha = decl.to_json(), declaration_sha256(decl)
    scan_bytes, low_bytes, high_bytes = (
        _read_part(scan, "scan"),
        _read_part(low, "low"),
        _read_part(high, "high"),
    )
    if (low_bytes is None) != (high_bytes is None):
        raise ScanFormatError("send both dual-energy channels 'low' and 'high', or neither")
    if scan_bytes is None:
        if high_bytes is None:
            raise ScanFormatError("no scan: send the 'scan' image file, or the 'low' and 'high' channels")
        scan_bytes = high_bytes
    shas = [None if b is None else hashlib.sha256(b).hexdigest() for b in (scan_bytes, low_bytes, high_bytes)]
    with services.db.session() as s:
        existing = cases.find_by_station_scan(s, station.name, station_scan_id)
    if existing is not None:
        cases.check_same_upload(existing, shas[0], decl_sha, shas[1], shas[2])
        return _answer(existing, 200)
    decoded = build_scan("pending", scan_bytes, shas[0], low_bytes, high_bytes, services.settings.max_pixels)
    services.pool.reserve()
    submitted = False
    try:
        for data in (scan_bytes, low_bytes, high_bytes):
            if data is not None:
                services.blobs.put(data)
        with services.db.session() as s:
            case, created = cases.create_case(
                s,
                station_id=station.name,
                station_scan_id=station_scan_id,
                scan_sha256=shas[0],
                low_sha256=shas[1],
                high_sha256=shas[2],
                declaration=decl_json,
                declaration_sha256=decl_sha,
                actor=actor(station),
            )
        if not created:
            return _answer(case, 200)
        services.pool.submit(case.id, dataclasses.replace(decoded, scan_id=case.id))
        submitted = True
    finally:
        if not submitted:
            services.pool.release()
    log.info("case %s stored for station %s scan %s", case.id, station.name, station_scan_id)
    if wait > 0:
        services.pool.wait(case.id, min(wait, services.settings.max_wait_s))
        with services.db.session() as s:
            case = cases.get_case(s, case.id)
        if case.state in ANALYSED:
            return _answer(case, 200)
    return _answer(case, 202)


@router.get("/{case_id}", response_model=CasePublic, responses=ERRORS)
def get_scan(services: ServicesDep, principal: ReaderDep, case_id: CaseId) -> CasePublic:
    """Status, detections, comparison, decision, reasons, versions and timings of one case."""
    with services.db.session() as s:
        return CasePublic.of(_visible(cases.get_case(s, case_id), principal))


def _draw(rgb: np.ndarray, case: CaseRecord) -> np.ndarray:
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    detections = list((case.result or {}).get("detections", []))
    notes = case.annotations or {}
    removed = set(notes.get("removed", []))
    relabelled = {r["index"]: r["class_name"] for r in notes.get("relabelled", [])}
    boxes = [
        (d["xyxy"], relabelled.get(i, d["class_name"]), (40, 40, 220))
        for i, d in enumerate(detections)
        if i not in removed
    ]
    boxes += [(b["xyxy"], b["class_name"], (40, 180, 40)) for b in notes.get("added", [])]
    for xyxy, name, colour in boxes:
        x1, y1, x2, y2 = (int(round(v)) for v in xyxy)
        cv2.rectangle(bgr, (x1, y1), (x2, y2), colour, 2)
        cv2.putText(bgr, name, (x1, max(y1 - 4, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
    return bgr


@router.get(
    "/{case_id}/image",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the scan as PNG"}, **ERRORS},
)
def get_image(
    services: ServicesDep,
    principal: ReaderDep,
    case_id: CaseId,
    annotated: Annotated[bool, Query(description="draw detections and officer corrections")] = False,
) -> Response:
    """The scan image as PNG, with detections drawn when annotated=true."""
    with services.db.session() as s:
        case = _visible(cases.get_case(s, case_id), principal)
    rgb = decode_image(services.blobs.get(case.scan_sha256), max_pixels=services.settings.max_pixels)
    bgr = _draw(rgb, case) if annotated else np.ascontiguousarray(rgb[..., ::-1])
    ok, png = cv2.imencode(".png", bgr)
    if not ok:
        raise ScanFormatError(f"case {case_id}: the stored scan could not be encoded as PNG")
    return Response(png.tobytes(), media_type="image/png")


# Grey level of each material code in the map's PNG: far apart, so resampling or colour handling
# cannot move a pixel into the next class (the page reads round(grey / 85)).
MATERIAL_GREY = 85


@router.get(
    "/{case_id}/materials",
    response_class=Response,
    responses={
        200: {
            "content": {"image/png": {}},
            "description": "8-bit grey PNG: 0 none, 85 organic, 170 inorganic, 255 metal",
        },
        **ERRORS,
    },
)
def get_materials(services: ServicesDep, principal: ReaderDep, case_id: CaseId) -> Response:
    """The material of each pixel from the dual-energy channels, as a grey PNG (404 without them)."""
    with services.db.session() as s:
        case = _visible(cases.get_case(s, case_id), principal)
    if case.low_sha256 is None or case.high_sha256 is None:
        raise NotFound(
            f"case {case_id} has no dual-energy channels (no 'low' and 'high' were uploaded); "
            "materials can only be told from the false-colour image"
        )
    limit = services.settings.max_pixels
    low = decode_raw_channel(services.blobs.get(case.low_sha256), "low", None, limit)
    high = decode_raw_channel(services.blobs.get(case.high_sha256), "high", low.shape, limit)
    grey = material_map(low, high, services.pool.policy.comparison) * np.uint8(MATERIAL_GREY)
    ok, png = cv2.imencode(".png", grey)
    if not ok:
        raise ScanFormatError(f"case {case_id}: the material map could not be encoded as PNG")
    return Response(png.tobytes(), media_type="image/png")


@router.post("/{case_id}/decision", response_model=CasePublic, responses=ERRORS)
def decide(services: ServicesDep, officer: DeciderDep, case_id: CaseId, body: DecisionIn) -> CasePublic:
    """Record an officer's final outcome, note and box corrections for a referred or held case."""
    with services.db.session() as s:
        case = cases.get_case(s, case_id)
        n = len((case.result or {}).get("detections", []))
        boxes = body.boxes
        if boxes is not None:
            bad = [i for i in [*boxes.removed, *(r.index for r in boxes.relabelled)] if i >= n]
            if bad:
                raise Unprocessable(
                    f"boxes refer to detections {bad} but case {case_id} has {n} (indexes 0..{n - 1})"
                )
        closed = cases.officer_decision(
            s,
            case_id,
            officer=actor(officer),
            final_outcome=body.outcome,
            note=body.note,
            annotations=None if boxes is None else boxes.model_dump(mode="json"),
        )
    services.metrics.officer_decisions.labels(str(body.outcome)).inc()
    return CasePublic.of(closed)


@router.post("/{case_id}/retry", response_model=CasePublic, status_code=202, responses=ERRORS)
def retry(services: ServicesDep, principal: RetrierDep, case_id: CaseId) -> CasePublic:
    """Analyse a failed case again."""
    with services.db.session() as s:
        case = cases.retry_case(s, case_id, actor=actor(principal))
    services.pool.submit(case.id, slot=False)
    return CasePublic.of(case)
