"""Roles and permissions (one table), API-key authentication, per-station rate limits.

A request carries its key as ``Authorization: Bearer nii_...`` or ``X-API-Key: nii_...``.
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
    """A token bucket per station: `per_minute` uploads a minute, bursts up to `per_minute`."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
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
                    f"station {name} is above its limit of {self.per_minute} uploads a minute; "
                    f"retry in {retry} s",
                    retry_after_s=retry,
                )
            self._buckets[name] = (tokens - 1.0, now)
