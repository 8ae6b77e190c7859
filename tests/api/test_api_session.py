"""POST/DELETE /v1/session: officers sign in with name and password; the token works like a key on
every route, expires, is audited, and wrong passwords are refused alike and rate-limited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from apihelpers import Api
from sqlalchemy import update

from nii.store import Database, accounts, audit, logins
from nii.store.models import LoginSession, utcnow

PASSWORD = "officer password 1"


def give_password(api: Api, name: str = "officer", password: str = PASSWORD) -> None:
    db = Database(api.settings.resolved_database_url)
    with db.session() as s:
        accounts.set_password(s, name, password)
    db.dispose()


def sign_in(api: Api, name: str = "officer", password: str = PASSWORD):
    return api.client.post("/v1/session", json={"name": name, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def audit_actions(api: Api) -> list[tuple[str, str, dict]]:
    db = Database(api.settings.resolved_database_url)
    with db.session() as s:
        rows = [(r.actor, r.action, r.payload) for r in audit.records(s, limit=1000)]
    db.dispose()
    return rows


def test_sign_in_use_and_sign_out(api: Api) -> None:
    give_password(api)
    r = sign_in(api)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["token"].startswith("niis_") and body["token_type"] == "bearer"
    assert (body["name"], body["role"]) == ("officer", "officer") and "queue:read" in body["permissions"]
    assert body["idle_timeout_s"] == api.settings.session_idle_s
    token = body["token"]

    assert api.client.get("/v1/me", headers=bearer(token)).json()["name"] == "officer"
    assert api.client.get("/v1/queue", headers=bearer(token)).status_code == 200
    assert api.client.get("/v1/me", headers=api.headers("officer")).status_code == 200  # keys still work

    assert api.client.delete("/v1/session", headers=bearer(token)).status_code == 204
    r = api.client.get("/v1/me", headers=bearer(token))
    assert r.status_code == 401 and r.json() == {
        "error": "unauthorized",
        "detail": "this session was signed out; sign in again",
    }
    assert r.headers["www-authenticate"] == "Bearer"
    assert api.client.delete("/v1/session", headers=bearer(token)).status_code == 204  # again: no-op

    trail = [(actor, action) for actor, action, _ in audit_actions(api)]
    assert trail[-2:] == [("officer:officer", "session.started"), ("officer:officer", "session.ended")]


@pytest.mark.parametrize(
    ("name", "password", "reason"),
    [
        ("officer", "not the password", "wrong_password"),
        ("nobody", PASSWORD, "unknown_account"),
        ("supervisor", PASSWORD, "no_password"),  # an account with API keys only
    ],
    ids=["wrong-password", "unknown-name", "no-password"],
)
def test_refused_sign_in_is_401_and_audited(api: Api, name: str, password: str, reason: str) -> None:
    give_password(api)
    r = sign_in(api, name, password)
    assert r.status_code == 401
    assert r.json() == {"error": "unauthorized", "detail": logins.REFUSED}
    assert "wrong account name or password" in logins.REFUSED
    actor, action, payload = audit_actions(api)[-1]
    assert (actor, action, payload) == ("anonymous", "session.refused", {"name": name, "reason": reason})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "officer"}, "password"),
        ({"name": "<script>", "password": "x"}, "name"),
        ({"name": "officer", "password": "x" * 1025}, "password"),
        ({"name": "officer", "password": PASSWORD, "role": "admin"}, "role"),
    ],
    ids=["no-password", "bad-name", "long-password", "extra-field"],
)
def test_bad_sign_in_bodies_are_422(api: Api, body: dict, field: str) -> None:
    r = api.client.post("/v1/session", json=body)
    assert r.status_code == 422 and r.json()["error"] == "invalid_request"
    assert field in r.json()["detail"]


def test_sign_ins_are_rate_limited_per_account(api_factory) -> None:
    api = api_factory(sign_in_per_minute=3)
    give_password(api)
    codes = [sign_in(api, password="guess number one").status_code for _ in range(3)]
    r = sign_in(api)  # even the right password waits: the bucket is per account name
    assert codes == [401, 401, 401] and r.status_code == 429
    assert "account officer is above its limit of 3 sign-in attempts a minute" in r.json()["detail"]
    assert int(r.headers["retry-after"]) >= 1
    assert sign_in(api, "supervisor", "another guess!").status_code == 401  # other names are not held up


def test_expired_session_is_401(api: Api) -> None:
    give_password(api)
    token = sign_in(api).json()["token"]
    db = Database(api.settings.resolved_database_url)
    with db.session() as s:
        s.execute(update(LoginSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.dispose()
    r = api.client.get("/v1/queue", headers=bearer(token))
    assert r.status_code == 401 and r.json()["detail"] == "your session has expired; sign in again"


@pytest.mark.parametrize(
    ("headers", "status", "fragment"),
    [
        ({}, 401, "no credentials"),
        ({"Authorization": "Bearer niis_nope"}, 401, "malformed session token"),
        (None, 400, "carries an API key, not a session token"),
    ],
    ids=["none", "malformed", "api-key"],
)
def test_sign_out_needs_a_session_token(api: Api, headers: dict | None, status: int, fragment: str) -> None:
    r = api.client.delete("/v1/session", headers=api.headers("officer") if headers is None else headers)
    assert r.status_code == status and fragment in r.json()["detail"]
