"""The audit chain (edits and deletions are detected), accounts and keys, outbox, scan files."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from nii.errors import AuthError, Conflict, NotFound, StoreError, UsageError
from nii.store import BlobStore, Database, accounts, audit, outbox
from nii.store.accounts import Role
from nii.store.models import ApiKey, AuditHead, AuditRecord, OutboxEvent


def append_n(db: Database, n: int) -> None:
    for i in range(n):
        with db.session() as s:
            audit.append(
                s, actor="tester", action="test.event", case_id=f"c{i % 2}", payload={"i": i, "t": "é"}
            )


def verify(db: Database) -> audit.ChainReport:
    with db.session() as s:
        return audit.verify(s)


def test_intact_chain_verifies(db: Database) -> None:
    append_n(db, 5)
    report = verify(db)
    assert report.ok and report.records == 5 and report.head_seq == 5
    with db.session() as s:
        assert [e.payload["i"] for e in audit.records(s, case_id="c1")] == [1, 3]
        assert [e.seq for e in audit.records(s, after_seq=3)] == [4, 5]


def test_empty_chain_verifies(db: Database) -> None:
    report = verify(db)
    assert report.ok and report.records == 0 and report.head_hash == audit.GENESIS_HASH


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (
            update(AuditRecord).where(AuditRecord.seq == 3).values(payload='{"i":30}'),
            "record 3 (test.event): content",
        ),
        (
            update(AuditRecord).where(AuditRecord.seq == 2).values(actor="mallory"),
            "record 2 (test.event): content",
        ),
        (delete(AuditRecord).where(AuditRecord.seq == 3), "records 3..3 are missing (deleted)"),
        (delete(AuditRecord).where(AuditRecord.seq == 5), "the head says 5 records but the chain ends at 4"),
        (update(AuditHead).values(hash="f" * 64), "the head hash does not match"),
    ],
    ids=["modified-payload", "modified-actor", "deleted-middle", "deleted-last", "edited-head"],
)
def test_tampering_is_detected(db: Database, tamper, problem: str) -> None:
    append_n(db, 5)
    with db.session() as s:
        s.execute(tamper)
    report = verify(db)
    assert not report.ok
    assert any(p.startswith(problem) for p in report.problems), report.problems


def test_rehashed_edit_breaks_the_next_link(db: Database) -> None:
    append_n(db, 4)
    with db.session() as s:
        row = s.get(AuditRecord, 2)
        row.payload = '{"i":99}'
        row.hash = audit.record_hash(
            row.seq, row.at, row.actor, row.action, row.case_id, row.payload, row.prev_hash
        )
    assert verify(db).problems == ("record 3: prev_hash does not match the hash of the record before it",)


def test_concurrent_appends_keep_one_chain(db: Database) -> None:
    threads = [threading.Thread(target=append_n, args=(db, 5)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    report = verify(db)
    assert report.ok and report.records == 20


def test_keys_are_hashed_and_authenticate(db: Database) -> None:
    with db.session() as s:
        accounts.add_principal(s, name="alice", role=Role.OFFICER)
        record, token = accounts.issue_key(s, "alice")
    with db.session() as s:
        stored = s.scalars(select(ApiKey.secret_sha256)).one()
        assert token.split("_", 2)[2] not in stored and len(stored) == 64  # the secret may hold "_"
        who = accounts.authenticate(s, token)
    assert (who.name, who.role) == ("alice", Role.OFFICER)
    bad = token[:-1] + ("A" if token[-1] != "A" else "B")
    with pytest.raises(AuthError, match="unknown or revoked"), db.session() as s:
        accounts.authenticate(s, bad)
    with pytest.raises(AuthError, match="malformed"), db.session() as s:
        accounts.authenticate(s, "hunter2")
    with db.session() as s:
        accounts.revoke_key(s, record.id)
    with pytest.raises(AuthError, match="unknown or revoked"), db.session() as s:
        accounts.authenticate(s, token)


def test_disabled_account_cannot_authenticate(db: Database) -> None:
    with db.session() as s:
        accounts.add_principal(s, name="st-01", role=Role.STATION)
        _, token = accounts.issue_key(s, "st-01")
        accounts.set_active(s, "st-01", False)
    with pytest.raises(AuthError, match="disabled"), db.session() as s:
        accounts.authenticate(s, token)


@pytest.mark.parametrize(
    ("name", "exception"),
    [("bad name", UsageError), ("", UsageError), ("x" * 65, UsageError), ("dup", Conflict)],
    ids=["space", "empty", "long", "duplicate"],
)
def test_principal_names(db: Database, name: str, exception: type[Exception]) -> None:
    with db.session() as s:
        accounts.add_principal(s, name="dup", role=Role.ADMIN)
    with pytest.raises(exception), db.session() as s:
        accounts.add_principal(s, name=name, role=Role.ADMIN)


def test_outbox_rows_per_matching_subscription(db: Database) -> None:
    with db.session() as s:
        every = outbox.add_subscription(s, name="ace", url="http://ace.example/hook")
        closed_only = outbox.add_subscription(
            s, name="ics2", url="http://ics2.example/h", event_types=("org.nii.case.closed",)
        )
        off = outbox.add_subscription(s, name="off", url="http://off.example/h")
        outbox.deactivate_subscription(s, off.id)
        ids = outbox.enqueue_event(s, "org.nii.case.analysed", "c1", {"case_id": "c1"})
    with db.session() as s:
        rows = list(s.scalars(select(OutboxEvent)))
    assert [r.subscription_id for r in rows] == [every.id] and [r.id for r in rows] == ids
    body = json.loads(rows[0].body)
    assert body["specversion"] == "1.0" and body["id"] == ids[0] and body["type"] == "org.nii.case.analysed"
    assert body["data"] == {"case_id": "c1"} and body["subject"] == "c1"
    assert closed_only.event_types == ("org.nii.case.closed",)
    with pytest.raises(UsageError, match="unknown event types"), db.session() as s:
        outbox.add_subscription(s, name="x", url="http://x", event_types=("nope",))
    with pytest.raises(NotFound), db.session() as s:
        outbox.get_subscription(s, "sub_missing")


def test_outbox_written_with_state_change_rolls_back_with_it(db: Database) -> None:
    with db.session() as s:
        outbox.add_subscription(s, name="ace", url="http://ace.example/hook")
    with pytest.raises(RuntimeError), db.session() as s:
        outbox.enqueue_event(s, "org.nii.case.analysed", "c1", {})
        audit.append(s, actor="a", action="b", payload={})
        raise RuntimeError("crash before commit")
    with db.session() as s:
        assert list(s.scalars(select(OutboxEvent))) == []
        assert audit.verify(s).records == 0


def test_blob_store_is_content_addressed(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path / "scans")
    sha = blobs.put(b"scan bytes")
    assert blobs.put(b"scan bytes") == sha
    assert blobs.get(sha) == b"scan bytes"
    assert blobs.path(sha) == tmp_path / "scans" / sha[:2] / sha[2:4] / sha
    with pytest.raises(NotFound):
        blobs.get("0" * 64)
    with pytest.raises(NotFound, match="not a sha256"):
        blobs.get("../../etc/passwd")
    blobs.path(sha).write_bytes(b"tampered")
    with pytest.raises(StoreError, match="corrupted"):
        blobs.get(sha)


def test_bad_database_url() -> None:
    with pytest.raises(StoreError, match="unsupported database"):
        Database("mysql://u@h/db")
