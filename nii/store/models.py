"""SQLAlchemy 2 tables of the workflow store. The Alembic migrations in `migrations/` create them.

Times are stored as naive UTC and read back as aware UTC (`UTCDateTime`), the same on SQLite and
PostgreSQL. JSON that is hashed (audit payloads, CloudEvents bodies) is stored as canonical text so
that the bytes read back are the bytes hashed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from nii.store.states import CaseState


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes stored as naive UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value} given; use an aware UTC datetime")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, datetime: UTCDateTime}


class Case(Base):
    """One parcel scan and everything decided about it."""

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("station_id", "station_scan_id", name="uq_cases_station_scan"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    station_id: Mapped[str] = mapped_column(String(64), index=True)
    station_scan_id: Mapped[str] = mapped_column(String(128))
    state: Mapped[str] = mapped_column(String(16), index=True, default=CaseState.RECEIVED.value)
    scan_sha256: Mapped[str] = mapped_column(String(64))
    low_sha256: Mapped[str | None] = mapped_column(String(64))
    high_sha256: Mapped[str | None] = mapped_column(String(64))
    declaration: Mapped[dict[str, Any]]
    declaration_sha256: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str | None] = mapped_column(String(16), index=True)  # release / refer / hold
    risk_score: Mapped[float | None] = mapped_column(Float)
    detected_classes: Mapped[str] = mapped_column(String(400), default="")  # ",gun,knife," for LIKE
    result: Mapped[dict[str, Any] | None]  # Decision.to_json()
    model_sha256: Mapped[str | None] = mapped_column(String(64))
    policy_version: Mapped[str | None] = mapped_column(String(64))
    final_outcome: Mapped[str | None] = mapped_column(String(32))
    officer: Mapped[str | None] = mapped_column(String(64))
    officer_note: Mapped[str | None] = mapped_column(Text)
    annotations: Mapped[dict[str, Any] | None]  # officer box corrections
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    timings: Mapped[dict[str, Any] | None]  # queue_ms, analysis_ms ...
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    analysed_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]


class AuditRecord(Base):
    """One append-only audit record; `hash` covers its fields and the previous record's hash."""

    __tablename__ = "audit_records"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40), index=True)  # ISO 8601 UTC, hashed as text
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(40), index=True)
    payload: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A single row (id 1): the last sequence number and hash, so a deleted tail is detectable."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))


class Principal(Base):
    """A station or a person (officer, supervisor, admin)."""

    __tablename__ = "principals"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_hash: Mapped[str | None] = mapped_column(String(200))  # scrypt; None: API keys only


class ApiKey(Base):
    """A secret of a principal; only the sha256 of the secret part is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # the public key id
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]


class LoginSession(Base):
    """A person's signed-in session (name and password); only the sha256 of the token's secret is stored."""

    __tablename__ = "login_sessions"

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # the public session id
    principal_id: Mapped[str] = mapped_column(ForeignKey("principals.id"), index=True)
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)  # slides with use, up to a hard limit
    ended_at: Mapped[datetime | None]  # signed out, or ended by a password change


class Subscription(Base):
    """A clearance system's webhook endpoint."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    event_types: Mapped[list[str]] = mapped_column(JSON)  # empty = every type
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OutboxEvent(Base):
    """A CloudEvent to deliver to one subscription, written in the transaction of its state change."""

    __tablename__ = "outbox"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # CloudEvents id (de-duplication key)
    subscription_id: Mapped[str] = mapped_column(ForeignKey("webhook_subscriptions.id"), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[str | None] = mapped_column(String(40))
    body: Mapped[str] = mapped_column(Text)  # the CloudEvents JSON, exactly as sent
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
