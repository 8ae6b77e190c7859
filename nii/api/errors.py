"""Domain errors -> HTTP, in one table. Every error body is ``{"error": code, "detail": text}``.

Request-validation errors list each bad field; unknown exceptions are a logged 500 whose body says
nothing internal.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nii.api.auth import RateLimited
from nii.errors import (
    AuditChainError,
    AuthError,
    ConfigError,
    Conflict,
    DeclarationError,
    IllegalTransition,
    ModelError,
    NiiError,
    NotFound,
    Overloaded,
    PermissionDenied,
    ScanFormatError,
    StoreError,
    UsageError,
)

log = logging.getLogger(__name__)

# Most specific class first does not matter: the exception's MRO is walked, nearest class wins.
ERROR_STATUS: dict[type[NiiError], tuple[int, str]] = {
    UsageError: (400, "bad_request"),
    AuthError: (401, "unauthorized"),
    PermissionDenied: (403, "forbidden"),
    NotFound: (404, "not_found"),
    Conflict: (409, "conflict"),
    IllegalTransition: (409, "illegal_transition"),
    ScanFormatError: (422, "bad_scan"),
    DeclarationError: (422, "bad_declaration"),
    RateLimited: (429, "rate_limited"),
    Overloaded: (503, "overloaded"),
    StoreError: (503, "store_unavailable"),
    ModelError: (503, "model_unavailable"),
    ConfigError: (500, "configuration_error"),
    AuditChainError: (500, "audit_chain_broken"),
    NiiError: (500, "error"),
}


class PayloadTooLarge(UsageError):
    """The request body exceeds NII_MAX_UPLOAD_BYTES (413)."""


ERROR_STATUS[PayloadTooLarge] = (413, "payload_too_large")


def status_for(exc: NiiError) -> tuple[int, str]:
    for cls in type(exc).__mro__:
        if cls in ERROR_STATUS:
            return ERROR_STATUS[cls]  # type: ignore[index]
    return 500, "error"


def error_response(
    status: int, code: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    return JSONResponse({"error": code, "detail": detail, **extra}, status_code=status, headers=headers)


async def _nii_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, NiiError)
    status, code = status_for(exc)
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, Overloaded) else None
    if isinstance(exc, AuthError):
        headers = {"WWW-Authenticate": "Bearer"}
    if status >= 500:
        log.warning("%s %s: %s: %s", request.method, request.url.path, type(exc).__name__, exc)
    return error_response(status, code, str(exc), headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "request"


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _location(tuple(e.get("loc", ()))), "message": str(e.get("msg", "invalid"))}
        for e in exc.errors()
    ]
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5]) or "invalid request"
    return error_response(422, "invalid_request", detail, errors=errors[:20])


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {
        400: "bad_request",
        401: "unauthorized",
        403: "forbidden",
        404: "not_found",
        405: "method_not_allowed",
        413: "payload_too_large",
        415: "unsupported_media_type",
    }
    detail = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and detail == "Not Found":
        detail = f"no route {request.method} {request.url.path}; see /docs for the API"
    elif exc.status_code == 400:
        # Starlette and FastAPI raise 400 only when they cannot read the body (not UTF-8 JSON, broken
        # multipart); malformed JSON is already a 422, so all answer as the request validation error
        # that every route with a body documents.
        media = (request.headers.get("content-type") or "no content type").split(";")[0]
        return error_response(
            422,
            "invalid_request",
            f"the request body could not be read as {media} ({detail}); send UTF-8 JSON "
            "(application/json) or a multipart/form-data upload as the route documents",
            errors=[{"field": "body", "message": detail}],
        )
    return error_response(exc.status_code, codes.get(exc.status_code, "http_error"), detail, exc.headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("%s %s: unexpected error", request.method, request.url.path)
    return error_response(500, "internal_error", "internal error; the request id is in the server log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(NiiError, _nii_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


class UnsupportedMediaType(ScanFormatError):
    """An upload part whose declared content type nii does not read (415)."""


class Unprocessable(UsageError):
    """A well-formed request that contradicts the case it acts on (422)."""


ERROR_STATUS[UnsupportedMediaType] = (415, "unsupported_media_type")
ERROR_STATUS[Unprocessable] = (422, "invalid_request")
