"""The audit chain: append-only records, each holding the hash of the previous one.

hash(n) = sha256(canonical JSON of [seq, at, actor, action, case_id, payload, prev_hash]) and
prev_hash(n) = hash(n - 1); the `audit_head` row holds the last seq and hash and is locked for each
append (so appends are serialised) and checked by `verify` (so a deleted tail shows too). An edit,
insertion or deletion anywhere breaks the chain. Anchor `head.hash` outside the database (print it
with `nii audit verify`) to also detect a rewrite of the whole chain.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nii.errors import StoreError
from nii.store.models import AuditHead, AuditRecord

GENESIS_HASH = "0" * 64
MAX_PROBLEMS = 20  # verify stops listing after this many


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def record_hash(
    seq: int, at: str, actor: str, action: str, case_id: str | None, payload: str, prev_hash: str
) -> str:
    body = canonical_json([seq, at, actor, action, case_id, payload, prev_hash])
    return hashlib.sha256(body.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    case_id: str | None
    payload: dict[str, Any]
    hash: str

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _entry(row: AuditRecord) -> AuditEntry:
    return AuditEntry(row.seq, row.at, row.actor, row.action, row.case_id, json.loads(row.payload), row.hash)


def append(
    session: Session, *, actor: str, action: str, case_id: str | None = None, payload: dict[str, Any]
) -> AuditEntry:
    """Append one record in the caller's transaction (it commits with the state change it records)."""
    head = session.get(AuditHead, 1, with_for_update=True)
    if head is None:
        raise StoreError("the audit_head row is missing: the database was not migrated by nii, or was edited")
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    text = canonical_json(payload)
    seq = head.seq + 1
    digest = record_hash(seq, at, actor, action, case_id, text, head.hash)
    session.add(
        AuditRecord(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            case_id=case_id,
            payload=text,
            prev_hash=head.hash,
            hash=digest,
        )
    )
    head.seq, head.hash = seq, digest
    session.flush()
    return AuditEntry(seq, at, actor, action, case_id, payload, digest)


def records(
    session: Session,
    *,
    case_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
    limit: int = 100,
) -> list[AuditEntry]:
    """Records of a case and/or a period (ISO times compare as text), oldest first."""
    query = select(AuditRecord).where(AuditRecord.seq > after_seq).order_by(AuditRecord.seq).limit(limit)
    if case_id is not None:
        query = query.where(AuditRecord.case_id == case_id)
    if since is not None:
        query = query.where(AuditRecord.at >= since.astimezone(UTC).isoformat(timespec="microseconds"))
    if until is not None:
        query = query.where(AuditRecord.at < until.astimezone(UTC).isoformat(timespec="microseconds"))
    return [_entry(row) for row in session.scalars(query)]


@dataclass(frozen=True, slots=True)
class ChainReport:
    records: int
    head_seq: int
    head_hash: str
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _walk(session: Session) -> Iterator[AuditRecord]:
    last = 0
    while True:
        batch = list(
            session.scalars(
                select(AuditRecord).where(AuditRecord.seq > last).order_by(AuditRecord.seq).limit(1000)
            )
        )
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def verify(session: Session) -> ChainReport:
    """Recompute the whole chain; every broken link is listed (up to MAX_PROBLEMS)."""
    problems: list[str] = []
    expected_seq, prev = 1, GENESIS_HASH
    count = 0
    for row in _walk(session):
        count += 1
        if row.seq != expected_seq:
            problems.append(
                f"records {expected_seq}..{row.seq - 1} are missing (deleted)"
                if row.seq > expected_seq
                else f"record {row.seq} is out of sequence"
            )
        if row.prev_hash != prev:
            problems.append(f"record {row.seq}: prev_hash does not match the hash of the record before it")
        digest = record_hash(row.seq, row.at, row.actor, row.action, row.case_id, row.payload, row.prev_hash)
        if digest != row.hash:
            problems.append(f"record {row.seq} ({row.action}): content does not match its hash (edited)")
        expected_seq, prev = row.seq + 1, row.hash
        if len(problems) >= MAX_PROBLEMS:
            break
    head = session.get(AuditHead, 1)
    if head is None:
        problems.append("the audit_head row is missing")
        return ChainReport(count, 0, "", tuple(problems))
    if len(problems) < MAX_PROBLEMS:
        if head.seq != expected_seq - 1:
            problems.append(
                f"the head says {head.seq} records but the chain ends at {expected_seq - 1} "
                "(records at the end were deleted, or the head was edited)"
            )
        elif head.hash != prev:
            problems.append("the head hash does not match the last record (last record or head edited)")
    return ChainReport(count, head.seq, head.hash, tuple(problems))
