"""Upload, idempotency, reading, the image, the queue and officer decisions, roles."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from apihelpers import Api, FakeDetector

from nii.triage.policy import DEFAULT_POLICY_PATH


def test_upload_is_accepted_then_analysed(api: Api) -> None:
    response = api.upload("S-1")
    assert response.status_code == 202, response.text
    body = response.json()
    assert (
        body["state"] == "received" and body["station_scan_id"] == "S-1" and body["station_id"] == "station"
    )
    assert response.headers["location"] == f"/v1/scans/{body['id']}"
    for _ in range(200):
        again = api.client.get(f"/v1/scans/{body['id']}", headers=api.headers("officer")).json()
        if again["state"] != "received" and again["state"] != "processing":
            break
        time.sleep(0.05)
    assert again["state"] in ("released", "referred", "held") and again["attempts"] == 1


def test_wait_returns_the_decision(api: Api) -> None:
    body = api.decided("S-2")
    assert body["state"] in ("released", "referred", "held")
    assert body["decision"] in ("release", "refer", "hold")
    assert body["model_sha256"] == "f" * 64 and body["model_card_sha256"] == "c" * 64
    assert body["policy_version"] and body["taxonomy_version"]
    assert [d["class_name"] for d in body["detections"]] == ["hammer", "hammer"]
    assert set(body["timings"]) == {"queue_ms", "analysis_ms"}
    assert body["comparison"]["lines"][0]["index"] == 0
    assert body["reasons"] == [] or "code" in body["reasons"][0]


def test_repeated_upload_returns_the_existing_case(api: Api) -> None:
    first = api.upload("K").json()
    second = api.upload("K")
    assert second.status_code == 200 and second.json()["id"] == first["id"]
    other = api.upload("K", scan="scan_01")
    assert other.status_code == 409
    assert other.json()["error"] == "conflict" and "already used for case" in other.json()["detail"]
    supervisor = api.headers("supervisor")
    records = api.client.get("/v1/audit", params={"case_id": first["id"]}, headers=supervisor).json()[
        "records"
    ]
    assert [r["action"] for r in records].count("scan.received") == 1


def test_same_key_from_two_stations_makes_two_cases(api: Api) -> None:
    a = api.upload("K").json()
    b = api.upload("K", who="station2").json()
    assert a["id"] != b["id"]


@pytest.mark.parametrize(
    ("who", "method", "path", "status"),
    [
        ("station", "GET", "/v1/queue", 403),
        ("station", "POST", "/v1/scans/{id}/decision", 403),
        ("station", "GET", "/v1/audit", 403),
        ("officer", "GET", "/v1/audit", 403),
        ("officer", "GET", "/v1/webhooks", 403),
        ("admin", "POST", "/v1/scans/{id}/decision", 403),
        ("station2", "GET", "/v1/scans/{id}", 404),
        ("station2", "GET", "/v1/scans/{id}/image", 404),
        (None, "GET", "/v1/queue", 401),
        ("bogus", "GET", "/v1/queue", 401),
    ],
    ids=lambda v: str(v),
)
def test_roles_are_enforced(api: Api, who: str | None, method: str, path: str, status: int) -> None:
    case_id = api.decided("R")["id"]
    headers = (
        {}
        if who is None
        else {"X-API-Key": "nii_0123456789abcdef_" + "x" * 43}
        if who == "bogus"
        else api.headers(who)
    )
    body = {"outcome": "released"} if method == "POST" else None
    response = api.client.request(method, path.format(id=case_id), json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_officer_cannot_upload(api: Api) -> None:
    response = api.upload("X", who="officer")
    assert response.status_code == 403
    assert "needs the role station" in response.json()["detail"]


def test_station_reads_its_own_case(api: Api) -> None:
    case_id = api.upload("own").json()["id"]
    assert api.client.get(f"/v1/scans/{case_id}", headers=api.headers("station")).status_code == 200


def test_queue_and_officer_decision(api_factory) -> None:
    api: Api = api_factory(FakeDetector(("gun", 0.95), ("knife", 0.9)))
    held = api.decided("G1")
    assert held["state"] == "held" and held["decision"] == "hold"
    officer = api.headers("officer")
    page = api.client.get("/v1/queue", headers=officer).json()
    assert page["total"] == 1 and page["items"][0]["id"] == held["id"]
    assert page["items"][0]["detected"] == ["gun", "knife"] and page["items"][0]["age_s"] >= 0
    assert api.client.get("/v1/queue", params={"class": "phone"}, headers=officer).json()["total"] == 0
    assert api.client.get("/v1/queue", params={"decision": "refer"}, headers=officer).json()["total"] == 0
    assert api.client.get("/v1/queue", params={"class": "rocket"}, headers=officer).status_code == 422
    body = {
        "outcome": "seized",
        "note": "pistol in shoe",
        "boxes": {
            "added": [{"class_name": "bullet", "xyxy": [5, 5, 9, 9]}],
            "removed": [1],
            "relabelled": [{"index": 0, "class_name": "gun"}],
        },
    }
    closed = api.client.post(f"/v1/scans/{held['id']}/decision", json=body, headers=officer)
    assert closed.status_code == 200, closed.text
    result = closed.json()
    assert (result["state"], result["final_outcome"], result["officer"]) == (
        "closed",
        "seized",
        "officer:officer",
    )
    assert result["annotations"]["added"][0]["class_name"] == "bullet"
    again = api.client.post(f"/v1/scans/{held['id']}/decision", json={"outcome": "released"}, headers=officer)
    assert again.status_code == 409 and again.json()["error"] == "illegal_transition"
    assert api.client.get("/v1/queue", headers=officer).json()["total"] == 0
    annotated = api.client.get(f"/v1/scans/{held['id']}/image?annotated=true", headers=officer)
    plain = api.client.get(f"/v1/scans/{held['id']}/image", headers=officer)
    assert annotated.headers["content-type"] == plain.headers["content-type"] == "image/png"
    a = cv2.imdecode(np.frombuffer(annotated.content, np.uint8), cv2.IMREAD_COLOR)
    p = cv2.imdecode(np.frombuffer(plain.content, np.uint8), cv2.IMREAD_COLOR)
    assert a.shape == p.shape and (a != p).any()


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"outcome": "vaporised"}, 422, "outcome"),
        ({"outcome": "seized", "note": "a\x00b"}, 422, "control"),
        ({"outcome": "seized", "note": "x" * 3000}, 422, "note"),
        ({"outcome": "seized", "boxes": {"removed": [7]}}, 422, "has 1"),
        (
            {"outcome": "seized", "boxes": {"added": [{"class_name": "gun", "xyxy": [9, 9, 1, 1]}]}},
            422,
            "x2 > x1",
        ),
        ({"outcome": "seized", "extra": 1}, 422, "extra"),
    ],
    ids=["unknown-outcome", "control-char", "long-note", "bad-index", "inverted-box", "extra-field"],
)
def test_bad_decisions(api_factory, body: dict, status: int, fragment: str) -> None:
    api: Api = api_factory(FakeDetector(("gun", 0.95)))
    case_id = api.decided("B")["id"]
    response = api.client.post(f"/v1/scans/{case_id}/decision", json=body, headers=api.headers("officer"))
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def test_decision_on_a_released_case_is_409(api_factory, tmp_path: Path) -> None:
    policy = tmp_path / "no-controls.yaml"  # the shipped policy's random control could pick this scan
    policy.write_text(DEFAULT_POLICY_PATH.read_text(encoding="utf-8").replace(
        "random_control_rate: 0.02", "random_control_rate: 0.0"), encoding="utf-8")
    api: Api = api_factory(FakeDetector(("hammer", 0.9)), policy_path=policy)
    case = api.decided("R", scan="scan_17")  # compliant: one hammer, declared
    assert case["state"] == "released", case["reasons"]
    response = api.client.post(
        f"/v1/scans/{case['id']}/decision", json={"outcome": "seized"}, headers=api.headers("officer")
    )
    assert response.status_code == 409 and "is released" in response.json()["detail"]


def test_unknown_case_is_404(api: Api) -> None:
    response = api.client.get("/v1/scans/case_nope", headers=api.headers("officer"))
    assert response.status_code == 404 and response.json() == {
        "error": "not_found",
        "detail": "no case 'case_nope'; case ids are returned by POST /v1/scans",
    }


def test_audit_of_a_case(api_factory) -> None:
    api: Api = api_factory(FakeDetector(("gun", 0.95)))
    case_id = api.decided("A")["id"]
    api.client.post(
        f"/v1/scans/{case_id}/decision", json={"outcome": "seized"}, headers=api.headers("officer")
    )
    page = api.client.get("/v1/audit", params={"case_id": case_id}, headers=api.headers("supervisor")).json()
    assert [r["action"] for r in page["records"]] == ["scan.received", "case.analysed", "case.decided"]
    analysed = page["records"][1]["payload"]
    assert (
        analysed["model_sha256"] == "f" * 64
        and analysed["model_card_sha256"] == "c" * 64
        and analysed["policy_version"]
        and "analysis_ms" in analysed["timings"]
    )
    assert page["records"][2]["actor"] == "officer:officer"
    naive = api.client.get("/v1/audit", params={"since": "2026-01-01T00:00:00"}, headers=api.headers("admin"))
    assert naive.status_code == 400 and "time zone" in naive.json()["detail"]
    edge = api.client.get(  # past year 9999 once in UTC: was an OverflowError, a 500
        "/v1/audit", params={"until": "9999-12-31T23:59:59-05:00"}, headers=api.headers("admin")
    )
    assert edge.status_code == 400 and "outside the years 1-9999" in edge.json()["detail"]
    period = api.client.get(
        "/v1/audit", params={"since": "2000-01-01T00:00:00Z", "limit": 2}, headers=api.headers("admin")
    ).json()
    assert len(period["records"]) == 2 and period["next_after_seq"] == period["records"][-1]["seq"]


def test_health_ready_metrics(api: Api) -> None:
    api.decided("M")
    assert api.client.get("/healthz").json() == {"status": "ok", "checks": {}}
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"model": "loaded", "store": "reachable"}
    text = api.client.get("/metrics").text
    assert 'nii_http_requests_total{method="POST",route="/v1/scans",status="200"} 1.0' in text
    assert "nii_decisions_total{decision=" in text
    assert "nii_model_seconds_count 1.0" in text
    assert "nii_queue_depth 0.0" in text
