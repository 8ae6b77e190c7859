"""`nii export-annotations`: officers' closed cases and box corrections as a COCO dataset."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from webhelpers import Api

from nii.cli import main
from nii.datasets.classmap import ClassMapper
from nii.datasets.coco import read_coco
from nii.store import BlobStore, Database
from nii.store.annotations_export import export_annotations, officer_boxes
from nii.types import CLASS_NAMES

DETECTIONS = {"detections": [
    {"class_name": "knife", "score": 0.9, "xyxy": [10, 10, 60, 50]},
    {"class_name": "hammer", "score": 0.8, "xyxy": [15, 10, 65, 50]},
]}


@pytest.mark.parametrize(
    ("annotations", "expected"),
    [
        (None, [("knife", [10, 10, 60, 50]), ("hammer", [15, 10, 65, 50])]),
        ({"removed": [0]}, [("hammer", [15, 10, 65, 50])]),
        ({"relabelled": [{"index": 1, "class_name": "wrench"}]},
         [("knife", [10, 10, 60, 50]), ("wrench", [15, 10, 65, 50])]),
        ({"removed": [0, 1], "added": [{"class_name": "gun", "xyxy": [1, 2, 30, 40]}]},
         [("gun", [1, 2, 30, 40])]),
    ],
    ids=["confirmed", "removed", "relabelled", "removed-and-added"],
)
def test_officer_boxes(annotations: dict | None, expected: list) -> None:
    assert officer_boxes(DETECTIONS, annotations) == expected


def _decide(api: Api, key: str, body: dict) -> str:
    case = api.decided(key)
    r = api.client.post(f"/v1/scans/{case['id']}/decision", json=body, headers=api.headers("officer"))
    assert r.status_code == 200, r.text
    return case["id"]


def test_export_reads_back_as_coco(web_api: Api, tmp_path: Path) -> None:
    corrected = _decide(web_api, "S-1", {
        "outcome": "seized",
        "boxes": {"removed": [1], "relabelled": [{"index": 0, "class_name": "scissors"}],
                  "added": [{"class_name": "gun", "xyxy": [100, 120, 180, 200]}]},
    })
    confirmed = _decide(web_api, "S-2", {"outcome": "released"})
    web_api.decided("S-3")  # held, not decided: not exported
    db = Database(web_api.settings.resolved_database_url)
    out = tmp_path / "export"
    with db.session() as s:
        report = export_annotations(s, BlobStore(web_api.settings.resolved_scan_root), out)
    db.dispose()
    assert (report.images, report.boxes, report.corrected_images, report.skipped) == (2, 4, 1, ())
    coco = json.loads((out / "annotations.json").read_text())
    by_case = {im["nii_case_id"]: im for im in coco["images"]}
    assert set(by_case) == {corrected, confirmed}
    assert by_case[corrected]["nii_corrected"] and by_case[corrected]["nii_officer"] == "officer:officer"
    names = {c["id"]: c["name"] for c in coco["categories"]}
    boxes = sorted((names[a["category_id"]], a["bbox"]) for a in coco["annotations"]
                   if a["image_id"] == by_case[corrected]["id"])
    assert boxes == [("gun", [100.0, 120.0, 80.0, 80.0]), ("scissors", [10.0, 10.0, 50.0, 40.0])]
    dataset = read_coco(out / "annotations.json", out, ClassMapper(CLASS_NAMES), split=None)
    assert dataset.report.images == 2 and dataset.report.boxes == 4
    assert all(s.image_path.is_file() for s in dataset.samples)


def test_cli_corrected_only(web_api: Api, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    _decide(web_api, "S-1", {"outcome": "seized", "boxes": {"removed": [0]}})
    _decide(web_api, "S-2", {"outcome": "released"})
    monkeypatch.setenv("NII_SCAN_ROOT", str(web_api.settings.resolved_scan_root))
    out = tmp_path / "cli"
    code = main(["export-annotations", "--out", str(out), "--corrected-only",
                 "--database-url", web_api.settings.resolved_database_url])
    assert code == 0
    assert "1 images (1 corrected by officers), 1 boxes" in capsys.readouterr().out
    coco = json.loads((out / "annotations.json").read_text())
    assert [a["category_id"] for a in coco["annotations"]] == [CLASS_NAMES.index("hammer") + 1]


def test_cli_bad_since(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["export-annotations", "--out", str(tmp_path), "--since", "yesterday",
                 "--database-url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert code == 2 and "not an ISO time" in capsys.readouterr().err
