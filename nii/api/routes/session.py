"""/v1/session: people sign in with account name and password and get a bearer token; sign out.

Stations and scripts keep using API keys; every other route accepts either (see `deps.get_principal`).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from nii.api.auth import PERMISSIONS
from nii.api.deps import ServicesDep, TokenDep
from nii.api.schemas import ErrorBody
from nii.errors import UsageError
from nii.store import logins
from nii.store.accounts import MAX_PASSWORD_CHARS

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/session", tags=["session"])


class SignIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$", description="account name")]
    password: Annotated[str, Field(min_length=1, max_length=MAX_PASSWORD_CHARS)]


class SessionOut(BaseModel):
    token: str = Field(description="send as 'Authorization: Bearer <token>'; shown once")
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime = Field(description="moves forward with each request, up to a hard limit")
    idle_timeout_s: float = Field(description="the session ends after this long without a request")
    name: str
    role: str
    permissions: list[str]


@router.post(
    "",
    status_code=201,
    response_model=SessionOut,
    responses={401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 429: {"model": ErrorBody}},
)
def sign_in(services: ServicesDep, body: SignIn, request: Request) -> SessionOut:
    """Sign in with account name and password; returns a session token that expires when unused."""
    settings = services.settings
    services.sign_ins.take(body.name, request.client.host if request.client else "unknown")
    try:
        with services.db.session() as s:
            record, token = logins.sign_in(
                s, body.name, body.password, idle_s=settings.session_idle_s, max_s=settings.session_max_s
            )
    except logins.SignInRefused as exc:
        with services.db.session() as s:  # the refusal rolled its own transaction back
            logins.record_refusal(s, body.name, exc.reason)
        log.warning("sign-in refused for %r: %s", body.name, exc.reason)
        raise
    principal = record.principal
    log.info("%s %s signed in (session %s)", principal.role, principal.name, record.id)
    return SessionOut(
        token=token,
        expires_at=record.expires_at,
        idle_timeout_s=settings.session_idle_s,
        name=principal.name,
        role=str(principal.role),
        permissions=sorted(str(p) for p in PERMISSIONS[principal.role]),
    )


@router.delete(
    "",
    status_code=204,
    response_class=Response,
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)
def sign_out(services: ServicesDep, token: TokenDep) -> Response:
    """Sign out: the session token of this request stops working."""
    if not token.startswith(logins.TOKEN_PREFIX):
        raise UsageError(
            "this request carries an API key, not a session token; revoke API keys with `nii keys revoke`"
        )
    with services.db.session() as s:
        record = logins.sign_out(s, token)
    log.info("%s signed out (session %s)", record.principal.name, record.id)
    return Response(status_code=204)
