"""The detector network, its box coding, the assigner and the training config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nii.detector.config import Config, load_config
from nii.detector.loss import LossWeights, assign, detection_loss
from nii.detector.model import (
    BLOCKS,
    STRIDES,
    Detector,
    build_model,
    count_flops,
    decode_boxes,
    fuse_batchnorm,
    grid_points,
)
from nii.detector.train import model_spec
from nii.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_nano_fits_the_cpu_budget_at_512() -> None:
    gflops, params = count_flops(Detector(model_spec(load_config(CONFIGS / "nano.yaml"), 15)), 512)
    assert gflops <= 2.2, f"{gflops:.2f} GFLOPs at 512 x 512"  # the "about 2"
    assert 0.5e6 <= params <= 3e6, f"{params} parameters"


@pytest.mark.parametrize("block", BLOCKS)
@pytest.mark.parametrize("batch,size", [(1, 128), (2, 160)], ids=["b1-128", "b2-160"])
def test_forward_shapes_and_ranges(batch: int, size: int, block: str) -> None:
    torch.manual_seed(0)
    model = build_model(num_classes=4, widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1), neck_channels=16,
                        head_convs=1, block=block).eval()
    with torch.no_grad():
        boxes, scores = model(torch.rand(batch, 3, size, size))
    n = sum((size // s) ** 2 for s in STRIDES)
    assert boxes.shape == (batch, n, 4) and scores.shape == (batch, n, 4)
    assert (boxes[..., 2:] > boxes[..., :2]).all()
    assert scores.min() > 0.0 and scores.max() < 0.05  # prior 0.01 at initialisation


def test_decode_boxes_centre_and_size() -> None:
    points = grid_points(2, 2, 8, torch.device("cpu"))  # cells at x, y in {0, 8}
    raw = torch.zeros(1, 4, 4)
    raw[0, 3] = torch.tensor([0.5, -0.5, 0.0, torch.log(torch.tensor(2.0))])
    boxes = decode_boxes(raw, points)
    assert torch.allclose(boxes[0, 0], torch.tensor([0.0, 0.0, 8.0, 8.0]))  # centre 4,4 size 8
    # cell (8, 8): centre (8 + 8 * 1.0, 8 + 8 * 0.0) = (16, 8), width 8, height 16
    assert torch.allclose(boxes[0, 3], torch.tensor([12.0, 0.0, 20.0, 16.0]))


@pytest.mark.parametrize("block", BLOCKS)
def test_fused_batchnorm_keeps_outputs(block: str) -> None:
    torch.manual_seed(1)
    model = build_model(num_classes=3, widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1), neck_channels=16,
                        head_convs=1, block=block)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 3, 96, 96))  # non-trivial running statistics
    model.eval()
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        before = model(x)
        after = fuse_batchnorm(model)(x)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules())
    for a, b in zip(before, after, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)


def test_assign_gives_a_tiny_box_positives_and_loss_is_finite() -> None:
    torch.manual_seed(0)
    size, c = 64, 3
    points = torch.cat([grid_points(size // s, size // s, s, torch.device("cpu")) for s in STRIDES])
    n = len(points)
    scores = torch.full((1, n, c), 0.01)
    pred = decode_boxes(torch.zeros(1, n, 4), points)
    gt = torch.tensor([[[30.0, 30.0, 34.0, 33.0], [0.0, 0.0, 0.0, 0.0]]])  # 4 x 3 px box + padding row
    labels, mask = torch.tensor([[2, 0]]), torch.tensor([[True, False]])
    target_scores, target_xyxy, fg = assign(scores, pred, points, gt, labels, mask, LossWeights())
    assert fg.sum() >= 1
    assert (target_scores[fg].argmax(-1) == 2).all() and target_scores[~fg].sum() == 0
    assert torch.equal(target_xyxy[fg][0], gt[0, 0])
    zeros_cls, zeros_box = torch.zeros(1, n, c), torch.zeros(1, n, 4)
    losses = detection_loss(zeros_cls, zeros_box, points, gt, labels, mask, LossWeights())
    assert all(torch.isfinite(v) for v in losses.values()) and losses["loss"] > 0


def test_shipped_config_loads_with_every_field_set() -> None:
    cfg = load_config(CONFIGS / "nano.yaml")
    assert isinstance(cfg, Config) and cfg.train.input_size % 32 == 0
    text = (CONFIGS / "nano.yaml").read_text()
    undocumented = [line for line in text.splitlines()
                    if ":" in line and not line.strip().startswith("#") and not line.rstrip().endswith(":")
                    and "#" not in line]
    assert not undocumented, f"fields without a comment: {undocumented}"


@pytest.mark.parametrize(
    "overrides,message",
    [
        (["train.epoch=3"], "unknown key"),
        (["bogus.x=1"], "unknown key"),
        (["train.input_size=100"], "multiple of 32"),
        (["train.lr=fast"], "expected float"),
        (["train.epochs"], "section.key=value"),
        (["model.block=sparse"], "model.block must be one of dwsep, dense"),
    ],
    ids=["unknown-field", "unknown-section", "bad-size", "bad-type", "no-value", "unknown-block"],
)
def test_bad_config_is_a_config_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "nano.yaml", overrides)


def test_unknown_key_in_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  input_size: 128\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"learning_rate"):
        load_config(path)
