"""Roles and permissions (one table), per-station upload limits, per-account sign-in limits.

A request carries an API key (stations, scripts) or a sign-in session token (people on the page) as
``Authorization: Bearer nii_...`` / ``Bearer niis_...``, or a key as ``X-API-Key: nii_...``.
"""

from __future__ import annotations

import math
import threading
import time
from enum import StrEnum

from nii.errors import Overloaded, PermissionDenied
from nii.store.accounts import PrincipalRecord, Role


class Permission(StrEnum):
    SCAN_UPLOAD = "scan:upload"
    SCAN_READ = "scan:read"  # a station reads only its own cases
    QUEUE_READ = "queue:read"
    CASE_DECIDE = "case:decide"
    CASE_RETRY = "case:retry"
    AUDIT_READ = "audit:read"
    WEBHOOKS_MANAGE = "webhooks:manage"


PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.STATION: frozenset({Permission.SCAN_UPLOAD, Permission.SCAN_READ}),
    Role.OFFICER: frozenset({Permission.SCAN_READ, Permission.QUEUE_READ, Permission.CASE_DECIDE}),
    Role.SUPERVISOR: frozenset(
        {
            Permission.SCAN_READ,
            Permission.QUEUE_READ,
            Permission.CASE_DECIDE,
            Permission.CASE_RETRY,
            Permission.AUDIT_READ,
        }
    ),
    Role.ADMIN: frozenset(
        {Permission.SCAN_READ, Permission.AUDIT_READ, Permission.WEBHOOKS_MANAGE, Permission.CASE_RETRY}
    ),
}


def check_permission(principal: PrincipalRecord, permission: Permission) -> None:
    if permission not in PERMISSIONS[principal.role]:
        allowed = sorted(str(r) for r, perms in PERMISSIONS.items() if permission in perms)
        raise PermissionDenied(
            f"{principal.name} ({principal.role}) may not {permission}; "
            f"this needs the role {' or '.join(allowed)}"
        )


def actor(principal: PrincipalRecord) -> str:
    """How a principal appears in the audit chain."""
    return f"{principal.role}:{principal.name}"


class RateLimited(Overloaded):
    """A station sent more uploads than its per-minute allowance (429)."""


class RateLimiter:
    """A token bucket per name: `per_minute` events a minute, bursts up to `per_minute`; 0 = no limit."""

    def __init__(self, per_minute: int, *, who: str = "station", what: str = "uploads") -> None:
        self.per_minute = per_minute
        self.who, self.what = who, what  # for the message: "<who> <name> ... <n> <what> a minute"
        self._buckets: dict[str, tuple[float, float]] = {}  # name -> (tokens, last time)
        self._lock = threading.Lock()

    def take(self, name: str) -> None:
        if self.per_minute <= 0:
            return
        rate = self.per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(name, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - last) * rate)
            if tokens < 1.0:
                self._buckets[name] = (tokens, now)
                retry = max(1, math.ceil((1.0 - tokens) / rate))
                raise RateLimited(
                    f"{self.who} {name} is above its limit of {self.per_minute} {self.what} a minute; "
                    f"retry in {retry} s",
                    retry_after_s=retry,
                )
            self._buckets[name] = (tokens - 1.0, now)


# Sign-ins from one address may be many officers behind one NAT at the start of a shift.
ADDRESS_SIGN_IN_FACTOR = 5


class SignInLimits:
    """Sign-in attempts per account name and per client address, so passwords cannot be guessed fast."""

    def __init__(self, per_minute: int) -> None:
        self.by_name = RateLimiter(per_minute, who="account", what="sign-in attempts")
        self.by_address = RateLimiter(
            per_minute * ADDRESS_SIGN_IN_FACTOR, who="address", what="sign-in attempts"
        )

    def take(self, name: str, address: str) -> None:
        self.by_address.take(address)
        self.by_name.take(name)
