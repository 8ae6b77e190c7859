"""The page and its assets are served locally with a strict CSP; /v1/me and the case audit."""

from __future__ import annotations

import json
import re

import cv2
import numpy as np
import pytest
from webhelpers import DUAL_ENERGY_BANDS, DUAL_ENERGY_ROWS, Api, dual_energy_scan

from nii.types import CLASS_NAMES
from nii.web import STATIC_DIR


def test_index_is_served_with_a_strict_policy(web_api: Api) -> None:
    r = web_api.client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert '<script type="module" src="/static/js/app.js">' in r.text


def test_assets_are_local_and_served() -> None:
    """No asset names another origin; every file the HTML or a module imports exists."""
    files = [p for p in STATIC_DIR.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"index.html", "app.css", "app.js", "viewer.js", "caseview.js"}
    for p in files:
        text = p.read_text(encoding="utf-8")
        assert not re.search(r"(src|href)=\"(https?:)?//", text), p
        assert not re.search(r"import .* from '(https?:)?//", text), p
        assert not re.search(r"\.(inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", text), p
        for name in re.findall(r"from '\./([a-z]+\.js)'", text):
            assert (p.parent / name).is_file(), f"{p} imports missing {name}"


@pytest.mark.parametrize(
    ("path", "media"),
    [("/static/js/app.js", "javascript"), ("/static/app.css", "text/css")],
    ids=["module", "stylesheet"],
)
def test_static_files(web_api: Api, path: str, media: str) -> None:
    r = web_api.client.get(path)
    assert r.status_code == 200 and media in r.headers["content-type"]
    assert r.headers["x-content-type-options"] == "nosniff"


def test_static_refuses_paths_outside(web_api: Api) -> None:
    assert web_api.client.get("/static/../__init__.py").status_code == 404


def test_page_classes_match_the_detector_classes() -> None:
    text = (STATIC_DIR / "js" / "classes.js").read_text(encoding="utf-8")
    listed = json.loads(text.split("=", 1)[1].strip().rstrip(";"))
    assert tuple(listed) == CLASS_NAMES


@pytest.mark.parametrize(
    ("who", "role", "can_queue"),
    [("officer", "officer", True), ("supervisor", "supervisor", True), ("station", "station", False)],
    ids=["officer", "supervisor", "station"],
)
def test_me(web_api: Api, who: str, role: str, can_queue: bool) -> None:
    r = web_api.client.get("/v1/me", headers=web_api.headers(who))
    assert r.status_code == 200
    assert r.json()["name"] == who and r.json()["role"] == role
    assert ("queue:read" in r.json()["permissions"]) is can_queue


def test_me_without_key(web_api: Api) -> None:
    r = web_api.client.get("/v1/me")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"


@pytest.mark.parametrize(
    ("who", "status"),
    [("officer", 200), ("supervisor", 200), ("admin", 200), ("station", 403)],
    ids=["officer", "supervisor", "admin", "station"],
)
def test_case_audit_access(web_api: Api, who: str, status: int) -> None:
    case = web_api.decided()
    r = web_api.client.get(f"/v1/scans/{case['id']}/audit", headers=web_api.headers(who))
    assert r.status_code == status, r.text
    if status == 200:
        actions = [x["action"] for x in r.json()["records"]]
        assert actions == ["scan.received", "case.analysed"]
        assert {x["case_id"] for x in r.json()["records"]} == {case["id"]}
    else:
        assert "officer, supervisor or admin" in r.json()["detail"]


def test_case_audit_after_decision_and_unknown_case(web_api: Api) -> None:
    case = web_api.decided()
    body = {"outcome": "seized", "note": "<b>knife</b>", "boxes": {"removed": [1]}}
    r = web_api.client.post(f"/v1/scans/{case['id']}/decision", json=body, headers=web_api.headers("officer"))
    assert r.status_code == 200, r.text
    records = web_api.client.get(f"/v1/scans/{case['id']}/audit", headers=web_api.headers("officer")).json()
    decided = records["records"][-1]
    assert decided["action"] == "case.decided" and decided["actor"] == "officer:officer"
    assert decided["payload"]["annotations"]["removed"] == [1]
    r = web_api.client.get("/v1/scans/case_nope/audit", headers=web_api.headers("officer"))
    assert r.status_code == 404 and "case_nope" in r.json()["detail"]


def test_material_map_from_the_dual_energy_channels(web_api: Api) -> None:
    scan, low, high = dual_energy_scan()
    files = {
        "scan": ("scan.png", scan, "image/png"),
        "low": ("low.png", low, "image/png"),
        "high": ("high.png", high, "image/png"),
    }
    case = web_api.upload("DE-1", files=files, wait=20).json()
    assert case["comparison"]["material"]["source"] == "dual_energy"
    r = web_api.client.get(f"/v1/scans/{case['id']}/materials", headers=web_api.headers("officer"))
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    grey = cv2.imdecode(np.frombuffer(r.content, np.uint8), cv2.IMREAD_UNCHANGED)
    assert grey.shape == (120, 300) and grey.dtype == np.uint8
    y = sum(DUAL_ENERGY_ROWS) // 2
    assert [int(grey[y, (x1 + x2) // 2]) for x1, x2, _ in DUAL_ENERGY_BANDS.values()] == [85, 170, 255]
    assert int(grey[5, 5]) == 0  # air
    other = web_api.client.get(f"/v1/scans/{case['id']}/materials", headers=web_api.headers("station2"))
    assert other.status_code == 404  # another station's case


def test_material_map_without_channels_is_404(web_api: Api) -> None:
    case = web_api.decided()
    r = web_api.client.get(f"/v1/scans/{case['id']}/materials", headers=web_api.headers("officer"))
    assert r.status_code == 404 and "no dual-energy channels" in r.json()["detail"]
