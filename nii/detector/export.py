"""ONNX export of a trained checkpoint, plus its model card (``nii.runtime.card``).

The graph follows the card's ONNX contract: input ``images`` float32 [B, 3, S, S] (batch and size
dynamic: the card's S is the main pass, its `looks` run the same graph at other sizes), outputs
``boxes`` float32 [B, N, 4] xyxy input pixels and ``scores`` float32 [B, N, C] sigmoid.
EMA weights, BatchNorm folded into the convolutions, constants folded, no NMS.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import subprocess
import warnings
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError
from torch import nn

from nii.detector.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from nii.detector.model import fuse_batchnorm
from nii.errors import ModelError
from nii.runtime.card import InputSpec, Look, ModelCard, look_problem, sha256_file, write_card

log = logging.getLogger(__name__)

OPSET = 17
DEFAULT_THRESHOLD = 0.3  # per-class score threshold when none were chosen on validation data


def export_onnx_bytes(model: nn.Module, size: int) -> bytes:
    """Serialise an eval-mode detector (``forward`` -> boxes, scores) to ONNX bytes, traced at input
    S = ``size``; batch, height and width stay dynamic."""
    model = fuse_batchnorm(copy.deepcopy(model).eval())  # the caller's model stays unfused
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter warns about its own deprecation
        torch.onnx.export(
            model, (torch.ones(1, 3, size, size),), buffer, dynamo=False, opset_version=OPSET,
            input_names=["images"], output_names=["boxes", "scores"],
            dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"},
                          "boxes": {0: "batch", 1: "points"}, "scores": {0: "batch", 1: "points"}},
            do_constant_folding=True,
        )
    return buffer.getvalue()


def git_commit() -> str | None:
    """HEAD of the repository this code runs from, or None when git or the repository is absent."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit or None


def _with_generator_info(data: Mapping[str, Any]) -> dict[str, Any]:
    """The data spec, plus the `nii synth` parameters (seed, count, renderer ...) of synthetic folders."""
    spec = dict(data)
    for key in ("train", "val"):
        folder = spec.get(key)
        try:
            info = json.loads((Path(folder) / "annotations.json").read_text(encoding="utf-8")).get("info", {})
        except (TypeError, OSError, ValueError):
            continue
        if "seed" in info and "count" in info:  # written by `nii synth`
            spec[f"{key}_synth"] = {k: info[k] for k in ("seed", "count", "size", "threat_share", "version",
                                                             "renderer") if k in info}
    return spec


def export(checkpoint: Path, out: Path, *, thresholds: Mapping[str, float] | None = None,
           input_size: int | None = None, name: str | None = None, nms_iou: float = 0.6,
           max_detections: int = 100, metrics: Mapping[str, Any] | None = None,
           weights: bool = True, looks: Mapping[int, list[str]] | None = None) -> ModelCard:
    """Export ``checkpoint`` (EMA weights) to ``out`` (.onnx) and write the card beside it.

    thresholds: class name -> score threshold (classes not given default to 0.3; unknown names are an
    error). input_size: S (default: the training input size). metrics: overrides the checkpoint's last
    validation metrics. looks: input size -> classes taken from a second pass at that size (small
    objects seen closer; the card's `looks`). weights: also write ``out.with_suffix('.pt')``, the EMA
    weights alone (no optimizer), for ``nii train --init`` (fine-tuning from the shipped model).
    Returns the card written to ``out.with_suffix('.json')``.
    """
    checkpoint, out = Path(checkpoint), Path(out)
    if out.suffix != ".onnx":
        raise ModelError(f"export target {out} must end in .onnx (the card goes beside it as .json)")
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state, ema=True, path=checkpoint)
    classes = list(state["classes"])
    unknown = sorted(set(thresholds or {}) - set(classes))
    if unknown:
        raise ModelError(f"thresholds name classes the model does not have: {unknown}; "
                         f"model classes: {classes}")
    size = int(input_size or state.get("input_size") or state["config"]["train"]["input_size"])
    if size % 32:
        raise ModelError(f"input size must be a multiple of 32 (the largest stride), got {size}")
    try:
        look_list = [Look(size=s, classes=list(names)) for s, names in sorted((looks or {}).items())]
    except ValidationError as exc:
        raise ModelError(f"bad look: {exc.errors()[0]['msg']}") from exc
    if problem := look_problem(look_list, classes, size):
        raise ModelError(problem)

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(export_onnx_bytes(model, size))
    config = state.get("config", {})
    card = ModelCard(
        name=name or out.stem,
        classes=classes,
        input=InputSpec(size=size),
        thresholds={c: float((thresholds or {}).get(c, DEFAULT_THRESHOLD)) for c in classes},
        looks=look_list,
        nms_iou=nms_iou,
        max_detections=max_detections,
        training={
            "config": config,
            "data": _with_generator_info(state.get("data", {})),
            "seed": state.get("seed", config.get("train", {}).get("seed")),
            "epochs": state["epoch"],
            "images_seen": state.get("images_seen"),
            "minutes": round(state.get("elapsed_s", 0.0) / 60, 2),
            "device": state.get("device", "cpu"),
            "bf16": state.get("bf16"),  # as run: the config's train.bf16 falls back on CPUs without it
            "train_input_size": state.get("input_size"),
            "checkpoint": checkpoint.name,
            **({"adaptation": state["adaptation"]} if state.get("adaptation") else {}),  # `nii adapt`
        },
        metrics=dict(metrics) if metrics is not None else {"validation": state.get("metrics") or {}},
        git_commit=git_commit(),
        onnx_sha256=sha256_file(out),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    write_card(card, out)
    if weights:
        slim = {k: state[k] for k in ("spec", "classes", "epoch", "config", "metrics", "data", "seed",
                                      "input_size", "adaptation") if k in state}
        save_checkpoint({**slim, "model": state.get("ema") or state["model"]}, out.with_suffix(".pt"))
    log.info("exported %s (input %d, %d classes, sha256 %s)", out, size, len(classes), card.onnx_sha256[:12])
    return card
