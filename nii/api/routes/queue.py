"""/v1/queue: the officers' worklist of referred and held cases."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from nii.api.deps import QueueReaderDep, ServicesDep
from nii.api.schemas import ClassName, QueueItem, QueuePage, error_responses
from nii.store import cases

router = APIRouter(prefix="/v1/queue", tags=["queue"])


@router.get("", response_model=QueuePage, responses=error_responses(401, 403))
def get_queue(
    services: ServicesDep,
    officer: QueueReaderDep,
    station: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    class_name: Annotated[ClassName | None, Query(alias="class")] = None,
    decision: Literal["refer", "hold"] | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> QueuePage:
    """Referred and held cases, highest risk first then oldest, filterable and paginated."""
    with services.db.session() as s:
        page = cases.officer_queue(
            s, station_id=station, class_name=class_name, decision=decision, limit=limit, offset=offset
        )
    now = datetime.now(UTC)
    items = [
        QueueItem(
            id=c.id,
            station_id=c.station_id,
            station_scan_id=c.station_scan_id,
            state=c.state,
            decision=c.outcome,
            risk_score=c.risk_score,
            detected=sorted({d["class_name"] for d in (c.result or {}).get("detections", [])}),
            reasons=[r["code"] for r in (c.result or {}).get("reasons", [])],
            age_s=round((now - c.created_at).total_seconds(), 1),
            created_at=c.created_at,
        )
        for c in page.items
    ]
    return QueuePage(items=items, total=page.total, limit=limit, offset=offset)
