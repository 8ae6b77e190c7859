"""The bounded in-process worker pool that analyses accepted scans.

An upload first `reserve()`s one of `queue_size` slots (`Overloaded` -> 503 + Retry-After when none
is free, before anything is stored), stores the scan, then `submit()`s the case with its slot: so
nothing accepted is ever dropped. On `start()`, cases left unfinished by a crash are queued again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import cv2
import numpy as np

from nii.api.metrics import Metrics
from nii.errors import NiiError, Overloaded, ScanFormatError
from nii.matching import Taxonomy, parse_declaration
from nii.runtime.preprocess import decode_image, image_header_size
from nii.store import BlobStore, Database, cases
from nii.store.cases import CaseRecord
from nii.triage import DetectorLike, Policy, Scan, triage

log = logging.getLogger(__name__)


def decode_raw_channel(data: bytes, name: str, shape: tuple[int, int] | None, max_pixels: int) -> np.ndarray:
    """A 16-bit single-channel PNG/TIFF [H, W] uint16 (a dual-energy reading) of `shape` unless None."""
    size = image_header_size(data[: 1 << 20])
    if size is not None and size[0] * size[1] > max_pixels:
        raise ScanFormatError(f"{name}: {size[0]}x{size[1]} is above the {max_pixels} pixel limit")
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None or image.dtype != np.uint16 or image.ndim != 2:
        got = "unreadable or truncated data" if image is None else f"{image.dtype} {image.shape}"
        raise ScanFormatError(f"{name}: expected a 16-bit single-channel PNG or TIFF, got {got}")
    if shape is not None and image.shape != shape:
        raise ScanFormatError(
            f"{name}: is {image.shape[1]}x{image.shape[0]} but the scan is {shape[1]}x{shape[0]}"
        )
    return image


def build_scan(
    case_id: str, scan: bytes, scan_sha256: str, low: bytes | None, high: bytes | None, max_pixels: int
) -> Scan:
    """Decode an upload into a `Scan` (ScanFormatError says which part is wrong)."""
    rgb = decode_image(scan, max_pixels=max_pixels)
    raw_low = raw_high = None
    if low is not None and high is not None:
        raw_low = decode_raw_channel(low, "low", rgb.shape[:2], max_pixels)
        raw_high = decode_raw_channel(high, "high", rgb.shape[:2], max_pixels)
    return Scan(case_id, scan_sha256, rgb, raw_low, raw_high)


@dataclass(frozen=True, slots=True)
class _Job:
    case_id: str
    scan: Scan | None  # decoded at upload; None after a restart (read back from the scan store)
    slot: bool  # holds one of the queue_size slots


class WorkerPool:
    def __init__(
        self,
        *,
        db: Database,
        blobs: BlobStore,
        detector: DetectorLike | None,
        policy: Policy,
        taxonomy: Taxonomy,
        workers: int = 1,
        queue_size: int = 64,
        max_pixels: int = 50_000_000,
        metrics: Metrics | None = None,
    ) -> None:
        self.db, self.blobs, self.detector = db, blobs, detector
        self.policy, self.taxonomy = policy, taxonomy
        self.workers, self.queue_size, self.max_pixels = workers, queue_size, max_pixels
        self.metrics = metrics
        self._queue: queue.Queue[_Job | None] = queue.Queue()
        self._lock = threading.Lock()
        self._used = 0  # reserved slots
        self._events: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._seconds_per_scan = 1.0  # running estimate for Retry-After

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    def reserve(self) -> None:
        """Take a slot for one upload, or raise Overloaded (503) when all are taken."""
        with self._lock:
            if self._used >= self.queue_size:
                retry = max(1, round(self._seconds_per_scan * self._used / self.workers))
                raise Overloaded(
                    f"the analysis queue is full ({self._used} scans waiting); nothing was stored, "
                    f"retry the same upload in {retry} s",
                    retry_after_s=retry,
                )
            self._used += 1

    def release(self) -> None:
        with self._lock:
            self._used = max(0, self._used - 1)

    def submit(self, case_id: str, scan: Scan | None = None, *, slot: bool = True) -> None:
        with self._lock:
            self._events.setdefault(case_id, threading.Event())
        self._queue.put(_Job(case_id, scan, slot))
        self._gauge()

    def wait(self, case_id: str, timeout_s: float) -> None:
        """Block until the case has been analysed or `timeout_s` passed (returns at once if unknown)."""
        event = self._events.get(case_id)
        if event is not None and timeout_s > 0:
            event.wait(timeout_s)

    def start(self) -> list[str]:
        """Queue the cases a crash left unfinished, then start the threads; returns those case ids."""
        with self.db.session() as s:
            recovered = cases.recover_unfinished(s)
        for case_id in recovered:
            self.submit(case_id, slot=False)
        if recovered:
            log.warning("re-processing %d cases left unfinished by the last run", len(recovered))
        for i in range(self.workers):
            thread = threading.Thread(target=self._loop, name=f"nii-worker-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return recovered

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the job in hand and stop; queued cases stay `received` and are recovered on start."""
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None and job.slot:
                self.release()
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout_s)
        self._threads.clear()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.queue_depth.set(self._queue.qsize())

    def _loop(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self.process(job.case_id, job.scan)
            except Exception:  # a store outage: the case stays unfinished and is recovered on restart
                log.exception("case %s: analysis could not be recorded", job.case_id)
            finally:
                if job.slot:
                    self.release()
                event = self._events.pop(job.case_id, None)
                if event is not None:
                    event.set()
                self._gauge()

    def _load_scan(self, case: CaseRecord) -> Scan:
        low = self.blobs.get(case.low_sha256) if case.low_sha256 else None
        high = self.blobs.get(case.high_sha256) if case.high_sha256 else None
        return build_scan(
            case.id, self.blobs.get(case.scan_sha256), case.scan_sha256, low, high, self.max_pixels
        )

    def process(self, case_id: str, scan: Scan | None = None) -> None:
        """Analyse one case: received -> processing -> released / referred / held (or failed)."""
        with self.db.session() as s:
            case = cases.get_case(s, case_id)
            if case.state != "received":
                log.info("case %s is %s, not received: skipped", case_id, case.state)
                return
            case = cases.start_processing(s, case_id)
        queue_ms = (datetime.now(UTC) - case.created_at).total_seconds() * 1000
        try:
            if self.detector is None:
                raise NiiError("no model is loaded; set NII_MODEL_PATH and restart, then retry the case")
            scan = scan or self._load_scan(case)
            declaration = parse_declaration(case.declaration, source=f"case {case_id} declaration")
            start = time.perf_counter()
            decision = triage(scan, declaration, self.detector, policy=self.policy, taxonomy=self.taxonomy)
            seconds = time.perf_counter() - start
        except Exception as exc:
            message = str(exc) if isinstance(exc, NiiError) else f"internal error ({type(exc).__name__})"
            log.error(
                "case %s: analysis failed: %s", case_id, message, exc_info=not isinstance(exc, NiiError)
            )
            with self.db.session() as s:
                cases.record_failure(s, case_id, error=message)
            if self.metrics is not None:
                self.metrics.failures.inc()
            return
        self._seconds_per_scan = 0.8 * self._seconds_per_scan + 0.2 * seconds
        timings = {"queue_ms": round(queue_ms, 1), "analysis_ms": round(seconds * 1000, 1)}
        with self.db.session() as s:
            cases.record_analysis(s, case_id, decision=decision.to_json(), timings=timings)
        if self.metrics is not None:
            self.metrics.decisions.labels(str(decision.outcome)).inc()
            self.metrics.model_latency.observe(seconds)
        log.info("case %s: %s (model %.12s)", case_id, decision.outcome, decision.model_sha256)
