"""/v1/audit: the audit records of a case or a period."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from nii.api.deps import AuditorDep, ServicesDep
from nii.api.schemas import AuditPage, AuditRecordOut, error_responses
from nii.errors import UsageError
from nii.store import audit

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get(
    "",
    response_model=AuditPage,
    responses=error_responses(400, 401, 403),
)
def get_audit(
    services: ServicesDep,
    auditor: AuditorDep,
    case_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: Annotated[int, Query(ge=0, le=2**62)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AuditPage:
    """Audit records of a case and/or a period (since inclusive, until exclusive), oldest first."""
    since, until = _utc("since", since), _utc("until", until)
    with services.db.session() as s:
        entries = audit.records(
            s, case_id=case_id, since=since, until=until, after_seq=after_seq, limit=limit
        )
    records = [AuditRecordOut.of(e) for e in entries]
    return AuditPage(records=records, next_after_seq=records[-1].seq if len(records) == limit else None)


def _utc(name: str, value: datetime | None) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise UsageError(f"{name}: give a time zone, e.g. 2026-01-31T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError as exc:  # 9999-12-31T23:00-05:00 is past year 9999 in UTC
        raise UsageError(f"{name}: {value.isoformat()} falls outside the years 1-9999 in UTC") from exc
