"""Migrations, the transitions table, idempotent case creation, the workflow and the officer queue."""

from __future__ import annotations

import threading

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from nii.errors import Conflict, IllegalTransition, NotFound
from nii.store import Database, audit, cases
from nii.store.models import Base
from nii.store.states import TRANSITIONS, CaseState, FinalOutcome, check_transition

DECL = {"sender_country": "CN", "recipient_country": "FR", "currency": "USD", "items": []}


def decision(outcome: str, risk: float = 0.5, classes: tuple[str, ...] = ()) -> dict:
    return {
        "decision": outcome,
        "risk_score": risk,
        "reasons": [{"code": "undeclared_item"}],
        "detections": [{"class_name": c, "score": 0.9, "xyxy": [1, 2, 3, 4]} for c in classes],
        "model_sha256": "m" * 64,
        "policy_version": "p1",
        "taxonomy_version": "t1",
    }


def new_case(db: Database, key: str = "S-1", scan: str = "a" * 64, decl_sha: str = "d" * 64):
    with db.session() as s:
        return cases.create_case(
            s,
            station_id="st1",
            station_scan_id=key,
            scan_sha256=scan,
            declaration=DECL,
            declaration_sha256=decl_sha,
            actor="station:st1",
        )


def analysed(db: Database, key: str, outcome: str, risk: float = 0.5, classes: tuple[str, ...] = ()) -> str:
    case, _ = new_case(db, key)
    with db.session() as s:
        cases.start_processing(s, case.id)
        cases.record_analysis(
            s, case.id, decision=decision(outcome, risk, classes), timings={"analysis_ms": 3}
        )
    return case.id


def test_migrations_match_the_models(db: Database) -> None:
    with db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diffs == []
    assert {"cases", "audit_records", "audit_head", "outbox", "api_keys", "principals"} <= tables


def test_migrate_twice_is_a_no_op(db: Database) -> None:
    db.migrate()
    with db.session() as s:
        assert audit.verify(s).ok


ALL_PAIRS = [(a, b) for a in CaseState for b in CaseState]


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_transition_table(current: CaseState, target: CaseState) -> None:
    if target in TRANSITIONS[current]:
        check_transition("c1", current, target)
    else:
        with pytest.raises(IllegalTransition, match=f"case c1 is {current}; it cannot become {target}"):
            check_transition("c1", current, target)


def test_repeated_upload_returns_the_same_case(db: Database) -> None:
    first, created = new_case(db)
    again, created_again = new_case(db)
    assert created and not created_again
    assert again.id == first.id
    with pytest.raises(Conflict, match="already used for case"):
        new_case(db, scan="b" * 64)
    with pytest.raises(Conflict):
        new_case(db, decl_sha="e" * 64)
    with db.session() as s:
        assert cases.count_by_state(s) == {"received": 1}


def test_concurrent_uploads_with_one_key_make_one_case(db: Database) -> None:
    ids: list[str] = []
    errors: list[Exception] = []

    def upload() -> None:
        try:
            ids.append(new_case(db, "race")[0].id)
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upload) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(set(ids)) == 1
    with db.session() as s:
        assert cases.count_by_state(s) == {"received": 1}
        assert audit.verify(s).ok


@pytest.mark.parametrize(
    ("outcome", "state"),
    [("release", CaseState.RELEASED), ("refer", CaseState.REFERRED), ("hold", CaseState.HELD)],
    ids=["release", "refer", "hold"],
)
def test_analysis_moves_the_case(db: Database, outcome: str, state: CaseState) -> None:
    case_id = analysed(db, "k", outcome, classes=("knife",))
    with db.session() as s:
        case = cases.get_case(s, case_id)
    assert case.state is state
    assert case.outcome == outcome
    assert case.model_sha256 == "m" * 64
    assert case.attempts == 1
    assert case.result is not None and case.result["detections"][0]["class_name"] == "knife"


def test_officer_decision_closes_once(db: Database) -> None:
    case_id = analysed(db, "k", "hold")
    boxes = {"added": [{"class_name": "gun", "xyxy": [1, 1, 5, 5]}], "removed": [0], "relabelled": []}
    with db.session() as s:
        case = cases.officer_decision(
            s, case_id, officer="alice", final_outcome=FinalOutcome.SEIZED, note="pistol", annotations=boxes
        )
    assert (case.state, case.final_outcome, case.officer, case.annotations) == (
        "closed",
        "seized",
        "alice",
        boxes,
    )
    with pytest.raises(IllegalTransition, match="is closed"), db.session() as s:
        cases.officer_decision(
            s, case_id, officer="bob", final_outcome=FinalOutcome.RELEASED, note=None, annotations=None
        )
    with db.session() as s:
        actions = [r.action for r in audit.records(s, case_id=case_id)]
    assert actions == ["scan.received", "case.analysed", "case.decided"]


def test_released_case_cannot_be_decided(db: Database) -> None:
    case_id = analysed(db, "k", "release")
    with pytest.raises(IllegalTransition, match="is released"), db.session() as s:
        cases.officer_decision(
            s, case_id, officer="a", final_outcome=FinalOutcome.SEIZED, note=None, annotations=None
        )


def test_unknown_case(db: Database) -> None:
    with pytest.raises(NotFound, match="no case 'nope'"), db.session() as s:
        cases.get_case(s, "nope")


def test_recover_unfinished_requeues_processing_cases(db: Database) -> None:
    waiting, _ = new_case(db, "a")
    crashed, _ = new_case(db, "b")
    done = analysed(db, "c", "release")
    with db.session() as s:
        cases.start_processing(s, crashed.id)
    with db.session() as s:
        ids = cases.recover_unfinished(s)
    assert ids == [waiting.id, crashed.id]
    with db.session() as s:
        assert cases.get_case(s, crashed.id).state is CaseState.RECEIVED
        assert cases.get_case(s, done).state is CaseState.RELEASED


def test_failure_and_retry(db: Database) -> None:
    case, _ = new_case(db)
    with db.session() as s:
        cases.start_processing(s, case.id)
        failed = cases.record_failure(s, case.id, error="model missing")
    assert (failed.state, failed.error) == (CaseState.FAILED, "model missing")
    with db.session() as s:
        assert cases.retry_case(s, case.id, actor="sup").state is CaseState.RECEIVED


def test_officer_queue_order_filters_and_pages(db: Database) -> None:
    low = analysed(db, "1", "refer", 0.3, ("phone",))
    high = analysed(db, "2", "hold", 0.9, ("gun", "knife"))
    mid = analysed(db, "3", "refer", 0.6, ("knife",))
    analysed(db, "4", "release", 0.1)
    with db.session() as s:
        page = cases.officer_queue(s)
        assert [c.id for c in page.items] == [high, mid, low] and page.total == 3
        assert [c.id for c in cases.officer_queue(s, class_name="knife").items] == [high, mid]
        assert [c.id for c in cases.officer_queue(s, class_name="kni").items] == []
        assert [c.id for c in cases.officer_queue(s, decision="refer").items] == [mid, low]
        assert [c.id for c in cases.officer_queue(s, station_id="other").items] == []
        second = cases.officer_queue(s, limit=2, offset=2)
        assert [c.id for c in second.items] == [low] and second.total == 3
