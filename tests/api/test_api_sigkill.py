"""SIGKILL the server while uploads are in flight, restart it: every upload answered 202 ends with a
decision, and no station scan id has two cases. NII_SIGKILL_UPLOADS sets how many (default 40; the
issue's figure is 200)."""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from apihelpers import SAMPLES
from sqlalchemy import func, select

from nii.store import Database, accounts
from nii.store.accounts import Role
from nii.store.models import Case

pytestmark = pytest.mark.slow
UPLOADS = int(os.environ.get("NII_SIGKILL_UPLOADS", "40"))


def _tiny_model(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "tiny_onnx_api", Path(__file__).parents[1] / "runtime" / "tiny_onnx.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.write_tiny_model(folder, boxes=module.BOXES, logits=module.LOGITS, classes=module.CLASSES)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(env: dict[str, str], port: int, log: Path) -> subprocess.Popen:
    """Start uvicorn (output appended to `log`) and wait for /readyz."""
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "nii.api.main:app_factory",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with log.open("ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    pytest.fail(f"server did not become ready: {log.read_text()[-2000:]}")


def test_sigkill_during_uploads_loses_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nii.db'}"
    db = Database(url)
    db.migrate()
    with db.session() as s:
        accounts.add_principal(s, name="st", role=Role.STATION)
        key = accounts.issue_key(s, "st")[1]
    env = {
        **os.environ,
        "NII_ENVIRONMENT": "test",
        "NII_SECRET_KEY": "k" * 40,
        "NII_DATABASE_URL": url,
        "NII_DATA_DIR": str(tmp_path),
        "NII_MODEL_PATH": str(_tiny_model(tmp_path / "model")),
        "NII_DETECTOR_THREADS": "1",
        "NII_QUEUE_SIZE": str(UPLOADS),
        "NII_RATE_LIMIT_PER_MINUTE": "0",
    }
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(env, port, tmp_path / "server.log")
    scan = (SAMPLES / "scan_00.png").read_bytes()
    declaration = (SAMPLES / "scan_00.json").read_text(encoding="utf-8")
    accepted: dict[str, str] = {}
    answered = threading.Event()

    def upload(i: int) -> None:
        try:
            response = httpx.post(
                f"{base}/v1/scans",
                files={"scan": ("s.png", scan, "image/png")},
                data={"station_scan_id": f"k{i}", "declaration": declaration},
                headers={"X-API-Key": key},
                timeout=30,
            )
        except httpx.HTTPError:
            return  # in flight when the server died: the station would retry
        if response.status_code == 202:
            accepted[f"k{i}"] = response.json()["id"]
            if len(accepted) >= UPLOADS // 3:
                answered.set()

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(upload, i) for i in range(UPLOADS)]
        answered.wait(60)
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        for f in futures:
            f.result()
    assert 0 < len(accepted) < UPLOADS, "the kill should land while uploads are in flight"

    server = _start(env, port, tmp_path / "server.log")
    try:
        retried = {}
        for i in range(UPLOADS):  # the stations retry everything: same key -> same case
            response = httpx.post(
                f"{base}/v1/scans",
                files={"scan": ("s.png", scan, "image/png")},
                data={"station_scan_id": f"k{i}", "declaration": declaration},
                headers={"X-API-Key": key},
                timeout=30,
            )
            assert response.status_code in (200, 202), response.text
            retried[f"k{i}"] = response.json()["id"]
        assert all(retried[k] == case_id for k, case_id in accepted.items())
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with db.session() as s:
                states = dict(s.execute(select(Case.state, func.count()).group_by(Case.state)).all())
            if set(states) <= {"released", "referred", "held"}:
                break
            time.sleep(0.5)
        assert set(states) <= {"released", "referred", "held"}, states
        with db.session() as s:
            per_key = s.execute(
                select(Case.station_scan_id, func.count()).group_by(Case.station_scan_id)
            ).all()
        assert len(per_key) == UPLOADS and all(n == 1 for _, n in per_key)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        db.dispose()
