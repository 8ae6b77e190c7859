"""The outbox delivery worker: at-least-once, exponential backoff, signed CloudEvents.

Each attempt POSTs the stored CloudEvents JSON (``Content-Type: application/cloudevents+json``) with
``X-Nii-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>.<body>")>``. The key of a
subscription is HMAC-SHA256(NII_SECRET_KEY, subscription id), shown once when it is created. A 2xx
answer delivers the event; anything else is retried after backoff * 2**(attempt - 1) seconds (capped
at an hour) until `max_attempts`, then the event is `dead`. Each attempt is an audit record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx
from sqlalchemy import select

from nii.store import Database, audit
from nii.store.models import OutboxEvent, Subscription, utcnow

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Nii-Signature"
MAX_BACKOFF_S = 3600.0
BATCH = 20  # events per poll


def signing_key(secret_key: str, subscription_id: str) -> str:
    return hmac.new(secret_key.encode(), f"webhook:{subscription_id}".encode(), hashlib.sha256).hexdigest()


def sign(key: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(key.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(
    key: str, body: bytes, header: str, *, tolerance_s: int = 300, now: float | None = None
) -> bool:
    """What a receiver does: check the MAC and that the timestamp is recent (replay guard)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(key, body, timestamp), header)


class WebhookDeliverer:
    def __init__(
        self,
        db: Database,
        secret_key: str,
        *,
        client: httpx.Client | None = None,
        poll_s: float = 1.0,
        max_attempts: int = 10,
        backoff_s: float = 2.0,
        timeout_s: float = 10.0,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        self.db, self.secret_key = db, secret_key
        self.client = client or httpx.Client(timeout=timeout_s, follow_redirects=False)
        self.poll_s, self.max_attempts, self.backoff_s = poll_s, max_attempts, backoff_s
        self.on_attempt = on_attempt
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def backoff(self, attempts: int) -> float:
        return min(MAX_BACKOFF_S, self.backoff_s * 2 ** (attempts - 1))

    def run_once(self, now: datetime | None = None) -> int:
        """Attempt every due event once; returns how many were attempted."""
        now = now or utcnow()
        with self.db.session() as s:
            due = list(
                s.execute(
                    select(
                        OutboxEvent.id,
                        OutboxEvent.body,
                        OutboxEvent.attempts,
                        Subscription.id,
                        Subscription.url,
                    )
                    .join(Subscription, Subscription.id == OutboxEvent.subscription_id)
                    .where(OutboxEvent.status == "pending", OutboxEvent.next_attempt_at <= now)
                    .order_by(OutboxEvent.next_attempt_at, OutboxEvent.created_at)
                    .limit(BATCH)
                )
            )
        for event_id, body, attempts, sub_id, url in due:
            self._attempt(event_id, body.encode(), attempts + 1, sub_id, url)
        return len(due)

    def _attempt(self, event_id: str, body: bytes, attempt: int, sub_id: str, url: str) -> None:
        headers = {
            "Content-Type": "application/cloudevents+json",
            SIGNATURE_HEADER: sign(signing_key(self.secret_key, sub_id), body, int(time.time())),
            "ce-id": event_id,
        }
        status: int | None = None
        try:
            response = self.client.post(url, content=body, headers=headers)
            status = response.status_code
            error = None if 200 <= status < 300 else f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        with self.db.session() as s:
            row = s.get(OutboxEvent, event_id, with_for_update=True)
            if row is None or row.status != "pending":
                return
            row.attempts = attempt
            if error is None:
                row.status, row.delivered_at, row.last_error = "delivered", utcnow(), None
                result = "delivered"
            elif attempt >= self.max_attempts:
                row.status, row.last_error = "dead", error
                result = "dead"
            else:
                row.last_error = error
                row.next_attempt_at = utcnow() + timedelta(seconds=self.backoff(attempt))
                result = "retry"
            audit.append(
                s,
                actor="webhooks",
                action=f"webhook.{result}",
                case_id=row.case_id,
                payload={
                    "event_id": event_id,
                    "subscription_id": sub_id,
                    "attempt": attempt,
                    "status": status,
                    "error": error,
                },
            )
        if self.on_attempt is not None:
            self.on_attempt(result)
        log.log(
            logging.INFO if error is None else logging.WARNING,
            "webhook %s to %s attempt %d: %s",
            event_id,
            url,
            attempt,
            error or "delivered",
        )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="nii-webhooks", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.poll_s):
            try:
                self.run_once()
            except Exception:  # the store may be down for a while; keep polling
                log.exception("webhook delivery pass failed")

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        self.client.close()
