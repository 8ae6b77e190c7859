"""Case workflow states and the one table of allowed transitions.

received ──> processing ──> released            (automatic release)
    ^            │      ├─> referred ──> closed  (officer decides: released, inspected_cleared ...)
    └────────────┘      ├─> held ─────> closed
 (crash recovery)       └─> failed ──> received (retried)
"""

from __future__ import annotations

from enum import StrEnum

from nii.errors import IllegalTransition


class CaseState(StrEnum):
    RECEIVED = "received"  # stored durably, waiting for analysis
    PROCESSING = "processing"  # a worker is analysing it
    RELEASED = "released"  # the policy released it automatically
    REFERRED = "referred"  # waiting for an officer (image / document check)
    HELD = "held"  # waiting for an officer (physical inspection)
    FAILED = "failed"  # analysis failed (e.g. model error); can be retried
    CLOSED = "closed"  # an officer recorded the final outcome


class FinalOutcome(StrEnum):
    """What an officer finally did with a referred or held parcel."""

    RELEASED = "released"
    INSPECTED_CLEARED = "inspected_cleared"
    SEIZED = "seized"
    RETURNED = "returned"
    DESTROYED = "destroyed"
    DUTY_ASSESSED = "duty_assessed"


TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    CaseState.RECEIVED: frozenset({CaseState.PROCESSING}),
    CaseState.PROCESSING: frozenset(
        {CaseState.RELEASED, CaseState.REFERRED, CaseState.HELD, CaseState.FAILED, CaseState.RECEIVED}
    ),
    CaseState.RELEASED: frozenset(),
    CaseState.REFERRED: frozenset({CaseState.CLOSED}),
    CaseState.HELD: frozenset({CaseState.CLOSED}),
    CaseState.FAILED: frozenset({CaseState.RECEIVED}),
    CaseState.CLOSED: frozenset(),
}

UNFINISHED = frozenset({CaseState.RECEIVED, CaseState.PROCESSING})  # re-processed on start
AWAITING_OFFICER = frozenset({CaseState.REFERRED, CaseState.HELD})
ANALYSED = frozenset({CaseState.RELEASED, CaseState.REFERRED, CaseState.HELD, CaseState.CLOSED})


def check_transition(case_id: str, current: CaseState, target: CaseState) -> None:
    """Raise IllegalTransition unless the table allows current -> target."""
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "none (final state)"
        raise IllegalTransition(
            f"case {case_id} is {current}; it cannot become {target} (allowed from {current}: {allowed})"
        )
