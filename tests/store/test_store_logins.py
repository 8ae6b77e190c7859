"""Passwords (scrypt, salted, constant-time) and sign-in sessions: start, slide, expire, end; the
0001 -> 0002 migration keeps existing accounts."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from nii.errors import AuthError, UsageError
from nii.store import Database, accounts, audit, logins
from nii.store.accounts import Role
from nii.store.models import LoginSession, Principal, utcnow

PASSWORD = "correct horse battery"
IDLE_S, MAX_S = 900.0, 43_200.0


def officer(db: Database, name: str = "alice", password: str | None = PASSWORD) -> None:
    with db.session() as s:
        accounts.add_principal(s, name=name, role=Role.OFFICER, password=password)


def sign_in(db: Database, name: str = "alice", password: str = PASSWORD) -> str:
    with db.session() as s:
        return logins.sign_in(s, name, password, idle_s=IDLE_S, max_s=MAX_S)[1]


def who(db: Database, token: str) -> str:
    with db.session() as s:
        return logins.authenticate(s, token, idle_s=IDLE_S, max_s=MAX_S).name


def test_password_is_salted_scrypt_and_checks() -> None:
    a, b = accounts.hash_password(PASSWORD), accounts.hash_password(PASSWORD)
    assert a.startswith(f"scrypt${accounts.SCRYPT_N}$8$1$") and a != b  # a fresh salt each time
    assert PASSWORD not in a
    assert accounts.password_matches(PASSWORD, a) and accounts.password_matches(PASSWORD, b)
    assert not accounts.password_matches(PASSWORD + "!", a)
    assert not accounts.password_matches(PASSWORD, None)
    assert not accounts.password_matches(PASSWORD, "scrypt$corrupt")


@pytest.mark.parametrize("password", ["short", "x" * 1025], ids=["too-short", "too-long"])
def test_password_length(password: str) -> None:
    with pytest.raises(UsageError, match="a password needs 10 to 1024 characters"):
        accounts.hash_password(password)


def test_sign_in_use_and_sign_out(db: Database) -> None:
    officer(db)
    with db.session() as s:
        record, token = logins.sign_in(s, "alice", PASSWORD, idle_s=IDLE_S, max_s=MAX_S)
        stored_hash = s.scalar(select(Principal.password_hash).where(Principal.name == "alice"))
        stored = s.get(LoginSession, record.id)
    assert stored_hash.startswith("scrypt$") and PASSWORD not in stored_hash
    secret = token.split("_", 2)[2]
    assert stored is not None and stored.secret_sha256 == hashlib.sha256(secret.encode()).hexdigest()
    assert token.startswith("niis_") and record.principal.name == "alice" and record.principal.has_password
    assert timedelta(seconds=IDLE_S - 5) < record.expires_at - record.created_at <= timedelta(seconds=IDLE_S)
    assert who(db, token) == "alice"
    with db.session() as s:
        logins.sign_out(s, token)
        logins.sign_out(s, token)  # again: nothing more happens
    with pytest.raises(AuthError, match="signed out"):
        who(db, token)
    with db.session() as s:
        actions = [(r.actor, r.action) for r in audit.records(s)]
    assert actions[-2:] == [("officer:alice", "session.started"), ("officer:alice", "session.ended")]


@pytest.mark.parametrize(
    ("name", "password", "reason"),
    [
        ("alice", "wrong password!", "wrong_password"),
        ("mallory", PASSWORD, "unknown_account"),
        ("bob", PASSWORD, "no_password"),
        ("carol", PASSWORD, "disabled"),
    ],
    ids=["wrong-password", "unknown-name", "key-only-account", "disabled"],
)
def test_refused_sign_ins_say_the_same(db: Database, name: str, password: str, reason: str) -> None:
    officer(db)
    officer(db, "bob", password=None)
    officer(db, "carol")
    with db.session() as s:
        accounts.set_active(s, "carol", False)
    with pytest.raises(logins.SignInRefused) as info, db.session() as s:
        logins.sign_in(s, name, password, idle_s=IDLE_S, max_s=MAX_S)
    assert str(info.value) == logins.REFUSED and info.value.reason == reason
    with db.session() as s:
        logins.record_refusal(s, name, info.value.reason)
    with db.session() as s:
        last = audit.records(s)[-1]
        assert s.scalar(select(LoginSession.id)) is None
    assert (last.action, last.payload) == ("session.refused", {"name": name, "reason": reason})


def test_idle_expiry_slides_and_the_hard_limit_holds(db: Database) -> None:
    officer(db)
    token = sign_in(db)
    session_id = token.split("_")[1]
    now = utcnow()
    with db.session() as s:  # used 10 min ago: the next use pushes expiry to now + idle
        s.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(created_at=now - timedelta(minutes=10), expires_at=now + timedelta(minutes=5))
        )
    assert who(db, token) == "alice"
    with db.session() as s:
        expires = s.get(LoginSession, session_id).expires_at
    assert expires - now > timedelta(minutes=14)
    with db.session() as s:  # signed in almost max_s ago: no sliding beyond the hard limit
        s.execute(
            update(LoginSession)
            .where(LoginSession.id == session_id)
            .values(created_at=now - timedelta(seconds=MAX_S - 30), expires_at=now + timedelta(seconds=10))
        )
    who(db, token)
    with db.session() as s:
        assert s.get(LoginSession, session_id).expires_at <= now + timedelta(seconds=31)
        s.execute(update(LoginSession).values(expires_at=now - timedelta(seconds=1)))
    with pytest.raises(AuthError, match="your session has expired; sign in again"):
        who(db, token)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("niis_0123", "malformed session token"),
        ("niis_0123456789abcdef_" + "A" * 43, "unknown session token"),
        ("nii_0123456789abcdef_" + "A" * 43, "unknown or revoked API key"),
    ],
    ids=["malformed", "unknown-session", "unknown-key"],
)
def test_bad_tokens(db: Database, token: str, message: str) -> None:
    with pytest.raises(AuthError, match=message):
        who(db, token)


def test_a_new_password_ends_open_sessions_and_keys_still_work(db: Database) -> None:
    officer(db)
    token = sign_in(db)
    with db.session() as s:
        key = accounts.issue_key(s, "alice")[1]
        accounts.set_password(s, "alice", "a brand new password")
        assert logins.end_all(s, "alice", why="password changed") == 1
    with pytest.raises(AuthError, match="signed out"):
        who(db, token)
    assert who(db, key) == "alice"
    with pytest.raises(logins.SignInRefused):
        sign_in(db)
    assert who(db, sign_in(db, password="a brand new password")) == "alice"


def test_migration_0002_keeps_accounts_made_before_it(tmp_path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    from nii.store.db import migrate

    migrate(db.engine, "0001")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO principals (id, name, role, active, created_at) "
            "VALUES ('p_1', 'old', 'officer', 1, '2026-01-01 00:00:00')"
        )
    db.migrate()
    with db.session() as s:
        old = accounts.get_principal(s, "old")
        assert old.role is Role.OFFICER and not old.has_password
        accounts.set_password(s, "old", PASSWORD)
    assert who(db, sign_in(db, "old")) == "old"
    db.dispose()
