"""Helpers of the API tests: a fake detector, a recording webhook receiver, an `Api` wrapper with one
key per role, settings for a test database."""

from __future__ import annotations

import importlib.util
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np
from fastapi.testclient import TestClient

from nii.api.settings import Settings
from nii.runtime.detector import Detections
from nii.store import Database, accounts
from nii.store.accounts import Role
from nii.types import CLASS_NAMES

_spec = importlib.util.spec_from_file_location(
    "dbfixtures", Path(__file__).parents[1] / "store" / "dbfixtures.py"
)
dbfixtures = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
sys.modules.setdefault("dbfixtures", dbfixtures)
_spec.loader.exec_module(dbfixtures)  # type: ignore[union-attr]

SAMPLES = Path(__file__).resolve().parents[2] / "sample_scans"


class FakeDetector:
    """Finds the configured (class, score) pairs in every image, at fixed boxes side by side (boxes of
    two classes on one spot would count once, `same_object_iou`)."""

    sha256 = "f" * 64
    card_sha256 = "c" * 64

    def __init__(self, *found: tuple[str, float]) -> None:
        self.found = list(found)

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None,
               flips: tuple[str, ...] = ()) -> Detections:
        n = len(self.found)
        boxes = np.array([[10 + 60 * i, 10, 60 + 60 * i, 50] for i in range(n)], np.float32).reshape(n, 4)
        return Detections(
            boxes,
            np.array([s for _, s in self.found], np.float32),
            np.array([CLASS_NAMES.index(c) for c, _ in self.found], np.int64),
            CLASS_NAMES,
        )


class RecordingTransport(httpx.MockTransport):
    """A webhook receiver: answers `statuses` in turn (then 200) and keeps every request."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.statuses = list(statuses or [])
        super().__init__(self._handle)

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(self.statuses.pop(0) if self.statuses else 200)


@dataclass
class Api:
    client: TestClient
    settings: Settings
    detector: FakeDetector
    webhook: RecordingTransport
    keys: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    def upload(
        self,
        key: str = "S-1",
        scan: str = "scan_00",
        *,
        who: str = "station",
        wait: float = 0,
        files: dict | None = None,
        data: dict | None = None,
    ) -> httpx.Response:
        if files is None:
            path = next(SAMPLES.glob(f"{scan}.[pj][np]g"))
            files = {
                "scan": (path.name, path.read_bytes(), "image/png" if path.suffix == ".png" else "image/jpeg")
            }
        form = {"station_scan_id": key, "declaration": (SAMPLES / f"{scan}.json").read_text(encoding="utf-8")}
        form.update(data or {})
        return self.client.post(f"/v1/scans?wait={wait}", files=files, data=form, headers=self.headers(who))

    def decided(self, key: str = "S-1", scan: str = "scan_00") -> dict:
        response = self.upload(key, scan, wait=20)
        assert response.status_code == 200, response.text
        return response.json()


def make_settings(url: str, tmp_path: Path, **overrides: object) -> Settings:
    values: dict = {
        "environment": "test",
        "secret_key": "s" * 40,
        "database_url": url,
        "data_dir": tmp_path,
        "workers": 1,
        "queue_size": 8,
        "webhook_poll_s": 0.05,
        "webhook_backoff_s": 0.01,
    }
    values.update(overrides)
    return Settings(**values)


def add_keys(url: str) -> dict[str, str]:
    db = Database(url)
    db.migrate()
    keys = {}
    with db.session() as s:
        for name, role in [
            ("station", Role.STATION),
            ("station2", Role.STATION),
            ("officer", Role.OFFICER),
            ("supervisor", Role.SUPERVISOR),
            ("admin", Role.ADMIN),
        ]:
            accounts.add_principal(s, name=name, role=role)
            keys[name] = accounts.issue_key(s, name)[1]
    db.dispose()
    return keys


def sample_declaration(scan: str = "scan_00") -> dict:
    return json.loads((SAMPLES / f"{scan}.json").read_text(encoding="utf-8"))
