"""Prometheus metrics of one app instance (own registry, so several apps can live in one process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

_LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "nii_http_requests", "HTTP requests", ["method", "route", "status"], registry=r
        )
        self.request_latency = Histogram(
            "nii_http_request_seconds",
            "HTTP request latency",
            ["route"],
            buckets=_LATENCY_BUCKETS_S,
            registry=r,
        )
        self.decisions = Counter("nii_decisions", "Automatic decisions", ["decision"], registry=r)
        self.officer_decisions = Counter(
            "nii_officer_decisions", "Officer final outcomes", ["outcome"], registry=r
        )
        self.failures = Counter("nii_analysis_failures", "Analyses that failed", registry=r)
        self.queue_depth = Gauge("nii_queue_depth", "Accepted scans not yet analysed", registry=r)
        self.model_latency = Histogram(
            "nii_model_seconds", "Triage pipeline time per scan", buckets=_LATENCY_BUCKETS_S, registry=r
        )
        self.webhook_deliveries = Counter(
            "nii_webhook_deliveries", "Webhook attempts", ["result"], registry=r
        )
