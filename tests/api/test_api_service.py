"""Bad input answered 4xx, back-pressure, crash recovery, rate limits, settings, webhooks."""

from __future__ import annotations

import json
import struct
import threading
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from apihelpers import SAMPLES, Api, FakeDetector, make_settings

from nii.api.settings import load_settings
from nii.errors import ConfigError
from nii.store import BlobStore, Database, audit, cases
from nii.webhooks import SIGNATURE_HEADER, verify_signature

PNG = (SAMPLES / "scan_00.png").read_bytes()


def png_header(width: int, height: int) -> bytes:
    """A PNG whose IHDR claims width x height (a decompression-bomb header with no real data)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk))


def png16(shape: tuple[int, int], dtype=np.uint16) -> bytes:
    return cv2.imencode(".png", np.full(shape, 40000 if dtype == np.uint16 else 200, dtype))[1].tobytes()


H, W = cv2.imread(str(SAMPLES / "scan_00.png")).shape[:2]


@pytest.mark.parametrize(
    ("files", "data", "status", "fragment"),
    [
        ({"scan": ("a.png", b"not an image at all", "image/png")}, {}, 422, "not a readable image"),
        ({"scan": ("a.png", PNG[: len(PNG) // 3], "image/png")}, {}, 422, "truncated"),
        ({"scan": ("a.png", png_header(60000, 60000), "image/png")}, {}, 422, "Mpx limit"),
        ({"scan": ("a.png", b"", "image/png")}, {}, 422, "empty"),
        ({"scan": ("a.html", b"<html>", "text/html")}, {}, 415, "not an image"),
        ({}, {}, 422, "no scan"),
        ({"scan": ("a.png", PNG, "image/png")}, {"declaration": "{]"}, 422, "not valid JSON"),
        (
            {"scan": ("a.png", PNG, "image/png")},
            {"declaration": '{"items": "x"}'},
            422,
            "invalid declaration",
        ),
        ({"scan": ("a.png", PNG, "image/png")}, {"station_scan_id": "a b"}, 422, "station_scan_id"),
        ({"scan": ("a.png", PNG, "image/png")}, {"station_scan_id": "x" * 129}, 422, "station_scan_id"),
        (
            {"scan": ("a.png", PNG, "image/png"), "low": ("l.png", png16((H, W)), "image/png")},
            {},
            422,
            "both",
        ),
        (
            {
                "scan": ("a.png", PNG, "image/png"),
                "low": ("l.png", png16((H, W), np.uint8), "image/png"),
                "high": ("h.png", png16((H, W)), "image/png"),
            },
            {},
            422,
            "low: expected a 16-bit",
        ),
        (
            {
                "scan": ("a.png", PNG, "image/png"),
                "low": ("l.png", png16((10, 10)), "image/png"),
                "high": ("h.png", png16((10, 10)), "image/png"),
            },
            {},
            422,
            "but the scan is",
        ),
    ],
    ids=[
        "garbage",
        "truncated",
        "bomb",
        "empty",
        "html",
        "no-scan",
        "bad-json",
        "bad-declaration",
        "bad-key",
        "long-key",
        "one-channel",
        "8-bit-channel",
        "channel-size",
    ],
)
def test_bad_uploads_are_4xx_and_store_nothing(
    api: Api, files: dict, data: dict, status: int, fragment: str
) -> None:
    response = api.upload("bad", files=files, data=data)
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]
    assert api.client.get("/v1/queue", headers=api.headers("officer")).json()["total"] == 0
    assert not any(api.settings.resolved_scan_root.rglob("*"))


def test_dual_energy_upload(api: Api) -> None:
    files = {
        "scan": ("s.png", PNG, "image/png"),
        "low": ("l.png", png16((H, W)), "image/png"),
        "high": ("h.png", png16((H, W)), "image/png"),
    }
    body = api.upload("DE", files=files, wait=20).json()
    assert body["state"] in ("released", "referred", "held")
    assert body["comparison"]["material"]["source"] == "dual_energy"


def test_json_body_instead_of_multipart(api: Api) -> None:
    response = api.client.post("/v1/scans", json={"scan": "x"}, headers=api.headers("station"))
    assert response.status_code == 422 and "station_scan_id" in response.json()["detail"]


def test_oversize_upload_is_413(api_factory) -> None:
    api: Api = api_factory(max_upload_bytes=50_000)
    response = api.upload("big")
    assert response.status_code == 413 and "NII_MAX_UPLOAD_BYTES" in response.json()["detail"]


def test_rate_limit_per_station(api_factory) -> None:
    api: Api = api_factory(rate_limit_per_minute=2)
    assert [api.upload(f"r{i}").status_code for i in range(2)] == [202, 202]
    third = api.upload("r3")
    assert third.status_code == 429 and int(third.headers["retry-after"]) >= 1
    assert api.upload("r4", who="station2").status_code == 202


class BlockingDetector(FakeDetector):
    def __init__(self) -> None:
        super().__init__(("gun", 0.95))
        self.gate = threading.Event()

    def detect(self, image, *, score_threshold=None, flips=()):
        self.gate.wait(20)
        return super().detect(image)


def test_full_queue_is_503_and_drops_nothing(api_factory) -> None:
    detector = BlockingDetector()
    api: Api = api_factory(detector, queue_size=2)
    accepted = [api.upload(f"q{i}").json()["id"] for i in range(2)]
    refused = api.upload("q2")
    assert refused.status_code == 503 and refused.headers["retry-after"].isdigit()
    assert "nothing was stored" in refused.json()["detail"]
    detector.gate.set()
    for case_id in accepted:
        for _ in range(200):
            if (
                api.client.get(f"/v1/scans/{case_id}", headers=api.headers("officer")).json()["state"]
                == "held"
            ):
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"{case_id} was never analysed")
    assert api.upload("q2").status_code == 202


def test_unfinished_cases_are_processed_on_start(database_url: str, tmp_path: Path, api_factory) -> None:
    settings = make_settings(database_url, tmp_path)
    db = Database(database_url)
    db.migrate()
    sha = BlobStore(settings.resolved_scan_root).put(PNG)
    declaration = json.loads((SAMPLES / "scan_00.json").read_text(encoding="utf-8"))
    ids = []
    for key in ("crashed", "waiting"):
        with db.session() as s:
            case, _ = cases.create_case(
                s,
                station_id="station",
                station_scan_id=key,
                scan_sha256=sha,
                declaration=declaration,
                declaration_sha256="d" * 64,
                actor="t",
            )
            if key == "crashed":
                cases.start_processing(s, case.id)
        ids.append(case.id)
    db.dispose()
    api: Api = api_factory()
    for case_id in ids:
        for _ in range(200):
            body = api.client.get(f"/v1/scans/{case_id}", headers=api.headers("officer")).json()
            if body["state"] not in ("received", "processing"):
                break
            time.sleep(0.05)
        assert body["state"] in ("released", "referred", "held"), body
    assert body["attempts"] == 1
    crashed = api.client.get(f"/v1/scans/{ids[0]}", headers=api.headers("officer")).json()
    assert crashed["attempts"] == 2


def test_no_model_refuses_uploads_and_is_not_ready(database_url: str, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from nii.api.main import create_app

    app = create_app(
        make_settings(database_url, tmp_path, model_path=tmp_path / "none.onnx", environment="development")
    )
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["model"] == "not loaded"


def test_cors_closed_by_default(api: Api) -> None:
    response = api.client.options(
        "/v1/queue", headers={"Origin": "http://evil.example", "Access-Control-Request-Method": "GET"}
    )
    assert "access-control-allow-origin" not in response.headers


@pytest.mark.parametrize(
    ("env", "secret", "ok"),
    [
        ("production", "dev-insecure-secret-change-me", False),
        ("production", "", False),
        ("production", "short", False),
        ("test", "   ", False),
        ("production", "k" * 40, True),
        ("development", "dev-insecure-secret-change-me", True),
    ],
    ids=["default", "empty", "short", "blank", "strong", "development"],
)
def test_settings_refuse_default_secrets(env: str, secret: str, ok: bool) -> None:
    if ok:
        assert load_settings(environment=env, secret_key=secret).secret_key == secret
    else:
        with pytest.raises(ConfigError, match="NII_SECRET_KEY"):
            load_settings(environment=env, secret_key=secret)


def _subscribe(api: Api, **extra) -> dict:
    response = api.client.post(
        "/v1/webhooks",
        json={"name": "ace", "url": "http://clearance.example/hook", **extra},
        headers=api.headers("admin"),
    )
    assert response.status_code == 201, response.text
    return response.json()


def _wait_for(predicate, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    pytest.fail("condition not reached in time")


def test_webhook_is_signed_cloudevent(api: Api) -> None:
    sub = _subscribe(api)
    case = api.decided("W")
    _wait_for(lambda: len(api.webhook.requests) >= 1)
    request = api.webhook.requests[0]
    body = request.content
    assert verify_signature(sub["signing_key"], body, request.headers[SIGNATURE_HEADER])
    assert not verify_signature("wrong", body, request.headers[SIGNATURE_HEADER])
    assert request.headers["content-type"] == "application/cloudevents+json"
    event = json.loads(body)
    assert event["specversion"] == "1.0" and event["type"] == "org.nii.case.analysed"
    assert event["id"] == request.headers["ce-id"] and event["subject"] == case["id"]
    assert event["data"]["decision"] == case["decision"] and event["data"]["model_sha256"] == "f" * 64
    assert api.client.get("/v1/webhooks", headers=api.headers("admin")).json()[0]["name"] == "ace"
    assert (
        api.client.post(
            "/v1/webhooks", json={"name": "ace", "url": "http://x.example"}, headers=api.headers("admin")
        ).status_code
        == 409
    )


def test_webhook_retries_with_the_same_event_id(api_factory) -> None:
    api: Api = api_factory(statuses=[500, 503])
    _subscribe(api)
    case = api.decided("W")
    _wait_for(lambda: len(api.webhook.requests) >= 3)
    ids = {r.headers["ce-id"] for r in api.webhook.requests}
    assert len(ids) == 1
    page = api.client.get(
        "/v1/audit", params={"case_id": case["id"]}, headers=api.headers("supervisor")
    ).json()
    _wait_for(
        lambda: (
            "webhook.delivered"
            in [
                r["action"]
                for r in api.client.get(
                    "/v1/audit", params={"case_id": case["id"]}, headers=api.headers("supervisor")
                ).json()["records"]
            ]
        )
    )
    page = api.client.get(
        "/v1/audit", params={"case_id": case["id"]}, headers=api.headers("supervisor")
    ).json()
    actions = [r["action"] for r in page["records"]]
    assert actions[-3:] == ["webhook.retry", "webhook.retry", "webhook.delivered"]
    assert 'nii_webhook_deliveries_total{result="retry"} 2.0' in api.client.get("/metrics").text


def test_webhook_gives_up_after_max_attempts(api_factory) -> None:
    api: Api = api_factory(statuses=[500] * 5, webhook_max_attempts=2)
    _subscribe(api, event_types=["org.nii.case.analysed"])
    case = api.decided("W")

    def actions() -> list[str]:
        page = api.client.get("/v1/audit", params={"case_id": case["id"]}, headers=api.headers("supervisor"))
        return [r["action"] for r in page.json()["records"]]

    _wait_for(lambda: "webhook.dead" in actions())
    time.sleep(0.2)
    assert len(api.webhook.requests) == 2


def test_webhook_subscription_validation(api: Api) -> None:
    bad = api.client.post(
        "/v1/webhooks",
        json={"name": "x", "url": "ftp://x", "event_types": ["nope"]},
        headers=api.headers("admin"),
    )
    assert bad.status_code == 422 and "url" in bad.json()["detail"]
    missing = api.client.delete("/v1/webhooks/sub_missing", headers=api.headers("admin"))
    assert missing.status_code == 404


def test_audit_chain_stays_valid_through_the_workflow(api_factory, database_url: str) -> None:
    api: Api = api_factory(FakeDetector(("gun", 0.95)), statuses=[500])
    _subscribe(api)
    case = api.decided("V")
    api.client.post(
        f"/v1/scans/{case['id']}/decision", json={"outcome": "seized"}, headers=api.headers("officer")
    )
    _wait_for(lambda: len(api.webhook.requests) >= 3)
    db = Database(database_url)
    with db.session() as s:
        report = audit.verify(s)
    db.dispose()
    assert report.ok and report.records >= 8
