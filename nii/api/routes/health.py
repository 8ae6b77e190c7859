"""/healthz, /readyz and /metrics."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from nii.api.deps import ServicesDep
from nii.api.schemas import Health
from nii.errors import StoreError

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    """The process is up."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the model is loaded and the store answers."""
    checks = {"model": "loaded" if services.detector is not None else "not loaded"}
    try:
        services.db.ping()
        checks["store"] = "reachable"
    except StoreError as exc:
        checks["store"] = str(exc)
    ok = services.detector is not None and checks["store"] == "reachable"
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
def metrics(services: ServicesDep) -> Response:
    """Prometheus metrics."""
    services.metrics.queue_depth.set(services.pool.depth)
    return Response(generate_latest(services.metrics.registry), media_type=CONTENT_TYPE_LATEST)
