"""/v1/me and /v1/scans/{id}/audit: what the officer review page needs besides the queue and scans."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import BaseModel

from nii.api.auth import PERMISSIONS, Permission
from nii.api.deps import PrincipalDep, ServicesDep
from nii.api.schemas import AuditPage, AuditRecordOut, ErrorBody, error_responses
from nii.errors import PermissionDenied
from nii.store import audit, cases

router = APIRouter(prefix="/v1", tags=["review"])
CaseId = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
MAX_CASE_RECORDS = 1000


class Me(BaseModel):
    name: str
    role: str
    permissions: list[str]


@router.get("/me", response_model=Me, responses={401: {"model": ErrorBody}})
def me(principal: PrincipalDep) -> Me:
    """The caller's name, role and permissions."""
    return Me(
        name=principal.name,
        role=str(principal.role),
        permissions=sorted(str(p) for p in PERMISSIONS[principal.role]),
    )


@router.get(
    "/scans/{case_id}/audit",
    response_model=AuditPage,
    responses=error_responses(401, 403, 404),
)
def case_audit(services: ServicesDep, principal: PrincipalDep, case_id: CaseId) -> AuditPage:
    """The audit records of one case, oldest first (for those who decide cases or read the audit)."""
    perms = PERMISSIONS[principal.role]
    if Permission.QUEUE_READ not in perms and Permission.AUDIT_READ not in perms:
        raise PermissionDenied(
            f"{principal.name} ({principal.role}) may not read a case's audit; this needs the role "
            "officer, supervisor or admin"
        )
    with services.db.session() as s:
        cases.get_case(s, case_id)  # 404 for an unknown case
        entries = audit.records(s, case_id=case_id, limit=MAX_CASE_RECORDS)
    records = [AuditRecordOut.of(e) for e in entries]
    more = len(records) == MAX_CASE_RECORDS  # the rest: GET /v1/audit?case_id=...&after_seq=
    return AuditPage(records=records, next_after_seq=records[-1].seq if more else None)
