"""Helpers of the web tests: the API test helpers (fake detector, keys, settings), a live uvicorn
server in a thread for the browser, and a synthetic false-colour scan of any size."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import uvicorn

from tests.helpers import free_port

_path = Path(__file__).parents[1] / "api" / "apihelpers.py"
if "apihelpers" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("apihelpers", _path)
    _module = importlib.util.module_from_spec(_spec)  # type: ignore[arg-type]
    sys.modules["apihelpers"] = _module
    _spec.loader.exec_module(_module)  # type: ignore[union-attr]
apihelpers = sys.modules["apihelpers"]
Api, FakeDetector, RecordingTransport = apihelpers.Api, apihelpers.FakeDetector, apihelpers.RecordingTransport
add_keys, make_settings = apihelpers.add_keys, apihelpers.make_settings
sample_declaration = apihelpers.sample_declaration
SAMPLES = apihelpers.SAMPLES


OFFICER_PASSWORD = "officer password 1"  # of the accounts officer and supervisor in the browser tests


def set_passwords(url: str, *names: str) -> None:
    """Give each account OFFICER_PASSWORD, so it signs in on the page."""
    from nii.store import Database, accounts

    db = Database(url)
    with db.session() as s:
        for name in names:
            accounts.set_password(s, name, OFFICER_PASSWORD)
    db.dispose()


def synthetic_scan(width: int, height: int, seed: int = 0) -> bytes:
    """A PNG on a white belt: orange (organic), green (inorganic) and blue (metal) blobs."""
    rng = np.random.default_rng(seed)
    bgr = np.full((height, width, 3), 252, np.uint8)
    colours = [(40, 140, 235), (60, 170, 90), (200, 90, 30)]  # BGR: orange, green, blue
    for _ in range(max(6, width * height // 200_000)):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        axes = (int(rng.integers(20, max(21, width // 12))), int(rng.integers(20, max(21, height // 8))))
        colour = colours[int(rng.integers(0, 3))]
        cv2.ellipse(bgr, (x, y), axes, float(rng.integers(0, 180)), 0, 360, colour, -1)
    ok, png = cv2.imencode(".png", bgr)
    assert ok
    return png.tobytes()


DUAL_ENERGY_BANDS = {  # material -> (x1, x2, low/high log-attenuation ratio) of `dual_energy_scan`
    "organic": (20, 100, 1.2),
    "inorganic": (110, 190, 1.6),
    "metal": (200, 280, 2.6),
}
DUAL_ENERGY_ROWS = (20, 100)


def dual_energy_scan(width: int = 300, height: int = 120) -> tuple[bytes, bytes, bytes]:
    """(scan, low, high) PNGs: three bands of organic, inorganic and metal in the 16-bit channels, all
    painted orange (the organic hue) in the false-colour scan, so hue and channels disagree."""
    high = np.full((height, width), 65535, np.uint16)
    low = high.copy()
    bgr = np.full((height, width, 3), 252, np.uint8)
    y1, y2 = DUAL_ENERGY_ROWS
    for x1, x2, ratio in DUAL_ENERGY_BANDS.values():
        high[y1:y2, x1:x2] = round(65535 * np.exp(-1.0))
        low[y1:y2, x1:x2] = round(65535 * np.exp(-ratio))
        bgr[y1:y2, x1:x2] = (40, 140, 235)  # orange
    return tuple(cv2.imencode(".png", a)[1].tobytes() for a in (bgr, low, high))  # type: ignore[return-value]


class LiveServer:
    """The app under uvicorn on 127.0.0.1:<free port>, in a daemon thread."""

    def __init__(self, app) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", ws="none",
                                lifespan="on", access_log=False)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="nii-web-test-server", daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"test server did not start on {self.url}")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)


class BoxDetector:
    """Finds the configured (class, score, xyxy) boxes in every image."""

    sha256 = "e" * 64
    card_sha256 = "c" * 64

    def __init__(self, *found: tuple[str, float, tuple[float, float, float, float]]) -> None:
        self.found = list(found)

    def detect(self, image: np.ndarray, *, score_threshold: float | None = None, flips: tuple[str, ...] = ()):
        from nii.runtime.detector import Detections
        from nii.types import CLASS_NAMES

        n = len(self.found)
        return Detections(
            np.array([b for _, _, b in self.found], np.float32).reshape(n, 4),
            np.array([s for _, s, _ in self.found], np.float32),
            np.array([CLASS_NAMES.index(c) for c, _, _ in self.found], np.int64),
            CLASS_NAMES,
        )


SAMPLE_BOXES = (  # scan_00's two hammers (from sample_scans/manifest.json) and an undeclared knife
    ("hammer", 0.91, (169.0, 43.0, 385.0, 147.0)),
    ("hammer", 0.64, (274.0, 280.0, 484.0, 480.0)),
    ("knife", 0.87, (470.0, 150.0, 560.0, 260.0)),
)


def upload(
    base: str,
    key: str,
    station_scan_id: str,
    scan: bytes,
    declaration: dict,
    channels: tuple[bytes, bytes] | None = None,
) -> dict:
    """POST /v1/scans as a station (with 16-bit `channels` low, high when given); waits for the decision."""
    files = {"scan": ("scan.png", scan, "image/png")}
    if channels is not None:
        files["low"] = ("low.png", channels[0], "image/png")
        files["high"] = ("high.png", channels[1], "image/png")
    r = httpx.post(
        f"{base}/v1/scans?wait=30",
        headers={"Authorization": f"Bearer {key}"},
        data={"station_scan_id": station_scan_id, "declaration": json.dumps(declaration)},
        files=files,
        timeout=60,
    )
    assert r.status_code == 200, r.text
    return r.json()


def sign_in(page, name: str = "officer", password: str = OFFICER_PASSWORD) -> None:
    """Fill and send the page's sign-in form."""
    page.wait_for_selector("#login-name")
    page.fill("#login-name", name)
    page.fill("#login-password", password)
    page.click("#login-submit")


def open_case(page, case_id: str) -> None:
    """Wait until the viewer has drawn case `case_id`."""
    page.wait_for_selector(f"#canvas[data-rendered='{case_id}']")


def decide_by_keys(page, key: str) -> None:
    """Decide the open case as an officer does: the outcome's key on the viewer, then Enter to confirm."""
    page.locator("#canvas").focus()
    page.keyboard.press(key)
    page.wait_for_selector("#confirm")
    page.keyboard.press("Enter")


def canvas_pixel(page, x: float, y: float) -> list[int]:
    """RGBA of the viewer canvas at canvas pixel (x, y)."""
    return page.evaluate(
        "([x, y]) => [...document.querySelector('#canvas').getContext('2d')"
        ".getImageData(Math.round(x), Math.round(y), 1, 1).data]",
        [x, y],
    )


def image_pixel(page, x: float, y: float) -> list[int]:
    """RGBA of the viewer canvas where image pixel (x, y) is drawn."""
    sx, sy = page.evaluate("([x, y]) => window.__nii.caseView.viewer.toScreen(x, y)", [x, y])
    return canvas_pixel(page, sx, sy)


def centre_pixel(page) -> list[int]:
    w, h = page.evaluate("() => { const c = document.querySelector('#canvas'); return [c.width, c.height]; }")
    return canvas_pixel(page, w // 2, h // 2)
