"""The case repository: every state change goes through `_move` (the transitions table), writes its
audit record and, where clearance systems care, its outbox events, all in the caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from nii.errors import Conflict, NotFound
from nii.store import audit
from nii.store.models import Case, utcnow
from nii.store.outbox import enqueue_event
from nii.store.states import AWAITING_OFFICER, UNFINISHED, CaseState, FinalOutcome, check_transition

SYSTEM_ACTOR = "system"
_OUTCOME_STATE = {  # the automatic decision -> the state it puts a case in
    "release": CaseState.RELEASED,
    "refer": CaseState.REFERRED,
    "hold": CaseState.HELD,
}


@dataclass(frozen=True, slots=True)
class CaseRecord:
    """A case as read from the store."""

    id: str
    station_id: str
    station_scan_id: str
    state: CaseState
    scan_sha256: str
    low_sha256: str | None
    high_sha256: str | None
    declaration: dict[str, Any]
    declaration_sha256: str
    outcome: str | None
    risk_score: float | None
    result: dict[str, Any] | None
    model_sha256: str | None
    policy_version: str | None
    final_outcome: str | None
    officer: str | None
    officer_note: str | None
    annotations: dict[str, Any] | None
    error: str | None
    attempts: int
    timings: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
    analysed_at: datetime | None
    decided_at: datetime | None


def _record(row: Case) -> CaseRecord:
    return CaseRecord(
        id=row.id,
        station_id=row.station_id,
        station_scan_id=row.station_scan_id,
        state=CaseState(row.state),
        scan_sha256=row.scan_sha256,
        low_sha256=row.low_sha256,
        high_sha256=row.high_sha256,
        declaration=row.declaration,
        declaration_sha256=row.declaration_sha256,
        outcome=row.outcome,
        risk_score=row.risk_score,
        result=row.result,
        model_sha256=row.model_sha256,
        policy_version=row.policy_version,
        final_outcome=row.final_outcome,
        officer=row.officer,
        officer_note=row.officer_note,
        annotations=row.annotations,
        error=row.error,
        attempts=row.attempts,
        timings=row.timings,
        created_at=row.created_at,
        updated_at=row.updated_at,
        analysed_at=row.analysed_at,
        decided_at=row.decided_at,
    )


def _row(session: Session, case_id: str, *, lock: bool = False) -> Case:
    row = session.get(Case, case_id, with_for_update=lock)
    if row is None:
        raise NotFound(f"no case {case_id!r}; case ids are returned by POST /v1/scans")
    return row


def _move(row: Case, target: CaseState) -> None:
    check_transition(row.id, CaseState(row.state), target)
    row.state = target.value
    row.updated_at = utcnow()


def get_case(session: Session, case_id: str) -> CaseRecord:
    return _record(_row(session, case_id))


def find_by_station_scan(session: Session, station_id: str, station_scan_id: str) -> CaseRecord | None:
    row = session.scalar(
        select(Case).where(Case.station_id == station_id, Case.station_scan_id == station_scan_id)
    )
    return None if row is None else _record(row)


def check_same_upload(
    existing: CaseRecord, scan_sha256: str, declaration_sha256: str, low: str | None, high: str | None
) -> None:
    if (existing.scan_sha256, existing.declaration_sha256, existing.low_sha256, existing.high_sha256) != (
        scan_sha256,
        declaration_sha256,
        low,
        high,
    ):
        raise Conflict(
            f"station scan id {existing.station_scan_id!r} was already used for case {existing.id} with a "
            "different scan or declaration; send a new station scan id for a new parcel"
        )


def create_case(
    session: Session,
    *,
    station_id: str,
    station_scan_id: str,
    scan_sha256: str,
    declaration: dict[str, Any],
    declaration_sha256: str,
    low_sha256: str | None = None,
    high_sha256: str | None = None,
    actor: str,
) -> tuple[CaseRecord, bool]:
    """A new case in state `received`, or the existing one for this (station, station scan id).

    Returns (case, created). The same key with other content is a `Conflict`, never a second case.
    """
    existing = find_by_station_scan(session, station_id, station_scan_id)
    if existing is not None:
        check_same_upload(existing, scan_sha256, declaration_sha256, low_sha256, high_sha256)
        return existing, False
    now = utcnow()
    row = Case(
        id=f"case_{uuid.uuid4().hex[:24]}",
        station_id=station_id,
        station_scan_id=station_scan_id,
        state=CaseState.RECEIVED.value,
        scan_sha256=scan_sha256,
        low_sha256=low_sha256,
        high_sha256=high_sha256,
        declaration=declaration,
        declaration_sha256=declaration_sha256,
        detected_classes="",
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:  # a concurrent upload with the same key won the race
        existing = find_by_station_scan(session, station_id, station_scan_id)
        if existing is None:
            raise
        check_same_upload(existing, scan_sha256, declaration_sha256, low_sha256, high_sha256)
        return existing, False
    audit.append(
        session,
        actor=actor,
        action="scan.received",
        case_id=row.id,
        payload={
            "station_id": station_id,
            "station_scan_id": station_scan_id,
            "scan_sha256": scan_sha256,
            "low_sha256": low_sha256,
            "high_sha256": high_sha256,
            "declaration_sha256": declaration_sha256,
        },
    )
    return _record(row), True


def start_processing(session: Session, case_id: str) -> CaseRecord:
    row = _row(session, case_id, lock=True)
    _move(row, CaseState.PROCESSING)
    row.attempts += 1
    session.flush()
    return _record(row)


def record_analysis(
    session: Session, case_id: str, *, decision: dict[str, Any], timings: dict[str, float]
) -> CaseRecord:
    """processing -> released / referred / held, with the decision JSON (`Decision.to_json()`)."""
    row = _row(session, case_id, lock=True)
    outcome = decision["decision"]
    _move(row, _OUTCOME_STATE[outcome])
    classes = sorted({d["class_name"] for d in decision.get("detections", [])})
    row.outcome = outcome
    row.risk_score = float(decision["risk_score"])
    row.result = decision
    row.detected_classes = "," + ",".join(classes) + "," if classes else ""
    row.model_sha256 = decision["model_sha256"]
    row.policy_version = decision["policy_version"]
    row.timings = timings
    row.analysed_at = utcnow()
    row.error = None
    summary = {
        "decision": outcome,
        "risk_score": row.risk_score,
        "reasons": [r["code"] for r in decision.get("reasons", [])],
        "detected": classes,
        "model_sha256": row.model_sha256,
        "model_card_sha256": decision.get("model_card_sha256"),
        "policy_version": row.policy_version,
        "taxonomy_version": decision.get("taxonomy_version"),
        "scan_sha256": row.scan_sha256,
        "declaration_sha256": row.declaration_sha256,
        "timings": timings,
    }
    audit.append(session, actor=SYSTEM_ACTOR, action="case.analysed", case_id=case_id, payload=summary)
    enqueue_event(
        session,
        "org.nii.case.analysed",
        case_id,
        {"case_id": case_id, "station_id": row.station_id, "station_scan_id": row.station_scan_id, **summary},
    )
    session.flush()
    return _record(row)


def record_failure(session: Session, case_id: str, *, error: str) -> CaseRecord:
    row = _row(session, case_id, lock=True)
    _move(row, CaseState.FAILED)
    row.error = error[:2000]
    audit.append(
        session, actor=SYSTEM_ACTOR, action="case.failed", case_id=case_id, payload={"error": row.error}
    )
    enqueue_event(session, "org.nii.case.failed", case_id, {"case_id": case_id, "error": row.error})
    session.flush()
    return _record(row)


def retry_case(session: Session, case_id: str, *, actor: str) -> CaseRecord:
    """failed -> received (to be analysed again)."""
    row = _row(session, case_id, lock=True)
    _move(row, CaseState.RECEIVED)
    audit.append(session, actor=actor, action="case.retried", case_id=case_id, payload={})
    session.flush()
    return _record(row)


def recover_unfinished(session: Session) -> list[str]:
    """Cases left received or processing (e.g. by a crash): processing goes back to received.

    Returns every unfinished case id, oldest first, for the worker pool to analyse again.
    """
    rows = list(
        session.scalars(
            select(Case).where(Case.state.in_([s.value for s in UNFINISHED])).order_by(Case.created_at)
        )
    )
    for row in rows:
        if row.state == CaseState.PROCESSING:
            _move(row, CaseState.RECEIVED)
            audit.append(
                session,
                actor=SYSTEM_ACTOR,
                action="case.recovered",
                case_id=row.id,
                payload={"attempts": row.attempts},
            )
    session.flush()
    return [row.id for row in rows]


def officer_decision(
    session: Session,
    case_id: str,
    *,
    officer: str,
    final_outcome: FinalOutcome,
    note: str | None,
    annotations: dict[str, Any] | None,
) -> CaseRecord:
    """referred / held -> closed with the officer's outcome, note and box corrections."""
    row = _row(session, case_id, lock=True)
    _move(row, CaseState.CLOSED)
    row.final_outcome = final_outcome.value
    row.officer = officer
    row.officer_note = note
    row.annotations = annotations
    row.decided_at = utcnow()
    payload = {
        "final_outcome": final_outcome.value,
        "note": note,
        "annotations": annotations,
        "automatic_decision": row.outcome,
    }
    audit.append(session, actor=officer, action="case.decided", case_id=case_id, payload=payload)
    enqueue_event(
        session,
        "org.nii.case.closed",
        case_id,
        {
            "case_id": case_id,
            "station_id": row.station_id,
            "station_scan_id": row.station_scan_id,
            "officer": officer,
            **payload,
        },
    )
    session.flush()
    return _record(row)


@dataclass(frozen=True, slots=True)
class QueuePage:
    items: tuple[CaseRecord, ...]
    total: int


def officer_queue(
    session: Session,
    *,
    station_id: str | None = None,
    class_name: str | None = None,
    decision: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> QueuePage:
    """Referred and held cases, highest risk first, then oldest first."""
    where = [Case.state.in_([s.value for s in AWAITING_OFFICER])]
    if station_id is not None:
        where.append(Case.station_id == station_id)
    if class_name is not None:
        where.append(Case.detected_classes.contains(f",{class_name},", autoescape=True))
    if decision is not None:
        where.append(Case.outcome == decision)
    total = session.scalar(select(func.count()).select_from(Case).where(*where)) or 0
    rows = session.scalars(
        select(Case)
        .where(*where)
        .order_by(Case.risk_score.desc(), Case.created_at, Case.id)
        .limit(limit)
        .offset(offset)
    )
    return QueuePage(tuple(_record(r) for r in rows), int(total))


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Case.state, func.count()).group_by(Case.state))
    return {state: int(n) for state, n in rows}
