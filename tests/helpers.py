"""Factories shared by the test packages."""

from __future__ import annotations

import socket
from pathlib import Path

TINY_CLASSES = ["gun", "knife", "battery"]
TINY_SIZE = 96  # input side of the tiny model, pixels


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a test server)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_tiny_checkpoint(path: Path, *, spread_scores: bool = False, block: str = "dwsep",
                          box_bins: int = 0) -> Path:
    """A seeded small nii model with non-trivial BatchNorm statistics, saved as `nii train` saves it.

    spread_scores: draw the class-score layer wide, so scores are not all at the 0.01 prior
    (quantisation tests need a spread of scores to compare). block: the model's spatial convs; box_bins:
    its box coding (0: YOLOX, n: distance distributions).
    """
    import torch

    from nii.detector.checkpoint import save_checkpoint, spec_to_dict
    from nii.detector.model import build_model

    torch.manual_seed(7)
    model = build_model(num_classes=len(TINY_CLASSES), widths=(8, 16, 16, 32, 32), depths=(1, 1, 1, 1),
                        neck_channels=16, head_convs=1, block=block, box_bins=box_bins).train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.rand(2, 3, TINY_SIZE, TINY_SIZE))
        if spread_scores:
            for name, param in model.named_parameters():
                if "cls_pred" in name:
                    param.normal_(0.0, 0.3 if name.endswith("weight") else 1.0)
    state = {"spec": spec_to_dict(model.spec), "classes": TINY_CLASSES, "model": model.state_dict(),
             "ema": model.state_dict(), "epoch": 3, "input_size": TINY_SIZE, "seed": 0,
             "config": {"name": "tiny", "train": {"input_size": TINY_SIZE, "seed": 0}},
             "metrics": {"map50": 0.5, "map50_95": 0.3}, "elapsed_s": 60.0, "images_seen": 48,
             "data": {"train": "tiny"}}
    save_checkpoint(state, path)
    return path
