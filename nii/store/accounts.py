"""Principals (stations and people), their API keys and passwords; no secret is stored in clear.

A key reads `nii_<key id>_<secret>`: the key id finds the row, the secret (256 random bits, so a
plain sha256 suffices, as for GitHub tokens) is compared in constant time. A person's password is
low-entropy, so it is stored as scrypt (memory-hard, per-user salt, parameters in the stored string
so they can be raised later) and checked in constant time; sign-in sessions are in `logins`.
"""

from __future__ import annotations

import base64
import functools
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
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024  # bounds the hashing work one request can ask for
# scrypt cost: N (CPU/memory, 2^15 = 32 MiB with r=8), r (block size), p (parallelism); ~0.1 s a check
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024  # bytes; must exceed 128 * N * r * p


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
    has_password: bool = False  # may sign in on the page with name and password


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: str
    principal: str
    created_at: datetime
    revoked_at: datetime | None


def principal_record(row: Principal) -> PrincipalRecord:
    return PrincipalRecord(
        row.id, row.name, Role(row.role), row.active, row.created_at, row.password_hash is not None
    )


def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, maxmem=SCRYPT_MAXMEM, dklen=32)


def check_password(password: str) -> None:
    """UsageError unless the password has an acceptable length."""
    if not MIN_PASSWORD_CHARS <= len(password) <= MAX_PASSWORD_CHARS:
        raise UsageError(
            f"a password needs {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters, got {len(password)}"
        )


def hash_password(password: str) -> str:
    """`scrypt$N$r$p$<salt b64>$<hash b64>` with a fresh 16-byte salt."""
    check_password(password)
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(digest)}"


@functools.cache
def _dummy_hash() -> str:
    """Checked when the account is unknown or has no password, so that answering takes as long as for
    a real account and the time does not tell which names exist."""
    return hash_password(secrets.token_urlsafe(24))


def password_matches(password: str, stored: str | None) -> bool:
    """Whether `password` hashes to `stored`; always does one scrypt, also when `stored` is None."""
    try:
        kind, n, r, p, salt, digest = (stored or _dummy_hash()).split("$")
        if kind != "scrypt":
            raise ValueError(kind)
        expected = base64.b64decode(digest)
        got = _scrypt(password[:MAX_PASSWORD_CHARS], base64.b64decode(salt), int(n), int(r), int(p))
    except ValueError:  # a corrupt stored hash refuses the sign-in, it does not crash it
        return False
    return hmac.compare_digest(got, expected) and stored is not None


def add_principal(
    session: Session, *, name: str, role: Role, password: str | None = None, actor: str = "cli"
) -> PrincipalRecord:
    if not _NAME.match(name):
        raise UsageError(f"name {name!r} must be 1-64 letters, digits, '.', '_', '@' or '-'")
    if session.scalar(select(Principal).where(Principal.name == name)) is not None:
        raise Conflict(f"{name!r} exists already")
    row = Principal(
        id=f"p_{uuid.uuid4().hex[:20]}",
        name=name,
        role=role.value,
        active=True,
        created_at=utcnow(),
        password_hash=None if password is None else hash_password(password),
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        action="principal.added",
        payload={"name": name, "role": role.value, "password": password is not None},
    )
    return principal_record(row)


def set_password(session: Session, name: str, password: str, *, actor: str = "cli") -> PrincipalRecord:
    """Set or replace the password of `name`; the caller ends its open sessions (`logins.end_all`)."""
    row = session.scalar(select(Principal).where(Principal.name == name))
    if row is None:
        raise NotFound(f"no user or station named {name!r}; list them with `nii users list`")
    row.password_hash = hash_password(password)
    audit.append(session, actor=actor, action="principal.password_set", payload={"name": name})
    session.flush()
    return principal_record(row)


def get_principal(session: Session, name: str) -> PrincipalRecord:
    row = session.scalar(select(Principal).where(Principal.name == name))
    if row is None:
        raise NotFound(f"no user or station named {name!r}; list them with `nii users list`")
    return principal_record(row)


def list_principals(session: Session) -> list[PrincipalRecord]:
    return [principal_record(r) for r in session.scalars(select(Principal).order_by(Principal.name))]


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
    return principal_record(row)


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
    return principal_record(principal)
