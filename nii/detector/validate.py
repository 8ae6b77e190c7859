"""Validation mAP during training: eager PyTorch predictions scored by faster-coco-eval (COCO mAP)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
from faster_coco_eval import COCO, COCOeval_faster
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchvision.ops import batched_nms

from nii.datasets import Sample
from nii.detector.augment import DetectionDataset, collate

log = logging.getLogger(__name__)


def postprocess(boxes: Tensor, scores: Tensor, *, score_threshold: float = 0.01, nms_iou: float = 0.6,
                max_detections: int = 100, pre_nms: int = 1000) -> list[tuple[Tensor, Tensor, Tensor]]:
    """Per-class NMS of decoded outputs.

    boxes (Tensor[B,N,4]) xyxy input pixels, scores (Tensor[B,N,C]) -> per image
    (xyxy Tensor[K,4], score Tensor[K], class_id Tensor[K] int64), best first, K <= max_detections.
    """
    results = []
    for b, s in zip(boxes, scores, strict=True):
        flat = s.flatten()
        keep = (flat > score_threshold).nonzero().squeeze(1)
        keep = keep[flat[keep].topk(min(pre_nms, len(keep))).indices]
        idx, cls = keep // s.shape[1], keep % s.shape[1]
        sel = batched_nms(b[idx], flat[keep], cls, nms_iou)[:max_detections]
        results.append((b[idx[sel]], flat[keep[sel]], cls[sel]))
    return results


def coco_ground_truth(samples: Sequence[Sample], class_names: Sequence[str]) -> dict:
    """COCO dict of the samples (image id = index + 1, category id = class id + 1)."""
    images, annotations = [], []
    for i, s in enumerate(samples):
        images.append({"id": i + 1, "width": s.width, "height": s.height, "file_name": s.image_path.name})
        for box, c in zip(s.xyxy.tolist(), s.class_ids.tolist(), strict=True):
            w, h = box[2] - box[0], box[3] - box[1]
            annotations.append({"id": len(annotations) + 1, "image_id": i + 1, "category_id": c + 1,
                                "bbox": [box[0], box[1], w, h], "area": w * h, "iscrowd": 0})
    categories = [{"id": i + 1, "name": n} for i, n in enumerate(class_names)]
    return {"images": images, "annotations": annotations, "categories": categories}


def coco_map(gt: dict, results: list[dict]) -> dict[str, float]:
    """{'map50_95', 'map50'} of COCO-format results against a COCO ground-truth dict."""
    if not results or not gt["annotations"]:
        return {"map50_95": 0.0, "map50": 0.0}
    coco_gt = COCO(gt, print_function=log.debug)
    coco_dt = coco_gt.loadRes(results)
    ev = COCOeval_faster(coco_gt, coco_dt, "bbox", print_function=log.debug)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    return {"map50_95": max(float(ev.stats[0]), 0.0), "map50": max(float(ev.stats[1]), 0.0)}


@torch.no_grad()
def evaluate_map(model: nn.Module, samples: Sequence[Sample], class_names: Sequence[str], size: int, *,
                 batch_size: int = 16, num_workers: int = 0,
                 score_threshold: float = 0.01) -> dict[str, float]:
    """COCO mAP of ``model`` (returning boxes, scores as ``Detector.forward``) on letterboxed samples."""
    was_training = model.training
    model.eval()
    data = DataLoader(DetectionDataset(samples, size), batch_size=batch_size, num_workers=num_workers,
                      collate_fn=collate)
    results: list[dict] = []
    for batch in data:
        boxes, scores = model(batch["images"].contiguous(memory_format=torch.channels_last))
        for index, (xyxy, score, cls) in zip(batch["index"].tolist(),
                                             postprocess(boxes, scores, score_threshold=score_threshold),
                                             strict=True):
            s = samples[index]
            scale = size / max(s.width, s.height)
            xyxy = xyxy / scale
            xyxy[:, 0::2] = xyxy[:, 0::2].clamp(0, s.width)
            xyxy[:, 1::2] = xyxy[:, 1::2].clamp(0, s.height)
            for (x1, y1, x2, y2), sc, c in zip(xyxy.tolist(), score.tolist(), cls.tolist(), strict=True):
                results.append({"image_id": index + 1, "category_id": c + 1,
                                "bbox": [x1, y1, x2 - x1, y2 - y1], "score": sc})
    model.train(was_training)
    return coco_map(coco_ground_truth(samples, class_names), results)
