"""ONNX export: parity with eager PyTorch through ONNX Runtime, the model card, bad checkpoints."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from nii.detector.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from nii.detector.export import _with_generator_info, export
from nii.detector.model import Detector
from nii.errors import ModelError
from nii.runtime.card import load_card, sha256_file
from tests.helpers import TINY_CLASSES, TINY_SIZE, write_tiny_checkpoint

CLASSES, SIZE = TINY_CLASSES, TINY_SIZE


@pytest.fixture(scope="module", params=[("dwsep", 0), ("dense", 0), ("dense", 8)],
                ids=["dwsep", "dense", "dense-box-bins"])
def checkpoint(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded small model (each block, each box coding) with non-trivial BatchNorm statistics, saved as
    `nii train` does."""
    block, box_bins = request.param
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "best.pt", block=block, box_bins=box_bins)


@pytest.fixture(scope="module")
def exported(checkpoint: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export(checkpoint, out, thresholds={"gun": 0.25})
    return out


@pytest.mark.parametrize(("batch", "size"), [(1, SIZE), (2, SIZE), (2, SIZE + 64)],
                         ids=["batch1", "batch2", "larger-input"])
def test_onnx_runtime_matches_eager(checkpoint: Path, exported: Path, batch: int, size: int) -> None:
    model = model_from_checkpoint(torch.load(checkpoint, weights_only=True))
    images = torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(batch))
    with torch.no_grad():
        boxes, scores = model(images)
    session = ort.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["images"]
    assert [o.name for o in session.get_outputs()] == ["boxes", "scores"]
    ort_boxes, ort_scores = session.run(None, {"images": images.numpy()})
    assert ort_boxes.dtype == np.float32 and ort_boxes.shape == tuple(boxes.shape)
    np.testing.assert_allclose(ort_boxes, boxes.numpy(), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(ort_scores, scores.numpy(), rtol=1e-3, atol=1e-5)


def test_graph_has_no_batchnorm_and_a_dynamic_batch_and_size(exported: Path) -> None:
    import onnx

    graph = onnx.load(str(exported)).graph
    assert not [n for n in graph.node if n.op_type == "BatchNormalization"]
    dim = graph.input[0].type.tensor_type.shape.dim
    assert dim[1].dim_value == 3 and all(dim[i].dim_param for i in (0, 2, 3))
    assert load_card(exported).input.size == SIZE and load_card(exported).looks == []


def test_looks_in_the_card_and_their_errors(checkpoint: Path, tmp_path: Path) -> None:
    from nii.runtime import Detector as Runtime

    out = tmp_path / "looked.onnx"
    card = export(checkpoint, out, looks={SIZE + 64: ["knife"]}, weights=False)
    assert [(v.size, v.classes) for v in card.looks] == [(SIZE + 64, ["knife"])]
    assert Runtime(out, threads=1).detect(np.full((50, 90, 3), 255, np.uint8)) is not None
    for looks, message in [({SIZE + 64: ["bomb"]}, "classes the model does not have"),
                           ({SIZE: ["knife"]}, "main input size"),
                           ({SIZE + 8: ["knife"]}, "multiple of 32"),
                           ({SIZE + 32: ["knife"], SIZE + 64: ["knife"]}, "one look only")]:
        bad = tmp_path / "bad.onnx"
        with pytest.raises(ModelError, match=message):
            export(checkpoint, bad, looks=looks, weights=False)
        assert not bad.exists()


def test_card_describes_the_file(exported: Path) -> None:
    card = load_card(exported)
    assert card.onnx_sha256 == sha256_file(exported)
    assert card.classes == CLASSES and card.input.size == SIZE
    assert card.thresholds == {"gun": 0.25, "knife": 0.3, "battery": 0.3}
    assert card.training["epochs"] == 3 and card.training["seed"] == 0
    assert card.metrics["validation"]["map50"] == 0.5
    assert json.loads(exported.with_suffix(".json").read_text())["format"] == "nii-detector/1"


def test_card_says_whether_the_run_trained_in_bf16(checkpoint: Path, tmp_path: Path) -> None:
    assert export(checkpoint, tmp_path / "old.onnx", weights=False).training["bf16"] is None  # not recorded
    save_checkpoint({**load_checkpoint(checkpoint), "bf16": False}, tmp_path / "fp32.pt")
    assert export(tmp_path / "fp32.pt", tmp_path / "fp32.onnx", weights=False).training["bf16"] is False


def test_card_data_spec_names_the_synth_run(tmp_path: Path) -> None:
    info = {"seed": 1, "count": 5000, "size": [800, 600], "threat_share": 0.85, "version": "0.1.0",
            "renderer": 2, "description": "dropped"}
    (tmp_path / "annotations.json").write_text(json.dumps({"info": info}))
    spec = _with_generator_info({"train": str(tmp_path), "val": None})
    assert spec["train_synth"] == {k: v for k, v in info.items() if k != "description"}
    assert "val_synth" not in spec


def test_unknown_threshold_class_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="lighter"):
        export(checkpoint, tmp_path / "m.onnx", thresholds={"lighter": 0.5})


@pytest.mark.parametrize(
    "content,message",
    [(None, "not found"), (b"not a checkpoint", "corrupt"), ("dict", "lacks")],
    ids=["missing", "corrupt", "foreign-dict"],
)
def test_bad_checkpoint_is_a_model_error(tmp_path: Path, content: bytes | str | None, message: str) -> None:
    path = tmp_path / "bad.pt"
    if content == "dict":
        torch.save({"weights": torch.zeros(1)}, path)
    elif content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=message) as info:
        export(path, tmp_path / "m.onnx")
    assert "bad.pt" in str(info.value)


def test_slim_weights_beside_the_onnx_start_a_fine_tune(checkpoint: Path, exported: Path) -> None:
    from nii.detector.checkpoint import load_checkpoint, load_matching_classes, spec_from_dict

    slim = load_checkpoint(exported.with_suffix(".pt"))
    assert "optimizer" not in slim and slim["classes"] == CLASSES
    full = torch.load(checkpoint, weights_only=True)
    new = Detector(dataclasses.replace(spec_from_dict(slim["spec"]), num_classes=2))
    assert load_matching_classes(new, slim, ["knife", "lighter"]) == ["lighter"]
    key = "heads.0.cls_pred.weight"
    torch.testing.assert_close(new.state_dict()[key][0], full["ema"][key][CLASSES.index("knife")])
    key = "backbone.stem.0.0.weight"
    torch.testing.assert_close(new.state_dict()[key], full["ema"][key])


def test_cli_export_and_its_errors(checkpoint: Path, tmp_path: Path) -> None:
    from nii.cli import main

    thresholds = tmp_path / "thr.json"
    thresholds.write_text(json.dumps({"knife": 0.4}))
    out = tmp_path / "models" / "tiny.onnx"
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--thresholds",
                 str(thresholds)]) == 0
    assert load_card(out).thresholds["knife"] == 0.4 and out.with_suffix(".pt").is_file()
    assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--no-weights",
                 "--look", f"{SIZE + 64}:knife,gun"]) == 0
    assert [(v.size, v.classes) for v in load_card(out).looks] == [(SIZE + 64, ["knife", "gun"])]
    for look in ("knife", f"{SIZE}:knife", f"{SIZE + 64}:"):
        assert main(["export", "--checkpoint", str(checkpoint), "--out", str(out), "--look", look]) == 2
    assert main(["export", "--checkpoint", str(tmp_path / "missing.pt"), "--out", str(out)]) == 2
