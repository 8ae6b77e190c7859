"""Post the scans of a `sample_scans/` folder through the API (for `nii serve --load-samples`)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from nii.errors import UsageError
from nii.store import Database, accounts
from nii.store.accounts import Role

log = logging.getLogger(__name__)
SAMPLE_STATION = "sample-station"
_MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".tif": "image/tiff"}


def sample_station_key(db: Database) -> str:
    """A fresh key of the `sample-station` station (created on first use)."""
    with db.session() as s:
        names = {p.name for p in accounts.list_principals(s)}
        if SAMPLE_STATION not in names:
            accounts.add_principal(s, name=SAMPLE_STATION, role=Role.STATION, actor="nii serve")
        return accounts.issue_key(s, SAMPLE_STATION, actor="nii serve")[1]


def wait_ready(base_url: str, timeout_s: float = 120.0, alive: Callable[[], bool] = lambda: True) -> None:
    """Poll /readyz until 200; UsageError after `timeout_s` or as soon as `alive()` turns false."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise UsageError(f"{base_url}/readyz did not answer 200 within {timeout_s:.0f} s (is the model loaded?)")


def post_samples(base_url: str, key: str, folder: Path, *, wait_s: float = 30.0) -> list[dict]:
    """Upload every manifest entry (station scan id = file stem); returns the API answers."""
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise UsageError(f"{manifest_path} not found: --load-samples needs a folder with manifest.json")
    answers = []
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=wait_s + 30
    ) as client:
        for entry in json.loads(manifest_path.read_text(encoding="utf-8")):
            scan = folder / entry["scan"]
            files = {"scan": (scan.name, scan.read_bytes(), _MEDIA.get(scan.suffix.lower(), "image/png"))}
            low, high = folder / f"{scan.stem}_low.png", folder / f"{scan.stem}_high.png"
            if low.is_file() and high.is_file():
                files["low"] = (low.name, low.read_bytes(), "image/png")
                files["high"] = (high.name, high.read_bytes(), "image/png")
            data = {
                "station_scan_id": scan.stem,
                "declaration": (folder / entry["declaration"]).read_text(encoding="utf-8"),
            }
            response = client.post("/v1/scans", params={"wait": wait_s}, files=files, data=data)
            body = response.json()
            body["http_status"] = response.status_code
            answers.append(body)
    return answers
