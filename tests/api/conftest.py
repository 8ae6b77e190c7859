"""Fixtures of the API tests: an app on a fresh database (SQLite; PostgreSQL with the `postgres`
marker), a fake detector injected into `create_app`, and one API key per role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from apihelpers import Api, FakeDetector, RecordingTransport, add_keys, dbfixtures, make_settings
from fastapi.testclient import TestClient

from nii.api.main import create_app


@pytest.fixture(params=dbfixtures.BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with dbfixtures.database_url_for(request.param, tmp_path) as url:
        yield url


@pytest.fixture
def api_factory(database_url: str, tmp_path: Path):
    """Build an `Api` with settings overrides; the client is closed (lifespan ends) afterwards."""
    opened: list[TestClient] = []
    keys: dict[str, str] = {}

    def build(detector: FakeDetector | None = None, statuses: list[int] | None = None, **overrides) -> Api:
        if not keys:
            keys.update(add_keys(database_url))
        detector = detector or FakeDetector(("hammer", 0.9), ("hammer", 0.8))
        webhook = RecordingTransport(statuses)
        app = create_app(
            make_settings(database_url, tmp_path, **overrides),
            detector=detector,
            webhook_client=httpx.Client(transport=webhook),
        )
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()
        opened.append(client)
        return Api(client, app.state.services.settings, detector, webhook, keys)

    yield build
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def api(api_factory) -> Api:
    return api_factory()
