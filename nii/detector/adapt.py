"""Adapt an exported model to another scanner with that scanner's unlabelled scans (AdaBN).

Every BatchNorm layer normalises its input with a mean and variance measured on the training images.
Another scanner's images (its noise, palette, clutter) shift those statistics layer after layer.
Measuring them again on the site's own scans needs no labels and no training, only forward passes
(Li et al. 2016, "Revisiting Batch Normalization For Practical Domain Adaptation"). The learned
weights stay as they are. The new model keeps the source card's thresholds and looks; its card
records the scans and the source model.

The scans pass through the augmentation the source model was trained with (scale, flips, palette
and brightness jitter, noise, blur, its training window), without the overlays, which need labels:
its weights work with statistics of such images. Measured on plain letterboxed scans instead, the
statistics of the training domain itself cost the synthetic test set 0.11 mAP50 (README).

    nii adapt --model models/nii-nano.onnx --images SCANS/ --out runs/site/nii-site.onnx
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from nii.detector.augment import TrainTransform
from nii.detector.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from nii.detector.config import Config, config_from_dict
from nii.detector.export import export
from nii.detector.model import Detector
from nii.errors import ModelError, NiiError
from nii.runtime.card import ModelCard, load_matching_card
from nii.runtime.preprocess import decode_image, fit
from nii.runtime.quantize import calibration_images

log = logging.getLogger(__name__)

DEFAULT_SAMPLES = 500  # scans spread over the folder; on SIXray 50 gave as much as 770
MIN_IMAGES = 16  # one batch; fewer give noisy statistics
BATCH = 16


def adapt_batchnorm(model: Detector, batches: Iterable[Tensor]) -> int:
    """Replace every BatchNorm layer's running mean and variance by their average over ``batches``.

    Returns the number of images seen. The model is left in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not norms:
        raise ModelError("the model has no BatchNorm layers to adapt")
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a plain average over all batches, not an exponential one
    model.train()
    seen = 0
    try:
        with torch.no_grad():
            for images in batches:
                model.forward_raw(images.contiguous(memory_format=torch.channels_last))
                seen += images.shape[0]
    finally:
        for m, momentum in zip(norms, momenta, strict=True):
            m.momentum = momentum
        model.eval()
    return seen


def _training_views(paths: Sequence[Path], cfg: Config, size: int, skipped: list[str]) -> Iterator[Tensor]:
    """Batches of the readable scans as the source run saw its training images; unreadable ones named."""
    # Overlays paste labelled objects from earlier images: nothing to paste without labels.
    transform = TrainTransform(dataclasses.replace(cfg.augment, overlay_prob=0.0, parcel_overlay_prob=0.0),
                               size, cfg.train.crop_size)
    no_boxes, no_labels = np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    batch: list[Tensor] = []
    for path in paths:
        try:
            image = decode_image(path)
        except NiiError as exc:
            log.warning("skipped %s: %s", path, exc)
            skipped.append(str(path))
            continue
        if max(image.shape[:2]) > size:  # reduced as serving (and the training cache) reduces it
            image, _ = fit(image, size)
        batch.append(transform(image, no_boxes, no_labels)[0])
        if len(batch) == BATCH:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def adapt(model: Path, images: Path, out: Path, *, samples: int = DEFAULT_SAMPLES,
          name: str | None = None, seed: int = 0) -> ModelCard:
    """Write ``out`` (.onnx), its card and weights (.pt): ``model`` with statistics of ``images``.

    ``seed`` draws the augmentation (the global torch generator is left as it was).
    """
    model, out = Path(model), Path(out)
    if out.suffix != ".onnx" or out.resolve() == model.resolve():
        raise ModelError(f"output {out} must be a new .onnx path (the card and weights go beside it)")
    card = load_matching_card(model, "adapting")
    if card.quantization is not None:
        raise ModelError(f"{model} is quantised; adapt the float model, then quantise the result")
    weights = model.with_suffix(".pt")
    if not weights.is_file():
        raise ModelError(f"{weights} not found: adapting needs the weights `nii export` writes beside "
                         f"{model.name}")
    state = load_checkpoint(weights)
    if list(state["classes"]) != card.classes:
        raise ModelError(f"{weights} has classes {state['classes']}, its card {card.classes}; "
                         f"export the two again together")
    with torch.random.fork_rng(devices=[]):  # the caller's generator stays as it was
        torch.manual_seed(seed)
        return _adapt(state, weights, card, model, images, out, samples=samples, name=name, seed=seed)


def _adapt(state: dict, weights: Path, card: ModelCard, model: Path, images: Path, out: Path, *,
           samples: int, name: str | None, seed: int) -> ModelCard:
    """`adapt` once its inputs are checked, under a generator seeded with ``seed``."""
    net = model_from_checkpoint(state, path=weights).to(memory_format=torch.channels_last)
    paths = calibration_images(images, samples)
    skipped: list[str] = []
    views = _training_views(paths, config_from_dict(state.get("config") or {}), card.input.size, skipped)
    seen = adapt_batchnorm(net, views)
    if seen < MIN_IMAGES:
        raise ModelError(f"only {seen} readable scans in {images} ({len(skipped)} unreadable); "
                         f"adapting needs at least {MIN_IMAGES}")
    adaptation = {
        "method": "BatchNorm statistics (AdaBN) of the scans augmented as in training", "seed": seed,
        "folder": str(images), "images": seen, "skipped": skipped, "input_size": card.input.size,
        "source": {"onnx": model.name, "sha256": card.onnx_sha256, "name": card.name,
                   "metrics": card.metrics},
    }
    with tempfile.TemporaryDirectory() as tmp:
        adapted = Path(tmp) / "adapted.pt"
        save_checkpoint({**state, "model": net.state_dict(), "ema": None, "adaptation": adaptation}, adapted)
        new_card = export(adapted, out, thresholds=card.thresholds, input_size=card.input.size,
                          name=name, nms_iou=card.nms_iou, max_detections=card.max_detections,
                          metrics={}, looks={look.size: look.classes for look in card.looks})
    log.info("adapted %s to %d scans of %s (%d skipped): %s", model.name, seen, images, len(skipped), out)
    return new_card
