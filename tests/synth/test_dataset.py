"""`nii synth` output: COCO that pycocotools reads, determinism, atomic writes, bad input."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from pycocotools.coco import COCO

from nii.cli import main
from nii.errors import UsageError
from nii.synth.dataset import ANNOTATIONS, DECLARATIONS, RENDERER, SynthSpec, write_dataset
from nii.types import CLASS_NAMES


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ds"
    write_dataset(SynthSpec(count=8, seed=21, width=480, height=360), out)
    return out


def test_coco_loads_and_boxes_are_valid(small):
    coco = COCO(str(small / ANNOTATIONS))
    assert [c["name"] for c in coco.loadCats(coco.getCatIds())] == list(CLASS_NAMES)
    assert len(coco.getImgIds()) == 8
    for img in coco.loadImgs(coco.getImgIds()):
        image = cv2.imread(str(small / "images" / img["file_name"]), cv2.IMREAD_UNCHANGED)
        assert image.shape == (img["height"], img["width"], 3)
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=img["id"])):
            x, y, w, h = ann["bbox"]
            assert w >= 2 and h >= 2 and x >= 0 and y >= 0
            assert x + w <= img["width"] + 1e-6 and y + h <= img["height"] + 1e-6
            assert isinstance(ann["attributes"]["concealed"], bool)
            assert 0.0 <= ann["attributes"]["contrast"] <= 442.0


def test_info_names_the_generator_run(small):
    info = json.loads((small / ANNOTATIONS).read_text())["info"]
    assert info["renderer"] == RENDERER and info["seed"] == 21 and info["count"] == 8
    assert info["size"] == [480, 360]


def test_raw_channels_are_16_bit(small):
    low = cv2.imread(str(small / "raw" / "p000000_low.png"), cv2.IMREAD_UNCHANGED)
    high = cv2.imread(str(small / "raw" / "p000000_high.png"), cv2.IMREAD_UNCHANGED)
    assert low.dtype == high.dtype == "uint16" and low.shape == high.shape
    assert high.max() == 65535  # air


def test_declarations_keyed_by_file_name(small):
    lines = [json.loads(line) for line in (small / DECLARATIONS).read_text().splitlines()]
    images = json.loads((small / ANNOTATIONS).read_text())["images"]
    assert [x["file_name"] for x in lines] == [im["file_name"] for im in images]
    for line in lines:
        assert line["ground_truth"]["labels"]
        assert {"category", "sender_country", "recipient_country", "items"} <= set(line["declaration"])


def test_workers_give_byte_identical_files(small, tmp_path):
    out = tmp_path / "again"
    write_dataset(SynthSpec(count=8, seed=21, width=480, height=360), out, workers=2)
    assert _digest(out) == _digest(small)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"count": 0}, "--count"),
        ({"count": 2, "seed": -1}, "--seed"),
        ({"count": 2, "width": 50}, "--size"),
        ({"count": 2, "threat_share": 1.5}, "--threats"),
    ],
    ids=["count", "seed", "size", "threats"],
)
def test_bad_spec_is_rejected(kwargs, message):
    with pytest.raises(UsageError, match=message):
        SynthSpec(**kwargs)


def test_cli_rejects_non_empty_and_unwritable_folders(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("keep me")
    assert main(["synth", "--count", "1", "--out", str(tmp_path / "full")]) == 2
    assert (tmp_path / "full" / "x.txt").read_text() == "keep me"
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["synth", "--count", "1", "--out", str(blocker / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("nii synth: error:") for line in err)


def test_cli_usage_errors_exit_2(tmp_path):
    for argv in (
        ["--count", "0"],
        ["--count", "x"],
        ["--count", "1", "--seed", "-3"],
        ["--count", "1", "--size", "9x9"],
    ):
        with pytest.raises(SystemExit) as exc:
            main(["synth", *argv, "--out", str(tmp_path / "o")])
        assert exc.value.code == 2


@pytest.mark.slow
def test_interrupted_run_leaves_no_annotations(tmp_path):
    out = tmp_path / "ds"
    # Ctrl-C as at a terminal: a suite started as a background job inherits SIGINT ignored, and
    # Python then keeps ignoring it, so the child installs the default handler itself.
    run_cli = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
               "from nii.cli import main; sys.exit(main(sys.argv[1:]))")
    proc = subprocess.Popen(
        [sys.executable, "-c", run_cli, "synth", "--count", "5000", "--out", str(out)],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(list((out / "images").glob("*.png"))) < 3:
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    assert list((out / "images").glob("*.png"))
    assert not (out / ANNOTATIONS).exists()
    assert not list(out.glob("*.partial"))
