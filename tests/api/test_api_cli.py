"""`nii users`, `nii keys`, `nii audit verify` (detects a modified and a deleted record)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import delete, update

from nii.cli import main
from nii.store import Database, accounts
from nii.store.models import AuditRecord


def run(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> tuple[int, str, str]:
    code = main([argv[0], "--database-url", url, *argv[1:]])
    out, err = capsys.readouterr()
    return code, out, err


def test_users_keys_and_audit_verify(capsys: pytest.CaptureFixture[str], database_url: str) -> None:
    assert run(capsys, database_url, "users", "add", "alice", "--role", "officer")[0] == 0
    code, out, _ = run(capsys, database_url, "users", "add", "alice", "--role", "officer")
    assert code == 2
    code, out, err = run(capsys, database_url, "keys", "create", "alice")
    token = out.strip()
    assert code == 0 and token.startswith("nii_") and "shown once" in err
    db = Database(database_url)
    with db.session() as s:
        assert accounts.authenticate(s, token).name == "alice"
    code, out, _ = run(capsys, database_url, "keys", "list")
    key_id = token.split("_")[1]
    assert key_id in out and "active" in out
    assert run(capsys, database_url, "keys", "revoke", key_id)[0] == 0
    assert "alice" in run(capsys, database_url, "users", "list")[1]
    assert run(capsys, database_url, "users", "disable", "alice")[0] == 0
    code, out, _ = run(capsys, database_url, "audit", "verify")
    assert code == 0 and out.startswith("audit chain ok: 4 records")

    with db.session() as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(payload='{"key_id":"forged"}'))
    code, _, err = run(capsys, database_url, "audit", "verify")
    assert code == 2 and "record 2 (key.issued): content does not match its hash (edited)" in err

    with db.session() as s:
        s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(payload="{}"))
        s.execute(delete(AuditRecord).where(AuditRecord.seq.in_([2])))
    code, _, err = run(capsys, database_url, "audit", "verify")
    assert code == 2 and "records 2..2 are missing (deleted)" in err
    db.dispose()


def test_unknown_user_key(capsys: pytest.CaptureFixture[str], database_url: str, tmp_path: Path) -> None:
    code, _, err = run(capsys, database_url, "keys", "create", "nobody")
    assert code == 2 and "no user or station named 'nobody'" in err


def test_users_with_passwords(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    """`users add --password-stdin` and `users passwd`: the officer signs in; a new password ends sessions."""
    import io

    from nii.errors import AuthError
    from nii.store import logins

    monkeypatch.setattr("sys.stdin", io.StringIO("first password 1\n"))
    code, out, _ = run(capsys, database_url, "users", "add", "bob", "--role", "officer", "--password-stdin")
    assert code == 0 and "signs in on the page with its password" in out
    listed = {line.split()[0]: line for line in run(capsys, database_url, "users", "list")[1].splitlines()}
    assert listed["bob"].split() == ["bob", "officer", "active", "password"]
    db = Database(database_url)
    with db.session() as s:
        token = logins.sign_in(s, "bob", "first password 1", idle_s=60, max_s=600)[1]

    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    code, _, err = run(capsys, database_url, "users", "passwd", "bob", "--password-stdin")
    assert code == 2 and "a password needs 10 to 1024 characters, got 5" in err
    monkeypatch.setattr("sys.stdin", io.StringIO("second password 2\n"))
    code, out, _ = run(capsys, database_url, "users", "passwd", "bob", "--password-stdin")
    assert code == 0 and "1 open session(s) ended" in out
    with db.session() as s, pytest.raises(AuthError, match="signed out"):
        logins.authenticate(s, token, idle_s=60, max_s=600)
    with db.session() as s:
        assert logins.sign_in(s, "bob", "second password 2", idle_s=60, max_s=600)[0].principal.name == "bob"
    db.dispose()
