"""Principals (stations and people) and their API keys; only a sha256 of each secret is stored.

A key reads `nii_<key id>_<secret>`: the key id finds the row, the secret (256 random bits, so a
plain sha256 suffices, as for GitHub tokens) is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from nii.errors import AuthError, Conflict, NotFound, UsageError
from nii.store import audit
from nii.store.models import ApiKey, Principal, utcnow

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
_KEY = re.compile(r"^nii_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")


class Role(StrEnum):
    STATION = "station"  # uploads scans, reads its own cases
    OFFICER = "officer"  # reads the queue, decides cases
    SUPERVISOR = "supervisor"  # officer rights, plus the audit trail
    ADMIN = "admin"  # manages webhooks, reads the audit trail; does not decide parcels


@dataclass(frozen=True, slots=True)
class PrincipalRecord:
    id: str
    name: str
    role: Role
    active: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    principal: str
    created_at: datetime
    revoked_at: datetime | None


def _principal(row: Principal) -> PrincipalRecord:
    return PrincipalRecord(row.id, row.name, Role(row.role), row.active, row.created_at)


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def add_principal(session: Session, *, name: str, role: Role, actor: str = "cli") -> PrincipalRecord:
    if not _NAME.match(name):
        raise UsageError(f"name {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-'")
    if session.scalar(select(Principal).where(Principal.name == name)) is not None:
        raise Conflict(f"{name!r} exists already")
    row = Principal(
        id=f"p_{uuid.uuid4().hex[:20]}", name=name, role=role.value, active=True, created_at=utcnow()
    )
    session.add(row)
    session.flush()
    audit.append(session, actor=actor, action="principal.added", payload={"name": name, "role": role.value})
    return _principal(row)


def get_principal(session: Session, name: str) -> PrincipalRecord:
    row = session.scalar(select(Principal).where(Principal.name == name))
    if row is None:
        raise NotFound(f"no user or station named {name!r}; list them with `nii users list`")
    return _principal(row)


def list_principals(session: Session) -> list[PrincipalRecord]:
    return [_principal(r) for r in session.scalars(select(Principal).order_by(Principal.name))]


def set_active(session: Session, name: str, active: bool, *, actor: str = "cli") -> PrincipalRecord:
    row = session.scalar(select(Principal).where(Principal.name == name))
    if row is None:
        raise NotFound(f"no user or station named {name!r}; list them with `nii users list`")
    row.active = active
    audit.append(
        session,
        actor=actor,
        action="principal.enabled" if active else "principal.disabled",
        payload={"name": name},
    )
    session.flush()
    return _principal(row)


def issue_key(session: Session, name: str, *, actor: str = "cli") -> tuple[KeyRecord, str]:
    """A new key for principal `name`; returns (record, the full key: shown once, never stored)."""
    principal = session.scalar(select(Principal).where(Principal.name == name))
    if principal is None:
        raise NotFound(f"no user or station named {name!r}; create it with `nii users add`")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = ApiKey(
        id=key_id, principal_id=principal.id, secret_sha256=_secret_hash(secret), created_at=utcnow()
    )
    session.add(row)
    session.flush()
    audit.append(session, actor=actor, action="key.issued", payload={"key_id": key_id, "principal": name})
    return KeyRecord(key_id, name, row.created_at, None), f"nii_{key_id}_{secret}"


def revoke_key(session: Session, key_id: str, *, actor: str = "cli") -> KeyRecord:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no key {key_id!r}; list them with `nii keys list`")
    principal = session.get(Principal, row.principal_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.append(session, actor=actor, action="key.revoked", payload={"key_id": key_id})
    session.flush()
    return KeyRecord(row.id, principal.name if principal else "?", row.created_at, row.revoked_at)


def list_keys(session: Session) -> list[KeyRecord]:
    rows = session.execute(
        select(ApiKey, Principal.name)
        .join(Principal, Principal.id == ApiKey.principal_id)
        .order_by(ApiKey.created_at)
    )
    return [KeyRecord(k.id, name, k.created_at, k.revoked_at) for k, name in rows]


def authenticate(session: Session, token: str) -> PrincipalRecord:
    """The active principal holding this unrevoked key, else AuthError (never says which part failed)."""
    match = _KEY.match(token)
    if match is None:
        raise AuthError(
            "malformed API key: expected 'nii_<16 hex>_<43 chars>' as issued by `nii keys create`"
        )
    key_id, secret = match.groups()
    row = session.get(ApiKey, key_id)
    digest = _secret_hash(secret)
    if row is None or not hmac.compare_digest(row.secret_sha256, digest) or row.revoked_at is not None:
        raise AuthError("unknown or revoked API key; ask an administrator for a new one (`nii keys create`)")
    principal = session.get(Principal, row.principal_id)
    if principal is None or not principal.active:
        raise AuthError("the account of this API key is disabled; ask an administrator")
    return _principal(principal)
