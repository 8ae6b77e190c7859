"""Fixtures of the web tests: an app on a fresh SQLite database with a fake detector and one key per
role (TestClient), and for the browser tests the same app served by uvicorn plus headless Chromium."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from webhelpers import (
    SAMPLE_BOXES,
    Api,
    BoxDetector,
    FakeDetector,
    LiveServer,
    RecordingTransport,
    add_keys,
    make_settings,
    set_passwords,
)

from nii.api.main import create_app

CHROMIUM = Path(os.environ.get("NII_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture
def web_api(tmp_path: Path) -> Iterator[Api]:
    url = f"sqlite:///{tmp_path / 'nii.db'}"
    keys = add_keys(url)
    detector = FakeDetector(("knife", 0.9), ("hammer", 0.8))
    app = create_app(make_settings(url, tmp_path), detector=detector,
                     webhook_client=httpx.Client(transport=RecordingTransport()))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Api(client, app.state.services.settings, detector, RecordingTransport(), keys)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[LiveServer, dict[str, str], object]]:
    """(server, keys, settings) of a served app: uvicorn on a free local port; the officer and the
    supervisor sign in with OFFICER_PASSWORD."""
    url = f"sqlite:///{tmp_path / 'nii.db'}"
    keys = add_keys(url)
    set_passwords(url, "officer", "supervisor")
    settings = make_settings(url, tmp_path, rate_limit_per_minute=0)
    app = create_app(settings, detector=BoxDetector(*SAMPLE_BOXES),
                     webhook_client=httpx.Client(transport=RecordingTransport()))
    with LiveServer(app) as server:
        yield server, keys, settings


@pytest.fixture(scope="session")
def browser():
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    """A fresh browser tab (1600x900); fails the test on any uncaught page error."""
    context = browser.new_context(viewport={"width": 1600, "height": 900})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda exc: errors.append(str(exc)))
    p.set_default_timeout(20_000)
    yield p
    context.close()
    assert not errors, errors
