"""Dependencies of the routes, as `Annotated` aliases: settings, services, the caller and its rights."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from nii.api.auth import Permission, RateLimiter, SignInLimits, check_permission
from nii.api.metrics import Metrics
from nii.api.settings import Settings
from nii.api.worker import WorkerPool
from nii.errors import AuthError
from nii.store import BlobStore, Database, logins
from nii.store.accounts import PrincipalRecord
from nii.triage import DetectorLike


@dataclass
class Services:
    """Everything a request may use; built once by `create_app` and kept on `app.state`."""

    settings: Settings
    db: Database
    blobs: BlobStore
    pool: WorkerPool
    metrics: Metrics
    limiter: RateLimiter
    detector: DetectorLike | None
    sign_ins: SignInLimits


def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_bearer = HTTPBearer(
    auto_error=False,
    description="Authorization: Bearer nii_<key id>_<secret> (API key), or niis_... (POST /v1/session)",
)
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="X-API-Key: nii_<key id>_<secret>")


def get_token(
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
    api_key: Annotated[str | None, Security(_api_key)],
) -> str:
    token = bearer.credentials if bearer is not None else api_key
    if not token:
        raise AuthError(
            "no credentials: send 'Authorization: Bearer <API key or session token>' or "
            "'X-API-Key: nii_...'; people sign in with POST /v1/session"
        )
    return token


TokenDep = Annotated[str, Depends(get_token)]


def get_principal(services: ServicesDep, token: TokenDep) -> PrincipalRecord:
    settings = services.settings
    with services.db.session() as s:
        return logins.authenticate(s, token, idle_s=settings.session_idle_s, max_s=settings.session_max_s)


PrincipalDep = Annotated[PrincipalRecord, Depends(get_principal)]


def require(permission: Permission) -> Callable[[PrincipalRecord], PrincipalRecord]:
    def dependency(principal: PrincipalDep) -> PrincipalRecord:
        check_permission(principal, permission)
        return principal

    dependency.__name__ = f"require_{permission.name.lower()}"
    return dependency


UploaderDep = Annotated[PrincipalRecord, Depends(require(Permission.SCAN_UPLOAD))]
ReaderDep = Annotated[PrincipalRecord, Depends(require(Permission.SCAN_READ))]
QueueReaderDep = Annotated[PrincipalRecord, Depends(require(Permission.QUEUE_READ))]
DeciderDep = Annotated[PrincipalRecord, Depends(require(Permission.CASE_DECIDE))]
RetrierDep = Annotated[PrincipalRecord, Depends(require(Permission.CASE_RETRY))]
AuditorDep = Annotated[PrincipalRecord, Depends(require(Permission.AUDIT_READ))]
WebhookAdminDep = Annotated[PrincipalRecord, Depends(require(Permission.WEBHOOKS_MANAGE))]
