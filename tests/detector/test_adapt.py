"""Adapting BatchNorm to another scanner's unlabelled scans: the statistics, the exported model, bad input."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch

from nii.detector.adapt import MIN_IMAGES, adapt, adapt_batchnorm
from nii.detector.checkpoint import load_checkpoint, model_from_checkpoint
from nii.detector.export import export
from nii.errors import ModelError
from nii.runtime.card import load_card, sha256_file
from nii.runtime.preprocess import decode_image, letterbox
from tests.helpers import TINY_SIZE, write_tiny_checkpoint


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A seeded small dense model exported with its weights, a threshold and a second look."""
    folder = tmp_path_factory.mktemp("src")
    write_tiny_checkpoint(folder / "best.pt", block="dense")
    out = folder / "tiny.onnx"
    export(folder / "best.pt", out, thresholds={"gun": 0.25, "knife": 0.4}, looks={TINY_SIZE + 32: ["knife"]})
    return out


def _write_scans(folder: Path, count: int, seed: int = 0) -> list[Path]:
    """Scans of a 'scanner' darker and bluer than anything the model saw: tinted uniform noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        rgb = (rng.uniform(0, 120, (80, 120, 3)) + [0, 40, 100]).astype(np.uint8)
        paths.append(folder / f"scan_{i:03d}.png")
        cv2.imwrite(str(paths[-1]), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return paths


def test_adapt_batchnorm_measures_the_new_images_statistics(exported: Path) -> None:
    model = model_from_checkpoint(load_checkpoint(exported.with_suffix(".pt")))
    conv, norm = model.backbone.stem[0][0], model.backbone.stem[0][1]  # BatchNorm right after the first conv
    old_mean, momentum = norm.running_mean.clone(), norm.momentum
    generator = torch.Generator().manual_seed(0)
    batches = [torch.rand(4, 3, TINY_SIZE, TINY_SIZE, generator=generator) * 0.3 + 0.6 for _ in range(3)]

    assert adapt_batchnorm(model, batches) == 12
    with torch.no_grad():
        outputs = [conv(b) for b in batches]
    # An average over the batches of each batch's mean and unbiased variance, as BatchNorm tracks them.
    mean = torch.stack([o.mean(dim=(0, 2, 3)) for o in outputs]).mean(0)
    var = torch.stack([o.var(dim=(0, 2, 3), unbiased=True) for o in outputs]).mean(0)
    torch.testing.assert_close(norm.running_mean, mean, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(norm.running_var, var, rtol=1e-4, atol=1e-5)
    assert not torch.allclose(norm.running_mean, old_mean, atol=1e-3)
    assert not model.training and norm.momentum == momentum  # as it was found, for fine-tuning later


def test_scans_are_seen_as_the_source_run_saw_its_training_images(tmp_path: Path) -> None:
    from nii.detector.adapt import _training_views
    from nii.detector.config import config_from_dict

    paths = _write_scans(tmp_path, 3)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    cfg = config_from_dict({"train": {"input_size": TINY_SIZE, "crop_size": 64},
                            "augment": {"noise_prob": 0.0, "blur_prob": 0.0}})
    skipped: list[str] = []
    (batch,) = _training_views([*paths, tmp_path / "broken.png"], cfg, TINY_SIZE, skipped)
    assert batch.shape == (3, 3, 64, 64) and skipped == [str(tmp_path / "broken.png")]  # the training window
    assert batch.min() >= 0.0 and batch.max() <= 1.0  # scaled as the card's input spec scales pixels


def test_adapted_model_keeps_the_source_card_and_matches_its_weights(exported: Path, tmp_path: Path) -> None:
    _write_scans(tmp_path / "site" / "day1", 12)
    _write_scans(tmp_path / "site" / "day2", 12, seed=1)
    (tmp_path / "site" / "notes.txt").write_text("not a scan")
    out = tmp_path / "adapted" / "site.onnx"

    card = adapt(exported, tmp_path / "site", out, samples=20)
    source = load_card(exported)
    assert load_card(out) == card and card.onnx_sha256 == sha256_file(out)
    assert (card.thresholds, card.looks, card.classes) == (source.thresholds, source.looks, source.classes)
    record = card.training["adaptation"]
    assert record["images"] == 20 and record["skipped"] == [] and record["input_size"] == TINY_SIZE
    assert record["source"]["sha256"] == source.onnx_sha256 and card.metrics == {}
    weights = load_checkpoint(out.with_suffix(".pt"))
    assert weights["adaptation"] == record  # fine-tuning or re-exporting from it keeps the record

    image, _ = letterbox(decode_image(tmp_path / "site" / "day1" / "scan_000.png"), card.input)
    adapted = model_from_checkpoint(weights)
    with torch.no_grad():
        boxes, scores = adapted(torch.from_numpy(image[None]))
    cpu = ["CPUExecutionProvider"]
    new, old = (ort.InferenceSession(str(p), providers=cpu).run(None, {"images": image[None]})
                for p in (out, exported))
    np.testing.assert_allclose(new[1], scores.numpy(), rtol=1e-3, atol=1e-5)
    np.testing.assert_allclose(new[0], boxes.numpy(), rtol=1e-3, atol=1e-3)
    assert np.abs(new[1] - old[1]).max() > 1e-3  # the statistics did change what the model says
    # The learned weights stay: only BatchNorm buffers differ from the source.
    source_weights = load_checkpoint(exported.with_suffix(".pt"))["model"]
    changed = {k for k, v in weights["model"].items() if not torch.equal(v, source_weights[k])}
    assert changed
    assert all(k.endswith(("running_mean", "running_var", "num_batches_tracked")) for k in changed)


def test_the_augmentation_is_drawn_from_the_seed_alone(exported: Path, tmp_path: Path) -> None:
    _write_scans(tmp_path / "site", MIN_IMAGES)
    rng = torch.get_rng_state()
    stats = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        adapt(exported, tmp_path / "site", tmp_path / f"{name}.onnx", seed=seed)
        stats.append(load_checkpoint(tmp_path / f"{name}.pt")["model"]["backbone.stem.0.1.running_mean"])
    assert torch.equal(stats[0], stats[1]) and not torch.equal(stats[0], stats[2])
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's generator is left alone


def test_unreadable_scans_are_skipped_and_named(exported: Path, tmp_path: Path) -> None:
    _write_scans(tmp_path / "site", MIN_IMAGES)
    (tmp_path / "site" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    card = adapt(exported, tmp_path / "site", tmp_path / "a.onnx")
    assert card.training["adaptation"]["images"] == MIN_IMAGES
    assert card.training["adaptation"]["skipped"] == [str(tmp_path / "site" / "broken.png")]


def test_bad_input_is_a_clear_error(exported: Path, tmp_path: Path) -> None:
    _write_scans(tmp_path / "few", MIN_IMAGES - 1)
    with pytest.raises(ModelError, match=f"only {MIN_IMAGES - 1} readable scans"):
        adapt(exported, tmp_path / "few", tmp_path / "a.onnx")
    with pytest.raises(ModelError, match=r"must be a new \.onnx path"):
        adapt(exported, tmp_path / "few", exported)
    lone = tmp_path / "lone" / "tiny.onnx"  # the ONNX file and card without the weights
    lone.parent.mkdir()
    lone.write_bytes(exported.read_bytes())
    lone.with_suffix(".json").write_bytes(exported.with_suffix(".json").read_bytes())
    with pytest.raises(ModelError, match=r"tiny\.pt not found"):
        adapt(lone, tmp_path / "few", tmp_path / "a.onnx")
    assert not (tmp_path / "a.onnx").exists()


def test_cli_adapt(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from nii.cli import main

    _write_scans(tmp_path / "site", MIN_IMAGES)
    out = tmp_path / "site.onnx"
    assert main(["adapt", "--model", str(exported), "--images", str(tmp_path / "site"),
                 "--out", str(out)]) == 0
    assert f"{MIN_IMAGES} scans of" in capsys.readouterr().out
    assert load_card(out).training["adaptation"]["images"] == MIN_IMAGES
    assert main(["adapt", "--model", str(exported), "--images", str(tmp_path / "none"), "--out",
                 str(tmp_path / "b.onnx")]) == 2
