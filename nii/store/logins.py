"""Sign-in sessions of people: account name and password in, a bearer token with an expiry out.

A token reads `niis_<session id>_<secret>`; as for API keys only the sha256 of the 256-bit secret is
stored. A session ends when its holder signs out, when the password changes or the account is
disabled, after `idle_s` without a request, or `max_s` after sign-in, whichever comes first. Each
use slides the idle expiry, written at most once a minute (a worklist refreshing every few seconds
does not write each time). Refused sign-ins are audited with their reason; the caller never learns
whether the name exists (same answer, and one scrypt either way).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from nii.errors import AuthError
from nii.store import accounts, audit
from nii.store.accounts import PrincipalRecord
from nii.store.models import LoginSession, Principal, utcnow

TOKEN_PREFIX = "niis_"
_TOKEN = re.compile(r"^niis_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
SLIDE_STEP = timedelta(seconds=60)  # the idle expiry is rewritten only when it moves this much
KEEP_ENDED = timedelta(days=1)  # ended or expired rows are deleted this long after, at a sign-in
REFUSED = "wrong account name or password, or the account is disabled; try again or ask an administrator"


@dataclass(frozen=True, slots=True)
class LoginRecord:
    id: str
    principal: PrincipalRecord
    created_at: datetime
    expires_at: datetime


class SignInRefused(AuthError):
    """A refused sign-in; `reason` is for the audit trail only, never for the caller."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _actor(row: Principal) -> str:
    return f"{row.role}:{row.name}"  # as nii.api.auth.actor writes it


def sign_in(
    session: Session, name: str, password: str, *, idle_s: float, max_s: float
) -> tuple[LoginRecord, str]:
    """A new session for `name` if `password` is its password; returns (record, token: shown once)."""
    row = session.scalar(select(Principal).where(Principal.name == name))
    matches = accounts.password_matches(password, None if row is None else row.password_hash)
    if row is None or not matches or not row.active:
        if row is None:
            reason = "unknown_account"
        elif row.password_hash is None:
            reason = "no_password"
        else:
            reason = "wrong_password" if not matches else "disabled"
        raise SignInRefused(REFUSED, reason=reason)
    now = utcnow()
    session.execute(delete(LoginSession).where(LoginSession.expires_at < now - KEEP_ENDED))
    session_id, secret = secrets.token_hex(8), secrets.token_urlsafe(32)
    expires = now + timedelta(seconds=min(idle_s, max_s))
    session.add(
        LoginSession(
            id=session_id,
            principal_id=row.id,
            secret_sha256=_sha256(secret),
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    audit.append(
        session,
        actor=_actor(row),
        action="session.started",
        payload={"session_id": session_id, "expires_at": expires.isoformat()},
    )
    return LoginRecord(
        session_id, accounts.principal_record(row), now, expires
    ), f"{TOKEN_PREFIX}{session_id}_{secret}"


def record_refusal(session: Session, name: str, reason: str) -> None:
    """Audit a refused sign-in (in its own transaction: the refusal itself rolls back)."""
    audit.append(
        session, actor="anonymous", action="session.refused", payload={"name": name, "reason": reason}
    )


def _row(session: Session, token: str) -> LoginSession:
    match = _TOKEN.match(token)
    if match is None:
        raise AuthError("malformed session token: sign in again with your account name and password")
    session_id, secret = match.groups()
    row = session.get(LoginSession, session_id)
    if row is None or not hmac.compare_digest(row.secret_sha256, _sha256(secret)):
        raise AuthError("unknown session token: sign in again with your account name and password")
    return row


def authenticate_session(session: Session, token: str, *, idle_s: float, max_s: float) -> PrincipalRecord:
    """The active principal of this open, unexpired session (sliding its idle expiry), else AuthError."""
    row = _row(session, token)
    now = utcnow()
    if row.ended_at is not None:
        raise AuthError("this session was signed out; sign in again")
    if row.expires_at <= now:
        raise AuthError("your session has expired; sign in again")
    principal = session.get(Principal, row.principal_id)
    if principal is None or not principal.active:
        raise AuthError("this account is disabled; ask an administrator")
    slid = min(now + timedelta(seconds=idle_s), row.created_at + timedelta(seconds=max_s))
    if slid - row.expires_at >= SLIDE_STEP:
        row.expires_at = slid
        session.flush()
    return accounts.principal_record(principal)


def authenticate(session: Session, token: str, *, idle_s: float, max_s: float) -> PrincipalRecord:
    """The principal of a session token (`niis_...`) or of an API key (`nii_...`), else AuthError."""
    if token.startswith(TOKEN_PREFIX):
        return authenticate_session(session, token, idle_s=idle_s, max_s=max_s)
    return accounts.authenticate(session, token)


def sign_out(session: Session, token: str) -> LoginRecord:
    """End the session of `token` (also an expired one; again is a no-op); AuthError if unknown."""
    row = _row(session, token)
    principal = session.get(Principal, row.principal_id)
    if principal is None:
        raise AuthError("unknown session token: sign in again with your account name and password")
    if row.ended_at is None:
        row.ended_at = utcnow()
        audit.append(
            session,
            actor=_actor(principal),
            action="session.ended",
            payload={"session_id": row.id, "why": "signed out"},
        )
        session.flush()
    return LoginRecord(row.id, accounts.principal_record(principal), row.created_at, row.expires_at)


def end_all(session: Session, name: str, *, why: str, actor: str = "cli") -> int:
    """End every open session of `name` (password changed, account disabled); returns how many."""
    principal = accounts.get_principal(session, name)
    ended = session.execute(
        update(LoginSession)
        .where(LoginSession.principal_id == principal.id, LoginSession.ended_at.is_(None))
        .values(ended_at=utcnow())
    ).rowcount
    if ended:
        audit.append(
            session, actor=actor, action="sessions.ended", payload={"name": name, "count": ended, "why": why}
        )
    return int(ended or 0)
