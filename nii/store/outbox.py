"""Webhook subscriptions and the outbox: events are written in the transaction of the state change.

Each event becomes one outbox row per matching subscription, holding the CloudEvents 1.0 JSON body
exactly as it will be sent; the row id is the CloudEvents `id` (stable across retries, so receivers
de-duplicate on it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nii.errors import Conflict, NotFound, UsageError
from nii.store.audit import canonical_json
from nii.store.models import OutboxEvent, Subscription, utcnow

EVENT_SOURCE = "urn:nii:triage"
EVENT_TYPES = ("org.nii.case.analysed", "org.nii.case.closed", "org.nii.case.failed")


@dataclass(frozen=True, slots=True)
class SubscriptionRecord:
    id: str
    name: str
    url: str
    event_types: tuple[str, ...]
    active: bool
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "url": self.url,
            "event_types": list(self.event_types),
            "active": self.active,
            "created_at": self.created_at.isoformat(),
        }


def _record(row: Subscription) -> SubscriptionRecord:
    return SubscriptionRecord(row.id, row.name, row.url, tuple(row.event_types), row.active, row.created_at)


def add_subscription(
    session: Session, *, name: str, url: str, event_types: tuple[str, ...] = ()
) -> SubscriptionRecord:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        raise UsageError(f"unknown event types {unknown}; known: {', '.join(EVENT_TYPES)}")
    if session.scalar(select(Subscription).where(Subscription.name == name)) is not None:
        raise Conflict(f"a subscription named {name!r} exists already; pick another name or delete it")
    row = Subscription(id=f"sub_{uuid.uuid4().hex[:20]}", name=name, url=url, event_types=list(event_types))
    row.active = True
    row.created_at = utcnow()
    session.add(row)
    session.flush()
    return _record(row)


def list_subscriptions(session: Session) -> list[SubscriptionRecord]:
    return [_record(r) for r in session.scalars(select(Subscription).order_by(Subscription.created_at))]


def get_subscription(session: Session, subscription_id: str) -> SubscriptionRecord:
    row = session.get(Subscription, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id!r}; list them with GET /v1/webhooks")
    return _record(row)


def deactivate_subscription(session: Session, subscription_id: str) -> SubscriptionRecord:
    row = session.get(Subscription, subscription_id)
    if row is None:
        raise NotFound(f"no webhook subscription {subscription_id!r}; list them with GET /v1/webhooks")
    row.active = False
    session.flush()
    return _record(row)


def cloudevent(event_id: str, event_type: str, subject: str | None, data: dict[str, Any]) -> str:
    """A CloudEvents 1.0 structured-mode JSON body."""
    return canonical_json(
        {
            "specversion": "1.0",
            "id": event_id,
            "source": EVENT_SOURCE,
            "type": event_type,
            "subject": subject,
            "time": utcnow().isoformat(),
            "datacontenttype": "application/json",
            "data": data,
        }
    )


def enqueue_event(session: Session, event_type: str, case_id: str | None, data: dict[str, Any]) -> list[str]:
    """One outbox row per active subscription to `event_type`; returns the event ids."""
    ids = []
    for sub in session.scalars(select(Subscription).where(Subscription.active.is_(True))):
        if sub.event_types and event_type not in sub.event_types:
            continue
        event_id = str(uuid.uuid4())
        session.add(
            OutboxEvent(
                id=event_id,
                subscription_id=sub.id,
                event_type=event_type,
                case_id=case_id,
                body=cloudevent(event_id, event_type, case_id, data),
                status="pending",
                attempts=0,
                next_attempt_at=utcnow(),
                created_at=utcnow(),
            )
        )
        ids.append(event_id)
    session.flush()
    return ids
