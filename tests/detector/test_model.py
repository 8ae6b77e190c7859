"""The detector network, its box coding, the assigner and the training config."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nii.detector.config import Config, load_config
from nii.detector.loss import LossWeights, assign, detection_loss, distribution_focal_loss
from nii.detector.model import (
    BLOCKS,
    STRIDES,
    Detector,
    build_model,
    count_flops,
    decode_boxes,
    fuse_batchnorm,
    grid_points,
    side_distances,
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


def test_decode_boxes_with_distance_bins() -> None:
    points = grid_points(2, 2, 8, torch.device("cpu"))
    bins = 6
    raw = torch.full((1, 4, 4 * bins), -30.0)
    for side, dist in enumerate((1, 2, 3, 4)):  # all the mass on one bin per side, for cell (8, 8)
        raw[0, 3, side * bins + dist] = 30.0
    boxes = decode_boxes(raw, points)
    # centre (12, 12); left 1 and top 2 strides, right 3 and bottom 4 strides of 8 px
    torch.testing.assert_close(boxes[0, 3], torch.tensor([4.0, -4.0, 36.0, 44.0]))
    # uniform logits: every side at the middle distance (bins - 1) / 2 = 2.5 strides
    torch.testing.assert_close(boxes[0, 0], torch.tensor([-16.0, -16.0, 24.0, 24.0]))


def test_distribution_focal_loss_learns_the_distance() -> None:
    """Minimising the loss over free logits puts the expected distance on the target, between bins."""
    points = grid_points(1, 1, 16, torch.device("cpu"))  # one cell, centre (8, 8)
    target = torch.tensor([[8.0 - 16 * 1.3, 8.0 - 16 * 0.5, 8.0 + 16 * 2.75, 8.0 + 16 * 9.0]])
    raw = torch.zeros(1, 4 * 8, requires_grad=True)
    opt = torch.optim.Adam([raw], lr=0.1)
    start = distribution_focal_loss(raw, points, target).item()
    for _ in range(300):
        opt.zero_grad()
        distribution_focal_loss(raw, points, target).sum().backward()
        opt.step()
    # the bottom side (9 strides) lies beyond the last bin (7) and is clamped to it
    torch.testing.assert_close(side_distances(raw.detach())[0], torch.tensor([1.3, 0.5, 2.75, 7.0]),
                               atol=0.02, rtol=0)
    assert distribution_focal_loss(raw, points, target).item() < start


def test_box_bins_train_and_report_their_loss() -> None:
    torch.manual_seed(0)
    model = build_model(num_classes=3, widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1), neck_channels=16,
                        head_convs=1, block="dense", box_bins=8)
    cls, box, points = model.forward_raw(torch.rand(1, 3, 64, 64))
    assert box.shape[-1] == 32
    gt = torch.tensor([[[10.0, 12.0, 40.0, 30.0]]])
    losses = detection_loss(cls, box, points, gt, torch.tensor([[1]]), torch.tensor([[True]]), LossWeights())
    assert losses["dfl"] > 0 and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    assert model.heads[0].box_pred.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="box_bins"):
        build_model(num_classes=3, box_bins=1)


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
        (["model.box_bins=1"], r"model.box_bins must be 0 \(YOLOX coding\) or in \[2, 64\]"),
    ],
    ids=["unknown-field", "unknown-section", "bad-size", "bad-type", "no-value", "unknown-block", "one-bin"],
)
def test_bad_config_is_a_config_error(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(CONFIGS / "nano.yaml", overrides)


def test_unknown_key_in_yaml_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  input_size: 128\n  learning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"learning_rate"):
        load_config(path)
