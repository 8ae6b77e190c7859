"""End to end in headless Chromium: a station uploads, the officer signs in with name and password,
reviews, corrects and decides; expired sessions, concurrent decisions, hostile declaration text;
render and pan speed. The worklist's pages and each viewer control are in test_web_controls.py.

Set NII_WEB_SCREENSHOTS=DIR to write the worklist and viewer screenshots there (docs/ in the repo).
"""

from __future__ import annotations

import copy
import os
import sys
from pathlib import Path

import httpx
import pytest
from sqlalchemy import update
from webhelpers import (
    OFFICER_PASSWORD,
    SAMPLES,
    centre_pixel,
    decide_by_keys,
    open_case,
    sample_declaration,
    sign_in,
    synthetic_scan,
    upload,
)

from nii.store import Database, audit
from nii.store.models import LoginSession, utcnow

pytestmark = [pytest.mark.browser, pytest.mark.slow]
XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'
SCREENSHOTS = os.environ.get("NII_WEB_SCREENSHOTS")




def hostile_declaration() -> dict:
    decl = copy.deepcopy(sample_declaration("scan_00"))
    decl["items"][0]["description"] = XSS
    return decl


def test_upload_review_correct_decide_audit(live, page) -> None:
    server, keys, _ = live
    scan = (SAMPLES / "scan_00.png").read_bytes()
    first = upload(server.url, keys["station"], "E2E-1", scan, hostile_declaration())
    assert first["state"] == "held"

    page.goto(server.url + "/")
    sign_in(page)
    page.wait_for_selector(f"#wl-body tr[data-id='{first['id']}']")
    assert page.text_content("#who") == "officer (officer)"
    second = upload(server.url, keys["station"], "E2E-2", scan, sample_declaration("scan_00"))
    page.wait_for_selector(f"#wl-body tr[data-id='{second['id']}']", timeout=15_000)  # periodic refresh
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "web-worklist.png"))

    page.click(f"#wl-body tr[data-id='{first['id']}']")
    page.keyboard.press("Enter")
    open_case(page, first["id"])

    # hostile declaration text shows as text, runs nothing
    assert XSS in page.text_content("#tab-compare")
    assert page.locator("#tab-compare img, #tab-compare script").count() == 0
    assert page.evaluate("() => window.__xss") is None

    # clicking a reason highlights the box of its subject
    page.locator("#tab-compare .item", has_text="knife seen").first.click()
    assert page.evaluate("() => [...window.__nii.caseView.viewer.highlight]") == ["d2"]
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / "web-viewer.png"))

    # boxes toggle and an image tool (invert changes the pixels)
    page.keyboard.press("b")
    assert page.evaluate("() => window.__nii.caseView.viewer.showBoxes") is False
    page.keyboard.press("b")
    before = centre_pixel(page)
    page.keyboard.press("i")
    page.wait_for_selector("#canvas[data-tools*='\"invert\":true']")
    page.wait_for_timeout(100)
    after = centre_pixel(page)
    assert all(abs(a + b - 255) <= 3 for a, b in zip(before[:3], after[:3], strict=True)), (before, after)
    page.keyboard.press("t")

    # corrections: delete the second hammer, relabel the knife, draw a gun box
    page.click(".tab[data-tab='boxes']")
    page.locator("#tab-boxes .item[data-key='d1'] button.delete").click()
    page.locator("#tab-boxes .item[data-key='d2'] select.relabel").select_option("scissors")
    page.select_option("#new-class", "gun")
    page.click("#canvas")
    page.keyboard.press("d")
    box = page.locator("#canvas").bounding_box()
    x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move(x0 + 60, y0 + 40, steps=5)
    page.mouse.up()
    assert page.locator("#tab-boxes .item[data-key='a0']").count() == 1

    # decide with the keyboard: note, 4 (seize), Enter
    page.fill("#note", "Undeclared <b>knife</b> found")
    decide_by_keys(page, "4")
    page.wait_for_selector("#closed-note")
    assert "seized by officer:officer" in page.text_content("#closed-note")

    page.click(".tab[data-tab='audit']")
    page.wait_for_selector("#audit-table tr[data-action='case.decided']")
    actions = page.locator("#audit-table tr").evaluate_all("rows => rows.map(r => r.dataset.action)")
    assert actions == ["scan.received", "case.analysed", "case.decided"]
    decided = page.text_content("#audit-table tr[data-action='case.decided']")
    assert "boxes: +1 −1 relabelled 1" in decided and "note: Undeclared <b>knife</b> found" in decided
    analysed = page.text_content("#audit-table tr[data-action='case.analysed']")
    assert "model eeeeeeeeeeee" in analysed and "card cccccccccccc" in analysed and "policy" in analysed

    officer = {"Authorization": f"Bearer {keys['officer']}"}
    case = httpx.get(f"{server.url}/v1/scans/{first['id']}", headers=officer)
    notes = case.json()["annotations"]
    assert notes["removed"] == [1] and notes["relabelled"] == [{"index": 2, "class_name": "scissors"}]
    assert [b["class_name"] for b in notes["added"]] == ["gun"]
    x1, y1, x2, y2 = notes["added"][0]["xyxy"]
    assert 0 <= x1 < x2 <= 610 and 0 <= y1 < y2 <= 480

    page.keyboard.press("Escape")  # clears the selection
    page.keyboard.press("Escape")  # back to the worklist: the decided case has left it
    page.wait_for_selector(f"#wl-body tr[data-id='{first['id']}']", state="detached")
    assert page.locator(f"#wl-body tr[data-id='{second['id']}']").count() == 1


def test_expired_session_keeps_the_note_and_a_concurrent_decision_is_shown(live, page) -> None:
    server, keys, settings = live
    case = upload(
        server.url,
        keys["station"],
        "E2E-3",
        (SAMPLES / "scan_00.png").read_bytes(),
        sample_declaration("scan_00"),
    )
    page.goto(f"{server.url}/#/case/{case['id']}")
    sign_in(page, password="not the password")
    page.wait_for_function("() => document.querySelector('#login-error').textContent.length > 0")
    assert "wrong account name or password" in page.text_content("#login-error")
    sign_in(page)
    open_case(page, case["id"])
    page.fill("#note", "checked the hammers")

    db = Database(settings.resolved_database_url)  # the service ends the session meanwhile
    with db.session() as s:
        s.execute(update(LoginSession).values(expires_at=utcnow()))
    db.dispose()
    decide_by_keys(page, "1")
    page.wait_for_selector("#login:not([hidden])")
    assert "your session has expired" in page.text_content("#login-error")
    assert "Anything you typed is kept" in page.text_content("#login-error")
    assert page.input_value("#login-name") == "officer"  # only the password to type again
    assert page.evaluate("() => sessionStorage.getItem('nii.token')") is None

    page.fill("#login-password", OFFICER_PASSWORD)
    page.click("#login-submit")
    open_case(page, case["id"])
    assert page.input_value("#note") == "checked the hammers"
    token = page.evaluate("() => sessionStorage.getItem('nii.token')")
    assert token.startswith("niis_")

    r = httpx.post(
        f"{server.url}/v1/scans/{case['id']}/decision",
        json={"outcome": "returned"},
        headers={"Authorization": f"Bearer {keys['supervisor']}"},
    )
    assert r.status_code == 200, r.text
    decide_by_keys(page, "1")
    page.wait_for_selector("#conflict")
    assert "decided meanwhile by supervisor:supervisor (returned" in page.text_content("#conflict")
    assert "checked the hammers" in page.text_content("#decision")
    final = httpx.get(f"{server.url}/v1/scans/{case['id']}", headers={"Authorization": f"Bearer {token}"})
    assert final.json()["final_outcome"] == "returned"

    page.click("#logout")  # signing out ends the session at the service too
    page.wait_for_selector("#login:not([hidden])")
    page.wait_for_function(
        f"() => fetch('/v1/me', {{headers: {{Authorization: 'Bearer {token}'}}}}).then(r => r.status === 401)"
    )
    with db.session() as s:
        trail = [r.action for r in audit.records(s, limit=1000) if r.action.startswith("session.")]
    db.dispose()
    assert trail == ["session.refused", "session.started", "session.started", "session.ended"]


def test_large_scan_first_render_and_pan_rate(live, page, capsys: pytest.CaptureFixture[str]) -> None:
    server, keys, _ = live
    big = synthetic_scan(4000, 1500)
    case = upload(server.url, keys["station"], "E2E-BIG", big, sample_declaration("scan_00"))
    page.goto(server.url + "/")
    sign_in(page)
    page.wait_for_selector(f"#wl-body tr[data-id='{case['id']}']")
    page.evaluate(f"() => {{ location.hash = '#/case/{case['id']}'; }}")
    open_case(page, case["id"])
    first_render_ms = page.evaluate("() => window.__nii.metrics.firstRenderMs")
    assert page.evaluate("() => window.__nii.caseView.viewer.image.width") == 4000
    page.keyboard.press("+")
    page.keyboard.press("+")
    fps = page.evaluate(
        """() => new Promise((resolve) => {
             const v = window.__nii.caseView.viewer; const f0 = v.frames; const t0 = performance.now();
             const step = () => {
               v.panBy(-7, 3);
               if (performance.now() - t0 < 2000) requestAnimationFrame(step);
               else resolve((v.frames - f0) / ((performance.now() - t0) / 1000));
             };
             requestAnimationFrame(step);
           })"""
    )
    page.keyboard.press("e")
    page.wait_for_selector("#canvas[data-tools*='\"edges\":true']")
    tool_ms = page.evaluate("() => window.__nii.caseView.viewer.lastProcessMs")
    with capsys.disabled():
        sys.stdout.write(
            f"\n4000x1500 scan: first render {first_render_ms:.0f} ms (case + image fetch, decode, draw); "
            f"pan {fps:.1f} frames/s; edge-enhance pass {tool_ms:.0f} ms\n"
        )
    assert first_render_ms < 15_000
    assert fps > 10
