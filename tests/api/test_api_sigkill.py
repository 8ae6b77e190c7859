"""SIGKILL the server while uploads are in flight, restart it: every upload answered 202 ends with a
decision, and no station scan id has two cases. NII_SIGKILL_UPLOADS sets how many (default 40; the
issue's figure is 200), all sent at once; NII_SIGKILL_JSON names a file for the figures.

    NII_SIGKILL_UPLOADS=200 NII_SIGKILL_JSON=benchmarks/results/crash_recovery.json \\
        pytest -q tests/api/test_api_sigkill.py
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import signal
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

from nii.api.samples import wait_ready
from nii.errors import UsageError
from nii.store import Database, accounts
from nii.store.accounts import Role
from nii.store.models import Case
from tests.helpers import free_port

pytestmark = pytest.mark.slow
UPLOADS = int(os.environ.get("NII_SIGKILL_UPLOADS", "40"))
DECIDED = {"released", "referred", "held"}


def _tiny_model(folder: Path) -> Path:
    spec = importlib.util.spec_from_file_location(
        "tiny_onnx_api", Path(__file__).parents[1] / "runtime" / "tiny_onnx.py"
    )
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.write_tiny_model(folder, boxes=module.BOXES, logits=module.LOGITS, classes=module.CLASSES)


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
    try:
        wait_ready(f"http://127.0.0.1:{port}", timeout_s=60, alive=lambda: proc.poll() is None)
    except UsageError:
        proc.kill()
        pytest.fail(f"server did not become ready: {log.read_text()[-2000:]}")
    return proc


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
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = _start(env, port, tmp_path / "server.log")
    scan = (SAMPLES / "scan_00.png").read_bytes()
    declaration = (SAMPLES / "scan_00.json").read_text(encoding="utf-8")
    accepted: dict[str, str] = {}  # station scan id -> case id, for uploads answered 202
    cut_off = 0  # uploads whose connection died with the server (no answer)
    answered = threading.Event()
    lock = threading.Lock()

    def upload(i: int) -> None:
        nonlocal cut_off
        try:
            response = httpx.post(
                f"{base}/v1/scans",
                files={"scan": ("s.png", scan, "image/png")},
                data={"station_scan_id": f"k{i}", "declaration": declaration},
                headers={"X-API-Key": key},
                timeout=60,
            )
        except httpx.HTTPError:
            with lock:
                cut_off += 1  # in flight when the server died: the station would retry
            return
        if response.status_code == 202:
            with lock:
                accepted[f"k{i}"] = response.json()["id"]
                if len(accepted) >= UPLOADS // 3:
                    answered.set()

    start = time.monotonic()
    with ThreadPoolExecutor(UPLOADS) as pool:  # every upload in flight at once
        futures = [pool.submit(upload, i) for i in range(UPLOADS)]
        answered.wait(120)
        server.send_signal(signal.SIGKILL)
        killed_at_s = time.monotonic() - start
        server.wait(10)
        for f in futures:
            f.result()
    assert 0 < len(accepted) < UPLOADS, "the kill should land while uploads are in flight"
    with db.session() as s:  # the server is dead: what it left behind
        stored = s.scalar(select(func.count()).select_from(Case))
        unfinished = s.scalar(
            select(func.count()).where(Case.id.in_(accepted.values()), Case.state.not_in(DECIDED))
        )

    restart = time.monotonic()
    server = _start(env, port, tmp_path / "server.log")
    try:
        # 1. recovery alone, before any station retries: every case answered 202 gets its decision
        states = _states_of(db, list(accepted.values()))
        while set(states.values()) - DECIDED and time.monotonic() - restart < 180:
            time.sleep(0.5)
            states = _states_of(db, list(accepted.values()))
        recovered_s = time.monotonic() - restart
        assert set(states.values()) <= DECIDED, states
        # 2. the stations retry everything: the same key finds the same case, never a second one
        retried = {}
        for i in range(UPLOADS):
            response = httpx.post(
                f"{base}/v1/scans",
                files={"scan": ("s.png", scan, "image/png")},
                data={"station_scan_id": f"k{i}", "declaration": declaration},
                headers={"X-API-Key": key},
                timeout=60,
            )
            assert response.status_code in (200, 202), response.text
            retried[f"k{i}"] = response.json()["id"]
        assert all(retried[k] == case_id for k, case_id in accepted.items())
        states = _states_of(db, list(retried.values()))
        while set(states.values()) - DECIDED and time.monotonic() - restart < 300:
            time.sleep(0.5)
            states = _states_of(db, list(retried.values()))
        assert set(states.values()) <= DECIDED, states
        with db.session() as s:
            per_key = dict(
                s.execute(select(Case.station_scan_id, func.count()).group_by(Case.station_scan_id)).all()
            )
        duplicates = sum(n - 1 for n in per_key.values())
        assert len(per_key) == UPLOADS and duplicates == 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(20)
        db.dispose()
    figures = {
        "run": f"NII_SIGKILL_UPLOADS={UPLOADS} pytest tests/api/test_api_sigkill.py",
        "date": time.strftime("%Y-%m-%d"),
        "uploads_in_flight": UPLOADS,
        "answered_202_before_kill": len(accepted),
        "cut_off_by_kill": cut_off,
        "cases_stored_at_kill": stored,
        "answered_202_unfinished_at_kill": unfinished,
        "answered_202_decided_after_restart": sum(
            1 for case_id in accepted.values() if states.get(case_id) in DECIDED
        ),
        "cases_after_station_retries": len(per_key),
        "duplicates": duplicates,
        "kill_after_s": round(killed_at_s, 2),
        "recovery_s": round(recovered_s, 2),
        "total_s": round(time.monotonic() - start, 2),
    }
    logging.getLogger(__name__).info("SIGKILL figures: %s", figures)
    if out := os.environ.get("NII_SIGKILL_JSON"):
        Path(out).write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


def _states_of(db: Database, case_ids: list[str]) -> dict[str, str]:
    with db.session() as s:
        return dict(s.execute(select(Case.id, Case.state).where(Case.id.in_(case_ids))).all())
