"""NanoDet/YOLOX-style anchor-free detector for 2-core CPU inference.

    images (Tensor[B, 3, S, S]) RGB in [0, 1], letterboxed top-left with 1.0 padding
      -> backbone  CSP blocks of depthwise-separable or dense convs, features at strides 8, 16, 32
      -> neck      PAN (top-down then bottom-up), every level ``neck_channels`` wide
      -> head      decoupled cls / box branches per level, YOLOX box coding or (``box_bins``) a
                   distribution over each side's distance (GFL / DFL)
      -> boxes (Tensor[B, N, 4]) xyxy letterboxed pixels, scores (Tensor[B, N, C]) sigmoid

N is the number of grid points over all levels: (S/8)^2 + (S/16)^2 + (S/32)^2 (5376 at 512).
The class score is a joint class-and-IoU quality (trained with task-aligned targets), so no
objectness or centerness is multiplied in. Heads are separate per level because BatchNorm statistics
differ between levels (a shared head would need GroupNorm, which cannot be folded into the conv).
Everything is Conv + BN + ReLU, so export folds every BN and ONNX Runtime runs plain convolutions.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torchvision.ops import Conv2dNormActivation

STRIDES: tuple[int, ...] = (8, 16, 32)


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """Architecture hyper-parameters (saved in every checkpoint to rebuild the model)."""

    num_classes: int  # detector classes C
    widths: tuple[int, int, int, int, int] = (16, 32, 64, 128, 256)  # channels at strides 2..32
    depths: tuple[int, int, int, int] = (1, 2, 2, 1)  # CSP bottlenecks at strides 4, 8, 16, 32
    neck_channels: int = 96  # channels of every PAN output level
    head_convs: int = 2  # spatial convs per head branch
    block: str = "dwsep"  # spatial convs: "dwsep" (depthwise k x k + 1 x 1) or "dense" (plain 3 x 3)
    box_bins: int = 0  # 0: YOLOX box coding; n >= 2: each side's distance over 0..n-1 strides (DFL)


BLOCKS = ("dwsep", "dense")


def _conv(c_in: int, c_out: int, k: int = 1, s: int = 1, groups: int = 1) -> Conv2dNormActivation:
    return Conv2dNormActivation(c_in, c_out, k, s, groups=groups, activation_layer=nn.ReLU, inplace=True)


class DWSep(nn.Sequential):
    """Depthwise k x k conv (stride s) then pointwise 1 x 1; both Conv + BN + ReLU."""

    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1) -> None:
        super().__init__(_conv(c_in, c_in, k, s, groups=c_in), _conv(c_in, c_out, 1))


def _spatial(c_in: int, c_out: int, k: int, s: int, block: str) -> nn.Module:
    """The model's spatial conv: depthwise-separable k x k, or (``dense``) one plain 3 x 3 conv.

    Dense convs cost more FLOPs per channel but train faster on CPU: oneDNN runs them in bfloat16 on
    AMX units, where depthwise convs gain nothing and their backward pass is slow."""
    return _conv(c_in, c_out, 3, s) if block == "dense" else DWSep(c_in, c_out, k, s)


class Bottleneck(nn.Module):
    """1 x 1 conv then a spatial conv (depthwise-separable 5 x 5 or dense 3 x 3), with a residual."""

    def __init__(self, c: int, block: str) -> None:
        super().__init__()
        self.body = nn.Sequential(_conv(c, c, 1), _spatial(c, c, 5, 1, block))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class CSPBlock(nn.Module):
    """Cross-stage-partial block: half the channels go through ``n`` bottlenecks, then concat + 1 x 1."""

    def __init__(self, c_in: int, c_out: int, n: int, block: str) -> None:
        super().__init__()
        hidden = c_out // 2
        self.main = _conv(c_in, hidden)
        self.short = _conv(c_in, hidden)
        self.blocks = nn.Sequential(*(Bottleneck(hidden, block) for _ in range(n)))
        self.fuse = _conv(2 * hidden, c_out)

    def forward(self, x: Tensor) -> Tensor:
        return self.fuse(torch.cat((self.blocks(self.main(x)), self.short(x)), dim=1))


class SPPF(nn.Module):
    """Spatial pyramid pooling (fast): three chained 5 x 5 max pools, concatenated."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.reduce = _conv(c, c // 2)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.fuse = _conv(c * 2, c)

    def forward(self, x: Tensor) -> Tensor:
        x = self.reduce(x)
        p1 = self.pool(x)
        p2 = self.pool(p1)
        return self.fuse(torch.cat((x, p1, p2, self.pool(p2)), dim=1))


class Backbone(nn.Module):
    """Tiny CSP backbone. ``forward`` returns features at strides 8, 16, 32 (widths[2:])."""

    def __init__(self, widths: tuple[int, ...], depths: tuple[int, ...], block: str = "dwsep") -> None:
        super().__init__()
        w, d, b = widths, depths, block
        self.stem = nn.Sequential(_conv(3, w[0], 3, 2), _conv(w[0], w[1], 3, 2))  # stride 4, dense convs
        self.stage4 = CSPBlock(w[1], w[1], d[0], b)
        self.stage8 = nn.Sequential(_spatial(w[1], w[2], 3, 2, b), CSPBlock(w[2], w[2], d[1], b))
        self.stage16 = nn.Sequential(_spatial(w[2], w[3], 3, 2, b), CSPBlock(w[3], w[3], d[2], b))
        self.stage32 = nn.Sequential(_spatial(w[3], w[4], 3, 2, b), SPPF(w[4]), CSPBlock(w[4], w[4], d[3], b))

    def parts(self) -> tuple[nn.Module, ...]:
        """The stem and the stride-4 to 32 stages, in the order an image passes them."""
        return self.stem, self.stage4, self.stage8, self.stage16, self.stage32

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c8 = self.stage8(self.stage4(self.stem(x)))
        c16 = self.stage16(c8)
        return c8, c16, self.stage32(c16)


class PAN(nn.Module):
    """Path-aggregation neck: lateral 1 x 1 to ``c`` channels, top-down then bottom-up fusion."""

    def __init__(self, in_channels: tuple[int, int, int], c: int, block: str = "dwsep") -> None:
        super().__init__()
        self.lateral = nn.ModuleList(_conv(ci, c) for ci in in_channels)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.td = nn.ModuleList(CSPBlock(2 * c, c, 1, block) for _ in range(2))  # fuses 16<-32, 8<-16
        self.down = nn.ModuleList(_spatial(c, c, 3, 2, block) for _ in range(2))
        self.bu = nn.ModuleList(CSPBlock(2 * c, c, 1, block) for _ in range(2))  # fuses 8->16, 16->32

    def forward(self, feats: tuple[Tensor, Tensor, Tensor]) -> list[Tensor]:
        p8, p16, p32 = (lat(f) for lat, f in zip(self.lateral, feats, strict=True))
        p16 = self.td[0](torch.cat((self.up(p32), p16), 1))
        p8 = self.td[1](torch.cat((self.up(p16), p8), 1))
        n16 = self.bu[0](torch.cat((self.down[0](p8), p16), 1))
        n32 = self.bu[1](torch.cat((self.down[1](n16), p32), 1))
        return [p8, n16, n32]


class LevelHead(nn.Module):
    """Decoupled head of one level: (cls logits [B,C,H,W], box raw [B,R,H,W]); R is 4 for YOLOX coding
    (dx, dy, log w, log h) or 4 * ``box_bins`` distance logits (left, top, right, bottom)."""

    def __init__(self, c: int, num_classes: int, n_convs: int, block: str = "dwsep",
                 prior: float = 0.01, box_bins: int = 0) -> None:
        super().__init__()
        self.cls_tower = nn.Sequential(*(_spatial(c, c, 5, 1, block) for _ in range(n_convs)))
        self.box_tower = nn.Sequential(*(_spatial(c, c, 5, 1, block) for _ in range(n_convs)))
        self.cls_pred = nn.Conv2d(c, num_classes, 1)
        self.box_pred = nn.Conv2d(c, 4 * box_bins if box_bins else 4, 1)
        nn.init.constant_(self.cls_pred.bias, -torch.log(torch.tensor((1 - prior) / prior)).item())
        nn.init.normal_(self.box_pred.weight, std=0.01)
        nn.init.constant_(self.box_pred.bias, 0.0)
        if not box_bins:
            with torch.no_grad():
                self.box_pred.bias[2:] = 1.0  # initial box about e * stride wide

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.cls_pred(self.cls_tower(x)), self.box_pred(self.box_tower(x))


class Detector(nn.Module):
    """The full detector. ``forward`` returns decoded outputs; ``forward_raw`` is for training.

    forward(images (Tensor[B,3,S,S])) -> (boxes (Tensor[B,N,4]) xyxy letterboxed pixels,
                                           scores (Tensor[B,N,C]) sigmoid probabilities)
    """

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        if spec.block not in BLOCKS:
            raise ValueError(f"unknown block {spec.block!r}: expected one of {BLOCKS}")
        if spec.box_bins == 1 or spec.box_bins < 0:
            raise ValueError(f"box_bins must be 0 (YOLOX coding) or >= 2, got {spec.box_bins}")
        self.backbone = Backbone(spec.widths, spec.depths, spec.block)
        self.neck = PAN((spec.widths[2], spec.widths[3], spec.widths[4]), spec.neck_channels, spec.block)
        c, n = spec.neck_channels, spec.num_classes
        self.heads = nn.ModuleList(
            LevelHead(c, n, spec.head_convs, spec.block, box_bins=spec.box_bins) for _ in STRIDES
        )
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps, m.momentum = 1e-3, 0.03

    def forward_raw(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """images (Tensor[B,3,S,S]) -> cls logits [B,N,C], box raw [B,N,R] (see LevelHead), points [N,3]
        (x, y, stride)."""
        feats = self.neck(self.backbone(images))
        cls_out, box_out, points = [], [], []
        for head, feat, stride in zip(self.heads, feats, STRIDES, strict=True):
            cls, box = head(feat)
            h, w = cls.shape[-2:]
            cls_out.append(cls.flatten(2).transpose(1, 2))
            box_out.append(box.flatten(2).transpose(1, 2))
            points.append(grid_points(h, w, stride, images.device))
        return torch.cat(cls_out, 1), torch.cat(box_out, 1), torch.cat(points, 0)

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        cls, box, points = self.forward_raw(images)
        return decode_boxes(box, points), cls.sigmoid()


def grid_points(h: int, w: int, stride: int, device: torch.device) -> Tensor:
    """Grid cell corners of one level: Tensor[h*w, 3] of (x, y, stride) in input pixels."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device), torch.arange(w, device=device), indexing="ij")
    xy = torch.stack((xs, ys), -1).reshape(-1, 2).float() * stride
    return torch.cat((xy, torch.full_like(xy[:, :1], float(stride))), 1)


def cell_centres(points: Tensor) -> Tensor:
    """points (Tensor[N,3]) (x, y, stride) of grid cell corners -> their centres, Tensor[N,2] pixels."""
    return points[:, :2] + 0.5 * points[:, 2:]


def decode_boxes(raw: Tensor, points: Tensor) -> Tensor:
    """Box coding by the width of ``raw``: 4 is YOLOX's, centre = (cell + 0.5 + d) * stride and
    size = exp(log wh) * stride; 4 * n is a distribution per side (``side_distances``).

    raw (Tensor[B,N,4]) (dx, dy, log w, log h) or (Tensor[B,N,4n]) distance logits; points (Tensor[N,3])
    -> boxes (Tensor[B,N,4]) xyxy pixels.
    """
    stride = points[:, 2:]
    if raw.shape[-1] > 4:
        centre = cell_centres(points)
        dist = side_distances(raw) * stride
        return torch.cat((centre - dist[..., :2], centre + dist[..., 2:]), -1)
    centre = points[:, :2] + (raw[..., :2] + 0.5) * stride
    half = 0.5 * torch.exp(raw[..., 2:].clamp(max=8.0)) * stride
    return torch.cat((centre - half, centre + half), -1)


def side_distances(raw: Tensor) -> Tensor:
    """Expected distance from the cell centre to each side (left, top, right, bottom), in strides.

    raw (Tensor[B,N,4n]) logits over the distances 0..n-1 -> Tensor[B,N,4]. A side the image leaves
    unclear (a faint bottle neck, an object under another) gets a wide distribution instead of a
    single guess, which is what the distribution focal loss trains (GFL, Li et al. 2020)."""
    bins = raw.shape[-1] // 4
    prob = raw.unflatten(-1, (4, bins)).softmax(-1)
    return prob @ torch.arange(bins, dtype=prob.dtype, device=prob.device)


def build_model(*, num_classes: int, widths: tuple[int, ...] | None = None,
                depths: tuple[int, ...] | None = None, neck_channels: int = 96,
                head_convs: int = 2, block: str = "dwsep", box_bins: int = 0) -> Detector:
    """Build a randomly initialised detector (no pretrained weights exist for it)."""
    spec = ModelSpec(num_classes=num_classes, neck_channels=neck_channels, head_convs=head_convs, block=block,
                     box_bins=box_bins,
                     **({"widths": tuple(widths)} if widths else {}),
                     **({"depths": tuple(depths)} if depths else {}))
    return Detector(spec)


def count_flops(model: nn.Module, size: int) -> tuple[float, int]:
    """(GFLOPs of one forward pass at size x size, counted as 2 x MACs; parameter count)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, 3, size, size))
    model.train(was_training)
    return counter.get_total_flops() / 1e9, sum(p.numel() for p in model.parameters())


def freeze_backbone(model: Detector, parts: int) -> None:
    """Fix the first ``parts`` of the backbone (stem, stride-4, 8, 16, 32 stages): no gradients, and
    BatchNorm in eval mode so its statistics stay too. Fine-tuning then skips their backward pass,
    the costliest at high resolution, and keeps the low-level features as they were learned."""
    for module in model.backbone.parts()[:parts]:
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """Fold every Conv2d + BatchNorm2d pair (in Conv2dNormActivation) into one conv, in place (eval only)."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for module in model.modules():
        if isinstance(module, Conv2dNormActivation) and isinstance(module[1], nn.BatchNorm2d):
            module[0] = fuse_conv_bn_eval(module[0], module[1])
            module[1] = nn.Identity()
    return model
