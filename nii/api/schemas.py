"""API schemas (pydantic, the boundary only): request bodies and public views of store records."""

from __future__ import annotations

import math
import unicodedata
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator, model_validator

from nii.store.audit import AuditEntry
from nii.store.cases import CaseRecord
from nii.store.outbox import EVENT_TYPES, SubscriptionRecord
from nii.store.states import CaseState, FinalOutcome
from nii.types import CLASS_NAMES

ClassName = Literal[CLASS_NAMES]  # type: ignore[valid-type]
EventType = Literal[EVENT_TYPES]  # type: ignore[valid-type]
MAX_NOTE_CHARS = 2000
MAX_BOX_EDITS = 200


def _printable(value: str) -> str:
    if any(unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs") and c not in "\n\t" for c in value):
        raise ValueError("contains control or invisible characters; send plain printable text")
    return value


class FieldProblem(BaseModel):
    field: str = Field(description="where: query.limit, items[0].quantity ...")
    message: str


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable error code")
    detail: str = Field(description="what was wrong and what to do")
    errors: list[FieldProblem] | None = Field(
        default=None, description="with invalid_request: each field that did not validate"
    )


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """A route's `responses=`: each status with the error body, and 422 for request validation.

    Declaring 422 here also replaces FastAPI's default `HTTPValidationError`, which is not the shape
    nii answers with.
    """
    return {status: {"model": ErrorBody} for status in sorted({*statuses, 422})}


class Box(BaseModel):
    model_config = ConfigDict(extra="forbid")
    class_name: ClassName
    xyxy: Annotated[list[float], Field(min_length=4, max_length=4)]  # x1 y1 x2 y2, image pixels

    @field_validator("xyxy")
    @classmethod
    def _ordered(cls, v: list[float]) -> list[float]:
        if not all(math.isfinite(x) and 0 <= x <= 100_000 for x in v):
            raise ValueError("coordinates must be finite pixels in [0, 100000]")
        if v[2] <= v[0] or v[3] <= v[1]:
            raise ValueError("need x2 > x1 and y2 > y1")
        return v


class Relabel(BaseModel):
    model_config = ConfigDict(extra="forbid")
    index: Annotated[int, Field(ge=0, le=10_000)]  # index into the case's detections
    class_name: ClassName


class BoxCorrections(BaseModel):
    model_config = ConfigDict(extra="forbid")
    added: Annotated[list[Box], Field(max_length=MAX_BOX_EDITS)] = []
    removed: Annotated[list[Annotated[int, Field(ge=0, le=10_000)]], Field(max_length=MAX_BOX_EDITS)] = []
    relabelled: Annotated[list[Relabel], Field(max_length=MAX_BOX_EDITS)] = []


class DecisionIn(BaseModel):
    """An officer's final outcome for a referred or held parcel."""

    model_config = ConfigDict(extra="forbid")
    outcome: FinalOutcome
    note: Annotated[str, Field(max_length=MAX_NOTE_CHARS)] | None = None
    boxes: BoxCorrections | None = None

    @field_validator("note")
    @classmethod
    def _clean_note(cls, v: str | None) -> str | None:
        return None if v is None else _printable(v)


class CasePublic(BaseModel):
    id: str
    station_id: str
    station_scan_id: str
    state: CaseState
    decision: str | None = Field(description="automatic decision: release, refer or hold")
    risk_score: float | None
    reasons: list[dict[str, Any]]
    detections: list[dict[str, Any]]
    comparison: dict[str, Any] | None = Field(description="declared lines vs detections, findings, material")
    random_control: bool | None
    model_sha256: str | None = Field(description="sha256 of the ONNX model file")
    model_card_sha256: str | None = Field(description="sha256 of the model card's content (canonical JSON)")
    policy_version: str | None
    taxonomy_version: str | None
    scan_sha256: str
    declaration_sha256: str
    declaration: dict[str, Any]
    timings: dict[str, float] | None = Field(description="queue_ms, analysis_ms")
    final_outcome: str | None
    officer: str | None
    officer_note: str | None
    annotations: dict[str, Any] | None
    error: str | None
    attempts: int
    created_at: datetime
    analysed_at: datetime | None
    decided_at: datetime | None

    @classmethod
    def of(cls, case: CaseRecord) -> CasePublic:
        r = case.result or {}
        comparison = None
        if case.result is not None:
            comparison = {k: r.get(k) for k in ("lines", "findings", "material", "discounted")}
        return cls(
            id=case.id,
            station_id=case.station_id,
            station_scan_id=case.station_scan_id,
            state=case.state,
            decision=case.outcome,
            risk_score=case.risk_score,
            reasons=list(r.get("reasons", [])),
            detections=list(r.get("detections", [])),
            comparison=comparison,
            random_control=r.get("random_control"),
            model_sha256=case.model_sha256,
            model_card_sha256=r.get("model_card_sha256"),
            policy_version=case.policy_version,
            taxonomy_version=r.get("taxonomy_version"),
            scan_sha256=case.scan_sha256,
            declaration_sha256=case.declaration_sha256,
            declaration=case.declaration,
            timings=case.timings,
            final_outcome=case.final_outcome,
            officer=case.officer,
            officer_note=case.officer_note,
            annotations=case.annotations,
            error=case.error,
            attempts=case.attempts,
            created_at=case.created_at,
            analysed_at=case.analysed_at,
            decided_at=case.decided_at,
        )


class QueueItem(BaseModel):
    id: str
    station_id: str
    station_scan_id: str
    state: CaseState
    decision: str | None
    risk_score: float | None
    detected: list[str]
    reasons: list[str]
    age_s: float
    created_at: datetime


class QueuePage(BaseModel):
    items: list[QueueItem]
    total: int
    limit: int
    offset: int


class AuditRecordOut(BaseModel):
    seq: int
    at: str
    actor: str
    action: str
    case_id: str | None
    payload: dict[str, Any]
    hash: str

    @classmethod
    def of(cls, e: AuditEntry) -> AuditRecordOut:
        return cls(**e.to_json())


class AuditPage(BaseModel):
    records: list[AuditRecordOut]
    next_after_seq: int | None = Field(description="pass as after_seq for the next page; null at the end")


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    url: AnyHttpUrl
    event_types: Annotated[list[EventType], Field(max_length=len(EVENT_TYPES))] = []

    @model_validator(mode="after")
    def _url_length(self) -> SubscriptionIn:
        if len(str(self.url)) > 2000:
            raise ValueError("url is longer than 2000 characters")
        return self


class SubscriptionOut(BaseModel):
    id: str
    name: str
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, s: SubscriptionRecord) -> SubscriptionOut:
        return cls(
            id=s.id,
            name=s.name,
            url=s.url,
            event_types=list(s.event_types),
            active=s.active,
            created_at=s.created_at,
        )


class SubscriptionCreated(SubscriptionOut):
    signing_key: str = Field(description="HMAC-SHA256 key for X-Nii-Signature; shown only now")


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    checks: dict[str, str] = {}
