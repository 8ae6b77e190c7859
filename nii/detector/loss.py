"""Target assignment (task-aligned, TOOD / YOLOv8 style) and the detection losses.

Assignment, per image: candidate points for a ground-truth box are the grid points whose cell
centre lies inside the box or within ``radius`` strides of its centre (so a 6-pixel bullet still has
candidates at stride 8). Among candidates each box takes the ``topk`` points with the best alignment
``score**alpha * iou**beta`` (predicted class score, IoU of the predicted box); a point claimed by two
boxes goes to the one it overlaps most. The classification target of a positive point is its
normalised alignment (a joint class-IoU quality), 0 elsewhere; the class score therefore ranks boxes
by expected localisation quality and needs no separate centerness or objectness branch.

Losses: varifocal loss on all points (BCE against the quality targets; negatives down-weighted by
``alpha * p**gamma``) + complete-IoU loss on positives weighted by the targets (+ with distance bins,
the distribution focal loss on each side's distance); all are normalised by the sum of the targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import box_iou, complete_box_iou_loss

from nii.detector.model import cell_centres, decode_boxes


@dataclass(frozen=True, slots=True)
class LossWeights:
    """Weights and assigner settings (see the training config for meanings)."""

    cls: float = 1.0  # weight of the classification (quality) loss
    box: float = 2.5  # weight of the complete-IoU box loss
    topk: int = 10  # positives per ground-truth box
    radius: float = 2.5  # centre-sampling radius in strides
    alpha: float = 1.0  # exponent of the class score in the alignment metric
    beta: float = 6.0  # exponent of the IoU in the alignment metric
    vfl_alpha: float = 0.75  # varifocal weight of negatives
    vfl_gamma: float = 2.0  # varifocal focusing exponent on negative scores
    dfl: float = 0.5  # weight of the distribution focal loss (box coding with distance bins only)


@torch.no_grad()
def assign(scores: Tensor, pred_xyxy: Tensor, points: Tensor, gt_xyxy: Tensor, gt_labels: Tensor,
           gt_mask: Tensor, w: LossWeights) -> tuple[Tensor, Tensor, Tensor]:
    """Task-aligned assignment.

    scores (Tensor[B,N,C]) sigmoid; pred_xyxy (Tensor[B,N,4]) pixels; points (Tensor[N,3]) (x, y, stride);
    gt_xyxy (Tensor[B,G,4]) pixels; gt_labels (Tensor[B,G]) int64; gt_mask (Tensor[B,G]) bool (real boxes).
    Returns target_scores (Tensor[B,N,C]) in [0,1], target_xyxy (Tensor[B,N,4]), fg (Tensor[B,N]) bool.
    """
    b, n, c = scores.shape
    g = gt_xyxy.shape[1]
    if g == 0:
        return torch.zeros_like(scores), torch.zeros_like(pred_xyxy), torch.zeros(b, n, dtype=torch.bool)
    stride = points[:, 2]
    centre = cell_centres(points)  # [N,2]
    cx, cy = centre[:, 0].view(1, 1, n), centre[:, 1].view(1, 1, n)
    x1, y1, x2, y2 = (gt_xyxy[..., i : i + 1] for i in range(4))  # [B,G,1]
    inside = (cx > x1) & (cx < x2) & (cy > y1) & (cy < y2)
    r = w.radius * stride.view(1, 1, n)
    gcx, gcy = (x1 + x2) / 2, (y1 + y2) / 2
    near = ((cx - gcx).abs() < r) & ((cy - gcy).abs() < r)
    candidate = (inside | near) & gt_mask.unsqueeze(-1)  # [B,G,N]

    iou = torch.stack([box_iou(gt_xyxy[i], pred_xyxy[i]) for i in range(b)]).clamp(min=0)  # [B,G,N]
    iou = iou * gt_mask.unsqueeze(-1)
    labels = gt_labels.clamp(min=0)
    cls_score = scores.gather(2, labels.unsqueeze(1).expand(b, n, g)).transpose(1, 2)  # [B,G,N]
    align = cls_score.pow(w.alpha) * iou.pow(w.beta) * candidate
    k = min(w.topk, n)
    top = align.topk(k, dim=-1).indices
    pos = torch.zeros_like(candidate).scatter_(-1, top, True) & candidate & (align > 0)
    # Points with no aligned candidate early in training: fall back to the closest candidate.
    none = candidate.any(-1) & ~pos.any(-1)
    if none.any():
        dist = ((cx - gcx) ** 2 + (cy - gcy) ** 2).masked_fill(~candidate, float("inf"))
        pos |= none.unsqueeze(-1) & F.one_hot(dist.argmin(-1), n).bool()

    multi = pos.sum(1) > 1  # [B,N] claimed by several boxes: keep the best-overlapping one
    if multi.any():
        best = F.one_hot((iou * pos).argmax(1), g).transpose(1, 2).bool()  # [B,G,N]
        pos = torch.where(multi.unsqueeze(1), best & pos, pos)
    fg = pos.any(1)
    gt_idx = pos.float().argmax(1)  # [B,N]
    target_xyxy = gt_xyxy.gather(1, gt_idx.unsqueeze(-1).expand(b, n, 4))
    target_labels = labels.gather(1, gt_idx)

    align = align * pos
    norm = (align * iou.amax(-1, keepdim=True) / (align.amax(-1, keepdim=True) + 1e-9)).amax(1)  # [B,N]
    quality = torch.where(fg, norm.clamp(min=0.05), torch.zeros_like(norm))  # fallback positives get some
    target_scores = F.one_hot(target_labels, c).float() * quality.unsqueeze(-1)
    return target_scores, target_xyxy, fg


def detection_loss(cls_logits: Tensor, box_raw: Tensor, points: Tensor, gt_xyxy: Tensor, gt_labels: Tensor,
                   gt_mask: Tensor, w: LossWeights) -> dict[str, Tensor]:
    """Loss of one batch.

    cls_logits (Tensor[B,N,C]), box_raw (Tensor[B,N,R]), points (Tensor[N,3]) from ``Detector.forward_raw``;
    gt_* as in ``assign``. Returns {"loss", "cls", "box", "dfl"} scalars (``loss`` is the weighted sum;
    ``dfl`` is 0 for YOLOX box coding).
    """
    with torch.no_grad():
        pred_xyxy = decode_boxes(box_raw, points)
    target_scores, target_xyxy, fg = assign(cls_logits.detach().sigmoid(), pred_xyxy, points,
                                            gt_xyxy, gt_labels, gt_mask, w)
    norm = target_scores.sum().clamp(min=1.0)
    # Varifocal weighting: positives weighted by their quality target, negatives by alpha * p**gamma, so
    # the ~45,000 easy negatives of an image do not drown its few dozen positives.
    positive = (target_scores > 0).float()
    p = cls_logits.detach().sigmoid()
    weight = w.vfl_alpha * p.pow(w.vfl_gamma) * (1 - positive) + target_scores
    bce = F.binary_cross_entropy_with_logits(cls_logits, target_scores, reduction="none")
    cls = (bce * weight).sum() / norm
    box = dfl = box_raw.sum() * 0.0
    if fg.any():
        # Boxes decoded again, with gradients, at the positive points only (a few hundred of ~50,000).
        raw, fg_points, target = box_raw[fg], points[fg.nonzero()[:, 1]], target_xyxy[fg]
        weight = target_scores.sum(-1)[fg]
        iou_loss = complete_box_iou_loss(decode_boxes(raw, fg_points), target, reduction="none")
        box = (iou_loss * weight).sum() / norm
        if box_raw.shape[-1] > 4:
            dfl = (distribution_focal_loss(raw, fg_points, target) * weight).sum() / norm
    return {"loss": w.cls * cls + w.box * box + w.dfl * dfl, "cls": cls.detach(), "box": box.detach(),
            "dfl": dfl.detach()}


def distribution_focal_loss(raw: Tensor, points: Tensor, target_xyxy: Tensor) -> Tensor:
    """Per positive point, the mean over its four sides of the cross-entropy with the two distance bins
    around the true distance, weighted by nearness (GFL): a side 3.3 strides away wants 70% on bin 3 and
    30% on bin 4. Distances beyond the last bin are clamped to it; a centre-sampled point lying outside
    its (small) box gets distance 0 on that side.

    raw (Tensor[P,4n]) logits, points (Tensor[P,3]) and target_xyxy (Tensor[P,4]) of P positive points
    -> Tensor[P]."""
    bins = raw.shape[-1] // 4
    centre = cell_centres(points)
    dist = torch.cat((centre - target_xyxy[:, :2], target_xyxy[:, 2:] - centre), -1) / points[:, 2:]
    dist = dist.clamp(0, bins - 1 - 1e-3)
    logp = raw.unflatten(-1, (4, bins)).log_softmax(-1)  # [P,4,n]
    left = dist.floor().long()
    right_share = dist - left
    nll = -(logp.gather(-1, left.unsqueeze(-1)).squeeze(-1) * (1 - right_share)
            + logp.gather(-1, (left + 1).unsqueeze(-1)).squeeze(-1) * right_share)
    return nll.mean(-1)
