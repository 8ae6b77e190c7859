"""Model card: validation, round trip, errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nii.errors import ModelError
from nii.runtime.card import (
    InputSpec,
    ModelCard,
    card_path,
    load_card,
    load_matching_card,
    sha256_file,
    write_card,
)


def _card(**changes: object) -> dict:
    base = {"name": "m", "classes": ["gun", "knife"], "input": {"size": 64},
            "thresholds": {"gun": 0.5, "knife": 0.4}, "onnx_sha256": "a" * 64,
            "created": "2025-01-01T00:00:00"}
    base.update(changes)
    return base


def test_round_trip(tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"x")
    card = ModelCard.model_validate(_card(onnx_sha256=sha256_file(onnx_path)))
    assert write_card(card, onnx_path) == tmp_path / "model.json"
    loaded = load_card(onnx_path)
    assert loaded == card
    assert loaded.input == InputSpec(size=64)
    assert loaded.input.scale == pytest.approx(1 / 255)
    assert loaded.input.letterbox.pad_value == 1.0 and loaded.nms_iou == 0.6 and loaded.max_detections == 100
    assert sha256_file(onnx_path) == "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881"



def test_matching_card_refuses_an_onnx_file_it_does_not_describe(tmp_path: Path) -> None:
    onnx_path = tmp_path / "model.onnx"
    onnx_path.write_bytes(b"x")
    write_card(ModelCard.model_validate(_card(onnx_sha256=sha256_file(onnx_path))), onnx_path)
    assert load_matching_card(onnx_path, "adapting") == load_card(onnx_path)
    onnx_path.write_bytes(b"y")  # replaced, card kept
    with pytest.raises(ModelError, match="does not match its card's sha256; re-export it before adapting"):
        load_matching_card(onnx_path, "adapting")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"thresholds": {"gun": 0.5}}, "missing ['knife']"),
        ({"thresholds": {"gun": 0.5, "knife": 0.4, "bomb": 0.1}}, "unknown ['bomb']"),
        ({"thresholds": {"gun": 1.5, "knife": 0.4}}, "[0, 1]"),
        ({"classes": ["gun", "gun"], "thresholds": {"gun": 0.5}}, "unique"),
        ({"format": "other/1"}, "format"),
        ({"surprise": 1}, "surprise"),
        ({"onnx_sha256": "abc"}, "onnx_sha256"),
        ({"input": {"size": 0}}, "input.size"),
        ({"recall": {"bomb": 0.5}}, "recall names classes the model does not have: ['bomb']"),
        ({"recall": {"gun": 1.2}}, "recall must lie in [0, 1]"),
        ({"look_alikes": {"gun": {"bomb": 0.1}}},
         "look_alikes names classes the model does not have: ['bomb']"),
        ({"look_alikes": {"gun": {"knife": 2.0}}}, "look_alikes shares must lie in [0, 1]"),
        ({"looks": [{"size": 96, "classes": ["bomb"]}]}, "looks name classes the model does not have"),
        ({"looks": [{"size": 96, "classes": ["gun"]}, {"size": 128, "classes": ["gun"]}]},
         "one look only, got ['gun']"),
        ({"looks": [{"size": 64, "classes": ["gun"]}]}, "main input size 64 adds nothing"),
        ({"looks": [{"size": 100, "classes": ["gun"]}]}, "multiple of 32"),
        ({"looks": [{"size": 96, "classes": []}]}, "looks.0.classes"),
    ],
    ids=["missing-threshold", "extra-threshold", "threshold-range", "duplicate-class", "format",
         "unknown-key", "bad-sha", "zero-size", "recall-class", "recall-range", "look-alike-class",
         "look-alike-range", "look-class", "look-twice", "look-main-size", "look-size", "look-empty"],
)
def test_invalid_card_names_file_and_problem(tmp_path: Path, changes: dict, message: str) -> None:
    (tmp_path / "model.json").write_text(json.dumps(_card(**changes)))
    with pytest.raises(ModelError, match=r"model\.json") as info:
        load_card(tmp_path / "model.onnx")
    assert message in str(info.value)


@pytest.mark.parametrize(("content", "message"), [(None, "not found"), ("{not json", "invalid")],
                         ids=["missing", "corrupt"])
def test_missing_or_corrupt_card(tmp_path: Path, content: str | None, message: str) -> None:
    if content is not None:
        card_path(tmp_path / "model.onnx").write_text(content)
    with pytest.raises(ModelError, match=message):
        load_card(tmp_path / "model.onnx")
