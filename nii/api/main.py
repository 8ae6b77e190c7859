"""The FastAPI app: assembles settings, store, model, worker pool, webhooks, routes and middleware.

`create_app(settings, detector=..., webhook_client=...)` takes fakes in tests; in service the
detector is loaded from NII_MODEL_PATH. Run it with `nii serve`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nii import __version__
from nii.api.auth import RateLimiter, SignInLimits
from nii.api.deps import Services
from nii.api.errors import error_response, install_error_handlers
from nii.api.metrics import Metrics
from nii.api.routes import audit, health, queue, review, scans, session, webhooks
from nii.api.settings import Settings, load_settings
from nii.api.worker import WorkerPool
from nii.errors import ModelError
from nii.matching import load_taxonomy
from nii.store import BlobStore, Database
from nii.triage import DetectorLike, load_policy
from nii.web import mount_web
from nii.webhooks import WebhookDeliverer

log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


class BodyLimit:
    """413 for a body above `limit` bytes, by Content-Length or while it streams in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = (
            f"the request body is larger than {self.limit} bytes (NII_MAX_UPLOAD_BYTES); send a smaller scan"
        )
        length = dict(scope.get("headers", [])).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            await error_response(413, "payload_too_large", detail)(scope, receive, send)
            return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await error_response(413, "payload_too_large", detail)(scope, receive, send)


class RequestMetrics:
    """Counts requests by route template and status, and times them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            self.metrics.requests.labels(scope["method"], route, str(status)).inc()
            self.metrics.request_latency.labels(route).observe(time.perf_counter() - start)


def _load_detector(settings: Settings) -> DetectorLike | None:
    from nii.runtime import load_detector

    try:
        return load_detector(settings.model_path, threads=settings.detector_threads,
                             fp16=settings.detector_fp16)
    except ModelError as exc:
        if settings.environment == "production":
            raise
        log.error("no model loaded (%s); uploads are refused until one is (readyz says why)", exc)
        return None


def create_app(
    settings: Settings | None = None,
    *,
    detector: DetectorLike | None = None,
    webhook_client: httpx.Client | None = None,
    load_model: bool = True,
) -> FastAPI:
    settings = settings or load_settings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.resolved_database_url)
        db.migrate()
        model = detector if detector is not None or not load_model else _load_detector(settings)
        pool = WorkerPool(
            db=db,
            blobs=BlobStore(settings.resolved_scan_root),
            detector=model,
            policy=load_policy(settings.policy_path),
            taxonomy=load_taxonomy(settings.taxonomy_path),
            workers=settings.workers,
            queue_size=settings.queue_size,
            max_pixels=settings.max_pixels,
            metrics=metrics,
        )
        deliverer = WebhookDeliverer(
            db,
            settings.secret_key,
            client=webhook_client,
            poll_s=settings.webhook_poll_s,
            max_attempts=settings.webhook_max_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
            on_attempt=lambda result: metrics.webhook_deliveries.labels(result).inc(),
        )
        app.state.services = Services(
            settings,
            db,
            pool.blobs,
            pool,
            metrics,
            RateLimiter(settings.rate_limit_per_minute),
            model,
            SignInLimits(settings.sign_in_per_minute),
        )
        app.state.deliverer = deliverer
        if model is not None:
            pool.start()
        deliverer.start()
        log.info(
            "nii %s serving on %s (%s); model %s",
            __version__,
            db.dialect,
            settings.environment,
            "loaded" if model is not None else "NOT loaded",
        )
        try:
            yield
        finally:
            deliverer.stop()
            pool.stop()
            db.dispose()

    app = FastAPI(
        title="nii triage service",
        version=__version__,
        description="X-ray parcel triage for customs: scanner stations upload scans with declarations; "
        "officers review referred and held parcels; clearance systems receive signed webhooks.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    routers = (scans, review, session, queue, audit, webhooks, health)
    for module in routers:
        app.include_router(module.router)
    mount_web(app)  # the officer review page at /
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
        )
    app.add_middleware(BodyLimit, limit=settings.max_upload_bytes)
    app.add_middleware(RequestMetrics, metrics=metrics)
    return app


def app_factory() -> Any:
    """For `uvicorn --factory nii.api.main:app_factory`."""
    return create_app()
