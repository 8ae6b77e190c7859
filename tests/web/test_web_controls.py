"""The worklist's pages and each viewer control in headless Chromium, asserting what the officer
sees (canvas pixels, rows) or the view's state: threshold slider, box toggle, brightness, contrast,
invert, edges, zoom and pan by keys, wheel and drag, full screen, draw mode, decision keys, and
material stripping from the dual-energy channels or, without them, from the hue."""

from __future__ import annotations

import httpx
import pytest
from webhelpers import (
    DUAL_ENERGY_BANDS,
    DUAL_ENERGY_ROWS,
    SAMPLES,
    centre_pixel,
    dual_energy_scan,
    image_pixel,
    open_case,
    sample_declaration,
    sign_in,
    upload,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CANVAS_STATS = """() => {
  const c = document.querySelector('#canvas'); const v = window.__nii.caseView.viewer;
  const [x1, y1] = v.toScreen(0, 0).map(Math.round);
  const [x2, y2] = v.toScreen(v.image.width, v.image.height).map(Math.round);
  const px = c.getContext('2d').getImageData(x1, y1, x2 - x1, y2 - y1).data;
  let sum = 0, sq = 0, white = 0, n = 0;
  for (let i = 0; i < px.length; i += 4) {
    const g = (px[i] + px[i + 1] + px[i + 2]) / 3; sum += g; sq += g * g; n++;
    if (px[i] > 250 && px[i + 1] > 250 && px[i + 2] > 250) white++;
  }
  const mean = sum / n; return { mean, std: Math.sqrt(sq / n - mean * mean), white: white / n };
}"""


VIEW = "() => { const v = window.__nii.caseView.viewer; return {scale: v.scale, tx: v.tx, ty: v.ty}; }"


ORANGE = (255, 167, 38)  # the outline of a detection box that is not prohibited


def near(pixel: list[int], rgb: tuple[int, int, int], tol: int = 40) -> bool:
    """Within `tol` per channel (strokes on fractional pixels are anti-aliased)."""
    return all(abs(a - b) <= tol for a, b in zip(pixel[:3], rgb, strict=True))


def view(page) -> dict:
    return page.evaluate(VIEW)


def stats(page) -> dict:
    return page.evaluate(CANVAS_STATS)


def wait_tools(page, fragment: str) -> None:
    """Until the viewer has drawn with tools whose JSON holds `fragment` (e.g. '"invert":true')."""
    page.wait_for_function(
        "(f) => (document.querySelector('#canvas').dataset.tools || '').includes(f)", arg=fragment
    )
    frame(page)


def until(page, condition: str) -> None:
    """Until `condition` (JavaScript over the viewer `v`) holds."""
    page.wait_for_function(f"() => {{ const v = window.__nii.caseView.viewer; return {condition}; }}")


def frame(page) -> None:
    """Until the page has drawn the next frame."""
    page.evaluate("() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))")


def press(page, key: str, times: int = 1) -> None:
    for _ in range(times):
        page.keyboard.press(key)


def test_worklist_pages_through_the_queue(live, page) -> None:
    server, keys, _ = live
    scan = (SAMPLES / "scan_00.png").read_bytes()
    ids = [
        upload(server.url, keys["station"], f"PAGE-{i}", scan, sample_declaration("scan_00"))["id"]
        for i in range(5)
    ]
    officer = {"Authorization": f"Bearer {keys['officer']}"}
    order = [it["id"] for it in httpx.get(f"{server.url}/v1/queue", headers=officer).json()["items"]]
    assert sorted(order) == sorted(ids)

    page.goto(server.url + "/")
    page.wait_for_selector("#login:not([hidden])")
    page.evaluate("() => { window.__nii.worklist.pageSize = 2; }")  # 50 a page in service
    sign_in(page)

    def shown(text: str) -> list[str]:
        page.wait_for_function("(t) => document.querySelector('#wl-range').textContent === t", arg=text)
        return page.locator("#wl-body tr").evaluate_all("rows => rows.map(r => r.dataset.id)")

    first = shown("1–2 of 5")
    assert page.is_disabled("#wl-prev") and page.is_enabled("#wl-next")
    page.click("#wl-next")
    second = shown("3–4 of 5")
    press(page, "]")
    third = shown("5–5 of 5")
    assert page.is_disabled("#wl-next") and page.is_enabled("#wl-prev")
    assert first + second + third == order  # every case once, in the API's order
    press(page, "PageUp")
    assert shown("3–4 of 5") == second
    press(page, "PageDown")
    shown("5–5 of 5")

    # the last case is decided elsewhere: the emptied page falls back to the last one there is
    r = httpx.post(
        f"{server.url}/v1/scans/{third[0]}/decision",
        json={"outcome": "released"},
        headers={"Authorization": f"Bearer {keys['supervisor']}"},
    )
    assert r.status_code == 200, r.text
    press(page, "r")
    assert shown("3–4 of 4") == second

    page.select_option("#f-decision", "refer")  # a filter starts again at the first page
    page.wait_for_function("() => !document.querySelector('#wl-range').textContent.includes('3–')")
    assert page.evaluate("() => window.__nii.worklist.offset") == 0


def test_viewer_controls(live, page) -> None:
    server, keys, _ = live
    case = upload(
        server.url, keys["station"], "CTL-1", (SAMPLES / "scan_00.png").read_bytes(), sample_declaration()
    )
    page.goto(f"{server.url}/#/case/{case['id']}")
    sign_in(page)
    open_case(page, case["id"])
    page.wait_for_selector("#canvas[data-material-source='false_colour']")
    assert page.text_content("#t-mat-src") == "by colour"

    # score threshold: the slider's own arrow keys move it (and do not pan); the 0.64 box goes
    edge = (274.0, 380.0)  # left edge of the second hammer box, score 0.64
    boxed = image_pixel(page, *edge)
    at = view(page)
    page.focus("#t-thr")
    press(page, "ArrowRight", 14)
    page.wait_for_function("() => document.querySelector('#t-thr-v').textContent === '0.70'")
    assert page.evaluate("() => window.__nii.caseView.viewer.visibleBoxes().map(b => b.key)") == ["d0", "d2"]
    assert view(page) == at
    frame(page)
    unboxed = image_pixel(page, *edge)
    assert near(boxed, ORANGE) and not near(unboxed, ORANGE)  # the outline is gone
    press(page, "ArrowLeft", 14)
    page.wait_for_function("() => document.querySelector('#t-thr-v').textContent === '0.00'")
    frame(page)
    assert image_pixel(page, *edge) == boxed

    # boxes checkbox
    page.click("#t-boxes")
    frame(page)
    assert image_pixel(page, *edge) == unboxed
    page.click("#t-boxes")
    frame(page)

    # brightness up raises the mean; contrast down narrows the spread; t resets both
    base = stats(page)
    page.focus("#t-bright")
    press(page, "ArrowRight", 4)
    wait_tools(page, '"brightness":0.2')
    brighter = stats(page)
    assert brighter["mean"] > base["mean"] + 5  # a mostly white belt: only the parcel can brighten
    press(page, "t")
    wait_tools(page, '"brightness":0,"contrast":1')
    assert abs(stats(page)["mean"] - base["mean"]) < 0.5
    page.focus("#t-contrast")
    press(page, "ArrowLeft", 5)
    wait_tools(page, '"contrast":0.5')
    assert stats(page)["std"] < 0.7 * base["std"]
    press(page, "t")
    wait_tools(page, '"brightness":0,"contrast":1')

    # invert by its checkbox: each channel becomes 255 minus itself
    before = centre_pixel(page)
    page.click("#t-invert")
    wait_tools(page, '"invert":true')
    after = centre_pixel(page)
    assert all(abs(a + b - 255) <= 3 for a, b in zip(before[:3], after[:3], strict=True)), (before, after)
    press(page, "i")
    wait_tools(page, '"invert":false')

    # edge enhancement changes the picture; organic-only (by hue here) whitens what is not organic
    press(page, "e")
    wait_tools(page, '"edges":true')
    assert stats(page)["std"] > base["std"]
    press(page, "e")
    press(page, "o")
    wait_tools(page, '"material":"organic"')
    assert stats(page)["white"] > base["white"] + 0.05
    press(page, "a")
    wait_tools(page, '"material":"all"')

    # zoom and pan: keys, wheel, drag
    page.locator("#canvas").focus()
    fit = view(page)
    press(page, "+")
    until(page, f"v.scale > {fit['scale'] * 1.2}")
    assert view(page)["scale"] == pytest.approx(fit["scale"] * 1.25)
    press(page, "-")
    until(page, f"v.scale < {fit['scale'] * 1.05}")
    assert view(page)["scale"] == pytest.approx(fit["scale"])
    press(page, "ArrowLeft")
    until(page, f"v.tx > {fit['tx'] + 30}")
    assert view(page)["tx"] == pytest.approx(fit["tx"] + 60)
    press(page, "0")
    until(page, f"v.tx < {fit['tx'] + 30}")
    assert view(page) == pytest.approx(fit)
    box = page.locator("#canvas").bounding_box()
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -100)
    until(page, f"v.scale > {fit['scale'] * 1.1}")
    zoomed = view(page)
    page.mouse.down()
    page.mouse.move(cx + 80, cy + 30, steps=4)
    page.mouse.up()
    until(page, f"v.tx > {zoomed['tx'] + 70}")
    moved = view(page)
    assert (moved["tx"] - zoomed["tx"], moved["ty"] - zoomed["ty"]) == pytest.approx((80, 30), abs=1)

    # draw mode on and off; decision keys arm and Escape disarms
    press(page, "d")
    page.wait_for_selector("#canvas.drawing")
    assert page.evaluate("() => window.__nii.caseView.viewer.drawMode") is True
    press(page, "Escape")
    page.wait_for_selector("#canvas.drawing", state="detached")
    press(page, "2")
    page.wait_for_selector("button.decide.armed[data-outcome='inspected_cleared']")
    assert "Confirm: Inspected, cleared" in page.text_content("#confirm")
    press(page, "Escape")
    page.wait_for_selector("#confirm", state="detached")

    # full screen: the button, then f to leave
    page.click("#t-full")
    page.wait_for_function("() => document.fullscreenElement?.id === 'stage'")
    press(page, "f")
    page.wait_for_function("() => document.fullscreenElement === null")
    assert page.locator("#closed-note").count() == 0  # nothing was decided on the way


def test_material_tools_use_the_dual_energy_channels(live, page) -> None:
    """The scan is painted orange (organic by hue) everywhere; the channels say organic, inorganic
    and metal: the page must strip by the channels."""
    server, keys, _ = live
    scan, low, high = dual_energy_scan()
    case = upload(server.url, keys["station"], "DE-1", scan, sample_declaration(), channels=(low, high))
    page.goto(f"{server.url}/#/case/{case['id']}")
    sign_in(page)
    open_case(page, case["id"])
    page.wait_for_selector("#canvas[data-material-source='dual_energy']")
    assert page.text_content("#t-mat-src") == "dual energy"
    page.locator("#canvas").focus()
    press(page, "b")  # boxes off: only the image under the probes
    y = sum(DUAL_ENERGY_ROWS) / 2

    def kept() -> dict[str, bool]:
        frame(page)
        pixels = {m: image_pixel(page, (x1 + x2) / 2, y) for m, (x1, x2, _) in DUAL_ENERGY_BANDS.items()}
        return {m: min(p[:3]) < 240 for m, p in pixels.items()}  # not whitened

    assert kept() == {"organic": True, "inorganic": True, "metal": True}
    for key, material in [("m", "metal"), ("o", "organic"), ("n", "inorganic")]:
        press(page, key)
        wait_tools(page, f'"material":"{material}"')
        assert kept() == {m: m == material for m in DUAL_ENERGY_BANDS}, material
