"""Checkpoint files (``last.pt`` / ``best.pt``) and rebuilding a model from them.

A checkpoint is a dict: ``spec`` (ModelSpec fields), ``classes``, ``model`` and ``ema`` state dicts,
``optimizer``, ``epoch`` (last finished, 1-based), ``planned_epochs``, ``config`` (plain dict),
``metrics`` (last validation), ``best_map`` (mAP50-95), ``elapsed_s``, ``images_seen``, ``data``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import torch

from nii.detector.model import Detector, ModelSpec
from nii.errors import ModelError

REQUIRED_KEYS = ("spec", "classes", "model", "epoch")


def save_checkpoint(state: dict[str, Any], path: Path) -> None:
    """Write atomically (temporary file, then rename) so an interrupted run never leaves half a file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint; ModelError naming the file when it is missing, corrupt or incomplete."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"checkpoint {path} not found: pass a last.pt / best.pt written by `nii train`")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types (pickle, zip, runtime) for a corrupt file
        raise ModelError(f"checkpoint {path} is corrupt or not a torch checkpoint ({exc}); "
                         f"use another checkpoint or retrain") from exc
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        raise ModelError(f"checkpoint {path} lacks {list(REQUIRED_KEYS)}: not written by `nii train`")
    return state


def spec_to_dict(spec: ModelSpec) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(spec).items()}


def spec_from_dict(data: dict[str, Any]) -> ModelSpec:
    return ModelSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in data.items()})


def model_from_checkpoint(state: dict[str, Any], *, ema: bool = True,
                          path: Path | str = "checkpoint") -> Detector:
    """Rebuild the detector (EMA weights when present and ``ema``), in eval mode."""
    try:
        model = Detector(spec_from_dict(state["spec"]))
        weights = state.get("ema") if ema and state.get("ema") is not None else state["model"]
        model.load_state_dict(weights)
    except (TypeError, RuntimeError, KeyError) as exc:
        raise ModelError(f"checkpoint {path} does not match the detector architecture ({exc})") from exc
    return model.eval()


def load_matching_classes(model: Detector, state: dict[str, Any], classes: list[str]) -> list[str]:
    """Copy checkpoint weights into ``model`` (for fine-tuning); class rows are matched by name.

    Returns the classes of ``classes`` that the checkpoint did not know (their rows stay initialised).
    """
    source = state.get("ema") or state["model"]
    old = list(state["classes"])
    target = model.state_dict()
    for key, value in source.items():
        if key not in target:
            continue
        if ".cls_pred." in key:
            for j, name in enumerate(classes):
                if name in old:
                    target[key][j] = value[old.index(name)]
        elif target[key].shape == value.shape:
            target[key] = value
    model.load_state_dict(target)
    return [c for c in classes if c not in old]
